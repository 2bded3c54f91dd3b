"""One `celerymod fix` run reaches the fixpoint across files (CEL002's fixes edit the called
task's module too): a wait whose fix was found but not applied in the first pass (two equal
waits in one task, one import line they both edit; or a wait a CEL001 fix moved into its
callback) is still fixed by the same run, when the edit it sends to the other file is one the
run sends anyway. Through the real command, as users run it."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import celerymod

TASKS = """\
from celery import shared_task


@shared_task
def t1(*args):
    return 1


@shared_task(max_retries=3)
def t2(*args):
    return 2
"""

TWO_EQUAL_WAITS = """\
from celery import shared_task

from tasks import t1, t2


@shared_task
def job0(items):
    v1 = [t2.delay(i).get() for i in items]
    v2 = [t1.delay(i).get() for i in items]
    v3 = [t2.delay(i).get() for i in items]
    return v1, v2, v3
"""

MOVED_INTO_CALLBACK = """\
from celery import shared_task

from tasks import t1, t2


@shared_task(bind=True)
def job0(self, items):
    v1 = t1.apply_async(args=[items]).get()
    v2 = t1.s(items).delay().get()
    v3 = []
    for i in items:
        v3.append(t2.delay(i).get())
    v4 = [t2.delay(i).get() for i in items]
    return items
"""


def _tree(folder: Path, caller: str) -> None:
    (folder / "tasks.py").write_text(TASKS, "utf-8")
    (folder / "caller.py").write_text(caller, "utf-8")


def _fixed_once(folder: Path) -> str:
    fixed = celerymod("fix", "--write", "--unsafe-fixes", ".", cwd=folder)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    for name in ("tasks.py", "caller.py"):
        path = folder / name
        compile(path.read_text("utf-8"), str(path), "exec", dont_inherit=True)
    checked = celerymod("check", "--unsafe-fixes", ".", cwd=folder)
    assert "[*]" not in checked.stdout, (folder / "caller.py").read_text("utf-8") + checked.stdout
    return (folder / "caller.py").read_text("utf-8")


def test_two_equal_waits_on_one_task_are_both_fixed_by_one_run(tmp_path: Path) -> None:
    _tree(tmp_path, TWO_EQUAL_WAITS)
    caller = _fixed_once(tmp_path)
    assert ".get()" not in caller
    assert caller.count("t2_impl(i)") == 2
    assert "def t2_impl(*args):" in (tmp_path / "tasks.py").read_text("utf-8")


def test_two_equal_waits_dry_run_shows_every_change(tmp_path: Path) -> None:
    _tree(tmp_path, TWO_EQUAL_WAITS)
    shown = celerymod("fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "+    v3 = [t2_impl(i) for i in items]" in shown.stdout
    assert (tmp_path / "caller.py").read_text("utf-8") == TWO_EQUAL_WAITS  # Nothing written.
    # The fix edits the task's module too: both files count (it said "in 1 file").
    assert "in 2 files; run with --write to apply." in shown.stderr, shown.stderr


def test_waits_a_cel001_fix_moves_into_its_callback_are_fixed_by_one_run(tmp_path: Path) -> None:
    _tree(tmp_path, MOVED_INTO_CALLBACK)
    caller = _fixed_once(tmp_path)
    assert "t2.delay" not in caller
    assert caller.count("t2_impl(i)") == 2


def test_a_later_fix_whose_other_file_edit_is_not_sent_is_left_and_said(tmp_path: Path) -> None:
    """Where nobody processes the other file again (`sends_foreign` unset: not the runner),
    a fix the fixpoint finds that edits another file is left, and the problem says so."""
    from celerymod import discovery, engine, registry, runner
    from celerymod.model import RunConfig
    from celerymod.transforms.base import ModuleContext

    _tree(tmp_path, TWO_EQUAL_WAITS)
    config = RunConfig(unsafe_fixes=True)
    files, errors = discovery.discover([str(tmp_path)], config.exclude)
    assert not errors
    index = runner.build_index(files, config)
    caller = next(file for file in files if file.path.endswith("caller.py"))
    context = ModuleContext(caller.path, caller.module_name, config, index)
    rules = [rule for rule in registry.RULES if config.selects(rule.code)]
    text = TWO_EQUAL_WAITS
    same, applied, problem = engine._fixpoint(text, context, rules, config)
    assert (same, applied) == (text, ())
    assert problem == (
        "3 fixes that also edit another file, found in the fixed code, are left for the next "
        "run (this run does not send their edit there); run `celerymod fix` again"
    )


def test_chosen_fixes_of_two_equal_waits_are_both_applied(tmp_path: Path) -> None:
    """The keys `fix -i` sends when both equal waits are accepted: the second one's ordinal
    shifts down once the first (which edits the same import line) is applied; it is still
    found by the key it had in the code the user reviewed."""
    from celerymod import discovery, engine, runner
    from celerymod.model import RunConfig

    _tree(tmp_path, TWO_EQUAL_WAITS)
    config = RunConfig(unsafe_fixes=True)
    files, errors = discovery.discover([str(tmp_path)], config.exclude)
    assert not errors
    index = runner.build_index(files, config)
    caller = next(file for file in files if file.path.endswith("caller.py"))
    source = TWO_EQUAL_WAITS.encode()

    def fixed(keys: list[str]) -> str:
        result = engine.process(
            source, caller.path, config, index=index, module_name=caller.module_name, keys=keys
        )
        assert not result.errors and {fix.key for fix in result.applied} == set(keys)
        return (result.new_source or b"").decode()

    found = engine.process(source, caller.path, config, index=index, module_name=caller.module_name)
    first, _, second = [f.fix.key for f in found.findings if f.fix is not None]
    assert fixed([first, second]).count("t2_impl(i)") == 2
    only_second = fixed([second])
    assert "v1 = [t2.delay(i).get() for i in items]" in only_second
    assert "v3 = [t2_impl(i) for i in items]" in only_second


FREED_FROM_WORKAROUND = """\
from celery import group, shared_task
from celery.result import allow_join_result

from tasks import t1, t2


@shared_task
def job0(items):
    with allow_join_result():
        values = group(t1.s(i) for i in items).apply_async().get()
        total = t2.delay(sum(values)).get()
    return total
"""


def test_a_fix_found_in_fixed_code_that_edits_another_file_is_applied_by_one_run(
    tmp_path: Path,
) -> None:
    """The CEL001 rewrite removes the workaround and moves `t2.delay(...).get()` into the
    callback, where CEL002 now takes it: an edit of tasks.py no first-round fix sent. The
    runner processes tasks.py again with it, so one run reaches the end (it said "left for
    the next run" and exited 2)."""
    _tree(tmp_path, FREED_FROM_WORKAROUND)
    shown = celerymod("fix", "--unsafe-fixes", "--strategy", "replace", ".", cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "left for the next run" not in shown.stderr
    written = celerymod(
        "fix", "--write", "--unsafe-fixes", "--strategy", "replace", ".", cwd=tmp_path
    )
    assert written.returncode == 0, written.stdout + written.stderr
    caller = (tmp_path / "caller.py").read_text("utf-8")
    assert "total = t2_impl(sum(values))" in caller, caller
    assert "def t2_impl(" in (tmp_path / "tasks.py").read_text("utf-8")
    checked = celerymod("check", "--unsafe-fixes", "--strategy", "replace", ".", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
