"""What counts as a Celery task, a result and a wait on it (DESIGN §3), shared by the rules.

Names are resolved through imports with libcst's scope and qualified-name metadata, never
by matching the text of the source: `invoke`'s `@task` is not Celery's, a local variable
called `group` is not `celery.group`. (The index pass, `index_module`, resolves through the
module-level imports and bindings only, which is what decorators need and far cheaper.)

How to use it (CEL001 does exactly this):

    celery = CeleryModule(module, metadata, ...)   # metadata: a checker's `self.metadata`
    for task in celery.tasks:                       # every task defined in the module
        waits = celery.waits(task)                  # every wait on a result in its body
        for shape in classify(waits): ...           # grouped as DESIGN §2's table names them
        celery.bare_workarounds(task)               # `with allow_join_result():` with no wait

`WaitSite.origin` (a `ResultOrigin`) says what produced the waited result: which call
(`delay`, `apply_async`, ...), on which task or canvas, with which arguments
(`call_arguments`); `WaitSite` says where the wait sits in the task body. Nothing here
rewrites anything. The heuristics are documented where they are decided, and for users in
the CEL001 rule docs.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from itertools import pairwise
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast

import libcst as cst
from libcst._metadata_dependent import LazyValue
from libcst.metadata import (
    Assignment,
    BaseMetadataProvider,
    CodeRange,
    ParentNodeProvider,
    PositionProvider,
    QualifiedName,
    QualifiedNameProvider,
    QualifiedNameSource,
    Scope,
    ScopeProvider,
)

from celerymod.index import (
    IndexEntry,
    ProjectIndex,
    TaskDefinition,
    function_calls,
    task_uses,
)
from celerymod.task_filter import POLL_FIELDS, POLL_METHODS
from celerymod.transforms.base import package_of, walk

if TYPE_CHECKING:
    from celerymod.transforms.base import ModuleContext

# The providers `CeleryModule` reads; a checker using it lists them in METADATA_DEPENDENCIES.
METADATA = (QualifiedNameProvider, ScopeProvider, ParentNodeProvider, PositionProvider)

# What a checker's `self.metadata` is, and what `MetadataWrapper.resolve_many` returns.
Metadata = Mapping[type[BaseMetadataProvider[object]], Mapping[cst.CSTNode, object]]

_T = TypeVar("_T")

# --- Celery's own names, as qualified names (where Celery defines or re-exports them) ------

APP_CLASSES = frozenset({"celery.Celery", "celery.app.Celery", "celery.app.base.Celery"})
# Objects that are an app without being constructed here: `@current_app.task` is a task.
APP_OBJECTS = frozenset(
    {"celery.current_app", "celery.app.current_app", "celery._state.current_app"}
)
TASK_DECORATORS = frozenset(
    {
        "celery.shared_task",
        "celery.app.shared_task",
        # Celery 3/4 spellings, still found in old code.
        "celery.task",
        "celery.task.task",
        "celery.task.periodic_task",
        "celery.decorators.task",
        "celery.decorators.periodic_task",
    }
)
TASK_CLASSES = frozenset(
    {
        "celery.Task",
        "celery.app.task.Task",
        "celery.task.Task",
        "celery.task.base.Task",
        "celery.contrib.abortable.AbortableTask",
    }
)
RESULT_CLASSES = frozenset(
    {
        "celery.result.AsyncResult",
        "celery.result.GroupResult",
        "celery.result.ResultSet",
        "celery.result.EagerResult",
        "celery.result.ResultBase",
    }
)
GROUP_RESULT_CLASSES = frozenset({"celery.result.GroupResult", "celery.result.ResultSet"})
ALLOW_JOIN_RESULT = frozenset({"celery.result.allow_join_result"})

# Top-level packages whose `x.task`, `.apply_async()` or `.get()` are not Celery's. An object
# imported from one of these is never taken for a Celery app or task.
NON_CELERY_PACKAGES = frozenset(
    {
        "invoke",
        "fabric",
        "prefect",
        "airflow",
        "huey",
        "dramatiq",
        "rq",
        "django_rq",
        "arq",
        "taskiq",
        "procrastinate",
        "luigi",
        "dask",
        "distributed",
        "ray",
        "dagster",
        "multiprocessing",
        "concurrent",
        "billiard",
        "threading",
        "asyncio",
        "queue",
        "trio",
        "anyio",
        "pandas",
        "numpy",
        "kombu",
    }
)

WAIT_METHODS = frozenset({"get", "wait", "join", "join_native", "collect"})
# Keywords of AsyncResult.get/wait, GroupResult.join/join_native/get and collect: a call with
# any other keyword, or a non-numeric positional argument, is not Celery's wait.
WAIT_KEYWORDS = frozenset(
    {
        "timeout",
        "propagate",
        "interval",
        "no_ack",
        "follow_parents",
        "callback",
        "on_message",
        "on_interval",
        "disable_sync_subtasks",
        "EXCEPTION_STATES",
        "PROPAGATE_STATES",
        "intermediate",
    }
)
DISABLE_SYNC_SUBTASKS = "disable_sync_subtasks"
# Signature methods that return a signature for the same task (`t.s(1).set(countdown=3)`).
_SIGNATURE_COPIES = frozenset({"set", "clone", "set_immutable", "on_error", "replace"})
# Options of apply_async/apply/send_task that are not the task's own arguments.
_DISPATCH_POSITIONALS = ("args", "kwargs")


class CallForm(StrEnum):
    """How a result came to be."""

    DELAY = "delay"  # `t.delay(*a, **k)`, `sig.delay()`
    APPLY_ASYNC = "apply_async"  # `t.apply_async(args, kwargs, **options)`
    APPLY = "apply"  # `t.apply(args, kwargs)`: eager, guarded too (DESIGN §1)
    CALL = "call"  # `sig()`, `group(...)()`, `chord(header)(callback)`
    SEND_TASK = "send_task"  # `app.send_task("name", args, kwargs)`
    INVERT = "invert"  # `~sig`: dispatches and waits in one operator
    ASYNC_RESULT = "AsyncResult"  # `AsyncResult(id)`, `app.AsyncResult(id)`
    GROUP_RESULT_RESTORE = "GroupResult.restore"  # `GroupResult.restore(id)`
    RESULT_SET = "ResultSet"  # `ResultSet(results)` / `GroupResult(id, results)`
    ARGUMENT = "argument"  # a parameter of the task
    UNKNOWN = "unknown"  # only `.get(disable_sync_subtasks=...)` says it is a result


class Canvas(StrEnum):
    """What was dispatched."""

    TASK = "task"  # `t.delay()`: the task itself
    SIGNATURE = "signature"  # `t.s()`, `t.si()`, `signature("name")`
    GROUP = "group"
    CHAIN = "chain"  # `chain(...)` or `a.s() | b.s()`
    CHORD = "chord"
    NONE = "none"  # looked up, received, or unknown: nothing dispatched here


_CANVAS_FUNCTIONS: dict[str, Canvas] = {
    "celery.group": Canvas.GROUP,
    "celery.canvas.group": Canvas.GROUP,
    "celery.chain": Canvas.CHAIN,
    "celery.canvas.chain": Canvas.CHAIN,
    "celery.canvas._chain": Canvas.CHAIN,
    "celery.chord": Canvas.CHORD,
    "celery.canvas.chord": Canvas.CHORD,
    "celery.canvas._chord": Canvas.CHORD,
    "celery.signature": Canvas.SIGNATURE,
    "celery.Signature": Canvas.SIGNATURE,
    "celery.subtask": Canvas.SIGNATURE,
    "celery.canvas.signature": Canvas.SIGNATURE,
    "celery.canvas.Signature": Canvas.SIGNATURE,
    "celery.canvas.subtask": Canvas.SIGNATURE,
    "celery.canvas.maybe_signature": Canvas.SIGNATURE,
}


class OriginKind(StrEnum):
    DISPATCH = "dispatch"  # this task sent the work: delay/apply_async/apply/send_task/~/call
    LOOKUP = "lookup"  # a result looked up by id: AsyncResult(id), GroupResult.restore(id)
    ARGUMENT = "argument"  # a result received as a task argument
    UNKNOWN = "unknown"


# --- Data handed to rules ----------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A task defined in the module being checked, with its live nodes.

    `function` is the body that runs: the decorated `def`, or the `run` method of a class
    deriving from `celery.Task` (then `class_node` is that class and `decorator` is None).
    `decorator` is the decorator that made the function a task.
    """

    definition: TaskDefinition
    function: cst.FunctionDef
    decorator: cst.Decorator | None = None
    class_node: cst.ClassDef | None = None

    @property
    def name(self) -> str:
        return self.definition.name


@dataclass(frozen=True)
class CallArguments:
    """The arguments a dispatch passes to the task, separated from dispatch options.

    `args` are the positional arguments when they are spelled out (`delay(a, b)`,
    `apply_async(args=[a, b])`, `apply_async((a,))`); `star_args` holds an expression whose
    value is the positional arguments when they are not (`delay(*xs)`, `apply_async(args=xs)`).
    Likewise `kwargs` / `star_kwargs`. `options` are the dispatch options (`countdown`,
    `queue`, ... for `apply_async`; `link`, ... for signatures), which a rewrite into a
    helper call drops and a rewrite into a signature may keep.
    """

    args: tuple[cst.BaseExpression, ...] = ()
    kwargs: tuple[tuple[str, cst.BaseExpression], ...] = ()
    star_args: tuple[cst.BaseExpression, ...] = ()
    star_kwargs: tuple[cst.BaseExpression, ...] = ()
    options: tuple[tuple[str, cst.BaseExpression], ...] = ()

    @property
    def spelled_out(self) -> bool:
        """True when every argument is a node here (nothing hidden behind `*`/`**`)."""
        return not self.star_args and not self.star_kwargs


@dataclass(frozen=True)
class ResultCollection:
    """Several results held together: a list filled in a loop, a comprehension, a dict.

    `element` is what each element is. `builder` is the node that produces the elements: the
    `for` (or `while`) that appends to the list, the comprehension, or the list display.
    `name` is the variable holding the collection, if any.
    """

    element: ResultOrigin
    builder: cst.CSTNode
    name: str | None = None


