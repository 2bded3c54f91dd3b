"""The facts the analysis hands to rules: a task, where a result comes from
(`ResultOrigin`), a collection of results, a wait (`WaitSite`) and a workaround. Plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import libcst as cst

from celerymod.analysis.arguments import CallArguments, call_arguments, signature_arguments
from celerymod.analysis.index import TaskDefinition
from celerymod.analysis.vocabulary import CallForm, Canvas, OriginKind


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

    node: cst.Call | cst.UnaryOperation | cst.Comparison  # Comparison: `poll` only
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
    # The wait method was bound to a name first (`j = res.join`, then `j()`): that
    # assignment statement. The rewrite leaves such waits alone.
    bound_method: cst.CSTNode | None = None
    # A `while not res.ready():` (or `while res.state not in READY_STATES:`) loop taken as
    # the wait (`node` is its condition): the rewrite replaces the whole loop, and the code
    # after it reads the value.
    poll: cst.While | None = None
