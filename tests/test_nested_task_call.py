"""CEL002 nested-task-call: folder fixture cases through the real pipeline, byte for byte.

Each case is a small project (contract: `fixture_cases.py`, "Folder cases"): it is copied to
a temporary folder, discovered, indexed, processed and written exactly as `celerymod fix
--write` does, then every file is compared with `expected/` (or, absent there, with
`input/`). The result must be a fixpoint, and the dry run (`celerymod fix`) must show the
change of every file the case changes.

Set CELERYMOD_UPDATE_FIXTURES=1 to (re)write `expected/` and `findings.txt`, then read every
changed file before committing it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest
from cli_helpers import cache_env, celerymod
from fixture_cases import FolderCase, folder_cases, render_folder_findings

from celerymod import discovery, runner, writes
from celerymod.model import FileResult

UPDATE = os.environ.get("CELERYMOD_UPDATE_FIXTURES") == "1"
RULE = "nested-task-call"
CASES = [case for case in folder_cases() if case.rule == RULE]


def _pipeline(root: Path, case: FolderCase, write: bool) -> list[FileResult]:
    config = case.config()
    previous = os.getcwd()
    os.chdir(root)
    try:
        files, errors = discovery.discover(["."], config.exclude)
        assert not errors
        index = runner.build_index(files, config)
        results = runner.run(files, config, index)
        if write:
            outcome = writes.write_results(results, files)
            assert not outcome.errors, outcome.errors
    finally:
        os.chdir(previous)
    return results


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_folder_case(case: FolderCase, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(case.input, project)
    before = _tree(project)
    results = _pipeline(project, case, write=True)
    assert not [e for r in results for e in r.errors]
    rendered = render_folder_findings(results)
    after = _tree(project)

    if UPDATE:
        case.update(rendered, before, after)

    expected_findings = case.findings.read_text("utf-8") if case.findings.exists() else ""
    assert rendered == expected_findings
    assert sorted(after) == sorted(before), "files were added or removed"
    for name, data in after.items():
        expected = case.expected_file(name)
        want = expected.read_bytes() if expected.exists() else before[name]
        assert data == want, f"{name} differs from {expected if expected.exists() else 'input'}"
    changed = {name for name in after if after[name] != before[name]}
    fixable = any(f.fix is not None for r in results for f in r.findings)
    assert bool(changed) == fixable
    for name in case.expected_names():
        assert name in changed, f"expected/{name} is identical to its input: delete it"

    # A fixpoint: a second run finds nothing more to fix.
    again = _pipeline(project, case, write=False)
    assert not [e for r in again for e in r.errors]
    assert all(r.new_source is None for r in again), [r.diff for r in again if r.diff]
    assert not any(f.fix is not None for r in again for f in r.findings)


@pytest.mark.parametrize("case", [c for c in CASES if c.expected.exists()], ids=lambda c: c.name)
def test_dry_run_shows_every_changed_file(case: FolderCase, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(case.input, project)
    before = _tree(project)
    completed = celerymod("fix", "--select", "CEL002", ".", cwd=project)
    assert completed.returncode == 0, completed.stderr
    for name in case.expected_names():
        assert f"+++ b/{name}" in completed.stdout, completed.stdout
    assert _tree(project) == before  # The dry run writes nothing.


def test_two_file_change_is_one_question(tmp_path: Path) -> None:
    """`fix -i` shows the caller's and the callee's edits as one change, asked once; `y`
    writes both files."""
    case = next(c for c in CASES if c.name == "absolute_import")
    project = tmp_path / "project"
    shutil.copytree(case.input, project)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "celerymod", "fix", "-i", "--select", "CEL002", "."],
        cwd=str(project),
        env={"PATH": "/usr/bin:/bin", "TERM": "dumb", "NO_COLOR": "1", **cache_env()},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    prompt = r"Apply this change\? \[y,n,a,d,q,\?\] "
    child.expect(prompt)
    shown = child.before
    assert "+++ b/shop/batch.py" in shown and "+++ b/shop/scoring.py" in shown, shown
    child.sendline("y")
    index = child.expect([prompt, pexpect.EOF])
    assert index == 1, "a second question was asked for the same change"
    child.close()
    assert child.exitstatus == 0
    for name in case.expected_names():
        assert (project / name).read_bytes() == case.expected_file(name).read_bytes()


def _sites(case_name: str, module_path: str, extra: dict[str, bytes] | None = None):
    """Every wait of one module of a folder case, with the CeleryModule and the index."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper

    from celerymod.analysis import indexing as index_module
    from celerymod.analysis.index import ProjectIndex
    from celerymod.analysis.module import CeleryModule
    from celerymod.analysis.vocabulary import METADATA

    case = next(c for c in CASES if c.name == case_name)
    files, _ = discovery.discover([str(case.input)], ())
    entries = []
    for file in files:
        source = Path(file.absolute).read_bytes()
        entry = index_module.index_file(source, file.absolute, file.module_name)
        if entry is not None:
            entries.append(entry)
    index = ProjectIndex.from_entries(entries)
    target = case.input / module_path
    wrapper = MetadataWrapper(cst.parse_module(target.read_text("utf-8")))
    celery = CeleryModule(
        wrapper.module,
        wrapper.resolve_many(METADATA),
        path=str(target),
        module_name=discovery.module_name(target),
        index=index,
    )
    return celery, [site for task in celery.tasks for site in celery.waits(task)]


