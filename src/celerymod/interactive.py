"""`celerymod fix --interactive`: ask change by change, then write what was accepted.

Each prompt shows the diff between the file with the changes accepted so far and the file
with this one added, so what the user sees is exactly what accepting adds, and the written
file is exactly the accepted subset (computed by the same engine call as `fix`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from celerymod import engine, runner, textio
from celerymod.discovery import SourceFile
from celerymod.index import ProjectIndex
from celerymod.model import FileError, FileResult, RunConfig
from celerymod.report import Reporter

PROMPT = "Apply this change? [y,n,a,d,q,?] "
HELP = """\
y - apply this change
n - skip this change
a - apply this change and all the rest, in every file
d - skip the rest of the changes in this file
q - stop; changes accepted so far are written
? - show this help"""


@dataclass(frozen=True)
class Outcome:
    applied: int
    offered: int
    written: tuple[str, ...]
    errors: tuple[FileError, ...]


def review(
    results: Sequence[FileResult],
    files: Sequence[SourceFile],
    config: RunConfig,
    index: ProjectIndex | None,
    reporter: Reporter,
    ask: Callable[[str], str],
) -> Outcome:
    by_path = {file.path: file for file in files}
    pending = [r for r in results if any(f.fix is not None for f in r.findings)]
    total = sum(1 for r in pending for f in r.findings if f.fix is not None)
    number = 0
    apply_all = False
    applied = 0
    written: list[str] = []
    errors: list[FileError] = []
    for result in pending:
        file = by_path[result.path]
        source = runner.read_source(file.absolute)
        if textio.source_hash(source) != result.source_hash:
            errors.append(FileError(file.path, "changed since it was read; skipped"))
            continue
        accepted: list[str] = []
        current = source
        stop = False
        for finding in result.findings:
            if finding.fix is None:
                continue
            number += 1
            candidate = _with(source, file, config, index, [*accepted, finding.fix.key])
            if candidate == current:
                continue  # Already part of an accepted change (the fixes overlapped).
            if not apply_all:
                reporter.change_header(number, total, finding)
                reporter.diff(_diff(current, candidate, file.path))
                answer = _ask(ask, reporter)
                if answer == "q":
                    stop = True
                    break
                if answer == "d":
                    break
                if answer == "n":
                    continue
                apply_all = answer == "a"
            accepted.append(finding.fix.key)
            current = candidate
        if accepted:
            error = runner.write_atomic(file.absolute, current, result.source_hash)
            if error:
                errors.append(FileError(file.path, error))
            else:
                written.append(file.path)
                applied += len(accepted)
        if stop:
            break
    return Outcome(applied, total, tuple(written), tuple(errors))


def _ask(ask: Callable[[str], str], reporter: Reporter) -> str:
    while True:
        try:
            answer = ask(PROMPT).strip().lower()
        except EOFError:
            return "q"
        if answer in {"y", "n", "a", "d", "q"}:
            return answer
        reporter.say(HELP, "dim")


def _with(
    source: bytes,
    file: SourceFile,
    config: RunConfig,
    index: ProjectIndex | None,
    keys: list[str],
) -> bytes:
    result = engine.process(
        source, file.path, config, index=index, module_name=file.module_name, keys=keys
    )
    return result.new_source if result.new_source is not None else source


def _diff(old: bytes, new: bytes, path: str) -> str:
    return textio.unified_diff(textio.decode(old).text, textio.decode(new).text, path)
