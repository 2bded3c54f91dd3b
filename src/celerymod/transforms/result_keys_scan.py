"""# CEL007 result-keys-scan

## What it does
Finds `.keys(pattern)` calls whose pattern covers Celery's result keys: it contains
`celery-task-meta-` or `celery-taskset-meta-` (`"celery-task-meta-*"`,
`"*celery-task-meta-*"` under a `global_keyprefix`), or its text before the first wildcard
is `celery` or a longer start of those prefixes (`"celery*"`, `"celery-task*"`). The
pattern may be a string literal, an f-string or a `+` concatenation starting with one, or
a name bound to one. `dict.keys()` takes no argument, so a `.keys(...)` with such a pattern
is Redis's `KEYS` command (redis-py, `django-redis`, ...).

Not findings: `KEYS` over other patterns (`r.keys("session:*")`, `r.keys("*")`): they may
block Redis as well, but are not about Celery's results; a pattern celerymod cannot read.

## Why is this bad?
`KEYS` walks the whole key space in one command, and Redis runs one command at a time: with
a million result keys (one per task run, kept for `result_expires`, a day by default) it
blocks every client of that Redis, including the broker and the result backend the workers
use, for as long as the walk takes. Redis's documentation says not to use it in production
code. `SCAN` (redis-py's `scan_iter`) walks the same keys in small steps that other clients'
commands can run between.

## Example
```python
import redis

r = redis.Redis.from_url(REDIS_URL)

def stored_results():
    return r.keys("celery-task-meta-*")
```

## Use instead
```python
import redis

r = redis.Redis.from_url(REDIS_URL)

def stored_results():
    return list(r.scan_iter(match="celery-task-meta-*", count=1000))
```
Where the keys are only iterated (`for key in ...`, a comprehension, `*keys` in a call,
`list(...)`, `set(...)`, `sorted(...)`, `tuple(...)`, `frozenset(...)`), the fix passes
`scan_iter(...)` itself; elsewhere it keeps the value a list with `list(...)`. `count=1000`
is how many keys each `SCAN` step looks at: a hint, not a limit on the result.

## Fix safety
The fix is `review`: `SCAN` is not a snapshot. It returns every key that exists for the
whole scan, but may return a key more than once (when Redis rehashes the key space
meanwhile), and a key created or deleted during the scan may or may not be returned; `KEYS`
is one atomic command. A loop over `scan_iter(...)` also runs its body between `SCAN`
steps, not after the last one. Code that counts the keys, or expects each once, may see a
different number.

The fix is offered only when the receiver is known to be a redis-py client: a name bound
(or a parameter annotated) to `redis.Redis(...)`, `redis.StrictRedis(...)`,
`redis.Redis.from_url(...)`, `redis.from_url(...)`, `redis.RedisCluster(...)`,
`django_redis.get_redis_connection(...)`, or a Celery app's `app.backend.client`. Other
receivers (a Django cache, a pipeline, an object's attribute) and the `redis.asyncio`
clients, whose `scan_iter` is an async iterator, are reported without a fix, and so is a
`.keys(...)` call with other arguments.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import BuiltinAssignment, ScopeProvider

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.syntax import _string_value, describe
from celerymod.analysis.vocabulary import METADATA
from celerymod.model import Safety
from celerymod.transforms.base import Checker as BaseChecker
from celerymod.transforms.base import Fix

# The prefixes of the keys Celery's Redis result backend writes (`celery.backends.base`).
RESULT_PREFIXES = ("celery-task-meta-", "celery-taskset-meta-")
_WILDCARDS = "*?["
# Calls that return a redis-py client (the class, its `from_url`, factories).
REDIS_CLIENTS = frozenset(
    {
        "redis.Redis",
        "redis.StrictRedis",
        "redis.RedisCluster",
        "redis.client.Redis",
        "redis.client.StrictRedis",
        "redis.cluster.RedisCluster",
        "redis.from_url",
        "redis.utils.from_url",
        "django_redis.get_redis_connection",
    }
)
_ASYNC_ROOT = "redis.asyncio."
# Consumers that only iterate their argument: `scan_iter(...)` can stand in for a list.
_ITERATING = frozenset(
    {"builtins.list", "builtins.set", "builtins.sorted", "builtins.tuple", "builtins.frozenset"}
)
COUNT = "1000"
_HELP = (
    "use `scan_iter(match=..., count=...)`: SCAN walks the keys in steps other clients can "
    "run between"
)


class Checker(BaseChecker):
    CODE = "CEL007"
    METADATA_DEPENDENCIES = METADATA

    def visit_Module(self, node: cst.Module) -> None:
        self.celery = CeleryModule.from_context(node, self.metadata, self.context)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "keys" or not node.args:
            return
        pattern = node.args[0]
        if pattern.star or (pattern.keyword is not None and pattern.keyword.value != "pattern"):
            return
        text = self._pattern_text(pattern.value)
        if text is None or not covers_results(text):
            return
        where = f"`{describe(node)}` runs `KEYS` over Celery's result keys: it blocks Redis"
        client = self._client_kind(func.value)
        if client == "async":
            self.report(
                node,
                f"{where}; not fixed: an asyncio client's `scan_iter` is an async iterator",
                help=_HELP,
            )
            return
        reason = None
        if client is None:
            reason = "the receiver is not known to be a redis-py client"
        elif len(node.args) > 1:
            reason = "other arguments are passed"
        elif not self._only_iterated(node) and not self._builtin_list(node):
            reason = "`list` is bound to something else here"
        if reason is not None:
            self.report(node, f"{where}; not fixed: {reason}", help=_HELP)
            return
        self.report(node, where, fix=self._fix(node, func, pattern.value), help=_HELP)

    def _fix(self, node: cst.Call, func: cst.Attribute, pattern: cst.BaseExpression) -> Fix:
        scan = cst.Call(
            func=func.with_changes(attr=cst.Name("scan_iter")),
            args=[
                _keyword("match", pattern, last=False),
                _keyword("count", cst.Integer(COUNT), last=True),
            ],
        )
        iterated = self._only_iterated(node)
        replacement: cst.BaseExpression = (
            scan if iterated else cst.Call(func=cst.Name("list"), args=[cst.Arg(scan)])
        )
        shape = "`scan_iter(...)`" if iterated else "`list(scan_iter(...))`"
        message = (
            f"Replace with {shape}: SCAN may return a key twice and may miss keys created "
            "or deleted during the scan"
        )
        return Fix(message=message, safety=Safety.REVIEW, replacements=((node, replacement),))

    def _builtin_list(self, node: cst.Call) -> bool:
        """Whether `list` still names the builtin where `node` is."""
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is None:
            return False
        return all(isinstance(a, BuiltinAssignment) for a in scope["list"])

    def _only_iterated(self, node: cst.Call) -> bool:
        """Whether the list `node` returns is only iterated, once: a `for` or comprehension
        iterable, a `*` argument, or the argument of `list(...)`, `set(...)`, ..."""
        parent = self.celery.parent(node)
        if isinstance(parent, cst.For | cst.CompFor) and parent.iter is node:
            return True
        if isinstance(parent, cst.Arg) and parent.value is node:
            if parent.star == "*":
                return True
            call = self.celery.parent(parent)
            return (
                isinstance(call, cst.Call)
                and len(call.args) == 1
                and parent.keyword is None
                and not parent.star
                and bool(self.celery.dotted_names(call.func) & _ITERATING)
            )
        return False

    def _pattern_text(self, node: cst.BaseExpression, depth: int = 0) -> str | None:
        """The pattern as text, with `*` for the parts only known at run time; None when
        not even its start is known."""
        if depth > 4:
            return None
        literal = _string_value(node)
        if literal is not None:
            return literal
        if isinstance(node, cst.FormattedString):
            parts = [
                p.value if isinstance(p, cst.FormattedStringText) else "*" for p in node.parts
            ]
            return "".join(parts)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            left = self._pattern_text(node.left, depth + 1)
            if left is None:
                return None
            right = self._pattern_text(node.right, depth + 1)
            return left + (right if right is not None else "*")
        if isinstance(node, cst.Name):
            texts = {self._pattern_text(v, depth + 1) for v in self.celery.bound_values(node)}
            if len(texts) == 1:
                return texts.pop()
        return None

    def _client_kind(self, receiver: cst.BaseExpression) -> str | None:
        """"sync" for a redis-py client, "async" for a `redis.asyncio` one, else None."""
        kinds: set[str | None] = set()
        if isinstance(receiver, cst.Name):
            kinds |= {self._value_kind(v) for v in self.celery.bound_values(receiver)}
            kinds |= {self._class_kind(a) for a in self.celery.parameter_annotations(receiver)}
        else:
            kinds.add(self._value_kind(receiver))
        return kinds.pop() if len(kinds) == 1 else None

    def _value_kind(self, value: cst.BaseExpression) -> str | None:
        """What a client-valued expression is: a call of a client class, its `from_url`
        or a factory, or a Celery app's `app.backend.client`."""
        if isinstance(value, cst.Attribute) and value.attr.value == "client":
            backend = value.value
            if isinstance(backend, cst.Attribute) and backend.attr.value == "backend":
                return "sync" if self.celery.is_app(backend.value) else None
            return None
        if not isinstance(value, cst.Call):
            return None
        kind = self._class_kind(value.func)
        func = value.func
        if kind is None and isinstance(func, cst.Attribute) and func.attr.value == "from_url":
            kind = self._class_kind(func.value)  # `redis.Redis.from_url(...)`
        return kind

    def _class_kind(self, node: cst.BaseExpression) -> str | None:
        names = self.celery.dotted_names(node)
        if any(n.startswith(_ASYNC_ROOT) for n in names):
            return "async"
        return "sync" if names & REDIS_CLIENTS else None


def covers_results(pattern: str) -> bool:
    """Whether a `KEYS` pattern can match Celery's result keys (see the rule docs)."""
    if any(prefix in pattern for prefix in RESULT_PREFIXES):
        return True
    cut = min((pattern.index(c) for c in _WILDCARDS if c in pattern), default=None)
    if cut is None:
        return False  # No wildcard: one exact key.
    start = pattern[:cut]
    return len(start) >= len("celery") and any(p.startswith(start) for p in RESULT_PREFIXES)


def _keyword(name: str, value: cst.BaseExpression, *, last: bool) -> cst.Arg:
    return cst.Arg(
        keyword=cst.Name(name),
        value=value,
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
        comma=(
            cst.MaybeSentinel.DEFAULT
            if last
            else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        ),
    )
