"""The project-index entry of one file as the libcst analysis sees it: the reference the
`ast` index pass (src/celerymod/analysis/indexing.py) is held equal to.

`AppsAndTasks` (analysis/tasks.py) stays the source of truth for what an app and a task are;
the index pass rebuilt it on Python's own parser for speed. This module builds the entry the
way the index pass did before: `CeleryModule(...).index_entry()` on libcst, with no scope or
qualified-name metadata (names resolve through the module-level bindings), positions from
libcst, and uses/calls from `ast` as always (`indexing.libcst_entry`).

Run as a script to compare both ways over a tree (the sdists in /work/sdists, extracted):

    PYTHONPATH=src python tests/index_reference.py /tmp/me/celery-5.7.0 ...
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from celerymod import textio
from celerymod.analysis.index import INDEX_PATTERNS, IndexEntry
from celerymod.analysis.indexing import libcst_entry


def reference_entry(source: bytes, path: str, module_name: str | None) -> IndexEntry | None:
    """What the libcst analysis records for the file (`CeleryModule.index_entry`)."""
    text = textio.decode(source).text
    try:
        tree: ast.Module | None = ast.parse(text)
    except SyntaxError:
        tree = None
    return libcst_entry(text, path, module_name, tree)


def compare(roots: list[str]) -> int:
    """Print every file whose two entries differ; return how many did."""
    from celerymod import discovery
    from celerymod.analysis.indexing import index_file

    files, _ = discovery.discover(roots, ())
    counts = {"files": 0, "indexed": 0, "same": 0, "different": 0, "unparsed": 0}
    for file in files:
        counts["files"] += 1
        source = Path(file.absolute).read_bytes()
        if not any(pattern in source for pattern in INDEX_PATTERNS):
            continue
        counts["indexed"] += 1
        try:
            expected = reference_entry(source, file.path, file.module_name)
        except Exception as error:  # noqa: BLE001 - the index pass drops such files too.
            counts["unparsed"] += 1
            print(f"{file.path}: reference fails: {type(error).__name__}")
            continue
        actual = index_file(source, file.path, file.module_name)
        if actual == expected:
            counts["same"] += 1
            continue
        counts["different"] += 1
        print(f"{file.path}: differs")
        for name in ("tasks", "apps", "task_classes", "defined", "aliases", "uses", "calls"):
            left = getattr(expected, name, None)
            right = getattr(actual, name, None)
            if left != right:
                print(f"  {name}:\n    libcst {left}\n    ast    {right}")
    print(" ".join(f"{key}={value}" for key, value in counts.items()))
    return counts["different"]


if __name__ == "__main__":
    sys.exit(1 if compare(sys.argv[1:]) else 0)
