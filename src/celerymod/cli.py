"""The `celerymod` command: parse arguments, call the core, choose the exit code.

Exit codes (check): 0 nothing found, 1 findings, 2 an error (a file that could not be read,
decoded or parsed, bad usage or bad config). Errors win over findings. `fix` exits 0 unless
there was an error.

Size: a little over 500 lines, the typer option declarations (the `Annotated` aliases) and
the four commands that share them; apart, `--help` text would sit away from its command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from celerymod import __version__, config, registry, runner, writes
from celerymod.analysis.index import ProjectIndex
from celerymod.discovery import SourceFile, discover, module_name
from celerymod.formats import github, sarif
from celerymod.formats.fixes import AllFixEdits, FixEdits, every_fix_edits, single_fix_edits
from celerymod.model import (
    FileError,
    FileResult,
    Finding,
    RunConfig,
    Safety,
    Strategy,
    seconds_text,
)
from celerymod.report import Reporter

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

app = typer.Typer(
    name="celerymod",
    help=(
        "Find and rewrite Celery orchestration mistakes: tasks that block on subtask results, "
        "tasks that run other tasks through the broker just to wait, and `time.sleep` inside "
        "`async def`.\n\n"
        "\b\n"  # click keeps this block's lines as they are
        "  celerymod check .          report findings (exit 1 if any)\n"
        "  celerymod fix .            show the fixes as a diff; writes nothing\n"
        "  celerymod fix --write .    apply them\n"
        "  celerymod fix -i .         review change by change\n"
        "  celerymod explain CEL001   what a rule finds and how it fixes it\n\n"
        "PATH is files or folders (default: the current folder), or - for standard input. "
        "Configure in [tool.celerymod] of pyproject.toml; `celerymod check --show-settings` "
        "prints what applies. Silence a line with a `# noqa: CODE` comment."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    # Plain click help, as ruff's: rich's option table squeezes the help text into a narrow
    # column at 80 characters and labels flags `<bool>`.
    rich_markup_mode=None,
)


class Color(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    GITHUB = "github"
    SARIF = "sarif"


# Formats whose standard output is one JSON document: nothing else may be printed there.
_DOCUMENT_FORMATS = (OutputFormat.JSON, OutputFormat.SARIF)


Paths = Annotated[
    list[str] | None,
    # No help text here: typer would label the row `<list[str]>`; the commands' docstrings
    # say what PATH is.
    typer.Argument(show_default=False, metavar="PATH", hidden=True),
]
Select = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        help="Only these rules, instead of `select` in config: a code, a prefix or ALL "
        "(repeat or comma-separate: --select CEL001,CEL003; --select CEL00). Default: "
        "every rule but the opt-in CEL006.",
        metavar="CODE",
    ),
]
ExtendSelect = Annotated[
    list[str] | None,
    typer.Option(
        "--extend-select",
        help="These rules too, on top of `select`: --extend-select CEL002.",
        metavar="CODE",
    ),
]
Ignore = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        help="Skip these rules (codes, prefixes or ALL), on top of `ignore` in config: "
        "--ignore CEL003.",
        metavar="CODE",
    ),
]
ConfigFile = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Read settings from this file instead of the nearest pyproject.toml: a "
        "pyproject.toml with [tool.celerymod], or a TOML file with the keys at its top level.",
        metavar="PATH",
    ),
]
ShowSettings = Annotated[
    bool,
    typer.Option(
        "--show-settings",
        help="Print the effective settings and where each came from, then exit.",
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        help="Skip paths matching this gitignore-style pattern, relative to the project root "
        "(the pyproject.toml's folder): `migrations/`, `app/views.py`, `*_pb2.py`. Adds to "
        "`exclude` in config.",
        metavar="GLOB",
    ),
]
ForceExclude = Annotated[
    bool | None,
    typer.Option(
        "--force-exclude/--no-force-exclude",
        help="Apply the exclude patterns to files named on the command line too, as "
        "pre-commit hooks need. Default: `force-exclude` in config, else off.",
        show_default=False,
    ),
]
StrategyOption = Annotated[
    Strategy | None,
    typer.Option(
        "--strategy",
        help="How CEL001 rewrites return: `metadata` (ids a progress endpoint can follow) or "
        "`replace` (self.replace: the caller's result is unchanged). Default: metadata.",
        case_sensitive=False,
    ),
]
Jobs = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        help="Worker processes (default: all cores, at most one per file): -j 1.",
        show_default=False,
        metavar="N",
    ),
]
ColorOption = Annotated[
    Color,
    typer.Option(
        "--color", help="Colour output: auto uses colour on a terminal unless NO_COLOR is set."
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print findings and diffs only, no summary.")
]
NoCache = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Neither read nor write the results cache (.celerymod_cache next to the "
        "pyproject.toml; moved by `cache-dir` in config or $CELERYMOD_CACHE_DIR).",
    ),
]
UnsafeFixes = Annotated[
    bool | None,
    typer.Option(
        "--unsafe-fixes/--no-unsafe-fixes",
        help="Let --write apply review fixes too (they change behaviour as their message "
        "says). Default: `unsafe-fixes` in config, else off.",
        show_default=False,
    ),
]
ShowFixes = Annotated[
    bool,
    typer.Option(
        "--show-fixes",
        help="List every fix with its safety and what it changes, without the diffs.",
    ),
]
StdinFilename = Annotated[
    str | None,
    typer.Option(
        "--stdin-filename",
        help="With -, the path to report the standard input as; its nearest pyproject.toml "
        "applies.",
        metavar="PATH",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"celerymod {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """celerymod: a codemod and checker for Celery code."""


def _load(
    paths: list[str],
    options: config.Options,
    reporter: Reporter,
    stdin_filename: str | None = None,
    report: Callable[[config.ConfigError], None] | None = None,
    show_settings: bool = False,
) -> RunConfig:
    # For standard input the config is the one the named file would get (as ruff does), so an
    # editor sees the same findings as `celerymod check` on the saved file.
    where = [stdin_filename] if paths == ["-"] and stdin_filename else paths
    try:
        loaded, origins = config.load_with_origins(where, options)
    except config.ConfigError as error:
        if report is not None:
            report(error)
        else:
            reporter.errors([FileError("config", str(error))])
        raise typer.Exit(EXIT_ERROR) from None
    if show_settings:
        sys.stdout.write(_settings_text(loaded, origins))
        raise typer.Exit(EXIT_CLEAN)
    return loaded


def _settings_text(run_config: RunConfig, origins: dict[str, str]) -> str:
    """`--show-settings`: each effective setting, its value and where the value came from."""
    enabled = sorted(c for c in registry.BY_CODE if run_config.selects(c))
    values: dict[str, object] = {
        "config file": run_config.config_path or "none (defaults)",
        "rules": enabled,
        "per-file-ignores": {p: sorted(c) for p, c in run_config.per_file_ignores},
        "exclude": list(run_config.exclude),
        "respect-gitignore": run_config.respect_gitignore,
        "force-exclude": run_config.force_exclude,
        "strategy": run_config.strategy.value,
        "task-decorators": list(run_config.task_decorators),
        "unsafe-fixes": run_config.unsafe_fixes,
        "cache-dir": run_config.cache_dir or "none (--no-cache)",
        "output-format": run_config.output_format,
        "result-timeout": (
            "none (CEL006 only reports)"
            if run_config.result_timeout is None
            else seconds_text(run_config.result_timeout)
        ),
        "jobs": run_config.jobs or f"{os.cpu_count() or 1} (all cores)",
    }
    lines = []
    for key, value in values.items():
        source = origins.get(key, "")
        shown = (
            value if isinstance(value, str | int) and not isinstance(value, bool) else _toml(value)
        )
        lines.append(f"{key:<18} = {shown}" + (f"    # {source}" if source else "") + "\n")
    return "".join(lines)


def _toml(value: object) -> str:
    """A value as TOML would write it (close enough for reading settings)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@dataclass(frozen=True)
