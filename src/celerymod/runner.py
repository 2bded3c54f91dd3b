"""Running the engine over many files: the process pool, the index pass, and writes.

Workers read and process files and return `FileResult`s (diffs included); prompts and
writes happen in the main process only, so two processes never write one file. A file that
no selected rule's byte patterns match is read but never parsed, and libcst is never imported
for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from celerymod import cache, registry, textio
from celerymod.analysis.index import INDEX_PATTERNS, IndexEntry, ProjectIndex
from celerymod.discovery import SourceFile
from celerymod.model import FileError, FileResult, ForeignEdit, RunConfig

T = TypeVar("T")
R = TypeVar("R")

# Below this many files a pool costs more than it saves.
_POOL_THRESHOLD = 8
# However many `--jobs` are asked for: more processes than this only cost memory.
_MAX_JOBS = 32

# Set in each worker by `_init_worker`, so the config and index are sent once, not per file.
_config: RunConfig = RunConfig()
_index: ProjectIndex | None = None
# The cache key part of each index this process has seen (by identity: hashing is costly).
_index_fingerprints: dict[int, tuple[ProjectIndex, str]] = {}


def _init_worker(config: RunConfig, index: ProjectIndex | None) -> None:
    global _config, _index
    _config, _index = config, index


def _index_fingerprint(index: ProjectIndex | None) -> str:
    if index is None:
        return "-"
    known = _index_fingerprints.get(id(index))
    if known is None or known[0] is not index:
        known = _index_fingerprints[id(index)] = (index, cache.index_fingerprint(index))
    return known[1]


@dataclass(frozen=True)
class WriteOutcome:
    written: tuple[str, ...]
    errors: tuple[FileError, ...]


def read_source(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _index_one(file: SourceFile) -> IndexEntry | None:
    try:
        source = read_source(file.absolute)
    except OSError:
        return None  # The processing pass reports unreadable files.
    if not any(pattern in source for pattern in INDEX_PATTERNS):
        return None
    store = cache.Cache(_config.cache_dir) if _config.cache_dir else None
    key = cache.index_key(file.path, file.module_name, source)
    if store:
        found, entry = store.get(key)
        if found and (entry is None or isinstance(entry, IndexEntry)):
            return entry
    from celerymod.analysis import indexing

    try:
        entry = deep(lambda: indexing.index_file(source, file.path, file.module_name))
    except Exception:  # noqa: BLE001 - a file the index cannot read is reported later.
        return None
    if store:
        store.put(key, entry)
    return entry


def _process_one(file: SourceFile) -> FileResult:
    try:
        source = read_source(file.absolute)
    except OSError as error:
        return FileResult(path=file.path, errors=(FileError(file.path, _reason(error)),))
    return process_source(source, file, _config, _index)


def process_source(
    source: bytes,
    file: SourceFile,
    config: RunConfig,
    index: ProjectIndex | None,
    foreign: Sequence[ForeignEdit] = (),
) -> FileResult:
    """Process one file's bytes; libcst is imported only if some rule's patterns match.

    With a cache (`config.cache_dir`), a result computed before from the same bytes, settings,
    index and foreign edits is read back instead.
    """
    config = config.for_file(file.absolute)
    helpers = bool(index.reached_in(file.module_name)) if index is not None else False
    if not foreign and not registry.matching_rules(source, config, helpers):
        return FileResult(path=file.path, source_hash=textio.source_hash(source))
    if not config.cache_dir:
        return _process(source, file, config, index, foreign)
    store = cache.Cache(config.cache_dir)
    key = cache.result_key(
        config, file.path, file.module_name, source, _index_fingerprint(index), foreign
    )
    found, result = store.get(key) if key else (False, None)
    if found and isinstance(result, FileResult):
        return result
    result = _process(source, file, config, index, foreign)
    if key:
        store.put(key, result)
    return result


def _process(
    source: bytes,
    file: SourceFile,
    config: RunConfig,
    index: ProjectIndex | None,
    foreign: Sequence[ForeignEdit],
) -> FileResult:
    from celerymod import engine

    try:
        return deep(
            lambda: engine.process(
                source,
                file.path,
                config,
                index=index,
                module_name=file.module_name,
                foreign=foreign,
            )
        )
    except RecursionError:
        return FileResult(path=file.path, errors=(FileError(file.path, TOO_DEEP),))
    except Exception as error:  # noqa: BLE001 - one broken file must not stop the run.
        message = f"internal error: {type(error).__name__}: {error}"
        return FileResult(path=file.path, errors=(FileError(file.path, message),))


TOO_DEEP = "too deeply nested for celerymod's parser (valid Python, but not checked)"
CRASHED = "celerymod's parser crashed on this file (valid Python or not, it was not checked)"
# libcst's native parser and its visitors recurse once per nesting level (a 10,000-term
# `or` is 10,000 levels): on the default 8 MB stack that overflows (a segfault) or hits
# Python's recursion limit. A thread with a large stack (only reserved, not used, until
# needed) gives both room; deeper still is a RecursionError, reported as TOO_DEEP.
_STACK_BYTES = 256 * 1024 * 1024
_RECURSION_LIMIT = 20_000


def deep(call: Callable[[], T]) -> T:
    """`call()` on a thread with a large stack and recursion limit; its result or error."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread.
            failure.append(error)

    previous_stack = threading.stack_size(_STACK_BYTES)
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, _RECURSION_LIMIT))
    try:
        worker = threading.Thread(target=target, name="celerymod-parse")
        worker.start()
    finally:
        threading.stack_size(previous_stack)
    worker.join()
    sys.setrecursionlimit(previous_limit)
    if failure:
        raise failure[0]
    return outcome[0]


