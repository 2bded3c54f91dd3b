"""Results held together: the list filled in a loop, the comprehension, the list display a
wait walks (`collection_of`), and what a loop or comprehension target iterates over.
"""

from __future__ import annotations

from typing import cast

import libcst as cst

from celerymod.analysis.origins import ResultOrigins, _bound
from celerymod.analysis.records import ResultCollection, ResultOrigin, Task
from celerymod.analysis.syntax import _attribute_chain
from celerymod.analysis.vocabulary import CallForm, Canvas, OriginKind


class ResultCollections(ResultOrigins):
    """Collections of results, and what a loop target walks."""

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

    def _picked_signature(
        self, node: cst.BaseExpression, container: cst.BaseExpression, task: Task, depth: int
    ) -> ResultOrigin | None:
        """`METHODS.get(name)` or `steps[i]`, where the name is bound to a dict, list or
        tuple display of signatures or tasks only (`{"a": a.s(), "b": b.s()}`): one of them,
        which one known only at run time (`shapes.picked` keeps it from any rewrite)."""
        if not isinstance(container, cst.Name):
            return None
        for value, statement in self._assigned_values(container):
            if isinstance(value, cst.Dict):
                items = [e.value for e in value.elements if isinstance(e, cst.DictElement)]
                complete = len(items) == len(value.elements)
            elif isinstance(value, cst.List | cst.Tuple):
                items = [e.value for e in value.elements if isinstance(e, cst.Element)]
                complete = len(items) == len(value.elements)
            else:
                continue
            if complete and items and all(
                self.signature_origin(item, task, depth + 1) is not None for item in items
            ):
                origin = ResultOrigin(
                    OriginKind.DISPATCH, CallForm.CALL, Canvas.SIGNATURE, signature=node
                )
                return _bound(origin, container.value, statement)
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
        for referent in referents:
            param = referent.node
            if isinstance(param, cst.Param) and self._owning_function(param) is task.function:
                if _names_results(param.name.value) or self._parameter_origin(param):
                    # `def collect(results): for r in results: r.get()`: results the task
                    # received (their waits are then checked to look like Celery's); also
                    # the children of one it walks (`for child in group_result:`, a
                    # `GroupResult` iterates over its results).
                    origin = ResultOrigin(
                        OriginKind.ARGUMENT, CallForm.ARGUMENT, Canvas.NONE, parameter=param
                    )
                    return ResultCollection(origin, param, name.value)
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
            found = self.collection_of(iterable, task, depth)
            if found is None and isinstance(iterable, cst.Name):
                # `for r in gr:` over a group's result: a `GroupResult` walks its children.
                origin = self.result_origin(iterable, task, depth + 1)
                if origin is not None and origin.canvas is Canvas.GROUP:
                    return ResultCollection(origin, iterable)
            return found
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


def _names_results(name: str) -> bool:
    """A parameter named for Celery results held together: `results`, `async_results`,
    `*_results` (the plural of the names `_parameter_origin` takes for one result)."""
    return name in ("results", "async_results") or name.endswith("_results")