class _Run:
    files: list[SourceFile]
    results: list[FileResult]
    errors: list[FileError]
    index: ProjectIndex | None
    stdin: bytes | None = None


def _collect(
    paths: list[str], run_config: RunConfig, stdin_filename: str | None, reporter: Reporter
) -> _Run:
    """Discover and process every file; the stdin case is one in-memory file."""
    if paths == ["-"]:
        name = stdin_filename or "-"
        file = SourceFile(name, name, module_name(Path(name)) if stdin_filename else None)
        source = sys.stdin.buffer.read()
        result = runner.process_source(source, file, run_config, None)
        return _Run([file], [result], list(result.errors), None, stdin=source)
    if "-" in paths:
        reporter.errors([FileError("-", "standard input cannot be mixed with other paths")])
        raise typer.Exit(EXIT_ERROR)
    base = os.path.dirname(run_config.config_path) if run_config.config_path else None
    files, errors = discover(
        paths,
        run_config.exclude,
        run_config.respect_gitignore,
        base=base,
        force_exclude=run_config.force_exclude,
    )
    index = runner.build_index(files, run_config)
    with reporter.progress(len(files)) as advance:
        results = runner.run(files, run_config, index, progress=advance)
    errors += [error for result in results for error in result.errors]
    return _Run(files, results, errors, index)


