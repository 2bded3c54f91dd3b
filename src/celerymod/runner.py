"""Running the engine over many files: the process pool and the index pass (writes: `writes`).

Workers read and process files and return `FileResult`s (diffs included); prompts and
writes happen in the main process only, so two processes never write one file. A file that
no selected rule's byte patterns match is read but never parsed, and libcst is never imported
for it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TypeVar

from celerymod import ast_gates, cache, registry, suppressions, textio
from celerymod.analysis.index import INDEX_PATTERNS, IndexEntry, ProjectIndex
from celerymod.discovery import SourceFile
from celerymod.model import FileError, FileResult, ForeignEdit, RunConfig, UnusedSuppression
from celerymod.writes import _reason, read_source

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
    return _process_file(file, _config, _index)


def _process_file(
    file: SourceFile,
    config: RunConfig,
    index: ProjectIndex | None,
    foreign: Sequence[ForeignEdit] = (),
) -> FileResult:
    """Read and process one file (with the edits other files' fixes send it, if any)."""
    try:
        source = read_source(file.absolute)
    except OSError as error:
        return FileResult(path=file.path, errors=(FileError(file.path, _reason(error)),))
    return process_source(source, file, config, index, foreign)


def process_source(
    source: bytes,
    file: SourceFile,
    config: RunConfig,
    index: ProjectIndex | None,
    foreign: Sequence[ForeignEdit] = (),
) -> FileResult:
    """Process one file's bytes; libcst is imported only if some rule's patterns match.

    With a cache (`config.cache_dir`), a result computed before from the same bytes, settings,
    index and foreign edits is read back instead. With `config.report_unused_ignores`, the
    result also lists the suppression comments that hid nothing.
    """
    config = config.for_file(file.absolute)
    result = _process_cached(source, file, config, index, foreign)
    if config.report_unused_ignores and (result.parsed or not result.errors):
        result = replace(result, unused_suppressions=_unused(source, result, config))
    return result


def _unused(source: bytes, result: FileResult, config: RunConfig) -> tuple[UnusedSuppression, ...]:
    # Most files hold no suppression at all: no need to decode and tokenize them.
    if b"noqa" not in source.lower() and b"celerymod" not in source:
        return ()
    try:
        text = textio.decode(source).text
    except textio.DecodeError:
        return ()
    return suppressions.unused(
        text, result.path, result.suppressed, registry.BY_CODE, config.selects
    )


def _process_cached(
    source: bytes,
    file: SourceFile,
    config: RunConfig,
    index: ProjectIndex | None,
    foreign: Sequence[ForeignEdit],
) -> FileResult:
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
    # The `ast` gates, before the engine: a file no rule can report in never imports libcst.
    rules = None
    if not foreign:
        rules = ast_gates.rules_to_run(source, file.path, file.module_name, config, index)
        if not rules:
            return FileResult(path=file.path, source_hash=textio.source_hash(source))
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
                rules=rules,
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
    more with the edits sent to them, so each result holds everything that changes it. A
    fix found in a file's fixed code may send a new edit (a CEL002 wait a CEL001 rewrite
    freed from its workaround): the files it edits are processed again, until no fix sends
    anything new.
    """
    config = replace(config, sends_foreign=True)
    results = list(_map(_process_one, files, config, index, progress))
    by_path = {file.path: file for file in files}
    sent: dict[str, list[ForeignEdit]] = {}
    for _ in range(_FOREIGN_ROUNDS):
        edits = foreign_edits(results, config)
        grown = {
            path
            for path, wanted in edits.items()
            if path in by_path and any(edit not in sent.get(path, ()) for edit in wanted)
        }
        if not grown:
            return results
        for path in grown:
            bucket = sent.setdefault(path, [])
            bucket += [edit for edit in edits[path] if edit not in bucket]
        results = [
            _process_file(by_path[r.path], config, index, sent[r.path]) if r.path in grown else r
            for r in results
        ]
    # Still growing: say so on each file that would have been processed again.
    problem = (
        f"fixes in other files still sent edits here after {_FOREIGN_ROUNDS} rounds; run "
        "`celerymod fix` again"
    )
    return [
        replace(r, errors=(*r.errors, FileError(r.path, problem))) if r.path in grown else r
        for r in results
    ]


# Rounds of edits sent between files: each round answers edits found in the last one's
# fixed code (the one real case seen needs two).
_FOREIGN_ROUNDS = 8


def foreign_edits(results: Iterable[FileResult], config: RunConfig) -> dict[str, list[ForeignEdit]]:
    """Every foreign edit the applied fixes of `results` send, by target path, each once."""
    edits: dict[str, list[ForeignEdit]] = {}
    for result in results:
        fixes = [f.fix for f in result.findings if f.fix is not None and config.applies(f.fix)]
        # And the fixes the fixpoint applied to code earlier fixes produced.
        for fix in (*fixes, *result.applied):
            for edit in fix.foreign:
                bucket = edits.setdefault(edit.path, [])
                if edit not in bucket:
                    bucket.append(edit)
    return edits
