"""Suppression comments: which finding a `# noqa` or `# celerymod: ignore` hides, and which
of them hide nothing (`check --report-unused-ignores`).

Free of libcst: the unused ones are looked for in every file of a run, including the many
files no rule's byte patterns match (and that are therefore never parsed).
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Collection

from celerymod.model import UnusedSuppression

# `# celerymod: ignore` or `# celerymod: ignore[CEL001, CEL003]` on the reported line.
SUPPRESSION = re.compile(r"#\s*celerymod:\s*ignore(?:\[(?P<codes>[A-Z0-9,\s]+)\])?")
# `# noqa` / `# noqa: CEL003, E501`, as ruff and flake8 read it (case-insensitive `noqa`).
NOQA = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
_PATTERNS = (SUPPRESSION, NOQA)


def _codes(listed: str) -> list[str]:
    return [code.upper() for code in re.split(r"[,\s]+", listed) if code]


def suppressed(line: str, code: str) -> bool:
    """True when the source `line` carries a `# celerymod: ignore` or a `# noqa` that
    covers `code` (bare, or listing it)."""
    if "#" not in line:
        return False
    for pattern in _PATTERNS:
        match = pattern.search(line)
        if match is None:
            continue
        codes = match.group("codes")
        if codes is None or code in _codes(codes):
            return True
    return False


def _comments(text: str) -> list[tuple[int, int, str]]:
    """`(line, 0-based column, text)` of every comment: a `# noqa` inside a string is none."""
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                found.append((token.start[0], token.start[1], token.string))
    except (tokenize.TokenError, SyntaxError):
        pass  # Only reached for code the engine parsed: what was read so far stands.
    return found


def unused(
    text: str,
    path: str,
    used: Collection[tuple[int, str]],
    known: Collection[str],
    selected: Callable[[str], bool],
) -> tuple[UnusedSuppression, ...]:
    """The suppressions in `text` that hid no finding of this run.

    `used` holds `(line, code)` of every finding a suppression hid. A directive listing codes
    is unused for each listed code that is a `known` rule's, `selected` in this run and hid
    nothing on its line (other tools' codes, `E501`, and rules not selected are left alone,
    as ruff's RUF100 does); a bare one is unused when it hid nothing at all.
    """
    used_lines = {line for line, _ in used}
    found = []
    for line, column, comment in _comments(text):
        for pattern in _PATTERNS:
            match = pattern.search(comment)
            if match is None:
                continue
            listed = match.group("codes")
            where = (path, line, column + match.start() + 1, match.group(0).rstrip())
            if listed is None:
                if line not in used_lines:
                    found.append(UnusedSuppression(*where, codes=()))
                continue
            stale = tuple(
                code
                for code in _codes(listed)
                if code in known and selected(code) and (line, code) not in used
            )
            if stale:
                found.append(UnusedSuppression(*where, codes=stale))
    return tuple(found)