def _options(
    select: list[str] | None,
    ignore: list[str] | None,
    exclude: list[str] | None,
    strategy: Strategy | None,
    jobs: int | None,
    unsafe_fixes: bool | None = None,
    no_cache: bool = False,
    force_exclude: bool | None = None,
    extend_select: list[str] | None = None,
    config_file: str | None = None,
) -> config.Options:
    return config.Options(
        select=select,
        extend_select=extend_select,
        config_file=config_file,
        ignore=ignore,
        exclude=exclude,
        strategy=strategy.value if strategy else None,
        jobs=jobs,
        unsafe_fixes=unsafe_fixes,
        no_cache=no_cache,
        force_exclude=force_exclude,
    )


def _count_fixes(results: list[FileResult]) -> tuple[int, int]:
    """How many findings have a safe fix and how many a review fix."""
    fixes = [f.fix for result in results for f in result.findings if f.fix is not None]
    safe = sum(1 for fix in fixes if fix.safety is Safety.SAFE)
    return safe, len(fixes) - safe


def _show(reporter: Reporter, results: list[FileResult], fixes: bool, diffs: bool) -> None:
    """Per file: its fixes (safety and message) and then its diff."""
    for result in results:
        if fixes:
            reporter.fixes(result)
        if diffs and result.diff:
            reporter.diff(result.diff)


