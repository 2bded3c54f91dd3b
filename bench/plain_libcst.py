"""Baseline: what a naive libcst codemod costs on a tree, with no prefilter.

Parses every `.py` file under the given folders with `libcst.parse_module` and runs a trivial
visitor over it (counting calls of `.get()`), serially or in a `multiprocessing` pool. With
`--metadata` it also resolves `QualifiedNameProvider` and `ScopeProvider`, as a real codemod
that resolves imports does (celerymod computes those for the files it parses).

Prints one line: files, parse failures, `.get()` calls seen. Exit 0 even when some files fail
to parse (those are counted), so the benchmark times the same work every run.

    python bench/plain_libcst.py [-j N] [--metadata] PATH...
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Iterator

import libcst as cst
from libcst.metadata import MetadataWrapper, QualifiedNameProvider, ScopeProvider

# The same folders celerymod and ruff skip when walking a tree.
SKIPPED_DIRS = {".git", ".hg", ".tox", ".nox", ".venv", "venv", "__pycache__", "build", "dist"}


class GetCallCounter(cst.CSTVisitor):
    """The trivial visitor: count `<anything>.get(...)` calls."""

    def __init__(self) -> None:
        self.calls = 0

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "get":
            self.calls += 1


class MetadataGetCallCounter(GetCallCounter):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, ScopeProvider)


def python_files(roots: list[str]) -> Iterator[str]:
    for root in roots:
        if os.path.isfile(root):
            yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d for d in dirnames if d not in SKIPPED_DIRS and not d.endswith(".egg-info")
            )
            for name in sorted(filenames):
                if name.endswith(".py"):
                    yield os.path.join(dirpath, name)


def process(args: tuple[str, bool]) -> tuple[int, int]:
    """(parse failures, .get() calls) for one file."""
    path, metadata = args
    with open(path, "rb") as handle:
        source = handle.read()
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return 1, 0
    if metadata:
        visitor: GetCallCounter = MetadataGetCallCounter()
        MetadataWrapper(module).visit(visitor)
    else:
        visitor = GetCallCounter()
        module.visit(visitor)
    return 0, visitor.calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="pool size (1: serial)")
    parser.add_argument("--metadata", action="store_true", help="also resolve scope metadata")
    options = parser.parse_args(argv)

    work = [(path, options.metadata) for path in python_files(options.paths)]
    if options.jobs == 1:
        results = [process(item) for item in work]
    else:
        with multiprocessing.Pool(options.jobs) as pool:
            results = pool.map(process, work, chunksize=max(1, len(work) // (options.jobs * 16)))
    failures = sum(r[0] for r in results)
    calls = sum(r[1] for r in results)
    print(f"files={len(work)} parse_failures={failures} get_calls={calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
