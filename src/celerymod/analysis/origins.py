"""Where a result comes from: the dispatch, lookup or parameter behind the value a wait waits
on (`result_origin`), and the signature behind `~sig` (`signature_origin`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, cast

import libcst as cst
from libcst.metadata import Assignment

from celerymod.analysis.helpers import TaskHelpers
from celerymod.analysis.index import TaskDefinition
from celerymod.analysis.records import ResultCollection, ResultOrigin, Task
from celerymod.analysis.syntax import _non_celery, _string_value
from celerymod.analysis.vocabulary import (
    _CANVAS_FUNCTIONS,
    _SIGNATURE_COPIES,
    GROUP_RESULT_CLASSES,
    RESULT_CLASSES,
    CallForm,
    Canvas,
    OriginKind,
)
from celerymod.transforms.base import walk


class ResultOrigins(TaskHelpers):
    """Where a result or a signature comes from."""

    if TYPE_CHECKING:  # Defined by `ResultCollections` (result_collections.py), above.

        def collection_of(
            self, node: cst.BaseExpression, task: Task, depth: int = 0
        ) -> ResultCollection | None: ...

        def _iterated_collection(
            self, target: cst.CSTNode, task: Task, depth: int
        ) -> ResultCollection | None: ...

        def _picked_signature(
            self, node: cst.BaseExpression, container: cst.BaseExpression, task: Task, depth: int
        ) -> ResultOrigin | None: ...

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
        """The origin of the result a name holds. Names are resolved without flow (every
        binding in the scope may reach the use): when its bindings give results of different
        kinds (`r = AsyncResult(id)`, then `r = t.delay(x)` in a branch), the wait's origin
        is unknown, never the first binding's."""
        found: list[ResultOrigin] = []
        for referent in _reaching(self, name, task):
            origin = self._referent_origin(referent.node, name, task, depth)
            if origin is not None:
                found.append(origin)
        if len({origin.kind for origin in found}) > 1:
            sources = tuple(source for origin in found for source in origin.sources)
            return ResultOrigin(
                OriginKind.UNKNOWN,
                CallForm.REBOUND,
                Canvas.NONE,
                names=(name.value,),
                sources=sources,
            )
        return found[0] if found else None

    def _referent_origin(
        self, target: cst.CSTNode, name: cst.Name, task: Task, depth: int
    ) -> ResultOrigin | None:
        if isinstance(target, cst.Param):
            if self._owning_function(target) is task.function:
                return self._parameter_origin(target)
            return None
        value = self._bound_value(target)
        if value is not None:
            origin = self.result_origin(value, task, depth + 1)
            return _bound(origin, name.value, self._statement_of(target)) if origin else None
        collection = self._iterated_collection(target, task, depth + 1)
        return _element_of(collection) if collection is not None else None

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
                if method in ("map", "starmap", "chunks") and self.task_for(func.value):
                    # Only on a known task: `pool.map(...)` and `executor.map(...)` abound.
                    return ResultOrigin(
                        OriginKind.DISPATCH,
                        CallForm.CALL,
                        Canvas.MAP,
                        signature=node,
                        task_expr=func.value,
                        task=self.task_for(func.value),
                    )
                if method in _SIGNATURE_COPIES:
                    inner = self.signature_origin(func.value, task, depth + 1)
                    if inner is not None and inner.canvas is not Canvas.TASK:
                        return inner
                if method == "get" and node.args:
                    return self._picked_signature(node, func.value, task, depth)
            return None
        if isinstance(node, cst.Subscript):
            return self._picked_signature(node, node.value, task, depth)
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


def _bound(origin: ResultOrigin, name: str, *sources: cst.CSTNode) -> ResultOrigin:
    """`origin`, after it was bound to `name` by the statements `sources`."""
    return replace(origin, names=(*origin.names, name), sources=(*origin.sources, *sources))


def _element_of(collection: ResultCollection) -> ResultOrigin:
    """The origin of one element of `collection`: the element's own, tagged with it."""
    element = collection.element
    return replace(element, sources=(*element.sources, collection.builder), collection=collection)


def _reaching(names: ResultOrigins, name: cst.Name, task: Task) -> list[Assignment]:
    """The bindings of `name` that may reach this use. Without flow, every binding in
    the scope; but inside the body of a `for name in ...:` that nothing in the body
    binds again, only the loop's target: `task = t.delay(i)` in an earlier loop that
    collected the results is not what `for task in tasks: task.get()` waits on."""
    referents = names._referents(name)
    child: cst.CSTNode = name
    current = names.parent(name)
    while current is not None and current is not task.function:
        if (
            isinstance(current, cst.For)
            and child is current.body
            and isinstance(current.target, cst.Name)
            and current.target.value == name.value
        ):
            key = ("loop body", id(current), 0, 0)
            if key not in names._memo:  # Walked once per loop, not once per use.
                names._memo[key] = {id(node) for node in walk(current.body)}
            inside = cast("set[int]", names._memo[key])
            if any(id(referent.node) in inside for referent in referents):
                return referents  # Bound again in the body: any binding may reach.
            return [r for r in referents if r.node is current.target]
        child, current = current, names.parent(current)
    return referents
