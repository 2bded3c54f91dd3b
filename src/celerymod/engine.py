"""The pure core: source bytes + config (+ project index) -> findings, fixes, new bytes.

No I/O and no printing happen here. Check and fix share `process`, so what `check` reports
is exactly what `fix` changes. Importing this module imports libcst: the runner imports it
only for files that passed the byte prefilter.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import (
    MetadataWrapper,
    PositionProvider,
)

from celerymod import import_order, registry, textio
from celerymod.analysis.index import ProjectIndex
from celerymod.ast_gates import rules_to_run
from celerymod.await_placement import misplaced_awaits
from celerymod.lazy_metadata import LazyMetadata
from celerymod.model import (
    FileError,
    FileResult,
    Finding,
    FixInfo,
    ForeignEdit,
    RuleSpec,
    RunConfig,
    Span,
)
from celerymod.suppressions import suppressed
from celerymod.transforms.base import Checker, Fix, ModuleContext, Report, walk

# A fix that keeps producing work (two fixes re-creating each other) must not loop forever.
_MAX_ROUNDS = 20
# How many times one run re-analyses fixed code for fixes that code now offers.
_FIXPOINT_ROUNDS = 10


class InternalError(Exception):
    """A fix produced code that does not parse or compile; nothing is written."""


@dataclass(frozen=True)
class _Proposal:
    """A finding with the live tree objects of its fix (never leaves this module)."""

    finding: Finding
    fix: Fix | None


def process(
    source: bytes,
    path: str,
    config: RunConfig,
    *,
    index: ProjectIndex | None = None,
    module_name: str | None = None,
    keys: Collection[str] | None = None,
    foreign: Sequence[ForeignEdit] = (),
    rules: Sequence[RuleSpec] | None = None,
) -> FileResult:
    """Find everything in one file and apply the fixes named by `keys`.

    None applies every fix the config allows: the safe ones, and the review ones too when
    `config.unsafe_fixes` is set.

    `foreign` are parts of fixes found in other files that edit this one; `rules`, the
    rules `ast_gates.rules_to_run` gave the file, when the caller has them. Errors (decode,
    syntax, a fix that breaks the code) come back inside the result, never raised.
    """
    config = config.for_file(path)  # `per-file-ignores`
    digest = textio.source_hash(source)
    # Byte patterns, then the `ast` gates: Python's C parser rules out, in milliseconds,
    # files where a rule has nothing to look at, before libcst parses them.
    if rules is None:  # The runner passes the rules it already gated.
        rules = rules_to_run(source, path, module_name, config, index)
    if not rules and not foreign:
        return FileResult(path=path, source_hash=digest)
    try:
        decoded = textio.decode(source)
    except textio.DecodeError as error:
        return FileResult(path=path, errors=(FileError(path, str(error)),), source_hash=digest)
    context = ModuleContext(path=path, module_name=module_name, config=config, index=index)
    try:
        hidden: list[tuple[int, str]] = []
        wrapper = _wrap(decoded.text)
        proposals = _proposals(wrapper, decoded.text, context, rules, hidden)
    except cst.ParserSyntaxError as error:
        message = _syntax_error_message(decoded.text, path, error)
        return FileResult(path=path, errors=(FileError(path, message),), source_hash=digest)
    findings = tuple(p.finding for p in proposals)
    fixable = [p.finding.fix for p in proposals if p.finding.fix is not None]
    if keys is None:
        wanted = {fix.key for fix in fixable if config.applies(fix)}
    else:
        wanted = set(keys) & {fix.key for fix in fixable}
    if not wanted and not foreign:
        return FileResult(
            path=path,
            findings=findings,
            source_hash=digest,
            parsed=True,
            suppressed=tuple(hidden),
        )
    try:
        first = (wrapper, proposals)  # The fixes just found: no second analysis of the file.
        new_text, done = _apply_fixes(decoded.text, context, rules, wanted, foreign, first)
    except InternalError as error:
        return FileResult(
            path=path,
            findings=findings,
            errors=(FileError(path, f"internal error, no fix applied: {error}"),),
            source_hash=digest,
            parsed=True,
            suppressed=tuple(hidden),
        )
    # A fix nested in one applied before it may dissolve (the code it edits moved): count
    # only what was applied.
    applied = tuple(f for f in fixable if f.key in done)
    errors: tuple[FileError, ...] = ()
    if keys is None and config.fixpoint:
        # "Every fix" means the fixpoint: a fix may produce code that another fix applies to
        # (a CEL001 callback now holding a CEL002 wait). A chosen subset stays that subset.
        new_text, later, problem = _fixpoint(new_text, context, rules, config)
        applied += later
        errors = (FileError(path, problem),) if problem else ()
    if new_text == decoded.text:
        return FileResult(
            path=path,
            findings=findings,
            errors=errors,
            source_hash=digest,
            parsed=True,
            suppressed=tuple(hidden),
        )
    return FileResult(
        path=path,
        findings=findings,
        errors=errors,
        new_source=textio.encode(new_text, decoded),
        diff=textio.unified_diff(decoded.text, new_text, path),
        source_hash=digest,
        parsed=True,
        applied=applied,
        suppressed=tuple(hidden),
    )


def _fixpoint(
    text: str,
    context: ModuleContext,
    rules: Sequence[RuleSpec],
    config: RunConfig,
) -> tuple[str, tuple[FixInfo, ...], str]:
    """Apply, to the code the fixes produced, the fixes found in it, until none is left.

    Returns the code, the fixes applied on the way, and what went wrong ("" if nothing).
    A fix that also edits another file is applied only when the runner delivers the edits
    of applied fixes (`config.sends_foreign`: it processes that file again); otherwise it
    is left for the next run, and the problem says so.
    """
    applied: list[FixInfo] = []
    for _ in range(_FIXPOINT_ROUNDS):
        offered = [
            p.finding.fix
            for p in _analyze(text, context, rules)
            if p.finding.fix is not None and config.applies(p.finding.fix)
        ]
        wanted = {fix.key: fix for fix in offered if config.sends_foreign or not fix.foreign}
        left = _left_for_next_run(len(offered) - len(wanted))
        if not wanted:
            return text, tuple(applied), left
        try:
            new_text, done = _apply_fixes(text, context, rules, wanted.keys())
        except InternalError as error:
            return text, tuple(applied), f"internal error, later fixes not applied: {error}"
        if new_text == text:
            return text, tuple(applied), left
        applied.extend(fix for key, fix in wanted.items() if key in done)
        text = new_text
    problem = (
        f"fixes still changed the code after {_FIXPOINT_ROUNDS} rounds; run `celerymod fix` again"
    )
    return text, tuple(applied), problem


def _left_for_next_run(count: int) -> str:
    if not count:
        return ""
    fixes, are = ("fix that also edits", "is") if count == 1 else ("fixes that also edit", "are")
    return (
        f"{count} {fixes} another file, found in the fixed code, {are} left for the next run "
        "(this run does not send their edit there); run `celerymod fix` again"
    )


def _syntax_error_message(text: str, path: str, error: cst.ParserSyntaxError) -> str:
    """Python's own wording and position when it agrees the code is invalid (users know it)."""
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as python_error:
        return f"syntax error at {python_error.lineno}:{python_error.offset}: {python_error.msg}"
    except ValueError:
        pass
    else:
        # Python compiles it: the code is valid and the limit is libcst's, not the user's.
        where = f"{error.raw_line}:{error.raw_column + 1}"
        return f"celerymod's parser cannot read this file (valid Python; libcst fails at {where})"
    return f"syntax error at {error.raw_line}:{error.raw_column + 1}: {error.message}"


