"""The value types every layer shares: frozen, picklable, free of libcst and rich.

Workers of the process pool return these to the main process, so nothing here may hold a
syntax tree or a terminal object.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec


class Safety(StrEnum):
    """Whether applying a fix keeps behaviour (`safe`) or changes it as its message states."""

    SAFE = "safe"
    REVIEW = "review"


class FixAvailability(StrEnum):
    """Whether a rule can fix what it finds: always, for some shapes, or never."""

    ALWAYS = "always"
    SOMETIMES = "sometimes"
    NEVER = "never"


class Strategy(StrEnum):
    """How orchestration rewrites hand back their result (DESIGN §2, CEL001)."""

    METADATA = "metadata"
    REPLACE = "replace"


@dataclass(frozen=True)
class RuleSpec:
    """What the runner knows about a rule without importing libcst.

    The prefilter: at least one of `patterns` must occur in a file's bytes, and, if
    `requires` is not empty, at least one of `requires` too; a file matching no selected
    rule is never parsed. `in_tasks` rules only report inside task bodies (or helpers a task
    calls), so the file must also mention a task (`TASK_PATTERNS` or a configured task
    decorator's name) unless the index says tasks call its functions. `needs_task` rules
    look at task bodies for something other than waits: the file must mention a task.
    `gate` names a check of `ast_gates.GATES` that the file's `ast` must pass next, before
    libcst parses it for the rule.
    `module` is the dotted path of the transform module that holds the rule's checker
    (class `Checker`) and, as its docstring, the rule's documentation.
    """

    code: str
    name: str
    summary: str
    fix: FixAvailability
    patterns: tuple[bytes, ...]
    module: str
    requires: tuple[bytes, ...] = ()
    in_tasks: bool = False
    needs_index: bool = False
    needs_task: bool = False
    gate: str | None = None
    # Off unless selected (`--select CEL006`, `--extend-select`, `ALL`), like ruff's rules
    # outside its default set: a rule that reports much of any codebase, or costs much more
    # than the others, is the user's choice.
    default: bool = True


@dataclass(frozen=True)
class Span:
    """A source range: 1-based lines, 1-based columns, end column exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class ForeignEdit:
    """The part of a fix that edits another file (CEL002 edits the called task's module).

    `path` is that file's path as reported (`FileResult.path`); `payload` is plain picklable
    data that the rule `code`'s `Checker.foreign_fix` turns back into a fix on that file.
    Two callers of one task send equal edits, so the runner applies it once.
    """

    path: str
    code: str
    payload: tuple[object, ...]


@dataclass(frozen=True)
class FixInfo:
    """A fix as reported: one discrete change, identified by `key` within its file.

    `key` is stable for the same source bytes and does not depend on positions, so a fix can
    be found again after another fix changed the file. `foreign` are the parts of this same
    change that edit other files.
    """

    key: str
    message: str
    safety: Safety
    foreign: tuple[ForeignEdit, ...] = ()

    @property
    def other_paths(self) -> tuple[str, ...]:
        """The files besides the reported one that this change also edits."""
        return tuple(sorted({edit.path for edit in self.foreign}))


@dataclass(frozen=True)
class Finding:
    path: str
    span: Span
    code: str
    name: str
    message: str
    fix: FixInfo | None = None
    # One short line on what to do, shown as `help:` under the finding. The message stays
    # short (ruff-length); the why lives in `celerymod explain`, the fix's details in its
    # message (`--show-fixes`, `--diff`).
    help: str = ""
    # No fix of its own, but rewritten by another finding's fix (a later wait of the chain
    # CEL001 rewrites from its first wait): not counted as "no automatic fix".
    part_of_fix: bool = False


@dataclass(frozen=True)
class FileError:
    """A file that could not be read, decoded, parsed or safely fixed, and why."""

    path: str
    message: str


@dataclass(frozen=True)
class UnusedSuppression:
    """A `# noqa` / `# celerymod: ignore` that hid no finding (`--report-unused-ignores`).

    `column` is where the directive starts; `directive` is its text as written; `codes` are
    the listed codes that hid nothing, () for a bare directive.
    """

    path: str
    line: int
    column: int
    directive: str
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileResult:
    """Everything one pass over one file produced.

    `new_source` holds the file with every fix applied (until no fix is left, when every fix
    was asked for), or None when nothing changes;
    `diff` is the unified diff between the two (computed in the worker).
    `source_hash` identifies the bytes that were read, so a write can be refused when the
    file changed in between.
    """

    path: str
    findings: tuple[Finding, ...] = ()
    errors: tuple[FileError, ...] = ()
    new_source: bytes | None = None
    diff: str = ""
    source_hash: str = ""
    parsed: bool = False
    # Every fix `new_source` holds: those of `findings` that were applied (one nested in an
    # earlier fix may dissolve), then those found in the code earlier fixes produced (a fix
    # may create code another fix applies to; `findings` describe the file as it was read).
    applied: tuple[FixInfo, ...] = ()
    # `(line, code)` of every finding a suppression comment hid, and (only when asked for,
    # never cached) the suppressions that hid nothing.
    suppressed: tuple[tuple[int, str], ...] = ()
    unused_suppressions: tuple[UnusedSuppression, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run, merged from `[tool.celerymod]` and the command line."""

    select: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    # `per-file-ignores`: (gitignore-style pattern, codes), relative to the config's folder;
    # `for_file` folds the matching ones into `ignore`.
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    exclude: tuple[str, ...] = ()
    strategy: Strategy = Strategy.METADATA
    task_decorators: tuple[str, ...] = ()
    jobs: int | None = None
    config_path: str | None = None
    respect_gitignore: bool = True
    # Exclude patterns also apply to files named on the command line (pre-commit names them).
    force_exclude: bool = False
    # `review` fixes change behaviour as their message says: `fix --write` applies them only
    # when asked (`--unsafe-fixes`, `unsafe-fixes = true`), as ruff does with unsafe fixes.
    unsafe_fixes: bool = False
    # Where per-file results persist between runs (`celerymod.cache`); None: no cache.
    cache_dir: str | None = None
    output_format: str = "text"  # `output-format` in config; --output-format wins
    # `result-timeout`: seconds CEL006's fix passes as `timeout=`; None: CEL006 only reports.
    result_timeout: float | None = None
    # `check --report-unused-ignores`: list suppression comments that hid nothing.
    report_unused_ignores: bool = False
    # Apply what the fixes produce until nothing is left (`fix`). False: one round, which is
    # all `check` needs (its findings, their `[*]`, and the proof that each fix compiles);
    # a fixpoint round re-analyses the whole fixed file.
    fixpoint: bool = True
    # The fixpoint may apply a fix found in fixed code whose edit of another file no earlier
    # fix sent: the runner (`runner.run`) then processes that file again with it. False
    # where nobody would (one file read from stdin): such a fix is left, and said so.
    sends_foreign: bool = False

    def for_file(self, path: str) -> RunConfig:
        """This config with the `per-file-ignores` that match `path` folded into `ignore`."""
        if not self.per_file_ignores:
            return self
        import os

        root = os.path.dirname(self.config_path) if self.config_path else os.getcwd()
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        relative = relative.replace(os.sep, "/")
        ignored = set(self.ignore)
        for pattern, codes in self.per_file_ignores:
            if _pattern_spec(pattern).match_file(relative):
                ignored |= codes
        return replace(self, ignore=frozenset(ignored), per_file_ignores=())

    def applies(self, fix: FixInfo) -> bool:
        """True when a run that applies "every fix" applies this one."""
        return fix.safety is Safety.SAFE or self.unsafe_fixes

    def selects(self, code: str) -> bool:
        """True when the rule `code` is enabled for this run."""
        if code in self.ignore:
            return False
        return self.select is None or code in self.select


@cache
def _pattern_spec(pattern: str) -> pathspec.GitIgnoreSpec:
    """One `per-file-ignores` pattern, compiled once per process rather than once per file."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines([pattern])


def seconds_text(value: float) -> str:
    """A number of seconds as CEL006's fix writes it: `30.0` as `30`, `2.5` as `2.5`."""
    return str(int(value)) if value.is_integer() else repr(value)
