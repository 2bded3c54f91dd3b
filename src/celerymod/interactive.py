"""`celerymod fix --interactive`: ask change by change, then write what was accepted.

Each prompt shows the diff between the files with the changes accepted so far and the files
with this one added, so what the user sees is exactly what accepting adds; a change that
edits two files (CEL002) is shown and accepted as one. The files written are computed by the
same engine call as `fix`, with exactly the accepted subset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from celerymod import engine, textio, writes
from celerymod.analysis.index import ProjectIndex
from celerymod.discovery import SourceFile
from celerymod.model import FileError, FileResult, Finding, ForeignEdit, RunConfig, Safety
from celerymod.report import Reporter

PROMPT = "Apply this change? [y,n,a,d,q,?] "
HELP = """\
y - apply this change
n - skip this change
a - apply this change and all the rest of the safe ones (review fixes are still asked)
d - skip the rest of the changes in this file
q - stop; changes accepted so far are written
? - show this help"""


@dataclass(frozen=True)
class Outcome:
    applied: int
    offered: int
    written: tuple[str, ...]
    errors: tuple[FileError, ...]
    interrupted: bool = False  # Ctrl-C at a prompt: nothing was written


@dataclass
class _FileState:
    """One file as the review goes: what was read, what is accepted, what it now is."""

    file: SourceFile
    source: bytes
    source_hash: str
    keys: list[str] = field(default_factory=list)
    foreign: list[ForeignEdit] = field(default_factory=list)
    current: bytes = b""
    stale: bool = False  # Changed on disk since the run read it: never edited.
    skip_own: bool = False  # "d": skip the rest of the changes reported in this file.


class _Review:
    def __init__(
        self,
        results: Sequence[FileResult],
        files: Sequence[SourceFile],
        config: RunConfig,
        index: ProjectIndex | None,
    ) -> None:
        self.files = {file.path: file for file in files}
        self.hashes = {result.path: result.source_hash for result in results}
        self.config = config
        self.index = index
        self.states: dict[str, _FileState] = {}
        self.errors: list[FileError] = []
        # The files each accepted change edits: they are written together or not at all.
        self.links: list[set[str]] = []

    def state(self, path: str) -> _FileState:
        """The file's state, read on first use."""
        if path not in self.states:
            file = self.files[path]
            source = writes.read_source(file.absolute)
            state = _FileState(file, source, self.hashes.get(path, ""), current=source)
            if textio.source_hash(source) != state.source_hash:
                self.errors.append(FileError(path, "changed since it was read; skipped"))
                state.stale = True
            self.states[path] = state
        return self.states[path]

    def candidate(self, finding: Finding) -> dict[str, bytes] | None:
        """Every involved file with this change added to what was accepted; None if blocked."""
        assert finding.fix is not None
        out: dict[str, bytes] = {}
        for path in (finding.path, *finding.fix.other_paths):
            state = self.state(path)
            if state.stale or (path == finding.path and state.skip_own):
                return None
            keys = [*state.keys, finding.fix.key] if path == finding.path else state.keys
            sent = [e for e in finding.fix.foreign if e.path == path and e not in state.foreign]
            result = engine.process(
                state.source,
                path,
                self.config,
                index=self.index,
                module_name=state.file.module_name,
                keys=keys,
                foreign=[*state.foreign, *sent],
            )
            out[path] = result.new_source if result.new_source is not None else state.source
        return out

    def accept(self, finding: Finding, candidate: dict[str, bytes]) -> None:
        assert finding.fix is not None
        for path, new in candidate.items():
            state = self.states[path]
            if path == finding.path:
                state.keys.append(finding.fix.key)
            state.foreign += [e for e in finding.fix.foreign if e.path == path]
            state.current = new
        self.links.append(set(candidate))

    def diff(self, candidate: dict[str, bytes]) -> str:
        parts = []
        for path, new in candidate.items():
            old = self.states[path].current
            if new != old:
                parts.append(textio.unified_diff(_text(old), _text(new), path))
        return "".join(parts)


def review(
    results: Sequence[FileResult],
    files: Sequence[SourceFile],
    config: RunConfig,
    index: ProjectIndex | None,
    reporter: Reporter,
    ask: Callable[[str], str],
) -> Outcome:
    session = _Review(results, files, config, index)
    changes = [f for result in results for f in result.findings if f.fix is not None]
    apply_all = False
    applied = 0
    for number, finding in enumerate(changes, start=1):
        candidate = session.candidate(finding)
        if candidate is None:
            continue
        diff = session.diff(candidate)
        if not diff:
            continue  # Already part of an accepted change (the fixes overlapped).
        # "a" accepts the rest of the safe fixes; a review fix is still asked about one by one.
        review = finding.fix is not None and finding.fix.safety is Safety.REVIEW
        if not apply_all or review:
            reporter.change_header(number, len(changes), finding)
            reporter.diff(diff)
            try:
                answer = _ask(ask, reporter)
            except KeyboardInterrupt:
                # Ctrl-C: the user wants out now, not "stop and write what I accepted"
                # (that is `q`). Writes happen only at the end, so nothing is written.
                return Outcome(applied, len(changes), (), tuple(session.errors), True)
            if answer == "q":
                break
            if answer == "d":
                session.states[finding.path].skip_own = True
                continue
            if answer == "n":
                continue
            apply_all = apply_all or answer == "a"
        session.accept(finding, candidate)
        applied += 1
    written: list[str] = []
    items = {
        path: writes.WriteItem(path, state.file.absolute, state.current, state.source_hash)
        for path, state in session.states.items()
        if state.current != state.source
    }
    for group in writes.change_groups(list(items), session.links):
        outcome = writes.write_together([items[path] for path in group])
        written += outcome.written
        session.errors += outcome.errors
    return Outcome(applied, len(changes), tuple(written), tuple(session.errors))


def _ask(ask: Callable[[str], str], reporter: Reporter) -> str:
    while True:
        try:
            answer = ask(PROMPT).strip().lower()
        except EOFError:
            return "q"
        if answer in {"y", "n", "a", "d", "q"}:
            return answer
        reporter.say(HELP, "dim")


def _text(source: bytes) -> str:
    return textio.decode(source).text
