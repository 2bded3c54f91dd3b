"""`check --format github`: one GitHub Actions workflow command per finding and per error.

Every finding is an `::error`, whatever the safety of its fix: `check` fails the job for any
finding, and an annotation level that says "warning" on a failing job would contradict it.
Fix safety describes the fix, not how wrong the code is; it is shown in the message instead.

Paths are made relative to the repository root (`$GITHUB_WORKSPACE`, passed in as `root`)
because GitHub resolves `file=` against it, not against the step's working directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from celerymod.model import FileError, FileResult, Finding, UnusedSuppression

# https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData and
# escapeProperty); "%" first, or the escapes themselves would be escaped again.
_DATA_ESCAPES = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY_ESCAPES = (*_DATA_ESCAPES, (":", "%3A"), (",", "%2C"))


def escape_data(text: str) -> str:
    for raw, escaped in _DATA_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def escape_property(text: str) -> str:
    for raw, escaped in _PROPERTY_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def annotation_path(path: str, root: str | None) -> str:
    """`path` relative to `root` when it lies inside it, with forward slashes."""
    if root:
        absolute = os.path.abspath(path)
        relative = os.path.relpath(absolute, os.path.abspath(root))
        if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
            path = relative
    return path.replace(os.sep, "/")


def _command(properties: Sequence[tuple[str, str | int]], message: str) -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
    return (
        f"::error {props}::{escape_data(message)}" if props else f"::error::{escape_data(message)}"
    )


def finding_line(finding: Finding, root: str | None = None) -> str:
    span = finding.span
    properties: list[tuple[str, str | int]] = [
        ("file", annotation_path(finding.path, root)),
        ("line", span.line),
    ]
    if span.end_line == span.line:
        # GitHub's columns are inclusive and only allowed on a one-line range (the runner
        # drops them otherwise); celerymod's end column is exclusive.
        end_column = max(span.column, span.end_column - 1)
        properties += [("col", span.column), ("endLine", span.end_line), ("endColumn", end_column)]
    else:
        properties.append(("endLine", span.end_line))
    properties.append(("title", f"{finding.code} {finding.name}"))
    message = finding.message
    if finding.help:
        message += f"\nhelp: {finding.help}"
    if finding.fix is not None:
        message += f"\nFix ({finding.fix.safety.value}): {finding.fix.message}"
    return _command(properties, message)


def error_line(error: FileError, root: str | None = None) -> str:
    """An error about a file (`file=`), or about the run when `error.path` is empty."""
    if not error.path or error.path == "-":
        return _command([("title", "celerymod")], error.message)
    return _command([("file", annotation_path(error.path, root))], error.message)


def unused_line(unused: UnusedSuppression, root: str | None = None) -> str:
    """`check --report-unused-ignores`: a suppression that hid nothing fails the job too."""
    properties: list[tuple[str, str | int]] = [
        ("file", annotation_path(unused.path, root)),
        ("line", unused.line),
        ("col", unused.column),
        ("title", "celerymod unused suppression"),
    ]
    return _command(properties, unused_message(unused))


def unused_message(unused: UnusedSuppression) -> str:
    """What an unused suppression line says, in every format."""
    if not unused.codes:
        return f"unused suppression `{unused.directive}`: nothing was reported on this line"
    codes = ", ".join(unused.codes)
    return f"unused suppression `{unused.directive}`: {codes} reported nothing on this line"


def render(
    results: Sequence[FileResult], errors: Sequence[FileError], root: str | None = None
) -> str:
    """Every finding, then every error, one workflow command a line."""
    lines = [finding_line(f, root) for result in results for f in result.findings]
    lines += [error_line(error, root) for error in errors]
    return "".join(line + "\n" for line in lines)