def _checker_class(rule: RuleSpec) -> type[Checker]:
    checker: type[Checker] = importlib.import_module(rule.module).Checker
    return checker


def _run_checkers(
    wrapper: MetadataWrapper, context: ModuleContext, rules: Sequence[RuleSpec]
) -> list[tuple[RuleSpec, Report]]:
    checkers = [(rule, _checker_class(rule)(context)) for rule in rules]
    # Not `wrapper.visit_batched`, which resolves every declared provider over the whole
    # module first: most parsed files turn out to hold no task, and position, parent, scope
    # and qualified-name metadata cost several times the parse. Each provider is resolved
    # when a checker first reads it (the same tables, so the same findings).
    metadata = LazyMetadata(wrapper, [c.get_inherited_dependencies() for _, c in checkers])
    for _, checker in checkers:
        checker.metadata = metadata
    if all(set(checker.get_visitors()) <= {"visit_Module"} for _, checker in checkers):
        # Checkers that answer from the module as a whole (CEL001, CEL002, CEL008) need no
        # walk over every node: that walk alone costs about what a metadata pass does.
        for _, checker in checkers:
            checker.visit_Module(wrapper.module)
    else:
        cst.visit_batched(wrapper.module, [checker for _, checker in checkers])
    return [(rule, report) for rule, checker in checkers for report in checker.reports]


def _wrap(text: str) -> MetadataWrapper:
    # The tree was just parsed here and nothing else holds it: no defensive deep copy.
    return MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)


