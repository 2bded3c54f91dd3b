"""The project index: what a first pass over every scanned file learned (task definitions).

CEL001 and CEL002 read it to recognise tasks and Celery apps defined in other modules. It is
plain picklable data, built once in the main process from per-file entries and sent to the
worker processes once.

The runner calls `index_file` for every file whose bytes match `INDEX_PATTERNS` (in the pool),
then `ProjectIndex.from_entries` on all the entries, and passes the index to the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# A file none of these occur in defines no task and no app: it is not parsed for the index.
INDEX_PATTERNS: tuple[bytes, ...] = (b"task", b"Task", b"Celery")


@dataclass(frozen=True)
class IndexEntry:
    """What one file contributes. Filled in by the CEL001 work (issue 3)."""

    path: str
    module_name: str | None


@dataclass(frozen=True)
class ProjectIndex:
    entries: tuple[IndexEntry, ...] = field(default=())

    @classmethod
    def from_entries(cls, entries: Iterable[IndexEntry]) -> ProjectIndex:
        return cls(entries=tuple(entries))


def index_file(source: bytes, path: str, module_name: str | None) -> IndexEntry | None:
    """Parse one file and record its task definitions; None if it has nothing to record."""
    return None