@app.command(short_help="Report findings; exit 1 if any.")
def check(
    paths: Paths = None,
    select: Select = None,
    extend_select: ExtendSelect = None,
    ignore: Ignore = None,
    exclude: Exclude = None,
    force_exclude: ForceExclude = None,
    strategy: StrategyOption = None,
    jobs: Jobs = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output-format",
            "--format",
            help="How to print findings: text; json; github (one ::error workflow command "
            "per finding and per error, for GitHub Actions annotations); sarif (SARIF 2.1.0 "
            "with the fixes, for code scanning). Default: `output-format` in config, else text.",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    output_file: Annotated[
        Path | None,
        typer.Option(
            "--output-file",
            "-o",
            help="Write the findings (in the chosen format) to this file instead of standard "
            "output: --output-format sarif -o celerymod.sarif.",
            metavar="PATH",
            dir_okay=False,
        ),
    ] = None,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Also print the diff of every fix (text and github formats). The exit code "
            "stays 1 on findings and 2 on errors.",
        ),
    ] = False,
    show_fixes: ShowFixes = False,
    statistics: Annotated[
        bool,
        typer.Option(
            "--statistics",
            help="Print the number of findings per rule (and how many have a fix) instead "
            "of each finding (text format).",
        ),
    ] = False,
    exit_zero: Annotated[
        bool,
        typer.Option(
            "--exit-zero",
            help="Exit 0 even when something is found (errors still exit 2), as in ruff.",
        ),
    ] = False,
    report_unused_ignores: Annotated[
        bool,
        typer.Option(
            "--report-unused-ignores",
            help="Also list every `# noqa: CEL003` / `# celerymod: ignore[CEL003]` (or bare "
            "`# noqa`) that hid no finding of a selected rule in this run; each counts as a "
            "finding for the exit code, like ruff's RUF100 (text, json and github formats).",
        ),
    ] = False,
    unsafe_fixes: UnsafeFixes = None,
    color: ColorOption = Color.AUTO,
    quiet: Quiet = False,
    no_cache: NoCache = False,
    stdin_filename: StdinFilename = None,
    config_file: ConfigFile = None,
    show_settings: ShowSettings = False,
) -> None:
    """Report findings. Exit 0 when clean, 1 when anything is found, 2 on any error.

    PATH is files or folders (default: the current folder); - reads one file from standard
    input (name it with --stdin-filename).

    With --format github every finding is an ::error annotation, never a ::warning, even when
    its fix needs review: check fails the build for any finding, and the annotation says so.
    The fix and its safety are part of the annotation's message.
    """
    paths = paths or ["."]
    reporter = Reporter(color.value, quiet)
    with ExitStack() as stack:
        if output_file is not None:
            try:
                stream = stack.enter_context(open(output_file, "w", encoding="utf-8"))
            except OSError as error:
                problem = f"cannot write --output-file: {error.strerror}"
                reporter.errors([FileError(str(output_file), problem)])
                raise typer.Exit(EXIT_ERROR) from None
            # Only what would go to standard output moves: errors and the summary stay on stderr.
            stack.enter_context(redirect_stdout(stream))
        _check(
            paths,
            select,
            extend_select,
            ignore,
            exclude,
            force_exclude,
            strategy,
            jobs,
            output_format,
            diff,
            show_fixes,
            statistics,
            exit_zero,
            unsafe_fixes,
            reporter,
            no_cache,
            stdin_filename,
            config_file,
            show_settings,
            report_unused_ignores,
        )


def _refuse_diff_with_a_document(
    output_format: OutputFormat, source: str, reporter: Reporter
) -> None:
    """--diff prints text, which would break a format whose output is one JSON document."""
    if output_format not in _DOCUMENT_FORMATS:
        return
    message = f"cannot be combined with --format {output_format.value}{source}: its output is "
    message += "one JSON document (SARIF carries the fixes in its `fixes` entries)"
    reporter.errors([FileError("--diff", message)])
    raise typer.Exit(EXIT_ERROR)


