"""Small helpers on stdlib `ast` trees for the index pass (indexing.py): the module-level
statements and the definitions the libcst analysis walks, and `Source`, which cuts a node's
text out of the file as libcst prints it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator

from celerymod.analysis.known import CURRENT_TASK, OWN_TASK_ATTRIBUTES

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
NEWLINE = re.compile(r"\r\n|\r|\n")
_SPACE = " \t\x0c"


class Source:
    """The file's lines, to cut a node's source text out as libcst prints it."""

    def __init__(self, text: str) -> None:
        # Python counts only \r\n, \r and \n as line ends (`str.splitlines` adds \x0c etc.).
        self.lines = NEWLINE.split(text)
        first = NEWLINE.search(text)
        self.newline = first.group() if first else "\n"

    def column(self, line: int, offset: int) -> int:
        """The character index of `ast`'s UTF-8 byte offset on a 1-based line."""
        text = self.lines[line - 1]
        if text.isascii():
            return offset
        return len(text.encode("utf-8")[:offset].decode("utf-8", "replace"))

    def name_position(self, node: Definition) -> tuple[int, int]:
        """(line, 1-based column) of the name in a `def`/`class` line."""
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        return node.lineno, line.find(node.name, self.column(node.lineno, node.col_offset)) + 1

    def keyword_value(self, keyword: ast.keyword, decorator: ast.expr) -> str:
        start = (keyword.lineno, self.column(keyword.lineno, keyword.col_offset))
        return self._text_after(start, keyword.value, decorator.lineno)

    def assigned_value(self, statement: ast.Assign) -> str:
        target = statement.targets[0]
        end = target.end_lineno or target.lineno
        start = (end, self.column(end, target.end_col_offset or 0))
        return self._text_after(start, statement.value, statement.lineno)

    def decorator(self, node: ast.expr) -> str:
        """A decorator's expression, with the parentheses around it (`@(app.task)`) when
        they open on its line."""
        line, column = node.lineno, self.column(node.lineno, node.col_offset)
        text = self.lines[line - 1]
        opened, start, index = 0, column, column - 1
        while index >= 0 and text[index] in _SPACE + "(":
            if text[index] == "(":
                opened, start = opened + 1, index
            index -= 1
        return self._text((line, start), node, opened, line)

    def _text_after(self, start: tuple[int, int], node: ast.expr, statement_line: int) -> str:
        """The text of `node` with the parentheses opened between `start` (before the `=`
        ahead of it: only spaces, comments and parentheses follow) and `node`."""
        line, column = start
        target = (node.lineno, self.column(node.lineno, node.col_offset))
        opened, first = 0, target
        while (line, column) < target:
            text = self.lines[line - 1]
            if column >= len(text) or text[column] == "#":
                line, column = line + 1, 0
                continue
            if text[column] == "(":
                opened += 1
                first = min(first, (line, column))
            column += 1
        return self._text(first, node, opened, statement_line)

    def _text(
        self, start: tuple[int, int], node: ast.expr, opened: int, statement_line: int
    ) -> str:
        """From `start` to the end of `node` and past `opened` closing parentheses, as libcst
        prints a node on its own: lines continued inside brackets lose the enclosing block's
        indentation and end in "\\n"; string contents and backslash continuations stay."""
        first, begin = start
        last = node.end_lineno or node.lineno
        end = self.column(last, node.end_col_offset or 0)
        closing = opened
        while closing:
            text = self.lines[last - 1]
            if end >= len(text) or text[end] == "#":
                last, end = last + 1, 0
                continue
            closing -= text[end] == ")"
            end += 1
        pieces = self.lines[first - 1 : last]
        pieces[-1] = pieces[-1][:end]
        pieces[0] = pieces[0][begin:]
        if len(pieces) == 1:
            return pieces[0]
        return self._as_libcst(pieces, statement_line)

    def _as_libcst(self, pieces: list[str], statement_line: int) -> str:
        statement = self.lines[statement_line - 1]
        indent = statement[: len(statement) - len(statement.lstrip(_SPACE))]
        inside = string_lines("\n".join(pieces))
        out = [pieces[0]]
        for offset, piece in enumerate(pieces[1:], start=1):
            previous = pieces[offset - 1]
            raw = offset in inside or previous.endswith("\\")
            newline = self.newline if raw else "\n"
            if not raw and indent and piece.startswith(indent):
                piece = piece[len(indent) :]
            out.append(newline + piece)
        return "".join(out)


