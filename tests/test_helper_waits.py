"""CEL001 on folder cases: waits in helpers that tasks call, followed through the project
index across modules, reported at the wait with the calls that lead to it (issue 9)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fixture_cases import FolderCase, folder_cases, render_folder_findings

from celerymod import discovery, runner

UPDATE = os.environ.get("CELERYMOD_UPDATE_FIXTURES") == "1"
CASES = [case for case in folder_cases() if case.rule == "blocking-subtask-wait"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_folder_case_findings(case: FolderCase, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(case.input, project)
    previous = os.getcwd()
    os.chdir(project)
    try:
        config = case.config()
        files, errors = discovery.discover(["."], config.exclude)
        assert not errors
        results = runner.run(files, config, runner.build_index(files, config))
    finally:
        os.chdir(previous)
    assert not [e for r in results for e in r.errors]
    rendered = render_folder_findings(results)
    if UPDATE:
        case.findings.write_text(rendered, "utf-8")
    assert rendered == case.findings.read_text("utf-8")


def test_helper_waits_are_found_only_through_tasks() -> None:
    """The case's findings name each helper wait with its path, and none of the lookalikes
    or the helper only a view calls."""
    case = next(c for c in CASES if c.name == "waits_in_helpers_across_modules")
    text = case.findings.read_text("utf-8")
    for expected in (
        "inside `finish`, which task `sync` calls (`sync -> fetch_and_wait -> finish`)",
        "inside `wait_for`, which task `sync` calls (`sync -> wait_for`)",
        "inside `join_all`, which task `sync` calls (`sync -> join_all`)",
        "`job.get()` waits on a subtask inside `settle`, which task `sync` calls",
        "`while` polls `pending_res.ready()` inside `poll_until_ready`",
    ):
        assert expected in text, expected
    for silent in ("never_called_from_a_task", "process.wait", "gc.collect", "~Q"):
        assert silent not in text, silent
