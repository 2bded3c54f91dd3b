"""What each single fix changes, as text edits, for formats that show fixes one by one (SARIF).

A `FileResult` holds the file with *all* its fixes applied. A consumer of SARIF applies one
fix at a time, so each fix is re-derived alone with `engine.process(..., keys=[key])` (the
same path `fix -i` takes), except when the file has a single fix: then the whole new source is
that fix. This runs in the main process after the run, only for `--format sarif`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from celerymod import textio
from celerymod.formats.edits import TextEdit, line_edits
from celerymod.index import ProjectIndex
from celerymod.model import FileResult, RunConfig

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