def _analyze(
    text: str,
    context: ModuleContext,
    rules: Sequence[RuleSpec],
    hidden: list[tuple[int, str]] | None = None,
) -> list[_Proposal]:
    return _proposals(_wrap(text), text, context, rules, hidden)


def _proposals(
    wrapper: MetadataWrapper,
    text: str,
    context: ModuleContext,
    rules: Sequence[RuleSpec],
    hidden: list[tuple[int, str]] | None = None,
) -> list[_Proposal]:
    """The findings of `rules` and their fixes; `hidden` collects `(line, code)` of those a
    suppression comment drops."""
    reports = _run_checkers(wrapper, context, rules)
    if not reports:
        return []  # Most parsed files: skip computing positions, a full extra pass.
    positions = wrapper.resolve(PositionProvider)
    lines = text.splitlines()
    seen: dict[tuple[str, str], int] = {}
    definitions = _definitions(wrapper.module, positions)
    proposals: list[_Proposal] = []
    reports.sort(key=lambda item: _start(positions[item[1].node]))
    for rule, report in reports:
        where = positions[report.node]
        span = Span(where.start.line, where.start.column + 1, where.end.line, where.end.column + 1)
        if _suppressed(lines, span.line, rule.code):
            if hidden is not None:
                hidden.append((span.line, rule.code))
            continue
        fix_info = None
        if report.fix is not None:
            # Positions shift when another fix is applied; the node's own text does not, nor
            # the name of the module-level def/class holding it. The name tells apart equal
            # sites in two functions: once one is fixed, the other's ordinal must not shift.
            anchor = _definition_at(definitions, where.start.line)
            node_text = wrapper.module.code_for_node(report.node)
            text_hash = hashlib.sha1(f"{anchor}\0{node_text}".encode()).hexdigest()
            ordinal = seen.get((rule.code, text_hash), 0)
            seen[(rule.code, text_hash)] = ordinal + 1
            fix_info = FixInfo(
                key=f"{rule.code}:{text_hash[:12]}:{ordinal}",
                message=report.fix.message,
                safety=report.fix.safety,
                foreign=report.fix.foreign,
            )
        finding = Finding(
            path=context.path,
            span=span,
            code=rule.code,
            name=rule.name,
            message=report.message,
            fix=fix_info,
            help=report.help,
            part_of_fix=report.part_of_fix,
        )
        proposals.append(_Proposal(finding=finding, fix=report.fix))
    return proposals


def _definitions(module: cst.Module, positions: object) -> list[tuple[int, int, str]]:
    """`(first line, last line, name)` of every module-level `def` and `class`."""
    found = []
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef | cst.ClassDef):
            where = positions[statement]  # type: ignore[index]
            found.append((where.start.line, where.end.line, statement.name.value))
    return found


def _definition_at(definitions: list[tuple[int, int, str]], line: int) -> str:
    return next((name for first, last, name in definitions if first <= line <= last), "")


def _start(where: object) -> tuple[int, int]:
    start = where.start  # type: ignore[attr-defined]
    return (start.line, start.column)


def _suppressed(lines: list[str], line: int, code: str) -> bool:
    if line > len(lines):
        return False
    return suppressed(lines[line - 1], code)


def apply_fixes(
    text: str,
    context: ModuleContext,
    rules: Sequence[RuleSpec],
    keys: Collection[str],
    foreign: Sequence[ForeignEdit] = (),
) -> str:
    """Apply exactly the fixes named by `keys` (and the foreign parts) to `text`.

    Fixes whose replaced nodes do not overlap are applied together in one pass; a fix nested
    inside another waits for the next round, where it is found again by its key in the new
    code. Raises InternalError if the result does not parse or compile.
    """
    return _apply_fixes(text, context, rules, keys, foreign)[0]