def _reason(error: OSError) -> str:
    return f"cannot read: {error.strerror or error}"


def _map(
    function: Callable[[T], R],
    items: Sequence[T],
    config: RunConfig,
    index: ProjectIndex | None,
    progress: Callable[[], None] | None,
) -> Iterator[R]:
    # Never more processes than files, nor than a sane maximum (`--jobs 100000`).
    jobs = min(config.jobs or os.cpu_count() or 1, len(items) or 1, _MAX_JOBS)
    if jobs == 1 or len(items) < _POOL_THRESHOLD:
        _init_worker(config, index)
        for item in items:
            yield function(item)
            if progress:
                progress()
        return
    chunk = max(1, len(items) // (jobs * 16))
    done = 0
    try:
        with ProcessPoolExecutor(
            max_workers=jobs, initializer=_init_worker, initargs=(config, index)
        ) as pool:
            for result in pool.map(function, items, chunksize=chunk):
                yield result
                done += 1
                if progress:
                    progress()
    except BrokenProcessPool:
        # A worker died (a crash in native code): which file did it is unknown, so the rest
        # run one per fresh worker; the file that kills its own worker is its own error.
        for item in items[done:]:
            yield _isolated(function, item, config, index)
            if progress:
                progress()


def _isolated(
    function: Callable[[T], R], item: T, config: RunConfig, index: ProjectIndex | None
) -> R:
    with ProcessPoolExecutor(
        max_workers=1, initializer=_init_worker, initargs=(config, index)
    ) as pool:
        try:
            return pool.submit(function, item).result()
        except BrokenProcessPool:
            return _crashed(function, item)


def _crashed(function: Callable[[T], R], item: T) -> R:
    if function is _process_one and isinstance(item, SourceFile):
        error = FileError(item.path, CRASHED)
        return FileResult(path=item.path, errors=(error,))  # type: ignore[return-value]
    return None  # type: ignore[return-value]  # The index pass: the file is reported later.


def needs_index(config: RunConfig) -> bool:
    return any(rule.needs_index and config.selects(rule.code) for rule in registry.RULES)


def build_index(files: Sequence[SourceFile], config: RunConfig) -> ProjectIndex | None:
    """The first pass: task definitions across every scanned file, if a rule needs them."""
    if not needs_index(config):
        return None
    entries = [e for e in _map(_index_one, files, config, None, None) if e is not None]
    return ProjectIndex.from_entries(entries)


def run(
    files: Sequence[SourceFile],
    config: RunConfig,
    index: ProjectIndex | None,
    progress: Callable[[], None] | None = None,
) -> list[FileResult]:
    """Process every file (in a pool when there are enough) and return results in order.

    A fix may also edit another file (`FixInfo.foreign`); those files are processed once
    more with the edits sent to them, so each result holds everything that changes it.
    """
    results = list(_map(_process_one, files, config, index, progress))
    edits = foreign_edits(results, config)
    if not edits:
        return results
    by_path = {file.path: file for file in files}
    redone: list[FileResult] = []
    for result in results:
        wanted = edits.get(result.path)
        if not wanted:
            redone.append(result)
            continue
        try:
            source = read_source(by_path[result.path].absolute)
        except OSError as error:
            redone.append(FileResult(result.path, errors=(FileError(result.path, _reason(error)),)))
            continue
        redone.append(process_source(source, by_path[result.path], config, index, wanted))
    return redone


def foreign_edits(
    results: Iterable[FileResult], config: RunConfig
) -> dict[str, list[ForeignEdit]]:
    """Every foreign edit the applied fixes of `results` send, by target path, each once."""
    edits: dict[str, list[ForeignEdit]] = {}
    for result in results:
        for finding in result.findings:
            if finding.fix is None or not config.applies(finding.fix):
                continue
            for edit in finding.fix.foreign:
                bucket = edits.setdefault(edit.path, [])
                if edit not in bucket:
                    bucket.append(edit)
    return edits


def write_results(results: Iterable[FileResult], files: Sequence[SourceFile]) -> WriteOutcome:
    """Write every changed file atomically, refusing files that changed since they were read.

    The files one change edits together (a CEL002 fix: the caller and the task's module) are
    written all or nothing (`write_together`): a caller that imports a helper its other file
    never got would no longer import.
    """
    absolute = {file.path: file.absolute for file in files}
    changed = [result for result in results if result.new_source is not None]
    items = {
        result.path: WriteItem(
            result.path, absolute[result.path], result.new_source or b"", result.source_hash
        )
        for result in changed
    }
    links = [
        {finding.path, *finding.fix.other_paths}
        for result in changed
        for finding in result.findings
        if finding.fix is not None and finding.fix.foreign
    ]
    written: list[str] = []
    errors: list[FileError] = []
    for group in change_groups(list(items), links):
        outcome = write_together([items[path] for path in group])
        written += outcome.written
        errors += outcome.errors
    return WriteOutcome(tuple(written), tuple(errors))


@dataclass(frozen=True)
class WriteItem:
    """One file to write: its reported path, where it is, its new bytes, and the hash of the
    bytes the new ones were computed from."""

    path: str
    absolute: str
    data: bytes
    expected_hash: str


def change_groups(paths: Sequence[str], links: Iterable[set[str]]) -> list[list[str]]:
    """`paths` split into the groups that must be written together, in the order of `paths`:
    two paths are together when some link (the files one change edits) holds both."""
    group_of = {path: {path} for path in paths}
    for link in links:
        members = [path for path in link if path in group_of]
        if not members:
            continue
        merged = set().union(*(group_of[path] for path in members))
        for path in merged:
            group_of[path] = merged
    groups: list[list[str]] = []
    seen: set[str] = set()
    for path in paths:
        if path not in seen:
            group = [p for p in paths if p in group_of[path]]
            seen.update(group)
            groups.append(group)
    return groups


def write_together(items: Sequence[WriteItem]) -> WriteOutcome:
    """Write `items` all or nothing.

    Every file is checked and its temp file written (and synced) before any is renamed into
    place, so a read-only file, a folder without room or a file changed since it was read
    stops the whole change. The renames then run back to back with SIGINT, SIGTERM and SIGHUP
    held, so a Ctrl-C or a kill lands after the change is whole; if a rename still fails, the
    files already renamed get their old bytes back. (SIGKILL or a power cut between two
    renames cannot be covered without a journal.)
    """
    prepared: list[tuple[WriteItem, _Prepared]] = []
    failed: dict[str, str] = {}
    try:
        for item in items:
            ready = _prepare(item.absolute, item.data, item.expected_hash)
            if isinstance(ready, str):
                failed[item.path] = ready
            else:
                prepared.append((item, ready))
        if failed:
            return _refused(items, failed)
        done: list[tuple[WriteItem, _Prepared]] = []
        with _signals_held():
            for item, ready in prepared:
                error = _commit(item.absolute, ready, item.expected_hash)
                if error:
                    return _rolled_back(items, done, item, error)
                done.append((item, ready))
    finally:
        for _, ready in prepared:
            Path(ready.temp).unlink(missing_ok=True)
    return WriteOutcome(tuple(item.path for item in items), ())


def _refused(items: Sequence[WriteItem], failed: dict[str, str]) -> WriteOutcome:
    errors = []
    blockers = ", ".join(failed)
    for item in items:
        message = failed.get(item.path)
        if message is None:
            message = f"not written: part of one change with {blockers}, which cannot be written"
        errors.append(FileError(item.path, message))
    return WriteOutcome((), tuple(errors))


def _rolled_back(
    items: Sequence[WriteItem],
    done: Sequence[tuple[WriteItem, _Prepared]],
    failed: WriteItem,
    error: str,
) -> WriteOutcome:
    """A rename of the change failed after others succeeded: put those back as they were."""
    errors = [FileError(failed.path, error)]
    kept: list[str] = []
    for item, ready in done:
        problem = write_atomic(item.absolute, ready.original, textio.source_hash(item.data))
        if problem is None:
            message = f"restored to what it was: {failed.path} of the same change failed"
            errors.append(FileError(item.path, message))
        else:
            kept.append(item.path)
            message = f"written, but {failed.path} of the same change was not, and the "
            message += f"restore failed ({problem}): the change is half applied"
            errors.append(FileError(item.path, message))
    done_paths = {item.path for item, _ in done}
    for item in items:
        if item.path != failed.path and item.path not in done_paths:
            errors.append(FileError(item.path, f"not written: {failed.path} of the same change failed"))
    return WriteOutcome(tuple(kept), tuple(errors))


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@dataclass(frozen=True)
class _Prepared:
    temp: str
    info: os.stat_result
    original: bytes


def write_atomic(path: str, data: bytes, expected_hash: str) -> str | None:
    """Replace `path` with `data` (temp file + rename); an error message or None.

    Mode, owner and group are kept (owner and group where the process may set them). A file
    with several hard links is refused: a rename would split it from its other names. The
    file is checked again right before the rename (bytes, size, mtime, inode), so an edit
    that lands while the temp file is written is not overwritten; what remains is the
    instant between that check and the rename, which no portable call closes.
    """
    ready = _prepare(path, data, expected_hash)
    if isinstance(ready, str):
        return ready
    try:
        return _commit(path, ready, expected_hash)
    finally:
        Path(ready.temp).unlink(missing_ok=True)


def _prepare(path: str, data: bytes, expected_hash: str) -> _Prepared | str:
    """Check `path` may be replaced and write `data` to a synced temp file beside it."""
    try:
        current = read_source(path)
        info = os.stat(path)
    except OSError as error:
        return f"not written: {_reason(error)}"
    mode = info.st_mode
    # Refuse by mode bits, not by a failed open: root can open a 0444 file for writing,
    # and a user who marked a file read-only did not ask for it to be rewritten.
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "not written: read-only"
    if info.st_nlink > 1:
        return f"not written: the file has {info.st_nlink} hard links (a rewrite would split them)"
    if textio.source_hash(current) != expected_hash:
        return _CHANGED
    folder = os.path.dirname(os.path.abspath(path))
    try:
        handle, temp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    except OSError as error:
        return f"not written: {error.strerror or error}"
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode & 0o7777)
        _keep_owner(temp, info)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            return f"not written: {error.strerror or error}"
        raise
    return _Prepared(temp, info, current)


