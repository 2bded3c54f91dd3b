"""Every fixture case, through the pure engine, byte for byte (contract: fixture_cases.py).

Set CELERYMOD_UPDATE_FIXTURES=1 to write missing or changed `.expected.py` / `.findings.txt`
files, then read every changed file before committing it.
"""

from __future__ import annotations

import os

import pytest

from celerymod import engine
from fixture_cases import Case, cases, render_findings

UPDATE = os.environ.get("CELERYMOD_UPDATE_FIXTURES") == "1"


def _run(case: Case, source: bytes, path: str | None = None) -> engine.FileResult:
    return engine.process(source, path or case.input.name, case.config())


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_fixture(case: Case) -> None:
    source = case.input.read_bytes()
    result = _run(case, source)
    assert not result.errors, result.errors
    rendered = render_findings(result.findings)
    fixed = result.new_source if result.new_source is not None else source

    if UPDATE:
        _update(case, rendered, fixed, source)

    expected_findings = case.findings.read_text("utf-8") if case.findings.exists() else ""
    assert rendered == expected_findings
    expected = case.expected.read_bytes() if case.expected.exists() else source
    assert fixed == expected
    # `fix` changes the file iff `check` reports a finding that has a fix.
    assert (fixed != source) == any(f.fix is not None for f in result.findings)
    if case.expected.exists():
        assert fixed != source, "an .expected.py identical to its input: delete it"
        again = _run(case, expected, case.expected.name)
        assert not again.errors, again.errors
        assert again.new_source is None, "expected output is not a fixpoint:\n" + again.diff
        assert not any(f.fix is not None for f in again.findings)


def _update(case: Case, rendered: str, fixed: bytes, source: bytes) -> None:
    if rendered:
        case.findings.write_text(rendered, "utf-8")
    else:
        case.findings.unlink(missing_ok=True)
    if fixed != source:
        case.expected.write_bytes(fixed)
    else:
        case.expected.unlink(missing_ok=True)


def test_fixture_folders_are_known_rules() -> None:
    from celerymod.registry import RULES

    names = {rule.name for rule in RULES}
    folders = {case.rule for case in cases()}
    assert folders <= names, folders - names
    # Every rule has at least one case that is fixed and one that is left alone.
    for rule in RULES:
        rule_cases = [c for c in cases() if c.rule == rule.name]
        assert any(c.expected.exists() for c in rule_cases) or rule.fix.value == "never", rule
        assert any(not c.expected.exists() for c in rule_cases), rule
