"""Everything celerymod shows a person: the one module that imports rich.

Findings and diffs go to stdout, errors and summaries to stderr, so `celerymod fix > x.diff`
captures a clean patch. User text is never parsed as rich markup.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict

from rich.console import Console
from rich.text import Text

from celerymod.formats.fixes import AllFixEdits
from celerymod.formats.github import unused_message
from celerymod.model import FileError, FileResult, Finding, RuleSpec, Safety, UnusedSuppression

_DIFF_STYLES = (
    ("+++", "bold"),
    ("---", "bold"),
    ("@@", "cyan"),
    ("+", "green"),
    ("-", "red"),
    ("\\", "dim"),
)


def _console(color: str, stderr: bool) -> Console:
    if color == "always":
        return Console(stderr=stderr, force_terminal=True, highlight=False, soft_wrap=True)
    if color == "never":
        return Console(stderr=stderr, no_color=True, highlight=False, soft_wrap=True)
    # "auto": colour on a terminal only; rich also honours NO_COLOR and FORCE_COLOR.
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class Reporter:
    def __init__(self, color: str = "auto", quiet: bool = False) -> None:
        self.out = _console(color, stderr=False)
        self.err = _console(color, stderr=True)
        self.quiet = quiet

    # -- findings -------------------------------------------------------------------------

    def finding(self, finding: Finding) -> None:
        line = Text()
        line.append(f"{finding.path}:{finding.span.line}:{finding.span.column}:", "bold")
        line.append(" ")
        line.append(finding.code, "bold red")
        if finding.fix is not None:
            line.append(" [*]", "cyan")
        line.append(f" {finding.message}")
        self.out.print(line)
        if finding.help and not self.quiet:
            self.out.print(Text(f"  help: {finding.help}"))

    def findings(self, results: Sequence[FileResult]) -> None:
        for result in results:
            for finding in result.findings:
                self.finding(finding)

    def unused_suppressions(self, unused: Sequence[UnusedSuppression]) -> None:
        for item in unused:
            line = Text()
            line.append(f"{item.path}:{item.line}:{item.column}:", "bold")
            line.append(f" {unused_message(item)}")
            self.out.print(line)

    def errors(self, errors: Sequence[FileError]) -> None:
        for error in errors:
            line = Text()
            line.append("error", "bold red")
            line.append(f": {error.path}: {error.message}")
            self.err.print(line)

    def fixes(self, result: FileResult) -> None:
        """Each fix of one file: where, its safety, and what it changes (its message)."""
        for finding in result.findings:
            if finding.fix is None:
                continue
            line = Text()
            line.append(f"{finding.path}:{finding.span.line}:{finding.span.column}:", "bold")
            line.append(f" {finding.code} ", "bold red")
            review = finding.fix.safety is Safety.REVIEW
            line.append(f"fix [{finding.fix.safety.value}]", "yellow" if review else "cyan")
            line.append(f": {finding.fix.message}")
            if finding.fix.other_paths:
                line.append(f" (also edits {', '.join(finding.fix.other_paths)})")
            self.out.print(line)

    def no_files(self, paths: Sequence[str], excluded: int = 0) -> None:
        """Nothing was checked: say so rather than "All checks passed!". `excluded` is how
        many Python files the exclude patterns and .gitignore left out (all there were)."""
        where = ", ".join(paths)
        if excluded:
            noun = "file" if excluded == 1 else "files"
            text = (
                f"warning: nothing was checked: exclude patterns or .gitignore leave out every "
                f"Python file in {where} ({excluded} {noun})."
            )
        else:
            text = f"No Python files found in {where}; nothing was checked."
        self.err.print(Text(text, "yellow"))

    def check_summary(
        self, findings: int, safe: int, review: int, errors: int, unused: int = 0
    ) -> None:
        if self.quiet:
            return
        if findings:
            noun = "finding" if findings == 1 else "findings"
            text = f"Found {findings} {noun}"
            offered = []
            if safe:
                offered.append(f"{safe} fixable with `celerymod fix --write`")
            if review:
                offered.append(
                    f"{review} with a review fix: `celerymod fix -i` or `--unsafe-fixes`"
                )
            if offered:
                text += f" ({'; '.join(offered)})"
            self.err.print(Text(text + "."))
        if unused:
            noun = "suppression" if unused == 1 else "suppressions"
            self.err.print(Text(f"Found {unused} unused {noun} (they hide nothing: remove them)."))
        if errors:
            noun = "file" if errors == 1 else "files"
            self.err.print(Text(f"{errors} {noun} could not be checked (see errors above)."))
        if not findings and not errors and not unused:
            self.err.print(Text("All checks passed!", "green"))

    def fix_summary(
        self,
        fixes: int,
        files: int,
        unfixable: int,
        written: bool,
        left: int = 0,
        unwritten: int = 0,
    ) -> None:
        """`fixes` applied (or that --write would apply); `left` review fixes it leaves;
        `unwritten` files that had fixes but could not be written."""
        if self.quiet:
            return
        noun = "fix" if fixes == 1 else "fixes"
        where = f"{files} file" + ("" if files == 1 else "s")
        if unwritten:
            files_noun = "file" if unwritten == 1 else "files"
            said = f"{unwritten} {files_noun} with fixes could not be written (see errors above)"
            self.err.print(Text(said + ("; no fix was applied." if not fixes else "."), "red"))
        if not fixes and unwritten:
            pass  # Said above: there were fixes, none reached the disk.
        elif not fixes:
            self.err.print(Text("No safe fix to apply." if left else "Nothing to fix."))
        elif written:
            self.err.print(Text(f"Applied {fixes} {noun} in {where}.", "green"))
        else:
            self.err.print(Text(f"Would apply {fixes} {noun} in {where}; run with --write to apply."))
        if left:
            noun = "review fix" if left == 1 else "review fixes"
            where = "left unapplied" if written else "shown above; --write leaves them"
            self.err.print(
                Text(
                    f"{left} {noun} {where} (they change behaviour as their message says): "
                    "apply them with `celerymod fix --write --unsafe-fixes`, or choose one by "
                    "one with `celerymod fix -i`.",
                    "yellow",
                )
            )
        if unfixable:
            noun = "finding has" if unfixable == 1 else "findings have"
            self.err.print(Text(f"{unfixable} {noun} no automatic fix (see `celerymod check`)."))

    def interrupted(self, accepted: int) -> None:
        """Ctrl-C in `fix -i`: said even with --quiet, since the run did not finish."""
        discarded = f" (the {accepted} accepted so far are discarded)" if accepted else ""
        self.err.print(Text(f"\nInterrupted: nothing was written{discarded}."))

    def interrupted_writes(self, written: int, changed: int) -> None:
        """Ctrl-C during `fix --write`: what reached the disk (said even with --quiet)."""
        noun = "file" if written == 1 else "files"
        self.err.print(
            Text(
                f"\nInterrupted: {written} {noun} written, {changed - written} not written "
                "(each change is written whole or not at all).",
                "yellow",
            )
        )

    def review_summary(self, applied: int, offered: int, files: int) -> None:
        if self.quiet:
            return
        where = "" if not applied else f" in {files} file" + ("" if files == 1 else "s")
        self.err.print(Text(f"Applied {applied} of {offered} changes{where}."))

    def json_report(
        self,
        results: Sequence[FileResult],
        errors: Sequence[FileError],
        edits: AllFixEdits,
        unused: Sequence[UnusedSuppression] | None = None,
    ) -> None:
        """One document; `unused_suppressions` only with `--report-unused-ignores`."""
        findings = [f for result in results for f in result.findings]
        payload: dict[str, object] = {
            "findings": [_finding_json(f, edits) for f in findings],
            "errors": [asdict(error) for error in errors],
            "summary": {
                "files": len(results),
                "findings": len(findings),
                "fixable": sum(1 for f in findings if f.fix is not None),
                "errors": len(errors),
            },
        }
        if unused is not None:
            payload["unused_suppressions"] = [
                {**asdict(item), "codes": list(item.codes), "message": unused_message(item)}
                for item in unused
            ]
            payload["summary"]["unused_suppressions"] = len(unused)  # type: ignore[index]
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")

    # -- diffs ----------------------------------------------------------------------------

    def diff(self, diff: str) -> None:
        for line in diff.splitlines():
            style = next((s for prefix, s in _DIFF_STYLES if line.startswith(prefix)), "")
            self.out.print(Text(line, style))

    # -- rules ----------------------------------------------------------------------------

    def rules_table(self, rules: Sequence[RuleSpec]) -> None:
        from rich.table import Table  # Not at start-up: `check` never prints a table.

        table = Table(show_edge=False, box=None, pad_edge=False)
        for column in ("Code", "Name", "Fix", "Summary"):
            table.add_column(column, no_wrap=column != "Summary")
        for rule in rules:
            table.add_row(rule.code, rule.name, rule.fix.value, Text(rule.summary))
        self.out.print(table)

    def explain(self, docs: str) -> None:
        if self.out.is_terminal:
            from rich.markdown import Markdown  # 0.2 s of imports (markdown-it), `explain` only.

            self.out.print(Markdown(docs))
        else:
            sys.stdout.write(docs)

    # -- interactive ----------------------------------------------------------------------

    def change_header(self, index: int, total: int, finding: Finding) -> None:
        assert finding.fix is not None
        head = Text()
        head.append(f"[{index}/{total}] ", "dim")
        head.append(f"{finding.path}:{finding.span.line}:{finding.span.column} ", "bold")
        head.append(f"{finding.code} {finding.name}", "bold red")
        self.out.print(head)
        self.out.print(Text(finding.message))
        review = finding.fix.safety is Safety.REVIEW
        fix = Text(f"fix [{finding.fix.safety.value}]: ", "yellow" if review else "cyan")
        fix.append(finding.fix.message, "")
        if finding.fix.other_paths:
            fix.append(f"; also edits {', '.join(finding.fix.other_paths)}")
        self.out.print(fix)

    def say(self, message: str, style: str = "") -> None:
        self.out.print(Text(message, style))

    # -- progress -------------------------------------------------------------------------

    @contextmanager
    def progress(self, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar on a terminal, shown only once a run has taken over a second."""
        if self.quiet or not self.err.is_terminal or total < 2:
            yield lambda: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        started = time.monotonic()
        bar = Progress(
            TextColumn("celerymod"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.err,
            transient=True,
        )
        task = bar.add_task("files", total=total)
        shown = False

        def advance() -> None:
            nonlocal shown
            bar.advance(task)
            if not shown and time.monotonic() - started > 1.0:
                bar.start()
                shown = True

        try:
            yield advance
        finally:
            if shown:
                bar.stop()


def _finding_json(finding: Finding, all_edits: AllFixEdits) -> dict[str, object]:
    fix = finding.fix
    edits = all_edits.get((finding.path, fix.key)) if fix is not None else None
    return {
        "path": finding.path,
        "line": finding.span.line,
        "column": finding.span.column,
        "end_line": finding.span.end_line,
        "end_column": finding.span.end_column,
        "code": finding.code,
        "name": finding.name,
        "message": finding.message,
        "help": finding.help or None,
        "fix": {
            "available": fix is not None,
            "safety": fix.safety.value if fix is not None else None,
            "message": fix.message if fix is not None else None,
            # None when the fix cannot be given as edits on its own (see formats.fixes).
            "edits": None
            if edits is None
            else [
                {
                    "path": path,
                    "start_line": edit.start_line,
                    "start_column": edit.start_column,
                    "end_line": edit.end_line,
                    "end_column": edit.end_column,
                    "text": edit.text,
                }
                for path, edit in edits
            ],
        },
    }
