"""Rule docs: one source (the transform module's docstring) for `explain`, SARIF and docs/rules.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from celerymod import docs, registry
from celerymod.model import FixAvailability, RuleSpec
from cli_helpers import celerymod

RULES_MD = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


@pytest.mark.parametrize("rule", registry.RULES, ids=lambda rule: rule.code)
def test_every_rule_has_the_five_headings_in_order(rule: RuleSpec) -> None:
    text = registry.rule_docs(rule)
    assert docs.problems(rule, text) == []
    level_two = [h.text for h in docs.headings(text) if h.level == 2]
    assert level_two == [
        "What it does",
        "Why is this bad?",
        "Example",
        "Use instead",
        "Fix safety",
    ]


def test_docs_md_is_generated_from_the_rules() -> None:
    assert RULES_MD.read_text("utf-8") == docs.render(), (
        f"docs/rules.md is stale: run `{docs.GENERATE_COMMAND}`"
    )


def test_generator_entry_point_prints_the_file() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "celerymod.docs"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == RULES_MD.read_text("utf-8")
    assert docs.GENERATE_COMMAND in completed.stdout  # The header says how to regenerate.


@pytest.mark.parametrize("rule", registry.RULES, ids=lambda rule: rule.code)
def test_explain_prints_the_same_docs(rule: RuleSpec) -> None:
    for query in (rule.code, rule.code.lower(), rule.name):
        result = celerymod("explain", query)
        assert result.returncode == 0, result
        assert result.stdout == registry.rule_docs(rule)
    # docs/rules.md holds the same text, one heading level deeper.
    section = RULES_MD.read_text("utf-8")
    assert f"## {rule.code} {rule.name}\n" in section
    assert docs.section(registry.rule_docs(rule), "Fix safety") in section


def test_explain_unknown_rule_exits_2() -> None:
    result = celerymod("explain", "CEL999")
    assert result.returncode == 2
    assert "CEL999" in result.stderr


_GOOD = """# CEL900 some-rule

## What it does
Finds things.

## Why is this bad?
Because.

## Example
```python
# a comment, not a heading
x = 1
```

## Use instead
Something.

## Fix safety
Safe.
"""

_RULE = RuleSpec("CEL900", "some-rule", "s", FixAvailability.ALWAYS, (b"x",), "m")


def test_the_heading_check_accepts_good_docs() -> None:
    assert docs.problems(_RULE, _GOOD) == []
    assert docs.section(_GOOD, "Example").startswith("```python\n# a comment")


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (_GOOD.replace("## Why is this bad?", "## Why is this bad"), "level-2 headings"),
        (_GOOD.replace("## Use instead\nSomething.\n\n", ""), "level-2 headings"),
        (_GOOD.replace("## Example", "## Examples"), "level-2 headings"),
        (
            _GOOD.replace("## Use instead", "## Fix safety\nx\n\n## Use instead").replace(
                "## Fix safety\nSafe.\n", ""
            ),
            "level-2 headings",
        ),
        (_GOOD.replace("# CEL900 some-rule", "# CEL901 some-rule"), "title"),
        (_GOOD.replace("Finds things.", ""), "empty"),
        (_GOOD + "\n# Another title\n", "level-1"),
    ],
)
def test_the_heading_check_rejects_drift(broken: str, complaint: str) -> None:
    assert any(complaint in problem for problem in docs.problems(_RULE, broken))


def test_rendered_headings_nest_under_the_page_title() -> None:
    rendered = docs.render()
    levels = [(h.level, h.text) for h in docs.headings(rendered)]
    assert levels[0] == (1, "Rules")
    for rule in registry.RULES:
        at = levels.index((2, f"{rule.code} {rule.name}"))
        assert [text for _, text in levels[at + 1 : at + 6]] == list(docs.HEADINGS)
        assert {level for level, _ in levels[at + 1 : at + 6]} == {3}
        assert f"(#{docs.anchor(rule)})" in rendered


def test_user_docs_stand_on_their_own() -> None:
    """README, examples/README, docs/rules.md and `explain` never point at material users do
    not have (the project's design notes and the documents it grew from)."""
    root = Path(__file__).resolve().parent.parent
    texts = {
        name: (root / name).read_text("utf-8")
        for name in ("README.md", "examples/README.md", "docs/rules.md")
    }
    texts.update({rule.code: registry.rule_docs(rule) for rule in registry.RULES})
    for name, text in texts.items():
        for word in ("DESIGN", "seed", "../shared"):
            assert word not in text, (name, word)
