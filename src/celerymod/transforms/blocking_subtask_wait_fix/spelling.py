"""How CEL001's rewrite spells a name in the module (importing it if needed), and the names
the module already has. `_Spelling` holds the rewrite's state (the bottom layer).
"""

from __future__ import annotations

import re

import libcst as cst
from libcst.codemod.visitors import ImportItem
from libcst.metadata import Assignment, ScopeProvider

from celerymod.analysis.module import CeleryModule
from celerymod.analysis.records import Task
from celerymod.analysis.shapes import Shape
from celerymod.analysis.syntax import describe
from celerymod.model import Strategy
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    Branch,
    Refused,
    _Carried,
    _fresh,
)


class _Spelling:
    """The state of one rewrite, and how it spells names in the module (the bottom layer)."""

    # The range of flat statements the chord or chain replaces (set by `_Plans._set_range`).
    first: int
    last: int

    def __init__(
        self,
        celery: CeleryModule,
        task: Task,
        shape: Shape,
        strategy: Strategy,
        branch: Branch | None = None,
    ) -> None:
        self.celery = celery
        self.branch = branch  # the `if` branch the waits sit in; None: the task body
        self.task = task
        self.shape = shape
        self.strategy = strategy
        self.function = task.function
        self.imports: set[str] = set()  # canvas names the rewrite uses (`chain`, ...)
        self.spelled: dict[str, tuple[str, ImportItem | None]] = {}  # name -> (text, import)
        self.drop: set[int] = set()  # prefix statements the rewrite removes (`out = []`)
        self.extra_notes: list[str] = []  # notes found while building the callback
        self.review_notes: list[str] = []  # notes of changes that make the fix `review`
        self.timeouts: list[str] = []  # the waits' timeouts, which a chord or chain drops
        self.carried: _Carried | None = None  # the last wait's statement, moved to the callback
        self.gone_names: set[str] = set()  # names only the replaced statements bound

    # -- the task's scope (the tail's names and the spelling of new ones) --

    def _function_scope(self) -> object:
        body = self.function.body
        assert isinstance(body, cst.IndentedBlock)
        return self.celery._meta(ScopeProvider, body.body[0], None)

    # -- names --

    def _spell(self, name: str) -> str:
        """How the rewritten orchestrator spells Celery's canvas `name` (`chain`, `chord`,
        `group`) without clashing with a binding of `name` in the module or the task.

        A name the module imports from Celery, not rebound in the task, is used as it is;
        a name nothing binds gets `from celery import <name>`; otherwise `celery.<name>`
        when the module has `import celery`, else `from celery import <name> as
        celery_<name>` (an `itertools.chain` or a parameter named `group` stays intact)."""
        if name not in self.spelled:
            self.spelled[name] = self._spelling(name)
        return self.spelled[name][0]

    def _spelling(self, name: str) -> tuple[str, ImportItem | None]:
        module_scope = self.celery._meta(ScopeProvider, self.function, None)
        local = self._function_scope()
        if module_scope is None or local is None:
            raise Refused("celerymod has no scope information for the module; " + _BY_HAND)
        canvas = {f"celery.{name}", f"celery.canvas.{name}"}
        local_names = local.assignments
        star = self.celery.imports_star

        def only_celery(binding: str, qualified: set[str]) -> bool:
            found = list(module_scope.assignments[binding])
            return bool(found) and all(
                {q.name for q in a.get_qualified_names_for(a.name)} <= qualified for a in found
            )

        if name not in local_names:
            if only_celery(name, canvas):
                return name, None
            if name not in module_scope.assignments and not star:
                return name, ImportItem("celery", name)
        if "celery" not in local_names and only_celery("celery", {"celery"}):
            return f"celery.{name}", None
        alias = _fresh(f"celery_{name}", self._module_names())
        return alias, ImportItem("celery", name, alias=alias)

    def _import_items(self) -> tuple[ImportItem, ...]:
        items = (
            self.spelled.get(name, (name, ImportItem("celery", name)))[1] for name in self.imports
        )
        return tuple(sorted({item for item in items if item is not None}, key=str))

    def _callback_registered(self, name: str) -> str:
        """The name Celery registers the callback `name` under: the task's literal
        `name="x"` with the callback's suffix, else Celery's default `<module>.<name>`."""
        target = self.task.decorator.decorator if self.task.decorator else None
        given = None
        if isinstance(target, cst.Call):
            given = next(
                (a.value for a in target.args if a.keyword and a.keyword.value == "name"), None
            )
        if isinstance(given, cst.SimpleString):
            suffix = name[len(self.function.name.value) :]
            return f"{self.task.definition.registered_name}{suffix}"
        return f"{self.celery._module_prefix}.{name}"

    def _registered_elsewhere(self, name: str) -> bool:
        """Whether a task of this module or of the scanned project already registers under
        the callback `name`'s registered name: two tasks under one name, and the chain would
        run whichever the worker imported last."""
        registered = self._callback_registered(name)
        if any(t.definition.registered_name == registered for t in self.celery.tasks):
            return True
        index = self.celery.index
        return index is not None and index.task_by_registered_name(registered) is not None

    def _callback_decorator(self, decorator: cst.Decorator, name: str) -> cst.Decorator:
        """The orchestrator's decorator for the callback `name`, which must register under
        a name of its own: were both registered under one name, the chord would call the
        orchestrator again as its callback, forever.

        A literal `name="x"` becomes `name="x_finish"`. Any other `name=` is not copied, so
        the callback gets Celery's default `<module>.<name>`, which ends with `name`: the
        fix is offered only when the orchestrator's name provably does not."""
        target = decorator.decorator
        if not isinstance(target, cst.Call):
            return decorator
        if any(arg.star == "**" for arg in target.args):
            raise Refused(
                f"the task decorator passes `**` options, which may hold the `name=` the "
                f"callback `{name}` would share with the task; " + _BY_HAND
            )
        given = next(
            (a.value for a in target.args if a.keyword and a.keyword.value == "name"), None
        )
        if given is None or isinstance(given, cst.SimpleString):
            return _renamed(decorator, name[len(self.function.name.value) :])
        ending = self._string_ending(given, depth=0)
        if ending is None or ending.endswith(name) or name.endswith(ending):
            raise Refused(
                f"the task is registered as `name={describe(given)}`, which celerymod cannot "
                f"tell apart from the default name of the callback `{name}` (the chord would "
                "call the task again, forever); " + _BY_HAND
            )
        self.extra_notes.append(
            f"the callback `{name}` is registered under Celery's default name, not under a "
            f"copy of `name={describe(given)}`"
        )
        args = [a for a in target.args if not (a.keyword and a.keyword.value == "name")]
        if not args:
            return decorator.with_changes(decorator=target.func)
        if target.args[-1].comma == cst.MaybeSentinel.DEFAULT:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return decorator.with_changes(decorator=target.with_changes(args=args))

    def _string_ending(self, node: cst.BaseExpression, depth: int) -> str | None:
        """The text a string expression's value provably ends with ("" when it may end with
        anything), or None when it is not a string celerymod can follow."""
        if depth > 5:
            return None
        if isinstance(node, cst.SimpleString):
            value = node.evaluated_value
            return value if isinstance(value, str) else None
        if isinstance(node, cst.ConcatenatedString):
            return self._string_ending(node.right, depth + 1)
        if isinstance(node, cst.FormattedString):
            last = node.parts[-1] if node.parts else None
            if isinstance(last, cst.FormattedStringText):
                return last.value.replace("{{", "{").replace("}}", "}")
            return ""
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            return self._string_ending(node.right, depth + 1)
        if isinstance(node, cst.Name):
            bound = self._module_constant(node.value)
            return None if bound is None else self._string_ending(bound, depth + 1)
        return None

    def _module_constant(self, name: str) -> cst.BaseExpression | None:
        """The value of `name = <value>`, the module's only binding of `name`."""
        scope = self.celery._meta(ScopeProvider, self.function, None)
        if scope is None or name not in scope.assignments:
            return None
        (binding, *others) = scope.assignments[name]
        if others or not isinstance(binding, Assignment):
            return None
        target = self.celery.parent(binding.node)
        statement = self.celery.parent(target) if target is not None else None
        if (
            isinstance(target, cst.AssignTarget)
            and isinstance(statement, cst.Assign)
            and len(statement.targets) == 1
            and target.target is binding.node
        ):
            return statement.value
        return None

    def _module_names(self) -> set[str]:
        return set(self.celery.spelled_names)  # A copy: `_fresh` adds to it.


def _renamed(decorator: cst.Decorator, suffix: str) -> cst.Decorator:
    """The decorator for the callback: a registered `name="x"` becomes `name="x_finish"`."""
    target = decorator.decorator
    if not isinstance(target, cst.Call):
        return decorator
    args = []
    for arg in target.args:
        if (
            arg.keyword is not None
            and arg.keyword.value == "name"
            and isinstance(arg.value, cst.SimpleString)
        ):
            text = arg.value.value
            quote = re.match(r"[a-zA-Z]*('''|\"\"\"|'|\")", text)
            if quote:
                q = quote.group(1)
                inner = text[quote.end() : len(text) - len(q)]
                arg = arg.with_changes(
                    value=cst.SimpleString(f"{text[: quote.end()]}{inner}{suffix}{q}")
                )
        args.append(arg)
    return decorator.with_changes(decorator=target.with_changes(args=args))