@dataclass(frozen=True)
class ResultOrigin:
    """What produced a waited result.

    `call` is the producing call (`t.delay(x)`, `job.apply_async()`, `AsyncResult(id)`,
    `app.send_task("n", ...)`), None for `~sig`, a parameter, or an unknown origin.
    `signature` is the expression that was dispatched after following names: `t.s(x)`,
    `group(...)`, `a.s() | b.s()`; for a plain `t.delay()` it is None and `task_expr` is `t`.
    `task_expr` names the task (`t`, or the string literal of `send_task`) when there is a
    single one; `task` is its definition when this module or the project index has it.
    `names` lists the variables the result (or the signature) was bound to on the way
    (`job`, `result` in seed 000), `sources` the nodes of those bindings and of any collection
    building, so a rewrite knows every statement involved.
    `collection` is set when the wait is on one element of a collection (`for r in results:
    r.get()`) or on a `ResultSet` built from one. `parameter` is the task's parameter for
    `OriginKind.ARGUMENT`.
    """

    kind: OriginKind
    form: CallForm
    canvas: Canvas
    call: cst.Call | None = None
    signature: cst.BaseExpression | None = None
    task_expr: cst.BaseExpression | None = None
    task: TaskDefinition | None = None
    names: tuple[str, ...] = ()
    sources: tuple[cst.CSTNode, ...] = ()
    collection: ResultCollection | None = None
    parameter: cst.Param | None = None

    def arguments(self) -> CallArguments | None:
        """The task's arguments in the producing call (or the dispatched signature), or None
        when the origin is not a dispatch of one task (a group, a lookup, a parameter)."""
        if self.signature is not None and self.canvas is Canvas.SIGNATURE:
            assert isinstance(self.signature, cst.Call)
            return signature_arguments(self.signature)
        if self.call is not None and self.canvas is Canvas.TASK:
            return call_arguments(self.call, self.form)
        return None


@dataclass(frozen=True)
class Workaround:
    """A way the code silences Celery's guard: DESIGN §1 says both deadlock.

    `node` is the `with` statement for `allow_join_result`, or the argument that passes
    `disable_sync_subtasks` (a keyword, or a `**` argument holding it).
    """

    kind: Literal["allow_join_result", "disable_sync_subtasks"]
    node: cst.CSTNode


@dataclass(frozen=True)
class WaitSite:
    """One wait on a result inside a task body.

    `node` is the wait: the `x.get(...)` call or the `~sig` operation; `method` is `get`,
    `wait`, `join`, `join_native`, `collect` or `~`. `statement_index` is the index, in the
    task body, of the top-level statement that holds the wait. `statement` is the statement a
    rewrite works on: that top-level statement or, when it is `with allow_join_result():`,
    the statement of the `with` body that holds the wait. `enclosing` lists the compound
    statements and comprehensions between `statement` (included when compound) and the wait,
    outermost first; `loop` is the innermost loop (`for`, `while` or comprehension) among
    them. `value_target` is `x` in `x = r.get()`. `statement_indices` are the top-level
    statements of the body involved in producing and waiting on the result, sorted.
    """

    node: cst.Call | cst.UnaryOperation
    method: str
    origin: ResultOrigin
    task: Task
    statement_index: int
    statement: cst.BaseStatement
    enclosing: tuple[cst.CSTNode, ...] = ()
    loop: cst.CSTNode | None = None
    value_target: cst.BaseAssignTargetExpression | None = None
    workaround: Workaround | None = None
    statement_indices: tuple[int, ...] = ()
    # The code checked first that the result is ready (`if res.ready():`): the wait cannot
    # block, and `disable_sync_subtasks=False` on it is the whole fix.
    ready_checked: bool = False


class ShapeKind(StrEnum):
    """The shapes of DESIGN §2's table."""

    FAN_OUT = "fan-out"
    LOOP_OF_WAITS = "loop of waits"
    SEQUENCE = "sequence"
    PIPELINE = "pipeline"
    OTHER = "anything else"


@dataclass(frozen=True)
class Shape:
    """Waits of one task that one rewrite would handle together.

    `first_statement`..`last_statement` is the range of top-level statements of the task body
    the shape spans (dispatches included). For SEQUENCE and PIPELINE, `waits` are in order
    and `feeds_next[i]` is True when wait `i`'s value is the first positional argument of the
    call waited at `i + 1` (a `.s()` link) and False when the next call is independent (a
    `.si()` link); it has one element less than `waits`. For OTHER, `reason` says why no
    rewrite fits.
    """

    kind: ShapeKind
    waits: tuple[WaitSite, ...]
    first_statement: int
    last_statement: int
    feeds_next: tuple[bool, ...] = ()
    reason: str = ""


# --- Helpers on nodes ------------------------------------------------------------------------


def _unwrap(value: object) -> object:
    return value() if isinstance(value, LazyValue) else value


