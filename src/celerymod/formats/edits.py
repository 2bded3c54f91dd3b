"""Text edits between two versions of a file, in the shape SARIF `replacements` need.

A fix is known as "the file before" and "the file after". SARIF wants regions to delete and
text to insert, so this module turns a line diff into such edits. Pure: no I/O, no libcst.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Python's own line terminators; str.splitlines would also split on \f, \v and \u2028, which
# are not line ends for the tokenizer nor for the line numbers celerymod reports.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


@dataclass(frozen=True)
class TextEdit:
    """Replace the text from (start_line, start_column) up to, not including,
    (end_line, end_column) with `text`.

    Lines and columns are 1-based; columns count Unicode code points, like celerymod's spans.
    The deleted range never includes the line ending of `end_line`.
    """

    start_line: int
    start_column: int
    end_line: int
    end_column: int
    text: str


def split_lines(text: str) -> list[str]:
    """The lines of `text`, each with its own line ending (the last one may have none)."""
    return _LINE.findall(text)


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def line_edits(old: str, new: str) -> tuple[TextEdit, ...] | None:
    """Edits that turn `old` into `new`, one per changed run of lines, the last run first.

    Last first, so that applying them one after the other and reading every region against
    the unchanged `old` give the same result (an edit never moves a region before it). An edit
    ends before the line ending of its last line, so it never has to name a position past the
    end of the file; a pure insertion or deletion therefore takes in one unchanged neighbour
    line. None when no such edits exist: the change alters the line ending of the file's last
    line, or one side is empty.
    """
    if old == new:
        return ()
    before, after = split_lines(old), split_lines(new)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    runs: list[tuple[int, int, int, int]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2 or j1 == j2 or _ending(before[i2 - 1]) != _ending(after[j2 - 1]):
            # Opcodes alternate with equal runs: past the end of this one, the next line is
            # the same on both sides, so taking it in keeps the edit exact.
            if i2 < len(before):
                i2, j2 = i2 + 1, j2 + 1
            elif i1 > 0:
                i1, j1 = i1 - 1, j1 - 1
            else:
                return None
            if _ending(before[i2 - 1]) != _ending(after[j2 - 1]):
                return None
        if runs and i1 < runs[-1][1]:  # Both took in the one line between them.
            i1, j1 = runs[-1][0], runs[-1][2]
            runs.pop()
        runs.append((i1, i2, j1, j2))
    edits: list[TextEdit] = []
    for i1, i2, j1, j2 in reversed(runs):
        kept = _ending(before[i2 - 1])
        text = "".join(after[j1:j2])
        edits.append(
            TextEdit(
                start_line=i1 + 1,
                start_column=1,
                end_line=i2,
                end_column=len(before[i2 - 1]) - len(kept) + 1,
                text=text[: len(text) - len(kept)],
            )
        )
    return tuple(edits)


def apply_edits(text: str, edits: tuple[TextEdit, ...]) -> str:
    """Apply `edits` in order, each against the text the previous ones left (as a consumer
    of SARIF fixes would)."""
    for edit in edits:
        lines = split_lines(text)
        start = sum(len(line) for line in lines[: edit.start_line - 1]) + edit.start_column - 1
        end = sum(len(line) for line in lines[: edit.end_line - 1]) + edit.end_column - 1
        text = text[:start] + edit.text + text[end:]
    return text