def _check(
    paths: list[str],
    select: list[str] | None,
    extend_select: list[str] | None,
    ignore: list[str] | None,
    exclude: list[str] | None,
    force_exclude: bool | None,
    strategy: Strategy | None,
    jobs: int | None,
    format_option: OutputFormat | None,
    diff: bool,
    show_fixes: bool,
    statistics: bool,
    exit_zero: bool,
    unsafe_fixes: bool | None,
    reporter: Reporter,
    no_cache: bool,
    stdin_filename: str | None,
    config_file: str | None,
    show_settings: bool,
    report_unused: bool = False,
) -> None:
    output_format = format_option or OutputFormat.TEXT  # Until the config is read.
    if diff:
        _refuse_diff_with_a_document(output_format, "", reporter)
    # GitHub resolves annotation paths and SARIF URIs against the repository root.
    root = os.environ.get("GITHUB_WORKSPACE") or None

    def config_failed(error: config.ConfigError) -> None:
        problem = [FileError(error.path or "", str(error))]
        if output_format is OutputFormat.GITHUB:
            sys.stdout.write(github.render([], problem, root))
            return
        if output_format is OutputFormat.SARIF:
            sys.stdout.write(sarif.render([], problem, {}, root or os.getcwd()))
        if output_format is OutputFormat.JSON:
            reporter.json_report([], problem, {})  # Still one valid document.
        reporter.errors([FileError("config", str(error))])

    options = _options(
        select,
        ignore,
        exclude,
        strategy,
        jobs,
        unsafe_fixes,
        no_cache,
        force_exclude,
        extend_select,
        config_file,
    )
    run_config = _load(paths, options, reporter, stdin_filename, config_failed, show_settings)
    output_format = format_option or OutputFormat(run_config.output_format)
    if diff:
        _refuse_diff_with_a_document(output_format, " (from config)", reporter)
    if report_unused and output_format is OutputFormat.SARIF:
        problem = "cannot be combined with --format sarif (SARIF results are rule findings)"
        reporter.errors([FileError("--report-unused-ignores", problem)])
        raise typer.Exit(EXIT_ERROR)
    # check never writes: every fix is derived, so --diff, JSON and SARIF show review ones too.
    # Only --diff shows the fixed code, so only --diff needs the fixes' fixpoint.
    run_config = replace(
        run_config, unsafe_fixes=True, report_unused_ignores=report_unused, fixpoint=diff
    )
    run = _collect(paths, run_config, stdin_filename, reporter)
    results, errors = run.results, run.errors
    findings = [f for result in results for f in result.findings]
    unused = [u for result in results for u in result.unused_suppressions]
    if not run.files and not errors and run.stdin is None:
        _nothing_checked(paths, run_config, reporter)  # On stderr: documents stay valid.
        if output_format is OutputFormat.TEXT:
            raise typer.Exit(EXIT_CLEAN)
    if output_format is OutputFormat.JSON:
        listed = unused if report_unused else None
        reporter.json_report(results, errors, _every_fix_edits(run, run_config), listed)
    elif output_format is OutputFormat.SARIF:
        edits = _single_fix_edits(run, run_config)
        sys.stdout.write(sarif.render(results, errors, edits, root or os.getcwd()))
        reporter.errors(errors)  # The log goes to a file; people read the job's stderr.
    elif output_format is OutputFormat.GITHUB:
        sys.stdout.write(github.render(results, errors, root))
        sys.stdout.write("".join(github.unused_line(u, root) + "\n" for u in unused))
    elif statistics:
        sys.stdout.write(_statistics(findings))
        if unused:
            sys.stdout.write(f"{len(unused):>5}\tunused suppressions\n")
    else:
        reporter.findings(results)
        reporter.unused_suppressions(unused)
    if output_format not in _DOCUMENT_FORMATS and not statistics:
        _show(reporter, results, fixes=show_fixes or diff, diffs=diff)
    if output_format is OutputFormat.TEXT:
        reporter.errors(errors)
    if output_format is not OutputFormat.JSON:
        safe, review = _count_fixes(results)
        reporter.check_summary(
            len(findings), safe, review, len({e.path for e in errors}), len(unused)
        )
    # An unused suppression fails the run like a finding (ruff's RUF100 does when selected).
    found = EXIT_FINDINGS if (findings or unused) and not exit_zero else EXIT_CLEAN
    raise typer.Exit(EXIT_ERROR if errors else found)


def _nothing_checked(paths: list[str], run_config: RunConfig, reporter: Reporter) -> None:
    """Say that nothing was checked, and whether patterns excluded every file (`exclude =
    ["*"]`) or there was none, rather than "All checks passed!"."""
    # Only on this path: the same walk without exclude patterns and .gitignore.
    unfiltered, _ = discover(paths, (), respect_gitignore=False)
    reporter.no_files(paths, excluded=len(unfiltered))


def _statistics(findings: list[Finding]) -> str:
    """`count  CODE  [*]  name` per rule, most frequent first, like `ruff --statistics`;
    `[*]` when some of that rule's findings have a fix (`fixable` says how many)."""
    from celerymod.registry import BY_CODE

    counts: dict[str, list[int]] = {}
    for finding in findings:
        seen = counts.setdefault(finding.code, [0, 0])
        seen[0] += 1
        seen[1] += finding.fix is not None
    lines = []
    for code, (count, fixable) in sorted(counts.items(), key=lambda item: (-item[1][0], item[0])):
        mark = "[*]" if fixable else "   "
        name = BY_CODE[code].name if code in BY_CODE else ""
        lines.append(f"{count:>5}\t{code}\t{mark} {name} ({fixable} fixable)\n")
    return "".join(lines)


