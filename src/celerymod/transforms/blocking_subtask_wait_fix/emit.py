"""The source CEL001's fix emits: the orchestrating task, its dispatch, and the callback."""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst
from libcst.codemod.visitors import ImportItem

from celerymod.analysis.known import TASK_DECORATORS
from celerymod.analysis.module import CeleryModule
from celerymod.analysis.syntax import describe, reads_own_request
from celerymod.model import Safety, Strategy
from celerymod.transforms.base import Fix, Replacement, walk, with_keyword
from celerymod.transforms.blocking_subtask_wait_fix.common import (
    _BY_HAND,
    Refused,
    _Chain,
    _Chord,
    _fresh,
    _leading,
    _literalish,
    _only_small,
    _with_branch,
)
from celerymod.transforms.blocking_subtask_wait_fix.messages import _Messages
from celerymod.transforms.blocking_subtask_wait_fix.plans import _check_tail

_MOVES = "the code after the `if` moves into the callback for this branch"
_LEAVES = "the code after the `if`, which no branch reaches any more, leaves the task"


class _Emit(_Messages):
    """The new source: the orchestrator, its dispatch and the `<task>_finish` callback."""

    # -- output --

    def _emit(self, plan: _Chain | _Chord) -> Fix:
        function = self.function
        prefix = [
            self._relead(s) for i, s in enumerate(self.flat[: self.first]) if i not in self.drop
        ] + [self._relead(self.flat[i]) for i in self.lifted]
        after = self._after()
        value = plan.value_name
        tail = [self._substituted(self._relead(s), value or "") for s in after]
        carried = self.carried
        if carried is not None:
            lines = _leading(self._relead(carried.original))
            tail.insert(0, carried.statement.with_changes(leading_lines=lines))
        if plan.returns_value and tail:
            raise Refused("statements follow the `return` of the wait; " + _BY_HAND)
        _check_tail(tail)
        _check_own_request(tail, function.name.value)
        wanted, in_range = self._tail_names(after)
        intermediates: set[str] = getattr(self, "intermediates", set())
        params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
        bind = self.task.definition.bind
        self_name = params[0] if bind and params else None
        _check_tail_names(wanted, self_name, intermediates, in_range, value)
        extras = [n for n in wanted if n != value]
        if self.branch is not None:
            self._bound_on_branch(extras)
        uses_value = value is not None and (
            value in wanted or carried is not None or bool(self.reads)
        )

        # What happens to the tail.
        literal_return = False
        callback = True
        returns_value = plan.returns_value
        small = _only_small(tail[0]) if len(tail) == 1 else None
        if not tail:
            callback = False
        elif (
            isinstance(small, cst.Return)
            and isinstance(small.value, cst.Name)
            and value is not None
            and small.value.value == value
        ):
            callback, returns_value = False, True
        elif (
            self.strategy is Strategy.METADATA
            and isinstance(small, cst.Return)
            and small.value is not None
            and _literalish(small.value)
        ):
            callback, literal_return = False, True

        taken = self._taken_names()
        module_names = self._module_names()
        safety = Safety.SAFE if self.strategy is Strategy.REPLACE else Safety.REVIEW
        notes: list[str] = []
        review: list[str] = []  # The notes that make a `replace` fix review.
        new_function_name = None
        callback_sig = None
        if callback and getattr(self, "continued", False):
            notes.append(_MOVES + " and stays in place for the others")
        if callback:
            new_function_name = _fresh(f"{function.name.value}_finish", module_names)
            while self._registered_elsewhere(new_function_name):
                new_function_name = _fresh(f"{function.name.value}_finish", module_names)
            method = "s" if uses_value else "si"
            callback_sig = f"{new_function_name}.{method}({', '.join(extras)})"
            verdicts = {n: self._serialisable(n, params) for n in extras}
            for n, verdict in verdicts.items():
                if isinstance(verdict, str):
                    raise Refused(
                        f"`{n}` is {verdict}, which cannot travel to the callback through "
                        "Celery's JSON serializer (`EncodeError` when the canvas is sent): "
                        f"pass what the callback needs instead (an id, a list); " + _BY_HAND
                    )
            unsure = [n for n, verdict in verdicts.items() if verdict is not True]
            if unsure:
                names = ", ".join(f"`{n}`" for n in unsure)
                one_name = len(unsure) == 1
                notes.append(
                    f"{names} now travel{'s' if one_name else ''} to the callback through the "
                    f"serializer: check {'it survives' if one_name else 'they survive'} JSON "
                    "unchanged (a set fails, a tuple comes back a list)"
                )
                review.append(notes[-1])
                safety = Safety.REVIEW
        elif not returns_value and not literal_return and self.strategy is Strategy.REPLACE:
            notes.append("the task now returns the subtasks' result where it returned None")
            review.append(notes[-1])
            safety = Safety.REVIEW
        applied = self._applied_note(params)
        if applied is not None:
            notes.append(applied)
            safety = Safety.REVIEW

        # The orchestrator's own request: add `bind=True` and `self` where missing.
        new_decorator = self.task.decorator
        assert new_decorator is not None
        new_params = function.params
        if not bind:
            if not _celery_decorator(self.celery, new_decorator):
                raise Refused(
                    f"the task needs `bind=True` for its own request, and celerymod cannot "
                    f"tell whether `{describe(new_decorator.decorator)}` accepts it; " + _BY_HAND
                )
            if function.params.posonly_params:
                raise Refused("the task has positional-only parameters; " + _BY_HAND)
            if "self" in taken:
                raise Refused("the task needs `self` for its request, a name it uses; " + _BY_HAND)
            self_name = "self"
            new_decorator = _with_bind(new_decorator)
            new_params = function.params.with_changes(
                params=[cst.Param(cst.Name("self")), *function.params.params]
            )
            notes.append("adds `bind=True` and `self` to the task")
        assert self_name is not None

        statements = self._dispatch(plan, callback_sig, taken, self_name, literal_return)
        generated = [cst.parse_statement(s) for s in statements]
        # Comments above the replaced statements stay, above the dispatch.
        comments: list[cst.EmptyLine] = []
        for index, statement in enumerate(self.flat[self.first : self.last + 1], self.first):
            if carried is not None and statement is carried.original or index in self.lifted:
                continue  # Its comments move with it.
            comments += [line for line in _leading(self._relead(statement)) if line.comment]
            trailing = getattr(statement, "trailing_whitespace", None)
            if isinstance(trailing, cst.TrailingWhitespace) and trailing.comment is not None:
                comments.append(cst.EmptyLine(comment=trailing.comment))
        first_lines = list(_leading(self._relead(self.flat[self.first])))
        blank = [first_lines[0]] if first_lines and first_lines[0].comment is None else []
        generated[0] = generated[0].with_changes(leading_lines=[*blank, *comments])
        if self.branch is None:
            new_body = function.body.with_changes(body=[*prefix, *generated])
        else:
            # The branch ends with the dispatch; the other branches and the code after the
            # `if` stay as they were, unless no branch reaches that code any more.
            block = self.branch.block
            new_block = block.with_changes(body=[*prefix, *generated])
            new_body, cut = _with_branch(function.body, block, new_block)
            if cut:  # The last branch to fall through to it: it leaves the task.
                notes[:] = [n for n in notes if not n.startswith(_MOVES)] + [_LEAVES]
        decorators = [new_decorator if d is self.task.decorator else d for d in function.decorators]
        new_function = function.with_changes(
            body=new_body, params=new_params, decorators=decorators
        )
        replacements: list[tuple[cst.CSTNode, Replacement]] = [(function, new_function)]
        if callback:
            assert new_function_name is not None
            callback_params = (
                ([self_name] if bind else []) + ([value] if uses_value and value else []) + extras
            )
            new_callback = self._callback(new_function_name, callback_params, tail)
            # After the callbacks of the task's other branches: `_finish`, then `_finish_2`.
            last = _last_callback(self.celery, function)
            if last is None:
                replacements = [(function, cst.FlattenSentinel([new_function, new_callback]))]
            else:
                replacements.append((last, cst.FlattenSentinel([last, new_callback])))
        if self.timeouts:
            # A chord or chain has no deadline of its own; `time_limit` is per subtask.
            self.review_notes.append(
                f"drops the {_possessive(len(self.shape.waits))} "
                f"{', '.join(self.timeouts)}: nothing fails the task any more when the "
                "subtasks take longer (give them a `time_limit` if that mattered)"
            )
        self._failure_notes(plan, callback)
        notes += self.extra_notes + self.review_notes
        if self.review_notes:
            safety = Safety.REVIEW
        # What a step before this one in a chain of chords names as its own reason for
        # review (`later.merged`).
        self.review_reasons: list[str] = review + self.review_notes
        self.callback_name: str | None = new_function_name
        message = self._message(plan, callback_sig, literal_return, notes)
        remove: tuple[ImportItem, ...] = ()
        if self.removed_workaround:
            remove = (ImportItem("celery.result", "allow_join_result"),)
        remove += tuple(self.poll_imports)
        return Fix(
            message=message,
            safety=safety,
            replacements=tuple(replacements),
            add_imports=self._import_items(),
            remove_imports=remove,
        )

    def _dispatch(
        self,
        plan: _Chain | _Chord,
        callback_sig: str | None,
        taken: set[str],
        self_name: str,
        literal_return: bool,
    ) -> list[str]:
        one = self._indent()
        out: list[str] = []
        header = None
        if isinstance(plan, _Chord):
            header = _fresh("header", taken)
            out.append(f"{header} = {plan.header}")
        links = []
        if isinstance(plan, _Chain):
            links = [*plan.steps, *([callback_sig] if callback_sig else [])]
            if len(links) == 1:
                self.imports.discard("chain")
        if self.strategy is Strategy.REPLACE:
            if len(links) == 1:
                out.append(f"return {self_name}.replace({links[0]})")
            elif isinstance(plan, _Chain):
                line = f"return {self_name}.replace({self._spell('chain')}({', '.join(links)}))"
                if len(one) + len(line) <= 88:
                    out.append(line)
                else:
                    workflow = _fresh("workflow", taken)
                    out.append(_call(f"{workflow} = {self._spell('chain')}(", links, ")", one))
                    out.append(f"return {self_name}.replace({workflow})")
            elif callback_sig:
                self.imports.add("chord")
                chord = self._spell("chord")
                out.append(f"return {self_name}.replace({chord}({header}, {callback_sig}))")
            else:
                out.append(f"return {self_name}.replace({header})")
            return [line + "\n" for line in out]
        result = _fresh("result", taken)
        if len(links) == 1:
            out.append(f"{result} = {links[0]}.apply_async()")
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"result_id": {result}.id',
                '"total": 1',
            ]
        elif isinstance(plan, _Chain):
            chain = self._spell("chain")
            out.append(_call(f"{result} = {chain}(", links, ").apply_async()", one))
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"chain_id": {result}.id',
                f'"result_id": {result}.id',
                f'"total": {len(links)}',  # the links of the chain, callback included
            ]
        elif callback_sig:
            self.imports.add("chord")
            out.append(f"{result} = {self._spell('chord')}({header})({callback_sig})")
            # An eager chord (`task_always_eager`) runs its header in place and keeps no
            # group: `parent` is None there, and `group_id` too.
            group_result = _fresh("group_result", taken)
            out.append(f"{group_result} = {result}.parent  # None under task_always_eager")
            out.append(f"if {group_result} is not None:\n{one}{group_result}.save()")
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"group_id": getattr({group_result}, "id", None)',
                f'"result_id": {result}.id',
                f'"total": len({header}.tasks)',
            ]
        else:
            out.append(f"{result} = {header}.apply_async()")
            out.append(f"{result}.save()")
            fields = [
                '"status": "in_progress"',
                f'"job_id": {self_name}.request.id',
                f'"group_id": {result}.id',
                f'"total": len({result}.results)',
            ]
        out.append(_call("return {", fields, "}", one, force=True))
        return [line + "\n" for line in out]

    def _callback(
        self, name: str, params: list[str], tail: Sequence[cst.BaseStatement]
    ) -> cst.FunctionDef:
        decorator = self.task.decorator
        assert decorator is not None
        decorator = self._callback_decorator(decorator, name)
        decorators = [decorator, *self._stacked_decorators(name)]
        stub = cst.parse_statement(f"def {name}({', '.join(params)}):\n    pass\n")
        assert isinstance(stub, cst.FunctionDef)
        body = self.function.body
        assert isinstance(body, cst.IndentedBlock)
        return stub.with_changes(
            decorators=decorators,
            body=body.with_changes(
                body=_with_globals(self.function, _comments_kept(tail)), footer=body.footer
            ),
            leading_lines=[cst.EmptyLine(), cst.EmptyLine()],
        )


