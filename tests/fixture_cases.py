"""The fixture contract, shared by the fixture tests and the real-worker tests.

    tests/fixtures/<rule-name>/<case>.input.py      the code before
    tests/fixtures/<rule-name>/<case>.expected.py   the code after `fix` (absent: unchanged)
    tests/fixtures/<rule-name>/<case>.findings.txt  `line:col CODE [*] message` per finding,
                                                    `[*]` when it has a fix, then an indented
                                                    `help: <help>` line when it has one
                                                    (absent: no finding)

Markers in the first five lines of an input, `# celerymod-test: key=value, flag`:
    strategy=replace   run with `--strategy replace` (default: metadata)
    task-decorators=a.b.c x.y.z
                       run with `[tool.celerymod] task-decorators` set to these dotted names
    worker             also load input and expected into the real prefork worker
    select=CEL001 CEL002
                       run with these rules selected (default: only the rule whose
                       folder holds the case, so one rule's cases do not change when
                       another rule that takes precedence over it, CEL002, is added)
    result-timeout=30  run with `[tool.celerymod] result-timeout` set to these seconds
Files are compared byte for byte: no dedent, no newline normalisation.

Worker scenarios (CEL001, tests/test_worker_cel001.py): a `worker` fixture of
`blocking-subtask-wait` with an `.expected.py` declares at module level, untouched by the
codemod,
    CELERYMOD_SCENARIO = {"task": "<orchestrator function>", "args": [...], "kwargs": {...},
                          "ignore": ["<result key>", ...], "workaround": True,
                          "same_return": True, "failing": {"args": [...], ...},
                          "empty": {...}, "other_branch": {...}, "branches": [{...}, ...],
                          "polls": True, "poll_failing": {...}, "paths": [{...}, ...]}
`task` is the orchestrator to call (in both versions), `args`/`kwargs` its JSON arguments;
`ignore` lists keys of a dict result left out of the comparison (timestamps); `workaround`
marks an input that silences the guard (it must deadlock instead of raising);
`same_return` a fix that keeps the task's return value (not metadata to follow); `failing`
arguments that make a subtask raise (the rewrite must fail as the rule's docs say); `empty`
arguments that give a fan-out no items; for rewrites of `if` branches, `other_branch` the
arguments of a path that dispatches nothing (both versions run it as before) and `branches`
the arguments of every other dispatching branch, one entry each, besides the main
scenario's (each runs like the main scenario: the guard before, the oracle's value after;
the tests trace which waits each scenario reaches). `polls` marks an input that polls
(`while not res.ready(): time.sleep(...)`): no guard stops it, so instead of the guard it
must stall once every pool process polls (the test stops it after a few seconds);
`poll_failing` arguments make a subtask fail where the polling original goes on past the
loop (the rewrite must stop, as the rule's docs say). A task that waits in several places
in a row becomes a chain of chords: `failing` may name with `"kind"` ("chord", "group",
"chain") what the failing subtask's step became, when the steps differ; when a later step
is an `if` rewritten branch by branch, `paths` lists the arguments of every other way
through it (each waits in the first step: the guard before, the oracle's value after).
Subtasks
should return their name and arguments (`return ["clone", slugs, depth]`) so the comparison
shows that every chain step received exactly the arguments it received before.

Folder cases (rules whose fixes span files, CEL002) are small projects instead:

    tests/fixtures/<rule-name>/<case>/input/<tree>     the project before (packages with
                                                       `__init__.py`, several modules)
    tests/fixtures/<rule-name>/<case>/expected/<tree>  each file `fix --write` changes, as it
                                                       must be after (a file absent here
                                                       must come back unchanged)
    tests/fixtures/<rule-name>/<case>/findings.txt     `path:line:col CODE [*] message` per
                                                       finding, sorted by path then position,
                                                       each followed by an indented
                                                       `help: <help>` line when it has one,
                                                       each fix by an indented
                                                       `fix (<safety>): <message>` line and
                                                       `also edits: <paths>` when it edits
                                                       other files (absent: no finding)

A folder case runs with only its own rule selected (`--select <CODE>`), through the real
pipeline (discovery, index, runner, writes) from the copied tree's root, so paths in
`findings.txt` are relative to `input/`. A `# celerymod-test: worker` marker in the first
five lines of any input file also loads the case's packages, before and after, into the
real prefork worker (see the folder-case section of `conftest.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from celerymod.model import Finding, RunConfig, Strategy

FIXTURES = Path(__file__).parent / "fixtures"
_MARKER = re.compile(rb"#\s*celerymod-test:\s*(?P<body>.*)")


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    input: Path

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.name}"

    def sibling(self, suffix: str) -> Path:
        return self.input.with_name(f"{self.name}{suffix}")

    @property
    def expected(self) -> Path:
        return self.sibling(".expected.py")

    @property
    def findings(self) -> Path:
        return self.sibling(".findings.txt")

    def markers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for line in self.input.read_bytes().splitlines()[:5]:
            match = _MARKER.search(line)
            if match:
                for item in match.group("body").decode().split(","):
                    key, _, value = item.strip().partition("=")
                    found[key.strip()] = value.strip() or "true"
        return found

    def config(self) -> RunConfig:
        markers = self.markers()
        strategy = Strategy(markers.get("strategy", Strategy.METADATA.value))
        decorators = tuple(markers.get("task-decorators", "").split())
        # An expected file shows every fix, review ones included (as `fix --unsafe-fixes` does).
        return RunConfig(
            strategy=strategy,
            task_decorators=decorators,
            select=self.selected(markers),
            unsafe_fixes=True,
            result_timeout=(
                float(markers["result-timeout"]) if "result-timeout" in markers else None
            ),
        )

    def selected(self, markers: dict[str, str]) -> frozenset[str] | None:
        from celerymod.registry import RULES

        if markers.get("select"):
            return frozenset(markers["select"].split())
        codes = frozenset(rule.code for rule in RULES if rule.name == self.rule)
        return codes or None


def cases() -> list[Case]:
    return [
        Case(rule=path.parent.name, name=path.name.removesuffix(".input.py"), input=path)
        for path in sorted(FIXTURES.glob("*/*.input.py"))
    ]


def render_findings(findings: tuple[Finding, ...]) -> str:
    lines = []
    for finding in findings:
        mark = " [*]" if finding.fix is not None else ""
        where = f"{finding.span.line}:{finding.span.column}"
        lines.append(f"{where} {finding.code}{mark} {finding.message}\n")
        if finding.help:
            lines.append(f"    help: {finding.help}\n")
    return "".join(lines)


# --- Folder cases (see the module docstring) ---------------------------------------------------


@dataclass(frozen=True)
class FolderCase:
    rule: str
    name: str
    root: Path

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.name}"

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def expected(self) -> Path:
        return self.root / "expected"

    @property
    def findings(self) -> Path:
        return self.root / "findings.txt"

    def expected_file(self, name: str) -> Path:
        return self.expected / name

    def expected_names(self) -> list[str]:
        if not self.expected.exists():
            return []
        return sorted(
            p.relative_to(self.expected).as_posix()
            for p in self.expected.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )

    def config(self) -> RunConfig:
        from celerymod.registry import RULES

        code = next(rule.code for rule in RULES if rule.name == self.rule)
        # The expected tree shows every fix, review ones included (`fix --unsafe-fixes`).
        return RunConfig(select=frozenset({code}), jobs=1, unsafe_fixes=True)

    def has_worker_marker(self) -> bool:
        for path in sorted(self.input.rglob("*.py")):
            for line in path.read_bytes().splitlines()[:5]:
                match = _MARKER.search(line)
                if match and "worker" in match.group("body").decode():
                    return True
        return False

    def update(self, rendered: str, before: dict[str, bytes], after: dict[str, bytes]) -> None:
        import shutil

        if rendered:
            self.findings.write_text(rendered, "utf-8")
        else:
            self.findings.unlink(missing_ok=True)
        shutil.rmtree(self.expected, ignore_errors=True)
        for name, data in after.items():
            if data != before.get(name):
                target = self.expected / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)


def folder_cases() -> list[FolderCase]:
    return [
        FolderCase(rule=path.parent.name, name=path.name, root=path)
        for path in sorted(FIXTURES.glob("*/*/input"))
        for path in [path.parent]
    ]


def render_folder_findings(results: object) -> str:
    """The findings of a pipeline run (`runner.run`'s results), as in `findings.txt`."""
    from celerymod.model import FileResult

    lines = []
    for result in sorted(results, key=lambda r: r.path):  # type: ignore[attr-defined]
        assert isinstance(result, FileResult)
        for finding in result.findings:
            mark = " [*]" if finding.fix is not None else ""
            where = f"{Path(finding.path).as_posix()}:{finding.span.line}:{finding.span.column}"
            lines.append(f"{where} {finding.code}{mark} {finding.message}\n")
            if finding.help:
                lines.append(f"    help: {finding.help}\n")
            if finding.fix is not None:
                lines.append(f"    fix ({finding.fix.safety.value}): {finding.fix.message}\n")
                if finding.fix.other_paths:
                    others = ", ".join(Path(p).as_posix() for p in finding.fix.other_paths)
                    lines.append(f"    also edits: {others}\n")
    return "".join(lines)