def _attribute_chain(node: cst.BaseExpression) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None for anything but names and attributes."""
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, cst.Attribute):
        base = _attribute_chain(node.value)
        return None if base is None else [*base, node.attr.value]
    return None


def _string_value(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _is_true(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


def source_text(node: cst.CSTNode) -> str:
    """The source code of a node, as written."""
    return cst.Module(body=[]).code_for_node(node)


def describe(node: cst.CSTNode, limit: int = 60) -> str:
    """A short one-line rendering for messages: call arguments become `...` when long."""
    text = " ".join(source_text(node).split())
    if len(text) <= limit:
        return text
    if isinstance(node, cst.Call):
        inner = describe(node.func, limit)
        return f"{inner}(...)"
    if isinstance(node, cst.Attribute):
        return f"{describe(node.value, limit)}.{node.attr.value}"
    if isinstance(node, cst.UnaryOperation):
        return "~" + describe(node.expression, limit)
    return text[: limit - 3] + "..."


def call_arguments(call: cst.Call, form: CallForm) -> CallArguments:
    """Split a dispatch call's arguments into the task's arguments and dispatch options.

    `delay(*a, **k)` and signature calls pass everything to the task; `apply_async(args,
    kwargs, **options)` and `apply(args, kwargs, **options)` take the task's arguments as a
    sequence and a mapping; `send_task(name, args, kwargs, **options)` likewise after the name.
    """
    if form in (CallForm.DELAY, CallForm.CALL):
        return _direct_arguments(call.args)
    if form in (CallForm.APPLY_ASYNC, CallForm.APPLY, CallForm.SEND_TASK):
        skip = 1 if form is CallForm.SEND_TASK else 0
        return _packed_arguments(call.args, skip, ("name",) if skip else ())
    return CallArguments()


def signature_arguments(signature: cst.Call) -> CallArguments:
    """The task arguments of `t.s(...)`, `t.si(...)`, `t.signature(args, kwargs, **opts)`
    or `signature("name", args, kwargs, **opts)`."""
    func = signature.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("s", "si"):
        return _direct_arguments(signature.args)
    if isinstance(func, cst.Attribute) and func.attr.value in ("signature", "subtask"):
        return _packed_arguments(signature.args, 0, ())
    return _packed_arguments(signature.args, 1, ("varies", "task"))


def _direct_arguments(arguments: Sequence[cst.Arg]) -> CallArguments:
    args: list[cst.BaseExpression] = []
    kwargs: list[tuple[str, cst.BaseExpression]] = []
    star_args: list[cst.BaseExpression] = []
    star_kwargs: list[cst.BaseExpression] = []
    for arg in arguments:
        if arg.star == "*":
            star_args.append(arg.value)
        elif arg.star == "**":
            star_kwargs.append(arg.value)
        elif arg.keyword is not None:
            kwargs.append((arg.keyword.value, arg.value))
        else:
            args.append(arg.value)
    return CallArguments(tuple(args), tuple(kwargs), tuple(star_args), tuple(star_kwargs))


def _packed_arguments(
    arguments: Sequence[cst.Arg], skip: int, named_skips: tuple[str, ...]
) -> CallArguments:
    """`(args, kwargs, **options)` after `skip` leading positionals (a task name)."""
    positional = [a for a in arguments if a.keyword is None and not a.star]
    packed: dict[str, cst.BaseExpression] = {}
    for name, arg in zip(_DISPATCH_POSITIONALS, positional[skip:], strict=False):
        packed[name] = arg.value
    options: list[tuple[str, cst.BaseExpression]] = []
    star_kwargs: list[cst.BaseExpression] = []
    for arg in arguments:
        if arg.star == "**":
            star_kwargs.append(arg.value)  # Options or arguments: cannot tell.
        elif arg.keyword is not None:
            if arg.keyword.value in _DISPATCH_POSITIONALS:
                packed[arg.keyword.value] = arg.value
            elif arg.keyword.value not in named_skips:
                options.append((arg.keyword.value, arg.value))
    args: tuple[cst.BaseExpression, ...] = ()
    star_args: tuple[cst.BaseExpression, ...] = ()
    packed_args = packed.get("args")
    if isinstance(packed_args, cst.List | cst.Tuple) and all(
        isinstance(e, cst.Element) for e in packed_args.elements
    ):
        args = tuple(e.value for e in packed_args.elements)
    elif packed_args is not None and not _is_none(packed_args):
        star_args = (packed_args,)
    kwargs: tuple[tuple[str, cst.BaseExpression], ...] = ()
    packed_kwargs = packed.get("kwargs")
    literal = _literal_keywords(packed_kwargs) if packed_kwargs is not None else None
    if literal is not None:
        kwargs = literal
    elif packed_kwargs is not None and not _is_none(packed_kwargs):
        star_kwargs.insert(0, packed_kwargs)
    return CallArguments(args, kwargs, star_args, tuple(star_kwargs), tuple(options))


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _literal_keywords(
    node: cst.BaseExpression,
) -> tuple[tuple[str, cst.BaseExpression], ...] | None:
    """`{"a": x}` or `dict(a=x)` as pairs; None when the keys are not all string literals."""
    pairs: list[tuple[str, cst.BaseExpression]] = []
    if isinstance(node, cst.Dict):
        for element in node.elements:
            key = _string_value(element.key) if isinstance(element, cst.DictElement) else None
            if key is None or not isinstance(element, cst.DictElement):
                return None
            pairs.append((key, element.value))
        return tuple(pairs)
    if isinstance(node, cst.Call) and _attribute_chain(node.func) == ["dict"]:
        for arg in node.args:
            if arg.keyword is None:
                return None
            pairs.append((arg.keyword.value, arg.value))
        return tuple(pairs)
    return None


# --- The analysis of one module ---------------------------------------------------------------


class CeleryModule:
    """Celery's view of one parsed module: its apps, its tasks, and the waits in each task.

    `metadata` must hold the providers in `METADATA` for `module` (a checker's
    `self.metadata`, or `MetadataWrapper(module).resolve_many(METADATA)`).
    `module_name` is the file's dotted module name (for relative imports and the qualified
    names of its tasks); `index` knows the other scanned modules.
    """

    _last: ClassVar[tuple[object, cst.Module, CeleryModule] | None] = None  # `from_context`

    def __init__(
        self,
        module: cst.Module,
        metadata: Metadata,
        *,
        path: str = "",
        module_name: str | None = None,
        task_decorators: Collection[str] = (),
        index: ProjectIndex | None = None,
    ) -> None:
        self.module = module
        self._metadata = metadata
        self.path = path
        self.module_name = module_name
        self.task_decorators = frozenset(task_decorators)
        self.index = index
        self._waits: dict[int, tuple[WaitSite, ...]] = {}
        # Origins and collections, memoised per (question, node or binding, task, depth):
        # names fed from names fed from names would otherwise be walked again from every
        # use, exponentially in how many feed each other (a 2,253-line module never ended).
        self._memo: dict[tuple[str, object, int, int], Any] = {}

    @classmethod
    def from_context(
        cls, module: cst.Module, metadata: Metadata, context: ModuleContext
    ) -> CeleryModule:
        """The analysis of `module`, shared by every rule's checker of one batched visit
        (the same tree, metadata and context): tasks, origins and waits are found once."""
        key = (id(module), id(context), frozenset(metadata))
        last = cls._last
        if last is not None and last[0] == key and last[1] is module:
            return last[2]
        celery = cls(
            module,
            metadata,
            path=context.path,
            module_name=context.module_name,
            task_decorators=context.config.task_decorators,
            index=context.index,
        )
        # Only the latest: a worker process analyses one module at a time, and an older
        # entry would keep its whole tree alive.
        cls._last = (key, module, celery)
        return celery

    # -- metadata --

    def _meta(
        self, provider: type[BaseMetadataProvider[object]], node: cst.CSTNode, default: _T
    ) -> _T:
        table = self._metadata.get(provider)
        if table is None:
            return default
        return cast(_T, _unwrap(table.get(node, default)))

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._meta(ParentNodeProvider, node, None)

    def _scope(self, node: cst.CSTNode) -> Scope | None:
        return self._meta(ScopeProvider, node, None)

    def _position(self, node: cst.CSTNode) -> CodeRange | None:
        return self._meta(PositionProvider, node, None)

    def _qualified(self, node: cst.CSTNode) -> Collection[QualifiedName]:
        if QualifiedNameProvider not in self._metadata:
            return self._module_level_qualified(node)
        return self._meta(QualifiedNameProvider, node, cast(Collection[QualifiedName], ()))

    def _module_level_qualified(self, node: cst.CSTNode) -> Collection[QualifiedName]:
        """Qualified names from the module-level bindings alone, for the index pass, which
        skips libcst's scope analysis (it costs several times the parse). A name shadowed
        inside a function reads as the module-level one: decorators, which is what the index
        resolves, are evaluated in the enclosing scope, nearly always the module."""
        chain = _attribute_chain(node) if isinstance(node, cst.BaseExpression) else None
        if chain is None:
            return ()
        root, rest = chain[0], chain[1:]
        imported = self._module_imports.get(root)
        if imported is not None:
            return {QualifiedName(".".join([imported, *rest]), QualifiedNameSource.IMPORT)}
        if root in self._module_values:
            return {QualifiedName(".".join(chain), QualifiedNameSource.LOCAL)}
        return ()

    @cached_property
    def _module_imports(self) -> dict[str, str]:
        return dict(self.module_aliases)

    @property
    def _module_prefix(self) -> str:
        """What this module's own names are prefixed with. Without a module name, Celery's
        name for a script's module: a bare `celery` variable must not read as the library."""
        return self.module_name or "__main__"

    @cached_property
    def _package(self) -> str | None:
        return package_of(self.module_name, self.path)

    def absolute(self, name: str) -> str | None:
        """An import's dotted name with relative dots resolved against this module."""
        if not name.startswith("."):
            return name
        level = len(name) - len(name.lstrip("."))
        if self._package is None:
            return None
        parts = self._package.split(".") if self._package else []
        if level - 1 > len(parts):
            return None
        base = parts[: len(parts) - (level - 1)]
        rest = name[level:]
        return ".".join([*base, rest] if rest else base) or None

    def dotted_names(self, node: cst.CSTNode) -> set[str]:
        """Absolute dotted names an expression refers to: imports resolved, module-level
        names of this module prefixed with its name, re-exports followed through the index.
        Function-local names (`f.<locals>.x`) are left out."""
        found: set[str] = set()
        for qualified in self._qualified(node):
            name = self._absolute_qualified(qualified)
            if name is not None:
                found.add(name)
        return found

    def _absolute_qualified(self, qualified: QualifiedName) -> str | None:
        if "<locals>" in qualified.name:
            return None
        if qualified.source is QualifiedNameSource.IMPORT:
            name = self.absolute(qualified.name)
        elif qualified.source is QualifiedNameSource.LOCAL:
            name = f"{self._module_prefix}.{qualified.name}"
        else:
            name = qualified.name
        if name is not None and self.index is not None:
            name = self.index.resolve(name)
        return name

    def _is_local(self, node: cst.CSTNode) -> bool:
        """True when `node` names something bound in this module (not imported)."""
        qualified = self._qualified(node)
        return bool(qualified) and all(q.source is QualifiedNameSource.LOCAL for q in qualified)

    def _module_level_name(self, node: cst.Name) -> str | None:
        """The name, when it refers to a module-level binding of this module (not to a
        function's local or parameter that may shadow one)."""
        qualified = self._qualified(node)
        if qualified and all(
            q.source is QualifiedNameSource.LOCAL and q.name == node.value for q in qualified
        ):
            return node.value
        return None

    def _referents(self, name: cst.Name) -> list[Assignment]:
        """The plain assignments (no imports, no builtins) a name use may refer to."""
        scope = self._scope(name)
        if scope is None:
            return []
        found: list[Assignment] = []
        for access in scope.accesses[name]:
            for referent in access.referents:
                if isinstance(referent, Assignment) and not _is_import(referent.node):
                    found.append(referent)
        return found

    # -- imports --

    @cached_property
    def imports_celery(self) -> bool:
        """True when the module imports anything from the `celery` package."""
        return any(
            module == "celery" or module.startswith("celery.") for _, module in self._imports()
        )

    def _imports(self) -> Iterator[tuple[str, str]]:
        """Every import of the module as (bound name, absolute dotted name)."""
        for node in walk(self.module):
            if isinstance(node, cst.Import | cst.ImportFrom):
                yield from self._import_pairs(node)

    def _import_pairs(self, node: cst.Import | cst.ImportFrom) -> Iterator[tuple[str, str]]:
        if isinstance(node, cst.Import):
            for alias in node.names:
                dotted = _dotted_name(alias.name)
                if alias.asname is not None:
                    yield alias.evaluated_alias or dotted, dotted
                else:  # `import a.b` binds `a`.
                    yield dotted.partition(".")[0], dotted.partition(".")[0]
            return
        if isinstance(node.names, cst.ImportStar):
            return
        dots = "." * len(node.relative)
        base = self.absolute(dots + (_dotted_name(node.module) if node.module else ""))
        if base is None:
            return
        for alias in node.names:
            bound = alias.evaluated_alias or alias.evaluated_name
            yield bound, f"{base}.{alias.evaluated_name}"

    @cached_property
    def module_aliases(self) -> tuple[tuple[str, str], ...]:
        """Module-level imports as (bound name, absolute dotted name), for the index."""
        return tuple(
            pair
            for statement in _module_level_statements(self.module)
            if isinstance(statement, cst.SimpleStatementLine)
            for small in statement.body
            if isinstance(small, cst.Import | cst.ImportFrom)
            for pair in self._import_pairs(small)
        )

    # -- apps --

    @cached_property
    def _module_values(self) -> dict[str, list[cst.CSTNode]]:
        """Module-level names and what binds them: the value of `name = value`, or the
        statement (a def, a class, an unpacking assignment)."""
        values: dict[str, list[cst.CSTNode]] = {}
        for statement in _module_level_statements(self.module):
            if isinstance(statement, cst.FunctionDef | cst.ClassDef):
                values.setdefault(statement.name.value, []).append(statement)
                continue
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                targets: list[cst.BaseExpression] = []
                if isinstance(small, cst.Assign):
                    targets = [target.target for target in small.targets]
                elif isinstance(small, cst.AnnAssign | cst.AugAssign):
                    targets = [small.target]
                for target in targets:
                    value = getattr(small, "value", None)
                    bound = value if isinstance(target, cst.Name) and value is not None else small
                    for name in _target_names(target):
                        values.setdefault(name, []).append(bound)
        return values

    def _assigned_values(self, name: cst.Name) -> Iterator[tuple[cst.BaseExpression, cst.CSTNode]]:
        """The values a name use may hold from `name = value` assignments, each with the
        statement that assigns it."""
        for referent in self._referents(name):
            value = self._bound_value(referent.node)
            if value is not None:
                yield value, self._statement_of(referent.node)

    def _bound_value(self, target: cst.CSTNode) -> cst.BaseExpression | None:
        """The value assigned to a plain name target (`x = value`, `x: T = value`)."""
        parent = self.parent(target)
        if isinstance(parent, cst.AssignTarget):
            statement = self.parent(parent)
            if isinstance(statement, cst.Assign):
                return statement.value
        if isinstance(parent, cst.AnnAssign) and parent.target is target:
            return parent.value
        if isinstance(parent, cst.NamedExpr) and parent.target is target:
            return parent.value
        return None

    @cached_property
    def apps(self) -> frozenset[str]:
        """Module-level names bound to a Celery app.

        `x = Celery(...)` (or a local subclass of Celery), `x = current_app`, and
        `x = <call>(...)` where the called function's name mentions `celery` and starts in
        lower case (`make_celery(app)`, the Flask pattern), not from a non-Celery package.
        """
        found = set()
        for name, values in self._module_values.items():
            if any(self._is_app_value(v) for v in values):
                found.add(name)
        return frozenset(found)

    @cached_property
    def _celery_subclasses(self) -> frozenset[str]:
        names: set[str] = set()
        for statement in _module_level_statements(self.module):
            if isinstance(statement, cst.ClassDef) and any(
                self.dotted_names(base.value) & APP_CLASSES for base in statement.bases
            ):
                names.add(statement.name.value)
        return frozenset(names)

    def _is_app_value(self, value: cst.CSTNode) -> bool:
        if isinstance(value, cst.Call):
            names = self.dotted_names(value.func)
            if names & APP_CLASSES:
                return True
            if isinstance(value.func, cst.Name) and value.func.value in self._celery_subclasses:
                return True
            chain = _attribute_chain(value.func)
            # A factory function (`make_celery`, `create_celery_app`), not a class such as
            # Celery's own `CeleryBeat` parameter type: classes are capitalised.
            return (
                chain is not None
                and "celery" in chain[-1].lower()
                and chain[-1][:1].islower()
                and not any(_non_celery(n) for n in names)
            )
        if isinstance(value, cst.Name | cst.Attribute):
            return bool(self.dotted_names(value) & APP_OBJECTS)
        return False

    def is_app(self, node: cst.BaseExpression) -> bool:
        """True when `node` (the `x` of `@x.task`) is a Celery app.

        In this module: see `apps`. Imported: the index decides when it knows the module;
        otherwise an imported object is taken for an app unless it comes from a non-Celery
        package, when its dotted path mentions `celery`, its name is `app` or ends in `app`,
        a module in its path is or ends in `worker`, or this module imports from `celery`.
        """
        if isinstance(node, cst.Name) and self._is_local(node):
            return self._module_level_name(node) in self.apps
        for dotted in self.dotted_names(node):
            if dotted in self.task_decorators or dotted in APP_OBJECTS:
                return True
            if dotted.startswith("celery.") or _non_celery(dotted):
                continue
            known = self.index.is_app(dotted) if self.index is not None else None
            if known is not None:
                if known:
                    return True
                continue
            if _looks_like_app_path(dotted) or self.imports_celery:
                return True
        return False

    # -- tasks --

    @cached_property
    def _definitions(self) -> tuple[tuple[cst.FunctionDef | cst.ClassDef, str], ...]:
        """Every def and class with its `__qualname__`, in source order: one walk of the
        module, shared by `tasks`, `_qualnames` and `helpers`."""
        return tuple(_definitions(self.module))

    @cached_property
    def tasks(self) -> tuple[Task, ...]:
        """Every task defined in the module, in source order."""
        found: list[Task] = []
        for node, _ in self._definitions:
            if isinstance(node, cst.FunctionDef):
                task = self._function_task(node)
                if task is not None:
                    found.append(task)
            elif isinstance(node, cst.ClassDef) and node.name.value in self.task_classes:
                run = _method(node, "run")
                if run is not None:
                    found.append(self._class_task(node, run))
        found.sort(key=lambda task: (task.definition.line, task.definition.column))
        return tuple(found)

    def task_decorator(self, decorator: cst.Decorator) -> bool:
        """True when the decorator makes a Celery task (DESIGN §3)."""
        target = decorator.decorator
        base = target.func if isinstance(target, cst.Call) else target
        names = self.dotted_names(base)
        if names & TASK_DECORATORS or names & self.task_decorators:
            return True
        if isinstance(base, cst.Attribute) and base.attr.value == "task":
            return self.is_app(base.value)
        return False

    def _function_task(self, node: cst.FunctionDef) -> Task | None:
        for decorator in node.decorators:
            if self.task_decorator(decorator):
                return Task(self._definition(node, decorator), node, decorator=decorator)
        return None

    @cached_property
    def _qualnames(self) -> dict[int, str]:
        """Python's `__qualname__` of every def and class, by node id."""
        return {id(node): qualname for node, qualname in self._definitions}

    def _qualified_name(self, node: cst.FunctionDef | cst.ClassDef) -> str:
        local = self._qualnames.get(id(node), node.name.value)
        return f"{self._module_prefix}.{local}"

    def _definition(self, node: cst.FunctionDef, decorator: cst.Decorator) -> TaskDefinition:
        target = decorator.decorator
        options: list[tuple[str, str]] = []
        if isinstance(target, cst.Call):
            options = [
                (arg.keyword.value, source_text(arg.value))
                for arg in target.args
                if arg.keyword is not None
            ]
        bind = isinstance(target, cst.Call) and any(
            arg.keyword is not None and arg.keyword.value == "bind" and _is_true(arg.value)
            for arg in target.args
        )
        registered = None
        if isinstance(target, cst.Call):
            name_arg = _keyword(target, "name")
            registered = _string_value(name_arg.value) if name_arg else None
        definition = self._make_definition(
            node, node.name.value, bind, options, source_text(target), "function", registered
        )
        return replace(definition, uses_self=bind and _uses_first_parameter(node))

    def _make_definition(
        self,
        node: cst.FunctionDef | cst.ClassDef,
        name: str,
        bind: bool,
        options: list[tuple[str, str]],
        decorator: str,
        kind: str,
        registered: str | None,
    ) -> TaskDefinition:
        qualified = self._qualified_name(node)
        position = self._position(node.name)
        return TaskDefinition(
            name=name,
            module=self.module_name,
            qualified_name=qualified,
            registered_name=registered or qualified,
            bind=bind,
            options=tuple(options),
            decorator=decorator,
            kind=kind,
            path=self.path,
            line=position.start.line if position else 0,
            column=position.start.column + 1 if position else 0,
        )

    @cached_property
    def task_classes(self) -> frozenset[str]:
        """Module-level classes deriving from `celery.Task`, through `<app>.Task`, another
        such class of this module, or one the index knows."""
        found: set[str] = set()
        for statement in _module_level_statements(self.module):
            if isinstance(statement, cst.ClassDef) and any(
                self._is_task_base(base.value, found) for base in statement.bases
            ):
                found.add(statement.name.value)
        return frozenset(found)

    def _is_task_base(self, node: cst.BaseExpression, local: set[str]) -> bool:
        if isinstance(node, cst.Name) and self._is_local(node):
            return self._module_level_name(node) in local
        names = self.dotted_names(node)
        if names & TASK_CLASSES:
            return True
        if isinstance(node, cst.Attribute) and node.attr.value == "Task":
            return self.is_app(node.value)
        if self.index is not None:
            return any(self.index.is_task_class(n) for n in names)
        return False

    def _class_task(self, node: cst.ClassDef, run: cst.FunctionDef) -> Task:
        options: list[tuple[str, str]] = []
        for statement in node.body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                        if isinstance(target, cst.Name):
                            options.append((target.value, source_text(small.value)))
        registered = next(
            (text.strip("'\"") for key, text in options if key == "name" and text[:1] in "'\""),
            None,
        )
        definition = self._make_definition(
            node, node.name.value, True, options, "", "class", registered
        )
        return Task(definition, run, class_node=node)

    def task_for(self, node: cst.BaseExpression) -> TaskDefinition | None:
        """The definition of the task an expression names (`t`, `tasks.t`), if known here or
        in the index; `x = app.register_task(C())` / `x = C()` name class-based task `C`."""
        local = {t.definition.qualified_name: t.definition for t in self.tasks}
        for dotted in self.dotted_names(node):
            if dotted in local:
                return local[dotted]
            if self.index is not None:
                found = self.index.task(dotted)
                if found is not None:
                    return found
        name = self._module_level_name(node) if isinstance(node, cst.Name) else None
        for value in self._module_values.get(name or "", []):
            instance = _registered_instance(value)
            found = self.task_for(instance.func) if instance is not None else None
            if found is not None and found.kind == "class":
                return found
        return None

    # -- entry for the project index --

    def index_entry(self) -> IndexEntry | None:
        """What this module contributes to the project index; None when that is nothing."""
        if self.module_name is None:
            return None  # Nothing could name it: `import` needs a module name.
        values = self._module_values
        return IndexEntry(
            path=self.path,
            module_name=self.module_name,
            tasks=tuple(task.definition for task in self.tasks),
            apps=tuple(sorted(self.apps)),
            task_classes=tuple(sorted(self.task_classes)),
            defined=tuple(sorted(set(values) - self.apps - self.task_classes)),
            aliases=self.module_aliases,
        )

    # -- helpers --

    @cached_property
    def helpers(self) -> tuple[tuple[Task, tuple[str, ...]], ...]:
        """The plain functions of this module (module level, or methods of module-level
        classes) that a task reaches through calls, in this module or, by the project
        index, from another one; each as a stand-in `Task` of kind "helper", whose waits
        `waits` finds as in a task, with the call path (`(task, ..., helper)`, dotted)."""
        task_functions = {id(task.function) for task in self.tasks}
        candidates = [
            (node, qualname)
            for node, qualname in self._definitions
            if isinstance(node, cst.FunctionDef)
            and id(node) not in task_functions
            and "<locals>" not in qualname
        ]
        if not candidates:
            return ()
        module_name = self.module_name or "__main__"
        index = self._call_index(module_name)
        found: list[tuple[Task, tuple[str, ...]]] = []
        for node, qualname in candidates:
            dotted = f"{module_name}.{qualname}"
            path = index.task_path(dotted)
            if path is None:
                continue
            where = self._position(node)
            definition = TaskDefinition(
                name=node.name.value,
                module=self.module_name,
                qualified_name=dotted,
                registered_name=dotted,
                bind=False,
                options=(),
                decorator="",
                kind="helper",
                path=self.path,
                line=where.start.line if where else 0,
                column=where.start.column + 1 if where else 0,
            )
            found.append((Task(definition, node), path))
        return tuple(found)

    def _passed_a_result(self, param: cst.Param) -> bool:
        """Whether a task passes a result to this parameter of a helper. Only helpers'
        parameters are looked up: finding what tasks pass reads task parameters, which
        must not ask this again."""
        owner = self._owning_function(param)
        return id(owner) in self._helper_ids and id(param) in self._result_parameters

    @cached_property
    def _helper_ids(self) -> frozenset[int]:
        return frozenset(id(task.function) for task, _ in self.helpers)

    @cached_property
    def _result_parameters(self) -> frozenset[int]:
        """Parameters (by id) of this module's helpers to which a task of this module passes
        a Celery result (`wait_for(fetch.delay(x))`, `finish(res)`): results in the helper,
        whatever their name."""
        # Module-level helpers only: a call by plain name is not a method's.
        module_level = {id(s) for s in self.module.body}
        by_name = {
            task.function.name.value: task.function
            for task, _ in self.helpers
            if id(task.function) in module_level
        }
        if not by_name:
            return frozenset()
        found: set[int] = set()
        for task in self.tasks:
            for node in _walk_body(task.function.body):
                if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Name)):
                    continue
                function = by_name.get(node.func.value)
                if function is None:
                    continue
                params = list(function.params.params)
                for position, arg in enumerate(node.args):
                    if arg.star:
                        break
                    if arg.keyword is not None:
                        param = next(
                            (p for p in params if p.name.value == arg.keyword.value), None
                        )
                    else:
                        param = params[position] if position < len(params) else None
                    if param is not None and self.result_origin(arg.value, task) is not None:
                        found.add(id(param))
        return frozenset(found)

    def _call_index(self, module_name: str) -> ProjectIndex:
        """The project index, with this module's calls when the index lacks them (a file
        read from stdin, or checked without the index pass)."""
        if self.index is not None and self.index.entry(module_name) is not None:
            return self.index
        try:
            tree = ast.parse(self.module.code)
        except (SyntaxError, ValueError):
            tree = ast.Module(body=[], type_ignores=[])
        local = IndexEntry(
            path=self.path,
            module_name=module_name,
            tasks=tuple(task.definition for task in self.tasks),
            aliases=self.module_aliases,
            calls=function_calls(tree, module_name, self.module_aliases),
        )
        others = self.index.entries if self.index is not None else ()
        return ProjectIndex.from_entries([*others, local])

    # -- results --

    def waits(self, task: Task) -> tuple[WaitSite, ...]:
        """Every wait on a Celery result in the task's body, in source order.

        Nested `def`, `lambda` and `class` bodies are not searched: they run only if called.
        """
        cached = self._waits.get(id(task.function))
        if cached is None:
            cached = self._waits[id(task.function)] = self._find_waits(task)
        return cached

    def _find_waits(self, task: Task) -> tuple[WaitSite, ...]:
        sites: list[WaitSite] = []
        for node in _walk_body(task.function.body):
            site: WaitSite | None = None
            if isinstance(node, cst.Call):
                site = self._call_wait(node, task)
            elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
                site = self._invert_wait(node, task)
            if site is not None:
                sites.append(site)
        return tuple(sites)

    def polls(self, task: Task) -> tuple[tuple[cst.While, str], ...]:
        """`while` loops in the task's body that poll a Celery result until it is ready
        (`while not res.ready():`, `while res.state not in READY_STATES:`, `while
        res.status == "PENDING":`): they hold the worker process like `.get()` does. Each
        with the text of the state it polls (`res.ready()`)."""
        found: list[tuple[cst.While, str]] = []
        for node in _walk_body(task.function.body):
            if not isinstance(node, cst.While):
                continue
            for part in walk(node.test):
                polled = _polled_result(part)
                if polled is not None and self.result_origin(polled, task) is not None:
                    found.append((node, source_text(part)))
                    break
        return tuple(found)

    def bare_workarounds(self, task: Task) -> tuple[cst.With, ...]:
        """`with allow_join_result():` blocks of the task holding no wait `waits` found
        (the wait may be in a helper it calls): still a finding (DESIGN §1)."""
        waits = self.waits(task)
        covered = {
            id(site.workaround.node)
            for site in waits
            if site.workaround and site.workaround.kind == "allow_join_result"
        }
        return tuple(
            node
            for node in _walk_body(task.function.body)
            if isinstance(node, cst.With) and self._allows_join(node) and id(node) not in covered
        )

    def _allows_join(self, node: cst.With) -> bool:
        return any(
            isinstance(item.item, cst.Call)
            and self.dotted_names(item.item.func) & ALLOW_JOIN_RESULT
            for item in node.items
        )

    def _call_wait(self, call: cst.Call, task: Task) -> WaitSite | None:
        func = call.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in WAIT_METHODS:
            return None
        method = func.attr.value
        disable = (
            self._disable_sync_subtasks(call) if method in ("get", "join", "join_native") else None
        )
        origin = self.result_origin(func.value, task)
        if origin is not None and origin.kind is OriginKind.ARGUMENT and not _looks_like_wait(call):
            origin = None
        if origin is None and disable is not None:
            # The keyword exists only on Celery's waits: enough to know this is one.
            origin = ResultOrigin(OriginKind.UNKNOWN, CallForm.UNKNOWN, Canvas.NONE)
        if origin is None:
            return None
        checked = method in ("get", "wait", "join", "join_native") and self._ready_checked(
            call, task
        )
        if checked and disable is not None:
            return None  # Reads a finished result, and says so to the guard: sound.
        workaround = Workaround("disable_sync_subtasks", disable) if disable is not None else None
        site = self._site(call, method, origin, task, workaround)
        return replace(site, ready_checked=True) if checked else site

    def _ready_checked(self, call: cst.Call, task: Task) -> bool:
        """Whether the result `call` waits on is known to be ready when it runs: inside
        `if res.ready():` (or `.successful()` / `.failed()`, alone or in an `and`), or after
        `if not res.ready(): raise ...` / `return ...` (the retry-until-ready pattern) or a
        `while not res.ready():` loop earlier in the same block, with no rebinding of `res`
        in between. Such a wait cannot block (Celery's guard still raises first)."""
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        if not isinstance(receiver, cst.Name):
            return False
        name = receiver.value
        child: cst.CSTNode = call
        current = self.parent(call)
        statement: cst.CSTNode | None = None
        while current is not None and current is not task.function:
            if isinstance(current, cst.If) and child is current.body:
                if _tests_ready(current.test, name):
                    return True
            if statement is None and isinstance(current, cst.IndentedBlock):
                statement = child
                block = current
            child, current = current, self.parent(current)
        if statement is None:
            return False
        earlier = list(block.body)[: next(i for i, s in enumerate(block.body) if s is statement)]
        for previous in reversed(earlier):
            if _rebinds(previous, name):
                return False
            test = previous.test if isinstance(previous, cst.If | cst.While) else None
            if not (
                isinstance(test, cst.UnaryOperation)
                and isinstance(test.operator, cst.Not)
                and _tests_ready(test.expression, name)
            ):
                continue
            if isinstance(previous, cst.While):
                return True
            assert isinstance(previous, cst.If)
            body = previous.body
            last = body.body[-1] if isinstance(body, cst.IndentedBlock) and body.body else None
            small = last.body[-1] if isinstance(last, cst.SimpleStatementLine) else None
            if previous.orelse is None and isinstance(small, cst.Raise | cst.Return):
                return True
        return False

    def _invert_wait(self, node: cst.UnaryOperation, task: Task) -> WaitSite | None:
        signature = self.signature_origin(node.expression, task)
        if signature is None or signature.canvas is Canvas.TASK:
            return None  # `~` is defined on signatures, not on tasks.
        return self._site(node, "~", replace(signature, form=CallForm.INVERT), task, None)

    def _disable_sync_subtasks(self, call: cst.Call) -> cst.CSTNode | None:
        """The argument that passes `disable_sync_subtasks` with a value other than `True`
        (literally, in a `**{...}` literal, or in a `**name` bound to a dict literal)."""
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == DISABLE_SYNC_SUBTASKS:
                return None if _is_true(arg.value) else arg
            if arg.star != "**":
                continue
            candidates = [arg.value]
            if isinstance(arg.value, cst.Name):
                candidates = [value for value, _ in self._assigned_values(arg.value)]
            for candidate in candidates:
                for key, value in _literal_keywords(candidate) or ():
                    if key == DISABLE_SYNC_SUBTASKS and not _is_true(value):
                        return arg
        return None

    def _site(
        self,
        node: cst.Call | cst.UnaryOperation,
        method: str,
        origin: ResultOrigin,
        task: Task,
        workaround: Workaround | None,
    ) -> WaitSite:
        path = self._path_in_body(node, task)
        top = path[0]
        body = list(task.function.body.body)
        index = next(i for i, s in enumerate(body) if s is top)
        statement: cst.BaseStatement = cast(cst.BaseStatement, top)
        inner = path[1:]
        if isinstance(top, cst.With) and self._allows_join(top):
            if workaround is None:
                workaround = Workaround("allow_join_result", top)
            nested = next((n for n in inner if isinstance(n, cst.BaseStatement)), None)
            if nested is not None:
                statement = nested
                inner = inner[inner.index(nested) + 1 :]
        elif workaround is None:
            # Deeper (`if x: with allow_join_result(): ...`): not rewritten, but the guard is
            # silenced all the same, and the block is not one "holding no wait".
            held = [n for n in inner if isinstance(n, cst.With) and self._allows_join(n)]
            workaround = Workaround("allow_join_result", held[0]) if held else None
        enclosing = _enclosing([statement, *inner, node])
        loop = next((n for n in reversed(enclosing) if _is_loop(n)), None)
        indices = {index}
        for source in origin.sources:
            source_index = self._top_index(source, task)
            if source_index is not None:
                indices.add(source_index)
        return WaitSite(
            node=node,
            method=method,
            origin=origin,
            task=task,
            statement_index=index,
            statement=statement,
            enclosing=enclosing,
            loop=loop,
            value_target=self._value_target(node),
            workaround=workaround,
            statement_indices=tuple(sorted(indices)),
        )

    def _path_in_body(self, node: cst.CSTNode, task: Task) -> list[cst.CSTNode]:
        """The ancestors of `node` below the task body, outermost (a body statement) first."""
        path: list[cst.CSTNode] = []
        current: cst.CSTNode | None = node
        body = task.function.body
        while current is not None and current is not body:
            path.append(current)
            current = self.parent(current)
        path.reverse()
        return path[:-1]  # Without `node` itself: an expression is never a body statement.

    def _top_index(self, node: cst.CSTNode, task: Task) -> int | None:
        current: cst.CSTNode | None = node
        body = task.function.body
        while current is not None:
            parent = self.parent(current)
            if parent is body:
                return next((i for i, s in enumerate(body.body) if s is current), None)
            current = parent
        return None

    def _value_target(self, node: cst.CSTNode) -> cst.BaseAssignTargetExpression | None:
        parent = self.parent(node)
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            return parent.targets[0].target
        if isinstance(parent, cst.AnnAssign) and parent.value is node:
            return parent.target
        return None

    def result_origin(
        self, node: cst.BaseExpression, task: Task, depth: int = 0
    ) -> ResultOrigin | None:
        """What produced the result `node` evaluates to, or None if it is not a Celery result."""
        if depth > 8:  # Names bound to names bound to names: stop before a cycle does.
            return None
        key = ("result", id(node), id(task.function), depth)
        if key not in self._memo:
            self._memo[key] = self._result_origin(node, task, depth)
        return cast("ResultOrigin | None", self._memo[key])

    def _result_origin(
        self, node: cst.BaseExpression, task: Task, depth: int
    ) -> ResultOrigin | None:
        if isinstance(node, cst.Call):
            return self._call_origin(node, task, depth)
        if isinstance(node, cst.Name):
            return self._name_origin(node, task, depth)
        if isinstance(node, cst.Subscript):
            collection = self.collection_of(node.value, task, depth + 1)
            if collection is not None:
                return _element_of(collection)
            return None
        if isinstance(node, cst.Attribute) and node.attr.value == "parent":
            return self.result_origin(node.value, task, depth + 1)
        return None

    def _call_origin(self, call: cst.Call, task: Task, depth: int) -> ResultOrigin | None:
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in ("delay", "apply_async", "apply"):
                signature = self.signature_origin(func.value, task, depth + 1)
                if (
                    signature is None
                    and method == "delay"
                    and not self._known_non_celery(func.value)
                ):
                    # `.delay()` is Celery's own spelling: any callable offering it counts.
                    signature = ResultOrigin(
                        OriginKind.DISPATCH, CallForm.DELAY, Canvas.TASK, task_expr=func.value
                    )
                if signature is None:
                    return None
                return replace(signature, form=CallForm(method), call=call)
            if method == "send_task" and not self._known_non_celery(func.value):
                name_node = call.args[0].value if call.args else None
                return ResultOrigin(
                    OriginKind.DISPATCH,
                    CallForm.SEND_TASK,
                    Canvas.TASK,
                    call=call,
                    task_expr=name_node,
                    task=self._task_by_registered_name(_string_value(name_node)),
                )
            if method == "AsyncResult" and not self._known_non_celery(func.value):
                return ResultOrigin(
                    OriginKind.LOOKUP, CallForm.ASYNC_RESULT, Canvas.NONE, call=call
                )
            if method == "restore" and self._is_group_result_class(func.value):
                return ResultOrigin(
                    OriginKind.LOOKUP, CallForm.GROUP_RESULT_RESTORE, Canvas.NONE, call=call
                )
        names = self.dotted_names(func)
        if names & {"celery.result.AsyncResult", "celery.result.EagerResult"}:
            return ResultOrigin(OriginKind.LOOKUP, CallForm.ASYNC_RESULT, Canvas.NONE, call=call)
        if names & GROUP_RESULT_CLASSES:
            collection = next(
                (
                    c
                    for arg in call.args
                    if arg.keyword is None or arg.keyword.value == "results"
                    for c in [self.collection_of(arg.value, task, depth + 1)]
                    if c is not None
                ),
                None,
            )
            return ResultOrigin(
                OriginKind.DISPATCH if collection else OriginKind.LOOKUP,
                CallForm.RESULT_SET,
                Canvas.GROUP,
                call=call,
                collection=collection,
                sources=collection.element.sources if collection else (),
            )
        # Calling a signature or canvas dispatches it: `sig()`, `chord(header)(callback)`.
        signature = self.signature_origin(func, task, depth + 1)
        if signature is not None and signature.canvas is not Canvas.TASK:
            return replace(signature, call=call)
        return None

    def _is_group_result_class(self, node: cst.BaseExpression) -> bool:
        if self.dotted_names(node) & GROUP_RESULT_CLASSES:
            return True
        return isinstance(node, cst.Attribute) and node.attr.value == "GroupResult"

    def _task_by_registered_name(self, name: str | None) -> TaskDefinition | None:
        if name is None:
            return None
        for task in self.tasks:
            if task.definition.registered_name == name:
                return task.definition
        return self.index.task_by_registered_name(name) if self.index is not None else None

    def _known_non_celery(self, node: cst.BaseExpression) -> bool:
        """True when the expression is rooted in a name imported from a non-Celery package,
        or in a local variable bound to a call of one (`pool = multiprocessing.Pool()`)."""
        root = node
        while isinstance(root, cst.Attribute | cst.Call | cst.Subscript):
            root = root.func if isinstance(root, cst.Call) else root.value
        if not isinstance(root, cst.Name):
            return False
        if any(_non_celery(n) for n in self.dotted_names(root)):
            return True
        for referent in self._referents(root):
            value = self._bound_value(referent.node)
            if isinstance(value, cst.Call) and any(
                _non_celery(n) for n in self.dotted_names(value.func)
            ):
                return True
        return False

    def _name_origin(self, name: cst.Name, task: Task, depth: int) -> ResultOrigin | None:
        for referent in self._referents(name):
            target = referent.node
            if isinstance(target, cst.Param):
                if self._owning_function(target) is task.function:
                    return self._parameter_origin(target)
                continue
            value = self._bound_value(target)
            if value is not None:
                origin = self.result_origin(value, task, depth + 1)
                if origin is not None:
                    return _bound(origin, name.value, self._statement_of(target))
                continue
            collection = self._iterated_collection(target, task, depth + 1)
            if collection is not None:
                return _element_of(collection)
        return None

    def _owning_function(self, param: cst.Param) -> cst.CSTNode | None:
        current = self.parent(param)
        while current is not None and not isinstance(current, cst.FunctionDef | cst.Lambda):
            current = self.parent(current)
        return current

    def _parameter_origin(self, param: cst.Param) -> ResultOrigin | None:
        """A task parameter taken for a result: annotated with a `celery.result` class, or
        named `result`, `async_result`, `res`, `*_result` or `*_res` (the wait call is then
        checked to look like Celery's: see `_looks_like_wait`)."""
        annotated = param.annotation is not None and bool(
            self.dotted_names(param.annotation.annotation) & RESULT_CLASSES
        )
        name = param.name.value
        named = name in ("result", "async_result", "res") or name.endswith(("_result", "_res"))
        if not annotated and not named and not self._passed_a_result(param):
            return None
        return ResultOrigin(OriginKind.ARGUMENT, CallForm.ARGUMENT, Canvas.NONE, parameter=param)

    def _statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        current: cst.CSTNode = node
        while not isinstance(current, cst.BaseStatement):
            parent = self.parent(current)
            if parent is None:
                return current
            current = parent
        return current

    def signature_origin(
        self, node: cst.BaseExpression, task: Task, depth: int = 0
    ) -> ResultOrigin | None:
        """What a dispatched expression is: a task (`t` in `t.delay()`), a signature, or a
        canvas. Returned as a `ResultOrigin` without a call (kind DISPATCH, form CALL)."""
        if depth > 8:
            return None
        key = ("signature", id(node), id(task.function), depth)
        if key not in self._memo:
            self._memo[key] = self._signature_origin(node, task, depth)
        return cast("ResultOrigin | None", self._memo[key])

    def _signature_origin(
        self, node: cst.BaseExpression, task: Task, depth: int
    ) -> ResultOrigin | None:
        if isinstance(node, cst.Call):
            func = node.func
            names = self.dotted_names(func)
            canvas = next((_CANVAS_FUNCTIONS[n] for n in names if n in _CANVAS_FUNCTIONS), None)
            if canvas is not None:
                task_expr = node.args[0].value if canvas is Canvas.SIGNATURE and node.args else None
                return ResultOrigin(
                    OriginKind.DISPATCH,
                    CallForm.CALL,
                    canvas,
                    signature=node,
                    task_expr=task_expr,
                    task=self._task_by_registered_name(_string_value(task_expr)),
                )
            if isinstance(func, cst.Attribute):
                method = func.attr.value
                if method in ("s", "si", "signature", "subtask") and not self._known_non_celery(
                    func.value
                ):
                    return ResultOrigin(
                        OriginKind.DISPATCH,
                        CallForm.CALL,
                        Canvas.SIGNATURE,
                        signature=node,
                        task_expr=func.value,
                        task=self.task_for(func.value),
                    )
                if method in _SIGNATURE_COPIES:
                    inner = self.signature_origin(func.value, task, depth + 1)
                    if inner is not None and inner.canvas is not Canvas.TASK:
                        return inner
            return None
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            left = self.signature_origin(node.left, task, depth + 1)
            right = self.signature_origin(node.right, task, depth + 1)
            if left is not None or right is not None:
                return ResultOrigin(
                    OriginKind.DISPATCH, CallForm.CALL, Canvas.CHAIN, signature=node
                )
            return None
        if isinstance(node, cst.Name | cst.Attribute):
            definition = self.task_for(node)
            if definition is not None:
                return ResultOrigin(
                    OriginKind.DISPATCH, CallForm.CALL, Canvas.TASK, task_expr=node, task=definition
                )
            if isinstance(node, cst.Name) and self._is_local(node):
                return self._local_signature(node, task, depth)
            if self._plausible_imported_task(node):
                return ResultOrigin(OriginKind.DISPATCH, CallForm.CALL, Canvas.TASK, task_expr=node)
        return None

    def _local_signature(self, name: cst.Name, task: Task, depth: int) -> ResultOrigin | None:
        """A name of this module bound to a signature or canvas (`job = group(...)`)."""
        for value, statement in self._assigned_values(name):
            origin = self.signature_origin(value, task, depth + 1)
            if origin is not None and origin.canvas is not Canvas.TASK:
                return _bound(origin, name.value, statement)
        return None

    def _plausible_imported_task(self, node: cst.BaseExpression) -> bool:
        """An imported name the index cannot resolve, from outside the non-Celery packages:
        taken for a task (`from other.tasks import t; t.apply_async()`)."""
        root = node
        while isinstance(root, cst.Attribute):
            root = root.value
        if not isinstance(root, cst.Name) or self._is_local(root):
            return False
        names = self.dotted_names(node)
        for dotted in names:
            if dotted.partition(".")[0] in ("celery", "builtins") or _non_celery(dotted):
                return False
            module = dotted.rpartition(".")[0]
            if self.index is not None and self.index.has_module(module):
                # `task_for` would have found a task there, unless it is one of the configured
                # decorators', which the index pass cannot know (it has no configuration).
                return bool(self.task_decorators)
        return bool(names)

    # -- collections --

    def collection_of(
        self, node: cst.BaseExpression, task: Task, depth: int = 0
    ) -> ResultCollection | None:
        """The collection of results `node` evaluates to, if it is one."""
        if depth > 8:
            return None
        key = ("collection", id(node), id(task.function), depth)
        if key not in self._memo:
            self._memo[key] = self._collection_of(node, task, depth)
        return cast("ResultCollection | None", self._memo[key])

    def _collection_of(
        self, node: cst.BaseExpression, task: Task, depth: int
    ) -> ResultCollection | None:
        if isinstance(node, cst.List | cst.Tuple | cst.Set):
            for element in node.elements:
                origin = self.result_origin(element.value, task, depth + 1)
                if origin is not None:
                    return ResultCollection(origin, node)
            return None
        if isinstance(node, cst.ListComp | cst.GeneratorExp | cst.SetComp):
            origin = self.result_origin(node.elt, task, depth + 1)
            return ResultCollection(origin, node) if origin is not None else None
        if isinstance(node, cst.DictComp):
            origin = self.result_origin(node.value, task, depth + 1)
            return ResultCollection(origin, node) if origin is not None else None
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            if node.func.attr.value in ("values", "copy"):
                return self.collection_of(node.func.value, task, depth + 1)
            return None
        if isinstance(node, cst.Attribute) and node.attr.value in ("results", "children"):
            origin = self.result_origin(node.value, task, depth + 1)
            if origin is not None:
                return ResultCollection(origin, node)
            return None
        if isinstance(node, cst.Name):
            return self._named_collection(node, task, depth)
        return None

    def _named_collection(self, name: cst.Name, task: Task, depth: int) -> ResultCollection | None:
        for value, statement in self._assigned_values(name):
            found = self.collection_of(value, task, depth + 1)
            if found is not None:
                element = _bound(found.element, name.value, statement)
                return ResultCollection(element, found.builder, name.value)
        # `results = []` then `results.append(t.delay(i))` (or `results[k] = ...`, `+=`).
        referents = self._referents(name)
        for referent in referents:
            for access in referent.references:
                if not isinstance(access.node, cst.Name):
                    continue
                filled = self._filled_with(access.node, task, depth)
                if filled is None:
                    continue
                origin, filler = filled
                builder = self._loop_around(filler, task) or self._statement_of(filler)
                statements = [self._statement_of(r.node) for r in referents]
                return ResultCollection(
                    _bound(origin, name.value, *statements, builder), builder, name.value
                )
        return None

    def _filled_with(
        self, use: cst.Name, task: Task, depth: int
    ) -> tuple[ResultOrigin, cst.CSTNode] | None:
        """If this use of a list/dict name adds a result to it, that result and the node."""
        parent = self.parent(use)
        if isinstance(parent, cst.Attribute) and parent.value is use:
            call = self.parent(parent)
            if (
                isinstance(call, cst.Call)
                and call.func is parent
                and parent.attr.value in ("append", "add", "extend")
                and call.args
            ):
                value = call.args[-1].value
                if parent.attr.value == "extend":
                    collection = self.collection_of(value, task, depth + 1)
                    return (collection.element, call) if collection else None
                origin = self.result_origin(value, task, depth + 1)
                return (origin, call) if origin else None
        if isinstance(parent, cst.Subscript) and parent.value is use:
            target = self.parent(parent)
            if isinstance(target, cst.AssignTarget):
                statement = self.parent(target)
                if isinstance(statement, cst.Assign):
                    origin = self.result_origin(statement.value, task, depth + 1)
                    return (origin, statement) if origin else None
        if isinstance(parent, cst.AugAssign) and parent.target is use:
            collection = self.collection_of(parent.value, task, depth + 1)
            return (collection.element, parent) if collection else None
        return None

    def _loop_around(self, node: cst.CSTNode, task: Task) -> cst.CSTNode | None:
        current = self.parent(node)
        while current is not None and current is not task.function:
            if isinstance(current, cst.For | cst.While):
                return current
            current = self.parent(current)
        return None

    def _iterated_collection(
        self, target: cst.CSTNode, task: Task, depth: int
    ) -> ResultCollection | None:
        """For a loop or comprehension target name: the collection of results it walks."""
        position: list[int] = []
        current: cst.CSTNode = target
        while True:
            parent = self.parent(current)
            if isinstance(parent, cst.Element):
                tuple_node = self.parent(parent)
                if not isinstance(tuple_node, cst.Tuple | cst.List):
                    return None
                position.insert(0, list(tuple_node.elements).index(parent))
                current = tuple_node
                continue
            if isinstance(parent, cst.For | cst.CompFor) and parent.target is current:
                return self._iterable_collection(parent.iter, position, task, depth)
            return None

    def _iterable_collection(
        self, iterable: cst.BaseExpression, position: list[int], task: Task, depth: int
    ) -> ResultCollection | None:
        if not position:
            return self.collection_of(iterable, task, depth)
        if isinstance(iterable, cst.Call):
            helper = _attribute_chain(iterable.func)
            rest = position[1:]
            if helper == ["enumerate"] and position[0] == 1 and iterable.args:
                return self._iterable_collection(iterable.args[0].value, rest, task, depth)
            if helper == ["zip"] and position[0] < len(iterable.args):
                return self._iterable_collection(
                    iterable.args[position[0]].value, rest, task, depth
                )
            if (
                isinstance(iterable.func, cst.Attribute)
                and iterable.func.attr.value == "items"
                and position == [1]
            ):
                return self.collection_of(iterable.func.value, task, depth)
        return None


