"""The persistent cache: one file's results, kept between runs (like `.ruff_cache`).

A result is stored under a key made of everything it depends on: celerymod's own code (a hash
of its source files, so an edited checkout never reads stale results), the settings that
change what a run reports or fixes, the file's path, module name and content hash, and, for
the rule pass, the whole project index (a task defined in another file changes what CEL001
and CEL002 say here). Change any of them and the entry is simply not found.

Entries are JSON, decoded only into this package's own value types (`_TYPES`): a cache folder
that arrived with a repository is never executed, only read as data. Each entry is written to
a temporary file and renamed into place, so concurrent runs see a whole entry or none; an
entry that does not decode (corrupt, foreign, truncated) counts as a miss. The folder holds
its own `.gitignore` and a `CACHEDIR.TAG`, so it is never committed or backed up.

This module stays free of libcst and rich: it runs in every worker before anything is parsed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from enum import Enum
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from celerymod import __version__, textio
from celerymod.analysis.index import IndexEntry, ProjectIndex, TaskDefinition, TaskUse
from celerymod.model import (
    FileError,
    FileResult,
    Finding,
    FixInfo,
    ForeignEdit,
    RunConfig,
    Safety,
    Span,
    Strategy,
)

# The folder name next to the project's pyproject.toml (or in the current folder).
DEFAULT_DIR = ".celerymod_cache"
ENV_VAR = "CELERYMOD_CACHE_DIR"

# The only classes an entry may decode into (by name): plain frozen value types.
_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        FileResult,
        Finding,
        FixInfo,
        ForeignEdit,
        FileError,
        Span,
        IndexEntry,
        TaskDefinition,
        TaskUse,
    )
}
_ENUMS: dict[str, type[Enum]] = {cls.__name__: cls for cls in (Safety, Strategy)}

# RunConfig fields that do not change a file's results.
_NOT_IN_KEY = frozenset(
    {"jobs", "config_path", "cache_dir", "force_exclude", "output_format", "report_unused_ignores"}
)

# Written once at the cache's root: git ignores the folder, backup tools skip it.
_MARKERS = (
    (".gitignore", "# Automatically created by celerymod.\n*\n"),
    ("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# celerymod's cache\n"),
)


def _encode(value: Any) -> Any:
    """`value` as JSON data, tagged so `_decode` can rebuild it (deterministic: sets sorted)."""
    if isinstance(value, Enum):  # Before str: a StrEnum is a str, and `is` must still work.
        return {"__enum": type(value).__name__, "value": value.value}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {"__bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return {"__tuple": [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, frozenset | set):
        items = [_encode(item) for item in value]
        return {"__set": sorted(items, key=lambda item: json.dumps(item, sort_keys=True))}
    if isinstance(value, dict):
        return {"__dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type": type(value).__name__, "fields": fields}
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _decode(data: Any) -> Any:
    if isinstance(data, list):
        return [_decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    if "__tuple" in data:
        return tuple(_decode(item) for item in data["__tuple"])
    if "__set" in data:
        return frozenset(_decode(item) for item in data["__set"])
    if "__bytes" in data:
        return base64.b64decode(data["__bytes"])
    if "__dict" in data:
        return {_decode(k): _decode(v) for k, v in data["__dict"]}
    if "__enum" in data:
        return _ENUMS[data["__enum"]](data["value"])
    cls = _TYPES[data["__type"]]  # KeyError for anything else: the entry is ignored.
    return cls(**{name: _decode(value) for name, value in data["fields"].items()})


@cache
def code_fingerprint() -> str:
    """What a result depends on besides its inputs: celerymod's version and source files (an
    edited checkout counts), libcst's version and the Python running it (fixes are validated
    by compiling them)."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(sys.version.encode())
    try:
        digest.update(metadata.version("libcst").encode())
    except metadata.PackageNotFoundError:
        pass
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=8)
def config_fingerprint(config: RunConfig) -> str:
    fields = {
        f.name: _encode(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name not in _NOT_IN_KEY
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def index_fingerprint(index: ProjectIndex | None) -> str:
    if index is None:
        return "-"
    data = json.dumps(_encode(index.entries), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def key(*parts: str | None) -> str:
    return hashlib.sha256("\0".join(part or "" for part in parts).encode()).hexdigest()


def resolve_dir(configured: str | None, config_path: str | None) -> str:
    """Where the cache lives: `$CELERYMOD_CACHE_DIR`, else `cache-dir`, else next to the config.

    A relative `cache-dir` is relative to the pyproject.toml that sets it.
    """
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return os.path.abspath(from_env)
    root = Path(config_path).parent if config_path else Path.cwd()
    return str((root / (configured or DEFAULT_DIR)).absolute())


@dataclasses.dataclass(frozen=True)
class Cache:
    """Entries under `<directory>/<code fingerprint>/`; every failure is a miss, never an error."""

    directory: str

    def _path(self, entry_key: str) -> Path:
        return Path(self.directory) / code_fingerprint() / entry_key[:2] / f"{entry_key}.json"

    def get(self, entry_key: str) -> tuple[bool, Any]:
        """(True, value) for a stored entry, (False, None) for a miss."""
        try:
            text = self._path(entry_key).read_text(encoding="utf-8")
            payload = json.loads(text)
            if payload.get("key") != entry_key:
                return False, None
            return True, _decode(payload["value"])
        except Exception:  # noqa: BLE001 - corrupt, foreign or unreadable: recompute.
            return False, None

    def put(self, entry_key: str, value: Any) -> None:
        try:
            text = json.dumps({"key": entry_key, "value": _encode(value)})
            target = self._path(entry_key)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._mark_root()
            handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(text)
                os.replace(temporary, target)
            except BaseException:
                os.unlink(temporary)
                raise
        except (OSError, TypeError, ValueError):
            return  # A cache that cannot be written only makes the next run slower.

    def _mark_root(self) -> None:
        root = Path(self.directory)
        for name, content in _MARKERS:
            marker = root / name
            if not marker.exists():
                marker.write_text(content, encoding="utf-8")


def result_key(
    config: RunConfig,
    path: str,
    module_name: str | None,
    source: bytes,
    index: str,
    foreign: Sequence[ForeignEdit] = (),
) -> str:
    """The key of one rule pass's result; "" when the foreign edits cannot be keyed."""
    digest = textio.source_hash(source)
    try:
        edits = json.dumps(_encode(tuple(foreign)), sort_keys=True) if foreign else ""
    except TypeError:
        return ""
    return key("result", config_fingerprint(config), path, module_name, digest, index, edits)


def index_key(path: str, module_name: str | None, source: bytes) -> str:
    return key("index", path, module_name, textio.source_hash(source))
