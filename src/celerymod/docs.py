"""Rule documentation: the checks it must pass and the generated `docs/rules.md`.

Each rule's docs are the docstring of its transform module (`registry.rule_docs`): a title
`# CODE name` and exactly the five headings of `HEADINGS`, in that order. `celerymod explain`
prints that text, SARIF's `help` carries it, and `docs/rules.md` is generated from it:

    python -m celerymod.docs > docs/rules.md

A test compares the committed file with `render()`, so a new or changed rule cannot ship
with stale docs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from celerymod import registry
from celerymod.model import RuleSpec

HEADINGS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")
REPOSITORY_URL = "https://github.com/celerymod/celerymod"
RULES_DOC_URL = f"{REPOSITORY_URL}/blob/main/docs/rules.md"
GENERATE_COMMAND = "python -m celerymod.docs > docs/rules.md"

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    line: int  # 0-based index into the docs' lines


def headings(markdown: str) -> list[Heading]:
    """The ATX headings of `markdown`, skipping fenced code (a `# comment` is not a heading)."""
    found: list[Heading] = []
    fenced = False
    for number, line in enumerate(markdown.splitlines()):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append(Heading(len(match.group(1)), match.group(2), number))
    return found


def problems(rule: RuleSpec, markdown: str) -> list[str]:
    """Everything wrong with one rule's docs; empty when they follow the convention."""
    found = headings(markdown)
    issues: list[str] = []
    title = f"{rule.code} {rule.name}"
    if not found or (found[0].level, found[0].text) != (1, title):
        issues.append(f"the docs must start with the title `# {title}`")
    sections = [h.text for h in found if h.level == 2]
    if tuple(sections) != HEADINGS:
        issues.append(f"level-2 headings are {sections}, expected exactly {list(HEADINGS)}")
    if [h for h in found[1:] if h.level == 1]:
        issues.append("only the title may be a level-1 heading")
    for heading in HEADINGS:
        if heading in sections and not section(markdown, heading).strip():
            issues.append(f"section `{heading}` is empty")
    return issues


def section(markdown: str, heading: str) -> str:
    """The body of the level-2 section `heading` (up to the next level-1 or level-2 heading)."""
    lines = markdown.splitlines()
    found = headings(markdown)
    for index, item in enumerate(found):
        if item.level == 2 and item.text == heading:
            end = next((h.line for h in found[index + 1 :] if h.level <= 2), len(lines))
            return "\n".join(lines[item.line + 1 : end]).strip()
    return ""


def anchor(rule: RuleSpec) -> str:
    """The GitHub anchor of the rule's heading in docs/rules.md."""
    return f"{rule.code}-{rule.name}".lower()


def help_uri(rule: RuleSpec) -> str:
    return f"{RULES_DOC_URL}#{anchor(rule)}"


def _demote(markdown: str) -> str:
    """Every heading one level deeper, so the rule's title nests under the page's title."""
    lines = markdown.splitlines()
    for heading in headings(markdown):
        lines[heading.line] = "#" + lines[heading.line]
    return "\n".join(lines)


def render(rules: Sequence[RuleSpec] = registry.RULES) -> str:
    """The whole of docs/rules.md."""
    parts = [
        f"<!-- Generated from the rule modules' docstrings by `{GENERATE_COMMAND}`.",
        "     Do not edit by hand: change the docstring, then regenerate. -->",
        "",
        "# Rules",
        "",
        "`celerymod explain CODE` prints the same text for one rule.",
        "",
        "| Code | Name | Fix | Summary |",
        "|---|---|---|---|",
    ]
    for rule in rules:
        summary = rule.summary.replace("|", "\\|")
        parts.append(
            f"| [{rule.code}](#{anchor(rule)}) | {rule.name} | {rule.fix.value} | {summary} |"
        )
    for rule in rules:
        parts += ["", _demote(registry.rule_docs(rule).strip())]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print docs/rules.md; exit 1 (printing nothing) when some rule's docs break the rules."""
    failures = [
        f"{rule.code}: {issue}"
        for rule in registry.RULES
        for issue in problems(rule, registry.rule_docs(rule))
    ]
    if failures:
        sys.stderr.write("".join(f"error: {failure}\n" for failure in failures))
        return 1
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