# --- Shapes ------------------------------------------------------------------------------------


def classify(waits: Sequence[WaitSite]) -> tuple[Shape, ...]:
    """Group a task's waits into the shapes of DESIGN §2 (every wait lands in one shape).

    - OTHER: a result looked up by id, received as an argument, or of unknown origin; a wait
      inside `if`, `try`, `while`, `with` (other than `allow_join_result`), `match`, or
      nested loops.
    - LOOP_OF_WAITS: a wait repeated by one `for` or one comprehension at the top level of the
      body, or on the elements of a collection of results.
    - FAN_OUT: a wait on a group or chord result (or a `ResultSet` of results).
    - SEQUENCE / PIPELINE: consecutive top-level statements each waiting on one dispatched
      task or signature; PIPELINE when one's value is the next call's first positional
      argument (see `Shape.feeds_next`). A single such wait is a SEQUENCE of one.
    Waits in the same top-level statement form one shape.
    """
    by_statement: dict[int, list[WaitSite]] = {}
    for site in waits:
        by_statement.setdefault(site.statement_index, []).append(site)
    shapes: list[Shape] = []
    run: list[WaitSite] = []
    for index in sorted(by_statement):
        group = by_statement[index]
        kinds = {_shape_of_one(site) for site in group}
        kind, reason = kinds.pop()
        if kinds:
            kind, reason = ShapeKind.OTHER, "waits of different shapes in one statement"
        elif kind is ShapeKind.SEQUENCE and len(group) > 1:
            kind, reason = ShapeKind.OTHER, "several waits in one statement"
        if kind is ShapeKind.SEQUENCE:
            site = group[0]
            if run and site.statement_indices[0] > run[-1].statement_index + 1:
                shapes.append(_sequence(run))
                run = []
            run.append(site)
            continue
        if run:
            shapes.append(_sequence(run))
            run = []
        shapes.append(_shape(kind, group, reason=reason))
    if run:
        shapes.append(_sequence(run))
    shapes.sort(key=lambda shape: shape.first_statement)
    return tuple(shapes)