def _reader(run: _Run) -> Callable[[str], bytes | None]:
    """Read a file of the run again (or the stdin bytes); None when it cannot be read."""
    absolute = {file.path: file.absolute for file in run.files}

    def read(path: str) -> bytes | None:
        if run.stdin is not None:
            return run.stdin
        try:
            return writes.read_source(absolute[path])
        except (KeyError, OSError):
            return None

    return read


def _single_fix_edits(run: _Run, run_config: RunConfig) -> FixEdits:
    """Each fix alone as text edits in its own file (SARIF)."""
    module_names = {file.path: file.module_name for file in run.files}
    return single_fix_edits(run.results, _reader(run), run_config, run.index, module_names)


def _every_fix_edits(run: _Run, run_config: RunConfig) -> AllFixEdits:
    """Each fix alone as text edits, in every file it edits (JSON)."""
    module_names = {file.path: file.module_name for file in run.files}
    return every_fix_edits(run.results, _reader(run), run_config, run.index, module_names)


@app.command(short_help="Show the fixes as a diff, or apply them (--write, -i).")
def fix(
    paths: Paths = None,
    write: Annotated[
        bool, typer.Option("--write", "-w", help="Apply the fixes to the files.")
    ] = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            "-i",
            help="Show each change and ask: y apply, n skip, a apply the rest, d skip the rest "
            "of the file, q stop, ? help.",
        ),
    ] = False,
    select: Select = None,
    extend_select: ExtendSelect = None,
    ignore: Ignore = None,
    exclude: Exclude = None,
    force_exclude: ForceExclude = None,
    strategy: StrategyOption = None,
    jobs: Jobs = None,
    unsafe_fixes: UnsafeFixes = None,
    show_fixes: ShowFixes = False,
    exit_non_zero_on_fix: Annotated[
        bool,
        typer.Option(
            "--exit-non-zero-on-fix",
            help="With --write, exit 1 when a fix was applied (a pre-commit hook then fails "
            "and shows what changed), as in ruff.",
        ),
    ] = False,
    color: ColorOption = Color.AUTO,
    quiet: Quiet = False,
    no_cache: NoCache = False,
    stdin_filename: StdinFilename = None,
    config_file: ConfigFile = None,
    show_settings: ShowSettings = False,
) -> None:
    """Show every fix and its diff (writes nothing), or apply them with --write / -i.

    PATH is files or folders (default: the current folder); with - the fixed source of
    standard input is printed instead of a diff.

    Each fix is `safe` (keeps behaviour) or `review` (changes it as its message says).
    --write applies the safe ones; review fixes need --unsafe-fixes (or `unsafe-fixes = true`
    in config) or a yes in -i, which offers every fix. The dry run shows both, each marked.

    Exit 0 unless a file could not be read, parsed or written (2). With - as the path the
    fixed source is printed to standard output instead of a diff.
    """
    paths = paths or ["."]
    reporter = Reporter(color.value, quiet)
    if interactive and not sys.stdin.isatty():
        reporter.errors([FileError("--interactive", "needs a terminal on standard input")])
        raise typer.Exit(EXIT_ERROR)
    if paths == ["-"] and (write or interactive):
        reporter.errors([FileError("-", "--write and --interactive need files, not stdin")])
        raise typer.Exit(EXIT_ERROR)
    options = _options(
        select,
        ignore,
        exclude,
        strategy,
        jobs,
        unsafe_fixes,
        no_cache,
        force_exclude,
        extend_select,
        config_file,
    )
    run_config = _load(paths, options, reporter, stdin_filename, show_settings=show_settings)
    applying = run_config  # What --write and stdin apply: review fixes only when allowed.
    if (interactive or not write) and paths != ["-"]:
        # The dry run and -i show every fix; -i asks before each, so consent is per change.
        run_config = replace(run_config, unsafe_fixes=True)
    run = _collect(paths, run_config, stdin_filename, reporter)
    files, results, errors = run.files, run.results, run.errors
    if not files and not errors and run.stdin is None:
        _nothing_checked(paths, run_config, reporter)
        raise typer.Exit(EXIT_CLEAN)
    findings = [f for result in results for f in result.findings]
    unfixable = sum(1 for f in findings if f.fix is None and not f.part_of_fix)
    changed = [r for r in results if r.new_source is not None]
    # What was applied, including fixes that code earlier fixes produced offered.
    fixes = sum(1 for r in changed for fix in r.applied if applying.applies(fix))
    left = sum(1 for f in findings if f.fix is not None and not applying.applies(f.fix))

    if run.stdin is not None:
        # Editor integration: the whole fixed source (or the input, unchanged) on stdout.
        new_source = results[0].new_source
        sys.stdout.buffer.write(new_source if new_source is not None else run.stdin)
        reporter.errors(errors)
        raise typer.Exit(EXIT_ERROR if errors else EXIT_CLEAN)

    if interactive:
        from celerymod import interactive as review

        reviewed = review.review(results, files, run_config, run.index, reporter, input)
        errors += reviewed.errors
        reporter.errors(errors)
        if reviewed.interrupted:
            reporter.interrupted(reviewed.applied)
            raise typer.Exit(EXIT_INTERRUPTED)
        reporter.review_summary(reviewed.applied, reviewed.offered, len(reviewed.written))
    elif write:
        outcome = writes.write_results(changed, files)
        errors += outcome.errors
        reporter.errors(errors)
        if outcome.interrupted:
            reporter.interrupted_writes(len(outcome.written), len(changed))
            raise typer.Exit(EXIT_INTERRUPTED)
        if show_fixes:
            _show(reporter, changed, fixes=True, diffs=False)
        # Count what reached the disk: "Applied 2 fixes in 0 files" said nothing true.
        landed = set(outcome.written)
        fixes = sum(
            1 for r in changed if r.path in landed for fix in r.applied if applying.applies(fix)
        )
        unwritten = len(changed) - len(landed)
        reporter.fix_summary(
            fixes, len(landed), unfixable, written=True, left=left, unwritten=unwritten
        )
        if exit_non_zero_on_fix and landed and not errors:
            raise typer.Exit(EXIT_FINDINGS)
    else:
        _show(reporter, changed, fixes=True, diffs=not show_fixes)
        reporter.errors(errors)
        # The files the applicable fixes change: a CEL002 task module edited from its
        # caller's fix too.
        would = {
            path
            for r in changed
            for fix in r.applied
            if applying.applies(fix)
            for path in (r.path, *fix.other_paths)
        }
        reporter.fix_summary(fixes, len(would), unfixable, written=False, left=left)
    raise typer.Exit(EXIT_ERROR if errors else EXIT_CLEAN)


@app.command("rules", short_help="List every rule.")
def rules_command(
    color: ColorOption = Color.AUTO,
) -> None:
    """List every rule: code, name, whether it can fix, and what it finds."""
    Reporter(color.value).rules_table(registry.RULES)


@app.command(short_help="Show one rule's documentation.")
def explain(
    code: Annotated[str, typer.Argument(metavar="RULE", hidden=True)],
    color: ColorOption = Color.AUTO,
) -> None:
    """Show one rule's documentation: what it finds, why it matters, how it fixes it.

    RULE is a rule code or name: `celerymod explain CEL001`, `celerymod explain
    blocking-subtask-wait`.
    """
    wanted = code.strip()
    rule = registry.BY_CODE.get(wanted.upper()) or next(
        (r for r in registry.RULES if r.name == wanted), None
    )
    if rule is None:
        known = ", ".join(r.code for r in registry.RULES)
        Reporter(color.value).errors([FileError(code, f"no such rule (known: {known})")])
        raise typer.Exit(EXIT_ERROR)
    Reporter(color.value).explain(registry.rule_docs(rule))


def main() -> None:
    # Click already exits 2 on usage errors; every other exit code is chosen above.
    app()
