"""The fixture contract, shared by the fixture tests and the real-worker tests.

    tests/fixtures/<rule-name>/<case>.input.py      the code before
    tests/fixtures/<rule-name>/<case>.expected.py   the code after `fix` (absent: unchanged)
    tests/fixtures/<rule-name>/<case>.findings.txt  `line:col CODE [*] message` per finding,
                                                    `[*]` when it has a fix (absent: none)

Markers in the first five lines of an input, `# celerymod-test: key=value, flag`:
    strategy=replace   run with `--strategy replace` (default: metadata)
    task-decorators=a.b.c x.y.z
                       run with `[tool.celerymod] task-decorators` set to these dotted names
    worker             also load input and expected into the real prefork worker
Files are compared byte for byte: no dedent, no newline normalisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from celerymod.model import Finding, RunConfig, Strategy

FIXTURES = Path(__file__).parent / "fixtures"
_MARKER = re.compile(rb"#\s*celerymod-test:\s*(?P<body>.*)")


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    input: Path

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.name}"

    def sibling(self, suffix: str) -> Path:
        return self.input.with_name(f"{self.name}{suffix}")

    @property
    def expected(self) -> Path:
        return self.sibling(".expected.py")

    @property
    def findings(self) -> Path:
        return self.sibling(".findings.txt")

    def markers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for line in self.input.read_bytes().splitlines()[:5]:
            match = _MARKER.search(line)
            if match:
                for item in match.group("body").decode().split(","):
                    key, _, value = item.strip().partition("=")
                    found[key.strip()] = value.strip() or "true"
        return found

    def config(self) -> RunConfig:
        markers = self.markers()
        strategy = Strategy(markers.get("strategy", Strategy.METADATA.value))
        decorators = tuple(markers.get("task-decorators", "").split())
        return RunConfig(strategy=strategy, task_decorators=decorators)


def cases() -> list[Case]:
    return [
        Case(rule=path.parent.name, name=path.name.removesuffix(".input.py"), input=path)
        for path in sorted(FIXTURES.glob("*/*.input.py"))
    ]


def render_findings(findings: tuple[Finding, ...]) -> str:
    lines = []
    for finding in findings:
        mark = " [*]" if finding.fix is not None else ""
        where = f"{finding.span.line}:{finding.span.column}"
        lines.append(f"{where} {finding.code}{mark} {finding.message}\n")
    return "".join(lines)