@pytest.mark.parametrize(
    ("case_name", "module_path", "reason"),
    [
        ("bind_uses_self", "shop/batch.py", "is a `bind=True` task whose body uses `self`"),
        ("import_styles", "shop/d.py", "built by a factory or assigned dynamically"),
    ],
)
def test_not_extractable_sites_are_left_to_cel001_with_a_reason(
    case_name: str, module_path: str, reason: str
) -> None:
    from celerymod.model import RunConfig
    from celerymod.transforms.nested_task_call_fix.sites import claims, unclaimed_reason

    celery, sites = _sites(case_name, module_path)
    assert len(sites) == 1
    assert not claims(sites[0], celery, RunConfig())
    assert reason in (unclaimed_reason(sites[0], celery, RunConfig()) or "")


def test_claims_only_when_cel002_is_selected() -> None:
    from celerymod.model import RunConfig
    from celerymod.transforms.nested_task_call_fix.sites import claims

    celery, sites = _sites("absolute_import", "shop/batch.py")
    assert claims(sites[0], celery, RunConfig())
    assert not claims(sites[0], celery, RunConfig(ignore=frozenset({"CEL002"})))
    assert not claims(sites[0], celery, RunConfig(select=frozenset({"CEL001"})))


def test_a_sequence_of_waits_stays_cel001s() -> None:
    from celerymod.model import RunConfig
    from celerymod.transforms.nested_task_call_fix.sites import claims, unclaimed_reason

    celery, sites = _sites("import_styles", "shop/e.py")
    assert len(sites) == 2
    assert not any(claims(site, celery, RunConfig()) for site in sites)
    assert all(unclaimed_reason(site, celery, RunConfig()) is None for site in sites)


def test_a_task_outside_the_scanned_paths_is_not_extracted(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "absolute_import")
    project = tmp_path / "project"
    shutil.copytree(case.input, project)
    (project / "shop" / "scoring.py").unlink()  # Now only imported, never scanned.
    results = _pipeline(project, case, write=False)
    assert not any(f for r in results for f in r.findings)


def test_two_file_change_refused_with_n_leaves_both_files(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "absolute_import")
    project = tmp_path / "project"
    shutil.copytree(case.input, project)
    before = _tree(project)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "celerymod", "fix", "-i", "--select", "CEL002", "."],
        cwd=str(project),
        env={"PATH": "/usr/bin:/bin", "TERM": "dumb", "NO_COLOR": "1", **cache_env()},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    child.expect(r"Apply this change\? \[y,n,a,d,q,\?\] ")
    child.sendline("n")
    assert child.expect([r"Apply this change", pexpect.EOF]) == 1
    child.close()
    assert child.exitstatus == 0
    assert _tree(project) == before


def test_code_between_the_dispatch_and_the_wait_makes_the_fix_review() -> None:
    """With code between `res = t.delay(x)` and `res.get()`, the helper runs (and fails)
    where the task was sent, before that code: on a failure the code between no longer
    runs (seen on the worker: its side effect was lost, under a fix labelled safe).
    Adjacent, they merge into one call and nothing moves."""
    from celerymod import engine
    from fixture_cases import cases

    case = next(c for c in cases() if c.name == "same_file_dispatch_then_wait_merged")
    result = engine.process(case.input.read_bytes(), case.input.name, case.config())
    fixes = {
        f.message.rsplit("inside task `", 1)[1].rstrip("`"): f.fix
        for f in result.findings
        if f.fix is not None
    }
    assert fixes["total"].safety.value == "safe"
    assert fixes["total3"].safety.value == "safe"
    assert fixes["total2"].safety.value == "review"
    assert "now runs where the task was sent (line 22)" in fixes["total2"].message