def _comments_kept(tail: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """The tail, as a callback's body: the blank lines above its first statement dropped,
    the comments there kept."""
    moved = list(tail)
    lines = list(_leading(moved[0]))
    while lines and lines[0].comment is None:
        lines.pop(0)
    moved[0] = moved[0].with_changes(leading_lines=lines)
    return moved


def _with_globals(
    function: cst.FunctionDef, moved: list[cst.BaseStatement]
) -> list[cst.BaseStatement]:
    """The moved code, first declaring `global` the names the task declares global (in a
    statement that stays in the task) and the moved code mentions: without it, an
    assignment in the callback binds a local of its own and the module never sees it."""
    names: list[str] = []
    for node in walk(function.body):
        if isinstance(node, cst.Global) and not any(node in walk(s) for s in moved):
            names += [item.name.value for item in node.names if item.name.value not in names]
    used = {n.value for s in moved for n in walk(s) if isinstance(n, cst.Name)}
    declared = [name for name in names if name in used]
    if not declared:
        return moved
    return [cst.parse_statement(f"global {', '.join(declared)}\n"), *moved]


def _check_tail_names(
    wanted: Sequence[str],
    self_name: str | None,
    intermediates: set[str],
    in_range: set[str],
    value: str | None,
) -> None:
    """Refuse a tail that reads what a callback cannot receive: the task's own request, an
    earlier step's result (a chain hands on only the last), or the dispatched work itself."""
    for name in wanted:
        if name == self_name:
            raise Refused(
                f"the code after the wait reads `{name}`, the task's own request; a "
                "callback runs as another task: " + _BY_HAND
            )
        if name in intermediates:
            raise Refused(
                f"the code after the waits uses `{name}`, the result of an earlier step, "
                "and a chain hands only the last result on; " + _BY_HAND
            )
        if name in in_range and name != value:
            raise Refused(
                f"the code after the wait uses `{name}`, the dispatched work itself; " + _BY_HAND
            )


def _check_own_request(tail: Sequence[cst.BaseStatement], task_name: str) -> None:
    """Refuse a tail that reads the running task without `self` (`current_task`,
    `<task>.request`): in a callback that is the callback's request."""
    if reads_own_request(tail, task_name):
        raise Refused(
            f"the code after the wait reads the running task (`current_task` or "
            f"`{task_name}.request`), which in a callback is the callback's; " + _BY_HAND
        )


def _last_callback(celery: CeleryModule, function: cst.FunctionDef) -> cst.FunctionDef | None:
    """The last of the tasks named `<task>_finish` or `<task>_finish_<n>` that follow the
    task `function` in the module, one after the other (the callbacks of other branches)."""
    body = list(celery.module.body)
    index = next(i for i, s in enumerate(body) if s is function)
    pattern = re.compile(rf"{re.escape(function.name.value)}_finish(_\d+)?")
    tasks = {id(task.function) for task in celery.tasks}
    last = None
    for statement in body[index + 1 :]:
        if not (
            isinstance(statement, cst.FunctionDef)
            and id(statement) in tasks
            and pattern.fullmatch(statement.name.value)
        ):
            break
        last = statement
    return last


def _celery_decorator(celery: CeleryModule, decorator: cst.Decorator | None) -> bool:
    """True for Celery's own task decorators (`shared_task`, `<app>.task`), which take
    `bind=True`; a configured custom decorator may not."""
    if decorator is None:
        return False
    target = decorator.decorator
    base = target.func if isinstance(target, cst.Call) else target
    if celery.dotted_names(base) & TASK_DECORATORS:
        return True
    return (
        isinstance(base, cst.Attribute) and base.attr.value == "task" and celery.is_app(base.value)
    )


def _with_bind(decorator: cst.Decorator) -> cst.Decorator:
    target = decorator.decorator
    if not isinstance(target, cst.Call):
        target = cst.Call(func=target)
    kept = [a for a in target.args if not (a.keyword and a.keyword.value == "bind")]
    return decorator.with_changes(decorator=with_keyword(target, "bind", cst.Name("True"), kept))


def _call(opening: str, items: Sequence[str], closing: str, one: str, force: bool = False) -> str:
    """`opening item, item closing` on one line when short, else one item per line."""
    flat = f"{opening}{', '.join(items)}{closing}"
    if not force and len(one) + len(flat) <= 88 and "\n" not in flat:
        return flat
    # Continuation lines are relative: libcst adds the block's indentation to them.
    inner = "".join(f"{one}{item},\n" for item in items)
    return f"{opening}\n{inner}{closing}"


def _possessive(waits: int) -> str:
    return "wait's" if waits == 1 else "waits'"
