"""Writing fixed files: each atomically, and the files of one change all or nothing.

Only the main process writes (workers return `FileResult`s), so two processes never write one
file; a file edited between our read and our rename is left alone (`_CHANGED`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from celerymod import textio
from celerymod.discovery import SourceFile
from celerymod.model import FileError, FileResult


def read_source(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _reason(error: OSError) -> str:
    return f"cannot read: {error.strerror or error}"


@dataclass(frozen=True)
class WriteOutcome:
    written: tuple[str, ...]
    errors: tuple[FileError, ...]
    # Ctrl-C stopped the writes between two changes: `written` is what landed, whole.
    interrupted: bool = False


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
    ] + [
        # Fixes the fixpoint applied to fixed code edit other files too.
        {result.path, *fix.other_paths}
        for result in changed
        for fix in result.applied
        if fix.foreign
    ]
    written: list[str] = []
    errors: list[FileError] = []
    try:
        for group in change_groups(list(items), links):
            # Signals wait until a change is written (or refused) and its temp files are
            # gone: a Ctrl-C then stops the run between two changes, never inside one.
            with _signals_held():
                outcome = write_together([items[path] for path in group])
                written += outcome.written
                errors += outcome.errors
    except KeyboardInterrupt:
        return WriteOutcome(tuple(written), tuple(errors), interrupted=True)
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
            errors.append(
                FileError(item.path, f"not written: {failed.path} of the same change failed")
            )
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