def _shape(
    kind: ShapeKind, waits: Sequence[WaitSite], *, feeds: tuple[bool, ...] = (), reason: str = ""
) -> Shape:
    indices = [i for site in waits for i in site.statement_indices]
    return Shape(kind, tuple(waits), min(indices), max(indices), feeds, reason)


def _shape_of_one(site: WaitSite) -> tuple[ShapeKind, str]:
    origin = site.origin
    if origin.kind is OriginKind.LOOKUP:
        return ShapeKind.OTHER, "it waits on a result looked up by id, not one this task sent"
    if origin.kind is OriginKind.ARGUMENT:
        return ShapeKind.OTHER, "it waits on a result the task received as an argument"
    if origin.kind is OriginKind.UNKNOWN:
        return ShapeKind.OTHER, "celerymod cannot tell what produced this result"
    loops = [n for n in site.enclosing if _is_loop(n)]
    blockers = [n for n in site.enclosing if not _is_loop(n)]
    if blockers:
        return ShapeKind.OTHER, f"the wait sits inside `{_keyword_of(blockers[0])}`"
    if any(isinstance(n, cst.While) for n in loops) or len(loops) > 1:
        return ShapeKind.OTHER, "the wait sits inside a `while` loop or nested loops"
    if loops or origin.collection is not None and origin.form is not CallForm.RESULT_SET:
        return ShapeKind.LOOP_OF_WAITS, ""
    if origin.canvas in (Canvas.GROUP, Canvas.CHORD):
        return ShapeKind.FAN_OUT, ""
    return ShapeKind.SEQUENCE, ""


