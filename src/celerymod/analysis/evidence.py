"""Evidence that a receiver is a Celery result where its origin is unknown: the code
narrowed it (`isinstance(x, AsyncResult)`, `hasattr(x, "join_native")`), or it is waited on
inside `with allow_join_result():`, which exists only for such waits.
"""

from __future__ import annotations

import libcst as cst

from celerymod.analysis.records import Task
from celerymod.analysis.result_collections import ResultCollections
from celerymod.analysis.vocabulary import ALLOW_JOIN_RESULT, RESULT_CLASSES


class ResultEvidence(ResultCollections):
    """What in the code says a value of unknown origin is a Celery result."""

    def _allows_join(self, node: cst.With) -> bool:
        return any(
            isinstance(item.item, cst.Call)
            and self.dotted_names(item.item.func) & ALLOW_JOIN_RESULT
            for item in node.items
        )

    def _under_allow_join(self, node: cst.CSTNode, task: Task) -> bool:
        current = self.parent(node)
        while current is not None and current is not task.function:
            if isinstance(current, cst.FunctionDef | cst.Lambda):
                return False
            if isinstance(current, cst.With) and self._allows_join(current):
                return True
            current = self.parent(current)
        return False

    def _narrowed_to_result(self, receiver: cst.BaseExpression, task: Task) -> bool:
        """Whether the wait runs in the body of an `if isinstance(<receiver>, AsyncResult):`
        (or another of Celery's result classes, alone, in a tuple or in an `and`; or
        `hasattr(<receiver>, "join_native")`): the
        code knows it holds a Celery result even where celerymod cannot tell its origin."""
        if not isinstance(receiver, cst.Name):
            return False
        child: cst.CSTNode = receiver
        current = self.parent(receiver)
        while current is not None and current is not task.function:
            if isinstance(current, cst.If) and child is current.body:
                if self._tests_result_class(current.test, receiver.value):
                    return True
            child, current = current, self.parent(current)
        return False

    def _tests_result_class(self, test: cst.BaseExpression, name: str) -> bool:
        if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
            return self._tests_result_class(test.left, name) or self._tests_result_class(
                test.right, name
            )
        if not (
            isinstance(test, cst.Call)
            and isinstance(test.func, cst.Name)
            and test.func.value in ("isinstance", "hasattr")
            and len(test.args) == 2
            and isinstance(test.args[0].value, cst.Name)
            and test.args[0].value.value == name
        ):
            return False
        if test.func.value == "hasattr":
            # Only Celery's `ResultSet`/`GroupResult` have `join_native`: duck typing that
            # tests for it holds a result.
            attribute = test.args[1].value
            return isinstance(attribute, cst.SimpleString) and attribute.evaluated_value in (
                "join_native",
            )
        classes = test.args[1].value
        options = (
            [e.value for e in classes.elements] if isinstance(classes, cst.Tuple) else [classes]
        )
        return any(self.dotted_names(option) & RESULT_CLASSES for option in options)