def string_lines(text: str) -> set[int]:
    """0-based numbers of the lines of `text` that start inside a multi-line string."""
    if '"""' not in text and "'''" not in text and "\\" not in text:
        return set()
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside


def module_level(statements: list[ast.stmt], text: str) -> Iterator[ast.stmt]:
    """`_module_level_statements` of names.py: the body, and the bodies of top-level `if`
    (its first `elif`'s body, as libcst's `If.orelse.body`), `try` and `with` blocks."""
    lines: list[str] | None = None
    for statement in statements:
        yield statement
        if isinstance(statement, ast.If):
            yield from module_level(statement.body, text)
            orelse = statement.orelse
            if len(orelse) == 1 and isinstance(orelse[0], ast.If):
                lines = lines if lines is not None else NEWLINE.split(text)
                elif_ = orelse[0]
                line = lines[elif_.lineno - 1]
                if line[elif_.col_offset : elif_.col_offset + 4] == "elif":
                    orelse = elif_.body
            yield from module_level(orelse, text)
        elif isinstance(statement, ast.Try):
            yield from module_level(statement.body, text)
            for handler in statement.handlers:
                yield from module_level(handler.body, text)
            yield from module_level(statement.orelse, text)
            yield from module_level(statement.finalbody, text)
        elif isinstance(statement, ast.With | ast.AsyncWith):
            yield from module_level(statement.body, text)


def definitions(statements: list[ast.stmt], prefix: str) -> Iterator[tuple[Definition, str]]:
    """Every def and class with its `__qualname__`, in source order."""
    for statement in statements:
        if isinstance(statement, Definition):
            qualname = prefix + statement.name
            yield statement, qualname
            inner = "" if isinstance(statement, ast.ClassDef) else "<locals>."
            yield from definitions(statement.body, f"{qualname}.{inner}")
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from definitions(getattr(statement, field, []), prefix)
        for clause in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
            yield from definitions(clause.body, prefix)


def target_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from target_names(element)
    elif isinstance(target, ast.Starred):
        yield from target_names(target.value)


def attribute_chain(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        base = attribute_chain(node.value)
        return None if base is None else [*base, node.attr]
    return None


def class_base(node: ast.expr) -> ast.expr:
    """A class base as libcst's `Arg.value` holds it (`*bases` without the star)."""
    return node.value if isinstance(node, ast.Starred) else node


def has_run(node: ast.ClassDef) -> bool:
    return any(
        isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name == "run" for s in node.body
    )


def uses_first_parameter(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when the body names the first positional parameter anywhere libcst has a `Name`
    node: a variable, an attribute, a keyword, a nested def's name or parameter, an import."""
    params = [*function.args.posonlyargs, *function.args.args]
    if not params:
        return False
    name = params[0].arg
    return any(
        name in identifiers(node) for statement in function.body for node in ast.walk(statement)
    )


def reads_own_request(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when the body reads the running task without `self`: `current_task`, or the
    task by its own name (`known.OWN_TASK_ATTRIBUTES`). As `syntax.reads_own_request`."""
    for statement in function.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and node.id == CURRENT_TASK:
                return True
            if isinstance(node, ast.Attribute) and (
                node.attr == CURRENT_TASK
                or node.attr in OWN_TASK_ATTRIBUTES
                and isinstance(node.value, ast.Name)
                and node.value.id == function.name
            ):
                return True
    return False


def identifiers(node: ast.AST) -> tuple[str, ...]:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        return (node.attr,)
    if isinstance(node, ast.keyword | ast.arg):
        name = node.arg
        return (name,) if name else ()
    if isinstance(node, Definition):
        return (node.name,)
    if isinstance(node, ast.alias):
        return (*node.name.split("."), *((node.asname,) if node.asname else ()))
    if isinstance(node, ast.ImportFrom):
        return tuple(node.module.split(".")) if node.module else ()
    if isinstance(node, ast.Global | ast.Nonlocal):
        return tuple(node.names)
    if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        return (node.name,) if node.name else ()
    if isinstance(node, ast.MatchMapping):
        return (node.rest,) if node.rest else ()
    if isinstance(node, ast.MatchClass):
        return tuple(node.kwd_attrs)
    return ()