def _sequence(run: Sequence[WaitSite]) -> Shape:
    feeds: list[bool] = []
    for before, after in pairwise(run):
        link = _link(before, after, run)
        if link is None:
            return _shape(
                ShapeKind.OTHER,
                run,
                reason="a later call uses an earlier result other than as its first argument",
            )
        feeds.append(link)
    kind = ShapeKind.PIPELINE if any(feeds) else ShapeKind.SEQUENCE
    return _shape(kind, run, feeds=tuple(feeds))


def _link(before: WaitSite, after: WaitSite, run: Sequence[WaitSite]) -> bool | None:
    """True: `before`'s value is `after`'s first positional argument and used nowhere else in
    its arguments; False: `after` uses no value an earlier wait of the run produced; None:
    any other dependency (no chain expresses it)."""
    earlier = {
        site.value_target.value
        for site in run[: run.index(after)]
        if isinstance(site.value_target, cst.Name)
    }
    arguments = after.origin.arguments()
    if arguments is not None:
        nodes: list[cst.CSTNode] = [
            *arguments.args,
            *(value for _, value in arguments.kwargs),
            *arguments.star_args,
            *arguments.star_kwargs,
        ]
    else:
        dispatched = after.origin.call or after.origin.signature
        nodes = [dispatched] if dispatched is not None else []
    uses = [
        n for node in nodes for n in walk(node) if isinstance(n, cst.Name) and n.value in earlier
    ]
    if not uses:
        return False
    previous = before.value_target
    first = arguments.args[0] if arguments is not None and arguments.args else None
    if (
        isinstance(previous, cst.Name)
        and isinstance(first, cst.Name)
        and first.value == previous.value
        and len(uses) == 1
        and uses[0] is first
    ):
        return True
    return None


