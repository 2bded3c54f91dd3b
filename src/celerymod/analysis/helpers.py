"""Which plain functions of a module a task reaches (its helpers, whose waits count as the
task's), and which helper parameters a task passes a result.
"""

from __future__ import annotations

import ast
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from celerymod.analysis.index import IndexEntry, ProjectIndex, TaskDefinition, function_calls
from celerymod.analysis.records import ResultOrigin, Task
from celerymod.analysis.syntax import _walk_body
from celerymod.analysis.tasks import AppsAndTasks


class TaskHelpers(AppsAndTasks):
    """The plain functions the module's tasks reach, and the parameters passed a result."""

    if TYPE_CHECKING:  # Defined by `ResultOrigins` (origins.py), the layer above this one.

        def result_origin(
            self, node: cst.BaseExpression, task: Task, depth: int = 0
        ) -> ResultOrigin | None: ...

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

    @cached_property
    def outside_tasks(self) -> tuple[Task, ...]:
        """The functions of this module whose code runs outside any task (views, handlers,
        commands), each as a stand-in `Task` of kind "outside", for `waits` and `polls`:
        every `def` that is not a task's body, not a helper a task reaches (`helpers`), and
        not defined inside one of those or inside a task class (its hooks run in the
        worker)."""
        inside = {self._qualnames[id(t.class_node or t.function)] for t in self.tasks}
        inside |= {self._qualnames[id(helper.function)] for helper, _ in self.helpers}
        found: list[Task] = []
        for node, qualname in self._definitions:
            if not isinstance(node, cst.FunctionDef):
                continue
            parts = qualname.split(".")
            if any(".".join(parts[:n]) in inside for n in range(1, len(parts) + 1)):
                continue
            found.append(self._stand_in(node, qualname, "outside"))
        return tuple(found)

    @cached_property
    def every_function(self) -> tuple[Task, ...]:
        """Every `def` of the module, nested ones included, in source order: the task
        itself for a task's body, else a stand-in `Task` of kind "plain" (for questions that
        do not depend on where the code runs, such as what a call dispatches)."""
        tasks = {id(task.function): task for task in self.tasks}
        return tuple(
            tasks.get(id(node)) or self._stand_in(node, qualname, "plain")
            for node, qualname in self._definitions
            if isinstance(node, cst.FunctionDef)
        )

    def _stand_in(self, node: cst.FunctionDef, qualname: str, kind: str) -> Task:
        module_name = self.module_name or "__main__"
        where = self._position(node)
        definition = TaskDefinition(
            name=node.name.value,
            module=self.module_name,
            qualified_name=f"{module_name}.{qualname}",
            registered_name=f"{module_name}.{qualname}",
            bind=False,
            options=(),
            decorator="",
            kind=kind,
            path=self.path,
            line=where.start.line if where else 0,
            column=where.start.column + 1 if where else 0,
        )
        return Task(definition, node)

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
            calls=function_calls(tree, module_name, self.module_aliases, self.path),
        )
        others = self.index.entries if self.index is not None else ()
        return ProjectIndex.from_entries([*others, local])
