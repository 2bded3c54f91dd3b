"""`check --format sarif`: a SARIF 2.1.0 log for GitHub code scanning and other viewers.

One run; `tool.driver.rules` lists every rule of the registry with its docs (so `ruleIndex` is
stable whatever `--select` says); each finding is a result at level `error` (like `check`'s
exit code, see formats/github.py) with its fix as a SARIF `fixes` entry where the fix can be
shown on its own (formats/fixes.py). Errors (files that could not be read or parsed, bad
config) become tool execution notifications, with `executionSuccessful: false`.

Columns count Unicode code points, as libcst's positions do; the run says so in
`columnKind`, since SARIF's default is UTF-16 code units.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

from celerymod import __version__, docs, registry
from celerymod.formats.edits import TextEdit
from celerymod.formats.fixes import FixEdits
from celerymod.model import FileError, FileResult, Finding, RuleSpec

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"

Json = dict[str, object]


def artifact_location(path: str, root: str) -> Json:
    """A URI relative to %SRCROOT% (`root`) with forward slashes; a `file:` URI outside it."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, os.path.abspath(root))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return {"uri": Path(absolute).as_uri()}
    return {"uri": quote(relative.replace(os.sep, "/")), "uriBaseId": SRCROOT}


def _rule(rule: RuleSpec) -> Json:
    text = registry.rule_docs(rule)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": docs.section(text, "What it does") or rule.summary},
        "help": {"text": text, "markdown": text},
        "helpUri": docs.help_uri(rule),
        "defaultConfiguration": {"level": "error"},
        "properties": {"fixAvailability": rule.fix.value},
    }


def _region(edit: TextEdit) -> Json:
    return {
        "startLine": edit.start_line,
        "startColumn": edit.start_column,
        "endLine": edit.end_line,
        "endColumn": edit.end_column,
    }


def message_text(finding: Finding) -> str:
    """A finding's message followed by its `help:` line, when it has one."""
    return f"{finding.message}\nhelp: {finding.help}" if finding.help else finding.message


def _result(finding: Finding, rule_index: dict[str, int], edits: FixEdits, root: str) -> Json:
    span = finding.span
    location = artifact_location(finding.path, root)
    result: Json = {
        "ruleId": finding.code,
        "level": "error",
        # The help line too, as the text output shows it: a finding's line is short, and
        # why it is one (or why it has no fix) is the help.
        "message": {"text": message_text(finding)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": location,
                    "region": {
                        "startLine": span.line,
                        "startColumn": span.column,
                        "endLine": span.end_line,
                        "endColumn": span.end_column,
                    },
                }
            }
        ],
    }
    if finding.code in rule_index:
        result["ruleIndex"] = rule_index[finding.code]
    fix = finding.fix
    if fix is not None:
        result["properties"] = {"fixSafety": fix.safety.value}
        changes = edits.get((finding.path, fix.key))
        if changes:
            result["fixes"] = [
                {
                    "description": {"text": f"{fix.message} ({fix.safety.value})"},
                    "artifactChanges": [
                        {
                            "artifactLocation": location,
                            "replacements": [
                                {
                                    "deletedRegion": _region(edit),
                                    "insertedContent": {"text": edit.text},
                                }
                                for edit in changes
                            ],
                        }
                    ],
                    "properties": {"safety": fix.safety.value},
                }
            ]
    return result


def _notification(error: FileError, root: str) -> Json:
    if not error.path or error.path == "-":
        # About the run (config) or standard input without --stdin-filename: no artifact.
        text = f"standard input: {error.message}" if error.path else error.message
        return {"level": "error", "message": {"text": text}}
    return {
        "level": "error",
        "message": {"text": error.message},
        "locations": [
            {"physicalLocation": {"artifactLocation": artifact_location(error.path, root)}}
        ],
    }


def _unique(items: Iterable[Json]) -> list[Json]:
    seen: set[str] = set()
    kept: list[Json] = []
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def build(
    results: Sequence[FileResult],
    errors: Sequence[FileError],
    edits: FixEdits,
    root: str,
) -> Json:
    """The SARIF log of one `check` run; `root` is the folder %SRCROOT% stands for."""
    rules = registry.RULES
    rule_index = {rule.code: number for number, rule in enumerate(rules)}
    root_uri = Path(os.path.abspath(root)).as_uri().rstrip("/") + "/"
    run: Json = {
        "tool": {
            "driver": {
                "name": "celerymod",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": docs.REPOSITORY_URL,
                "rules": [_rule(rule) for rule in rules],
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": root_uri}},
        "columnKind": "unicodeCodePoints",
        "results": [
            _result(finding, rule_index, edits, root)
            for result in results
            for finding in result.findings
        ],
        "invocations": [
            {
                "executionSuccessful": not errors,
                # The schema wants unique items; one file can fail twice the same way.
                "toolExecutionNotifications": _unique(_notification(e, root) for e in errors),
            }
        ],
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(
    results: Sequence[FileResult], errors: Sequence[FileError], edits: FixEdits, root: str
) -> str:
    return json.dumps(build(results, errors, edits, root), indent=2) + "\n"