def _keyword_of(node: cst.CSTNode) -> str:
    return {
        cst.If: "if",
        cst.Try: "try",
        cst.TryStar: "try",
        cst.While: "while",
        cst.With: "with",
        cst.Match: "match",
        cst.For: "for",
        cst.Else: "else",
    }.get(type(node), type(node).__name__)


# --- Module-level helpers ---------------------------------------------------------------------


def index_module(source: bytes, path: str, module_name: str | None) -> IndexEntry | None:
    """Parse a file and return what it contributes to the project index (`index.index_file`)."""
    from celerymod import textio

    text = textio.decode(source).text
    # No metadata: names resolve through the module-level bindings (see
    # `_module_level_qualified`), and positions come from Python's own parser, which is many
    # times faster than libcst's position metadata.
    celery = CeleryModule(cst.parse_module(text), {}, path=path, module_name=module_name)
    entry = celery.index_entry()
    if entry is None:
        return entry
    try:
        tree: ast.Module | None = ast.parse(text)
    except (SyntaxError, ValueError):  # Python's parser rejects what libcst accepted.
        tree = None
    if tree is not None:
        entry = replace(
            entry,
            uses=task_uses(tree, path, module_name, entry.aliases),
            calls=function_calls(tree, entry.module_name or "__main__", entry.aliases),
        )
    if not entry.tasks:
        return entry
    positions = _definition_positions(text, tree)
    seen: dict[str, int] = {}
    tasks: list[TaskDefinition] = []
    for task in entry.tasks:
        qualname = task.qualified_name.removeprefix(f"{module_name}.")
        occurrence = seen.get(qualname, 0)
        seen[qualname] = occurrence + 1
        found = positions.get(qualname, [])
        line, column = found[occurrence] if occurrence < len(found) else (0, 0)
        tasks.append(replace(task, line=line, column=column))
    return replace(entry, tasks=tuple(tasks))


