"""What each single fix changes, as text edits, for outputs that show fixes one by one.

SARIF and JSON carry each fix as edits a client can apply on its own.

A `FileResult` holds the file with *all* its fixes applied. A consumer of SARIF applies one
fix at a time, so each fix is re-derived alone with `engine.process(..., keys=[key])` (the
same path `fix -i` takes), except when the file has a single fix: then the whole new source is
that fix. This runs in the main process after the run, only for `--format sarif`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from celerymod import textio
from celerymod.analysis.index import ProjectIndex
from celerymod.formats.edits import TextEdit, line_edits
from celerymod.model import FileResult, FixInfo, RunConfig

# (path, fix key) -> the edits of that fix in that file.
FixEdits = Mapping[tuple[str, str], tuple[TextEdit, ...]]


def single_fix_edits(
    results: Sequence[FileResult],
    read: Callable[[str], bytes | None],
    config: RunConfig,
    index: ProjectIndex | None,
    module_names: Mapping[str, str | None],
) -> dict[tuple[str, str], tuple[TextEdit, ...]]:
    """Edits for every fix that can be shown on its own.

    Left out: fixes that also edit other files (their other half is not in this file's
    result), files whose bytes changed since the run read them (`read` returns what is there
    now), and changes the edits cannot express (see `line_edits`).
    """
    found: dict[tuple[str, str], tuple[TextEdit, ...]] = {}
    for result in results:
        fixes = [f.fix for f in result.findings if f.fix is not None]
        if not fixes or result.new_source is None:
            continue
        source = read(result.path)
        if source is None or textio.source_hash(source) != result.source_hash:
            continue
        try:
            decoded = textio.decode(source)
        except textio.DecodeError:
            continue
        for fix in fixes:
            if fix.other_paths:
                continue
            if len(fixes) == 1:
                new_source: bytes | None = result.new_source
            else:
                new_source = _one_fix(source, result.path, config, index, module_names, fix.key)
            if new_source is None:
                continue
            edits = line_edits(decoded.text, textio.decode(new_source).text)
            if edits:
                found[(result.path, fix.key)] = edits
    return found


def _one_fix(
    source: bytes,
    path: str,
    config: RunConfig,
    index: ProjectIndex | None,
    module_names: Mapping[str, str | None],
    key: str,
) -> bytes | None:
    from celerymod import engine  # libcst: only when some file has several fixes.

    result = engine.process(
        source, path, config, index=index, module_name=module_names.get(path), keys=[key]
    )
    return None if result.errors else result.new_source


# (path, fix key) -> every edit of that fix, in whichever file it falls, as (path, edit).
AllFixEdits = Mapping[tuple[str, str], tuple[tuple[str, TextEdit], ...]]


def every_fix_edits(
    results: Sequence[FileResult],
    read: Callable[[str], bytes | None],
    config: RunConfig,
    index: ProjectIndex | None,
    module_names: Mapping[str, str | None],
) -> dict[tuple[str, str], tuple[tuple[str, TextEdit], ...]]:
    """Edits of every fix on its own, including the parts a fix makes in other files (JSON).

    A fix is left out when a file it edits changed since the run read it, or when its change
    cannot be expressed as edits (see `line_edits`).
    """
    found: dict[tuple[str, str], tuple[tuple[str, TextEdit], ...]] = {
        key: tuple((key[0], edit) for edit in edits)
        for key, edits in single_fix_edits(results, read, config, index, module_names).items()
    }
    hashes = {result.path: result.source_hash for result in results}
    for result in results:
        for finding in result.findings:
            fix = finding.fix
            if fix is None or not fix.other_paths:
                continue
            edits = _multi_file_edits(result.path, fix, read, hashes, config, index, module_names)
            if edits is not None:
                found[(result.path, fix.key)] = edits
    return found


def _multi_file_edits(
    path: str,
    fix: FixInfo,
    read: Callable[[str], bytes | None],
    hashes: Mapping[str, str],
    config: RunConfig,
    index: ProjectIndex | None,
    module_names: Mapping[str, str | None],
) -> tuple[tuple[str, TextEdit], ...] | None:
    from celerymod import engine  # libcst: only for fixes that edit several files.

    edits: list[tuple[str, TextEdit]] = []
    for target in (path, *fix.other_paths):
        source = read(target)
        if source is None or textio.source_hash(source) != hashes.get(target):
            return None
        sent = [edit for edit in fix.foreign if edit.path == target]
        result = engine.process(
            source,
            target,
            config,
            index=index,
            module_name=module_names.get(target),
            keys=[fix.key] if target == path else [],
            foreign=sent,
        )
        if result.errors or result.new_source is None:
            return None
        try:
            changes = line_edits(textio.decode(source).text, textio.decode(result.new_source).text)
        except textio.DecodeError:
            return None
        if changes is None:
            return None
        edits += [(target, edit) for edit in changes]
    return tuple(edits)