def _commit(path: str, ready: _Prepared, expected_hash: str) -> str | None:
    """Rename the temp file over `path` unless `path` changed since it was checked."""
    if _changed_since(path, ready.info, expected_hash):
        return _CHANGED
    try:
        os.replace(ready.temp, path)
    except OSError as error:
        return f"not written: {error.strerror or error}"
    return None


# What temp files of a write are named: `.celerymod-XXXXXXXX.tmp` beside the file.
TEMP_PREFIX, TEMP_SUFFIX = ".celerymod-", ".tmp"


_CHANGED = "not written: the file changed since it was read; run celerymod again"


def _keep_owner(temp: str, info: os.stat_result) -> None:
    current = os.stat(temp)
    if (current.st_uid, current.st_gid) == (info.st_uid, info.st_gid):
        return
    try:
        os.chown(temp, info.st_uid, info.st_gid)
    except PermissionError:
        try:  # A user may still give the file its group if they belong to it.
            os.chown(temp, -1, info.st_gid)
        except PermissionError:
            pass  # Only root can give a file to another user; the new file is ours.


def _changed_since(path: str, info: os.stat_result, expected_hash: str) -> bool:
    """True when `path` is no longer the file that was read (edited, replaced, removed)."""
    try:
        now = os.stat(path)
        before = (info.st_ino, info.st_size, info.st_mtime_ns)
        if (now.st_ino, now.st_size, now.st_mtime_ns) != before:
            return True
        return textio.source_hash(read_source(path)) != expected_hash
    except OSError:
        return True
