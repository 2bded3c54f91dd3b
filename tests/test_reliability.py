"""Issue 12, through the real command on real files: no false finding that ends in an internal
error, no fix that writes code Python refuses, one `fix` reaches the fixpoint, and reasons
that name what the code does."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import SLEEP_FIXTURES, celerymod


def _copy(name: str, folder: Path) -> Path:
    target = folder / f"{name}.py"
    target.write_bytes((SLEEP_FIXTURES / f"{name}.input.py").read_bytes())
    return target


def test_sleep_in_a_coroutines_decorator_defaults_or_annotations_is_not_a_finding(
    tmp_path: Path,
) -> None:
    # Those run when the coroutine is defined, outside it; they used to be reported as
    # fixable, then refused as "internal error: 'await' outside function".
    target = _copy("definition_time_code_of_async_def_untouched", tmp_path)
    before = target.read_bytes()
    checked = celerymod("check", str(target))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "CEL003" not in checked.stdout
    fixed = celerymod("fix", "--write", str(target))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "internal error" not in fixed.stdout + fixed.stderr
    assert target.read_bytes() == before


def test_definition_time_code_inside_a_coroutine_is_fixed_and_compiles(tmp_path: Path) -> None:
    # A nested def's decorator and defaults, a lambda's defaults and a class's bases run in
    # the coroutine (fixed); their bodies and local annotations do not (left alone).
    target = _copy("definition_time_code_inside_coroutine", tmp_path)
    fixed = celerymod("fix", "--write", str(target))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "internal error" not in fixed.stdout + fixed.stderr
    new = target.read_text("utf-8")
    compile(new, str(target), "exec", dont_inherit=True)
    assert new.count("await asyncio.sleep(") == 4
    assert new.count("time.sleep(") == 4
    again = celerymod("check", str(target))
    assert again.returncode == 0, again.stdout