def _definition_positions(text: str, tree: ast.Module | None) -> dict[str, list[tuple[int, int]]]:
    """`__qualname__` -> (line, 1-based column of the name) of each def/class, in source
    order; empty when Python's parser rejected what libcst accepted (`tree` is None)."""
    if tree is None:
        return {}
    lines = text.splitlines()
    found: dict[str, list[tuple[int, int]]] = {}

    def below(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualname = prefix + child.name
                line = lines[child.lineno - 1] if child.lineno <= len(lines) else ""
                column = line.find(child.name, child.col_offset) + 1
                found.setdefault(qualname, []).append((child.lineno, column))
                inner = "" if isinstance(child, ast.ClassDef) else "<locals>."
                below(child, f"{qualname}.{inner}")
            else:
                below(child, prefix)

    below(tree, "")
    return found


def _bound(origin: ResultOrigin, name: str, *sources: cst.CSTNode) -> ResultOrigin:
    """`origin`, after it was bound to `name` by the statements `sources`."""
    return replace(origin, names=(*origin.names, name), sources=(*origin.sources, *sources))


def _element_of(collection: ResultCollection) -> ResultOrigin:
    """The origin of one element of `collection`: the element's own, tagged with it."""
    element = collection.element
    return replace(element, sources=(*element.sources, collection.builder), collection=collection)


def _polled_result(node: cst.CSTNode) -> cst.BaseExpression | None:
    """The result in `res.ready()` / `res.successful()` / `res.failed()` / `res.state` /
    `res.status`, the expressions a polling loop's condition reads."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and not node.args:
        if node.func.attr.value in POLL_METHODS:
            return node.func.value
    if isinstance(node, cst.Attribute) and node.attr.value in POLL_FIELDS:
        return node.value
    return None


def _tests_ready(test: cst.BaseExpression, name: str) -> bool:
    """`name.ready()` / `.successful()` / `.failed()`, alone or as a part of an `and`."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _tests_ready(test.left, name) or _tests_ready(test.right, name)
    return (
        isinstance(test, cst.Call)
        and not test.args
        and isinstance(test.func, cst.Attribute)
        and test.func.attr.value in POLL_METHODS
        and isinstance(test.func.value, cst.Name)
        and test.func.value.value == name
    )


def _rebinds(statement: cst.CSTNode, name: str) -> bool:
    """Whether `statement` may bind `name` again (an assignment, a loop target, ...)."""
    for node in walk(statement):
        targets: list[cst.CSTNode] = []
        if isinstance(node, cst.AssignTarget):
            targets = [node.target]
        elif isinstance(node, cst.AugAssign | cst.AnnAssign):
            targets = [node.target]
        elif isinstance(node, cst.For | cst.CompFor):
            targets = [node.target]
        elif isinstance(node, cst.AsName):
            targets = [node.name]
        elif isinstance(node, cst.NamedExpr):
            targets = [node.target]
        for target in targets:
            if any(isinstance(n, cst.Name) and n.value == name for n in walk(target)):
                return True
    return False


def _looks_like_wait(call: cst.Call) -> bool:
    """Celery's waits take a numeric timeout at most positionally and only their own
    keywords: `result.get("key")` (a dict) and `", ".join(parts)` (a str) do not qualify."""
    for arg in call.args:
        if arg.star:
            return False
        if arg.keyword is None:
            if not isinstance(arg.value, cst.Integer | cst.Float):
                return False
        elif arg.keyword.value not in WAIT_KEYWORDS:
            return False
    return True


def _non_celery(dotted: str) -> bool:
    return dotted.partition(".")[0] in NON_CELERY_PACKAGES


def _looks_like_app_path(dotted: str) -> bool:
    """The unscanned-app heuristic on names: `celery` anywhere in the dotted path, an object
    called `app` or `*app`, or a module in its path called `worker` or `*worker`."""
    parts = dotted.lower().split(".")
    return (
        any("celery" in part for part in parts)
        or parts[-1].endswith("app")
        or any(part.endswith("worker") for part in parts[:-1])
    )


def _registered_instance(value: cst.CSTNode) -> cst.Call | None:
    """`C()` in `x = C()` or `x = app.register_task(C())`: the instantiation, if any."""
    if not isinstance(value, cst.Call):
        return None
    func = value.func
    if isinstance(func, cst.Attribute) and func.attr.value == "register_task" and value.args:
        inner = value.args[0].value
        return inner if isinstance(inner, cst.Call) else None
    if isinstance(func, cst.Name):
        return value
    return None


def _dotted_name(node: cst.BaseExpression) -> str:
    chain = _attribute_chain(node)
    return ".".join(chain) if chain else ""


def _is_import(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Import | cst.ImportFrom)


def _enclosing(path: Sequence[cst.CSTNode]) -> tuple[cst.CSTNode, ...]:
    """The compound statements and comprehensions along `path` (outermost first, ending with
    the wait) that hold the wait. The iterable of a `for` and the outermost iterable of a
    comprehension are evaluated once, before looping: a wait there is not inside the loop.
    A wait in the `else` of a `for` or `while` is listed under that `else` block."""
    found: list[cst.CSTNode] = []
    for position, current in enumerate(path[:-1]):
        child = path[position + 1]
        if isinstance(current, cst.For | cst.While) and child is current.orelse:
            found.append(child)
        elif isinstance(current, cst.For):
            if child is current.body:
                found.append(current)
        elif isinstance(current, cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp):
            grandchild = path[position + 2] if position + 2 < len(path) else None
            if not (child is current.for_in and grandchild is current.for_in.iter):
                found.append(current)
        elif isinstance(current, cst.BaseCompoundStatement):
            found.append(current)
    return tuple(found)


def _uses_first_parameter(function: cst.FunctionDef) -> bool:
    """True when the body reads the function's first positional parameter (`self`)."""
    params = [*function.params.posonly_params, *function.params.params]
    if not params:
        return False
    name = params[0].name.value
    return any(isinstance(n, cst.Name) and n.value == name for n in walk(function.body))


def _is_loop(node: cst.CSTNode) -> bool:
    return isinstance(
        node, cst.For | cst.While | cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp
    )


def _method(node: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    for statement in node.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
            return statement
    return None


def _module_level_statements(module: cst.Module) -> Iterator[cst.BaseStatement]:
    """Statements that run at import time: the body, and the bodies of top-level `if`,
    `try` and `with` blocks (`try: import x except ImportError: ...`), not of defs/classes."""
    stack: list[cst.BaseStatement] = list(reversed(module.body))
    while stack:
        statement = stack.pop()
        yield statement
        blocks: list[cst.BaseSuite] = []
        if isinstance(statement, cst.If):
            blocks.append(statement.body)
            if statement.orelse is not None:
                blocks.append(statement.orelse.body)
        elif isinstance(statement, cst.Try):
            blocks.append(statement.body)
            blocks.extend(handler.body for handler in statement.handlers)
            if statement.orelse is not None:
                blocks.append(statement.orelse.body)
            if statement.finalbody is not None:
                blocks.append(statement.finalbody.body)
        elif isinstance(statement, cst.With):
            blocks.append(statement.body)
        for block in reversed(blocks):
            if isinstance(block, cst.IndentedBlock):
                stack.extend(reversed(block.body))
            elif isinstance(block, cst.SimpleStatementSuite):
                stack.append(cst.SimpleStatementLine(body=block.body))


def _definitions(module: cst.Module) -> Iterator[tuple[cst.FunctionDef | cst.ClassDef, str]]:
    """Every def and class with its `__qualname__`, in source order."""

    def below(
        node: cst.CSTNode, prefix: str
    ) -> Iterator[tuple[cst.FunctionDef | cst.ClassDef, str]]:
        for child in node.children:
            if isinstance(child, cst.FunctionDef | cst.ClassDef):
                qualname = prefix + child.name.value
                yield child, qualname
                inner = "<locals>." if isinstance(child, cst.FunctionDef) else ""
                yield from below(child.body, f"{qualname}.{inner}")
            else:
                yield from below(child, prefix)

    yield from below(module, "")


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    """The names an assignment target binds (`a`, `a, (b, *c)`), not attributes/subscripts."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, cst.Tuple | cst.List):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


def _walk_body(body: cst.BaseSuite) -> Iterator[cst.CSTNode]:
    """Like `_walk`, without entering nested `def`, `lambda` and `class` bodies."""
    stack: list[cst.CSTNode] = [body]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, cst.FunctionDef | cst.Lambda | cst.ClassDef):
            continue
        stack.extend(reversed(current.children))
