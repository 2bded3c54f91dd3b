"""The explicit list of rules. Adding a rule: write `transforms/<name>.py`, add a line here.

This module stays free of libcst so that `celerymod rules`, the prefilter and the process
pool's parent never pay for parsing machinery.
"""

from __future__ import annotations

from celerymod.model import FixAvailability, RuleSpec, RunConfig

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        code="CEL003",
        name="blocking-sleep-in-async",
        summary="`time.sleep` blocks the event loop inside `async def`",
        fix=FixAvailability.SOMETIMES,
        patterns=(b"sleep",),
        module="celerymod.transforms.blocking_sleep_in_async",
    ),
)

BY_CODE: dict[str, RuleSpec] = {rule.code: rule for rule in RULES}


def matching_rules(source: bytes, config: RunConfig) -> list[RuleSpec]:
    """The selected rules whose byte patterns occur in `source`: the prefilter, no parsing."""
    return [
        rule
        for rule in RULES
        if config.selects(rule.code) and any(p in source for p in rule.patterns)
    ]


def rule_docs(rule: RuleSpec) -> str:
    """The rule's documentation: the docstring of its transform module."""
    import importlib

    module = importlib.import_module(rule.module)
    return (module.__doc__ or "").strip() + "\n"