def _apply_fixes(
    text: str,
    context: ModuleContext,
    rules: Sequence[RuleSpec],
    keys: Collection[str],
    foreign: Sequence[ForeignEdit] = (),
    first: tuple[MetadataWrapper, list[_Proposal]] | None = None,
) -> tuple[str, set[object]]:
    """`apply_fixes`, and the keys (and foreign edits) it applied. `first`: the parsed
    `text` and its proposals, when the caller has them already."""
    original = text
    done: set[object] = set()
    pending: set[object] = set(keys) | set(foreign)
    for _ in range(_MAX_ROUNDS):
        if not pending:
            break
        if first is not None:
            (wrapper, proposals), first = first, None
        else:
            wrapper = _wrap(text)
            proposals = _proposals(wrapper, text, context, rules)
        # Each fix is tagged with what it stands for: its key (as numbered in `text` before
        # this call's earlier rounds), or the foreign edit itself.
        batch: list[tuple[Fix, object]] = []
        for p in proposals:
            if p.fix is not None and p.finding.fix is not None:
                key = _renumbered(p.finding.fix.key, done)
                if key in pending:
                    batch.append((p.fix, key))
        for edit in foreign:
            if edit in pending:
                rule = registry.BY_CODE[edit.code]
                fix = _checker_class(rule).foreign_fix(context, wrapper, edit.payload)
                if fix is not None:
                    batch.append((fix, edit))
        if not batch:
            break  # What is left no longer matches anything: nothing more to do.
        chosen = _non_overlapping(batch)
        pending -= {tag for _, tag in chosen}
        done |= {tag for _, tag in chosen}
        text = _apply_batch(wrapper.module, [fix for fix, _ in chosen], context).code
    _validate(original, text, context.path)
    return text, done


def _renumbered(key: str, done: set[object]) -> str:
    """`key` as it was before the fixes `done` were applied: a site equal to one fixed since
    (same rule, definition and text) had its ordinal shifted down by each fixed one before it."""
    prefix, _, number = key.rpartition(":")
    ordinal = int(number)
    fixed = (k for k in done if isinstance(k, str) and k.rpartition(":")[0] == prefix)
    for taken in sorted(int(k.rpartition(":")[2]) for k in fixed):
        if taken <= ordinal:
            ordinal += 1
    return f"{prefix}:{ordinal}"


def _non_overlapping(batch: list[tuple[Fix, object]]) -> list[tuple[Fix, object]]:
    """The fixes of `batch` whose replaced subtrees are disjoint, first come first served."""
    taken: set[int] = set()
    chosen: list[tuple[Fix, object]] = []
    for fix, key in batch:
        ids = {id(n) for target, _ in fix.replacements for n in walk(target)}
        if ids & taken:
            continue
        taken |= ids
        chosen.append((fix, key))
    return chosen


class _Replacer(cst.CSTTransformer):
    def __init__(self, table: dict[int, object]) -> None:
        super().__init__()
        self.table = table

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        return self.table.get(id(original_node), updated_node)


def _apply_batch(module: cst.Module, fixes: Sequence[Fix], where: ModuleContext) -> cst.Module:
    table: dict[int, object] = {
        id(target): replacement for fix in fixes for target, replacement in fix.replacements
    }
    new_module = module.visit(_Replacer(table))
    context = _codemod_context(where)
    wanted = [item for fix in fixes for item in fix.add_imports]
    placed = import_order.add_imports(new_module, wanted) if wanted else None
    if placed is not None:
        new_module = placed
    for fix in fixes:
        for item in () if placed is not None else fix.add_imports:
            AddImportsVisitor.add_needed_import(context, item.module, item.obj_name, item.alias)
        for item in fix.remove_imports:
            RemoveImportsVisitor.remove_unused_import(
                context, item.module, item.obj_name, item.alias
            )
    if wanted and placed is None:
        new_module = AddImportsVisitor(context).transform_module(new_module)
    if any(fix.remove_imports for fix in fixes):
        kept = RemoveImportsVisitor(context).transform_module(new_module)
        new_module = import_order.tidy_removals(new_module, kept)
    return new_module


def _codemod_context(where: ModuleContext) -> CodemodContext:
    """The module's dotted name and package, which RemoveImportsVisitor needs to match a
    relative import (`from .scoring import score_task`) against an absolute module name."""
    if where.module_name is None:
        return CodemodContext()
    return CodemodContext(full_module_name=where.module_name, full_package_name=where.package)


def _validate(original: str, new: str, path: str) -> None:
    """Refuse output that libcst cannot parse, or that no longer compiles when it used to."""
    try:
        new_module = cst.parse_module(new)
    except cst.ParserSyntaxError as error:
        raise InternalError(f"the fixed code does not parse: {error.message}") from None
    try:
        compile(original, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        # Newer syntax than this interpreter knows: libcst's parser (the newest grammar) is
        # the check, and it accepts `await` anywhere, so look where the awaits are. Only new
        # ones count: the original's own are not the fix's doing.
        added = Counter(misplaced_awaits(new_module))
        added -= Counter(misplaced_awaits(cst.parse_module(original)))
        if added:
            where = ", ".join(sorted(added))
            raise InternalError(f"the fixed code puts `await` where Python refuses it: {where}")
        return
    try:
        compile(new, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        raise InternalError(f"the fixed code does not compile: {error}") from None
