"""Benchmark celerymod against ruff (ASYNC251) and a plain libcst pass on real code.

Downloads the Django and Celery sdists into `bench/.data/` (once), then times on each tree,
several runs each, median reported:

- `celerymod check` (default jobs = all cores), `celerymod check -j 1`, `celerymod fix`
- `ruff check --isolated --select ASYNC251 --no-cache --output-format concise`
- `bench/plain_libcst.py`: parse every file with libcst + a trivial visitor, serial and `-j 2`

It also records CPU time, peak memory, the findings each tool reports, the files celerymod
parsed versus skipped by its byte prefilter, and whether celerymod ever printed a traceback
or an internal error (that is a bug). See bench/README.md.

    .venv/bin/python bench/run.py [--repeat 5] [--tree django] [--tree celery] [--commit REV]

Never run by the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / ".data"
PROJECTS = ("django", "celery")
BIN = Path(sys.executable).parent

FINDING_LINE = re.compile(r"^\S.*:\d+:\d+: (CEL\d{3})\b", re.MULTILINE)
RUFF_LINE = re.compile(r"^\S.*:\d+:\d+: (ASYNC251|invalid-syntax)\b", re.MULTILINE)
BUG_MARKERS = ("Traceback (most recent call last)", "internal error")


# --------------------------------------------------------------------------- data


def ensure_tree(project: str, sdists: Path | None) -> Path:
    """The extracted sdist of `project` under bench/.data, downloading it if needed."""
    DATA.mkdir(exist_ok=True)
    _make_repository_root(DATA)
    trees = sorted(p for p in DATA.glob(f"{project}-*") if p.is_dir())
    if trees:
        return trees[-1]
    archives = sorted(DATA.glob(f"{project}-*.tar.gz"))
    if not archives and sdists is not None:
        for archive in sorted(sdists.glob(f"{project}-*.tar.gz")):
            shutil.copy2(archive, DATA / archive.name)
        archives = sorted(DATA.glob(f"{project}-*.tar.gz"))
    if not archives:
        print(f"downloading the {project} sdist from PyPI ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                project,
                "-d",
                str(DATA),
            ],
            check=True,
        )
        archives = sorted(DATA.glob(f"{project}-*.tar.gz"))
    archive = archives[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(DATA, filter="data")
    return DATA / archive.name.removesuffix(".tar.gz")


def _make_repository_root(folder: Path) -> None:
    """Make bench/.data the top of its own git repository.

    This repository's .gitignore ignores bench/.data, and celerymod, like git, applies the
    .gitignore files above the folder it walks up to the repository's top: without this,
    it would see no files at all in the trees. A user runs it in their own checkout, which
    is what a repository root here reproduces. ruff is run with --isolated for the same
    reason (it would otherwise read this repository's pyproject.toml and its excludes).
    """
    if (folder / ".git").exists():
        return
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
    else:
        (folder / ".git").mkdir()


def celerymod_source(commit: str | None) -> tuple[dict[str, str], str]:
    """Environment that selects the celerymod to measure, and a description of it."""
    env = dict(os.environ, NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
    if commit is None:
        head = _git("rev-parse", "HEAD")
        dirty = (
            subprocess.run(
                ["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "src"], check=False
            ).returncode
            != 0
        )
        return env, head + (" + uncommitted changes in src/" if dirty else "")
    sha = _git("rev-parse", commit)
    target = DATA / f"celerymod-{sha[:12]}"
    if not (target / "src" / "celerymod").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    # PYTHONPATH comes before the editable install's .pth entry.
    env["PYTHONPATH"] = str(target / "src")
    return env, sha


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    wall: float
    cpu: float
    max_rss_kib: int
    exit_code: int
    stdout: str
    stderr: str


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run `argv`, its output into temp files; wall time, CPU and peak RSS via wait4.

    `wait4` reports the child's rusage including every descendant it waited for (pool
    workers), so CPU is the whole tree's; `ru_maxrss` is the largest single process.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            _kill_group(process)
            raise
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            max_rss_kib=usage.ru_maxrss,
            exit_code=process.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def tree_rss_peak(argv: list[str], env: dict[str, str], cwd: Path, interval: float = 0.05) -> int:
    """Peak of the summed RSS of a process and all its descendants, sampled from /proc (KiB).

    Run apart from the timed runs: the sampling costs CPU on a small machine.
    """
    if not Path("/proc/self/status").exists():
        return 0
    process = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        process.wait()
    except BaseException:
        _kill_group(process)
        raise
    finally:
        done.set()
    sampler.join()
    return peak


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a command and its pool workers when the benchmark is interrupted."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _tree_rss(root: int) -> int:
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as handle:
                status = handle.read()
        except OSError:
            continue
        pid = int(entry.name)
        ppid = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
        vmrss = re.search(r"^VmRSS:\s+(\d+)", status, re.MULTILINE)
        parents[pid] = int(ppid.group(1)) if ppid else 0
        rss[pid] = int(vmrss.group(1)) if vmrss else 0
    total = 0
    for pid, kib in rss.items():
        ancestor = pid
        while ancestor and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += kib
    return total


# --------------------------------------------------------------------------- commands


@dataclass
class Command:
    label: str
    kind: str  # celerymod | celerymod-fix | ruff | plain
    argv: list[str]
    repeat: int | None = None  # None: --repeat
    memory: bool = True  # sample the whole tree's RSS in one extra run
    # Extra environment (the warm-cache row's cache folder); `warm`: one untimed run first.
    env: dict[str, str] = field(default_factory=dict)
    warm: bool = False


def commands(
    tree: Path, ruff: str, with_metadata: bool, fix_repeat: int, plain_rows: bool, cache: Path
) -> list[Command]:
    celerymod = str(BIN / "celerymod")
    plain = [sys.executable, str(BENCH / "plain_libcst.py")]
    found = [
        Command("celerymod check", "celerymod", [celerymod, "check", "--no-cache", str(tree)]),
        # The cache filled by one untimed run, nothing changed since: what a second CI run
        # or a pre-commit hook on an unchanged tree costs.
        Command(
            "celerymod check, warm cache",
            "celerymod",
            [celerymod, "check", str(tree)],
            env={"CELERYMOD_CACHE_DIR": str(cache / tree.name)},
            warm=True,
        ),
        Command(
            "celerymod check -j 1",
            "celerymod",
            [celerymod, "check", "--no-cache", "-j", "1", str(tree)],
        ),
        # The same pass as check (DESIGN §5); run to see that it finishes and what it changes.
        Command(
            "celerymod fix (dry run)",
            "celerymod-fix",
            [celerymod, "fix", "--no-cache", str(tree)],
            repeat=fix_repeat,
            memory=False,
        ),
        Command(
            "ruff ASYNC251",
            "ruff",
            [
                ruff,
                "check",
                "--isolated",
                "--select",
                "ASYNC251",
                "--no-cache",
                "--output-format",
                "concise",
                str(tree),
            ],
        ),
    ]
    if plain_rows:
        found += [
            Command("plain libcst, serial", "plain", [*plain, str(tree)]),
            Command("plain libcst, pool of 2", "plain", [*plain, "-j", "2", str(tree)]),
        ]
    if with_metadata:
        found.append(
            Command(
                "plain libcst + scope metadata, pool of 2",
                "plain",
                [*plain, "-j", "2", "--metadata", str(tree)],
            )
        )
    return found


@dataclass
class Measured:
    label: str
    kind: str
    argv: list[str]
    walls: list[float]
    cpus: list[float]
    max_rss_kib: int
    tree_rss_kib: int
    exit_codes: list[int]
    findings: dict[str, int] = field(default_factory=dict)
    bugs: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def inspect_output(command: Command, run: Run) -> tuple[dict[str, int], list[str], str]:
    """Findings by code, bug reports (traceback / internal error), and a short note."""
    text = run.stdout + run.stderr
    findings: dict[str, int] = {}
    bugs: list[str] = []
    note = ""
    if command.kind.startswith("celerymod"):
        for code in FINDING_LINE.findall(run.stdout):
            findings[code] = findings.get(code, 0) + 1
        for marker in BUG_MARKERS:
            if marker in text:
                lines = [line for line in text.splitlines() if marker in line or "Error" in line]
                bugs.append(f"{marker!r} in output of {' '.join(command.argv)}: {lines[:5]}")
        if run.exit_code not in (0, 1):
            errors = [line for line in run.stderr.splitlines() if line.strip()][:10]
            bugs.append(f"exit {run.exit_code} from {' '.join(command.argv)}: {errors}")
        if command.kind == "celerymod-fix":
            note = f"{run.stdout.count(chr(10) + '+++ ') + run.stdout.startswith('+++ ')} files in diff"
    elif command.kind == "ruff":
        for code in RUFF_LINE.findall(run.stdout):
            findings[code] = findings.get(code, 0) + 1
    else:
        match = re.search(r"files=(\d+) parse_failures=(\d+) get_calls=(\d+)", run.stdout)
        if match:
            note = f"{match.group(1)} files parsed, {match.group(2)} parse failures"
    return findings, bugs, note


def measure_all(
    commands: list[Command], repeat: int, env: dict[str, str], memory: bool, tree: Path
) -> list[Measured]:
    """Time every command `repeat` times, interleaved, then sample memory once each.

    Interleaving (round 1 of every command, then round 2, ...) spreads a change in the
    machine's load over all commands instead of charging it to whichever ran at the time.
    """
    measured = [Measured(c.label, c.kind, c.argv, [], [], 0, 0, []) for c in commands]
    for command in commands:
        if command.warm:
            run_once(command.argv, env | command.env, REPO)
    rounds = max(c.repeat or repeat for c in commands)
    for round_number in range(1, rounds + 1):
        for command, result in zip(commands, measured, strict=True):
            if round_number > (command.repeat or repeat):
                continue
            run = run_once(command.argv, env | command.env, REPO)
            result.walls.append(run.wall)
            result.cpus.append(run.cpu)
            result.max_rss_kib = max(result.max_rss_kib, run.max_rss_kib)
            result.exit_codes.append(run.exit_code)
            result.findings, bugs, result.note = inspect_output(command, run)
            result.bugs += [bug for bug in bugs if bug not in result.bugs]
            print(
                f"{tree.name} round {round_number}: {command.label}: {run.wall:.2f} s wall, "
                f"{run.cpu:.2f} s CPU, exit {run.exit_code}",
                file=sys.stderr,
                flush=True,
            )
    if memory:
        for command, result in zip(commands, measured, strict=True):
            if command.memory:
                # A short run can end between two samples: never below the largest process.
                sampled = tree_rss_peak(command.argv, env | command.env, REPO)
                result.tree_rss_kib = max(sampled, result.max_rss_kib)
    return measured


# --------------------------------------------------------------------------- file counts

_COUNT_FILES = """
import json, sys
from celerymod import config, registry, runner
from celerymod.discovery import discover
from celerymod.analysis.index import INDEX_PATTERNS
tree = sys.argv[1]
run_config = config.load([tree], config.Options())
files, _ = discover([tree], run_config.exclude, run_config.respect_gitignore)
byte_passed = indexed = 0
for file in files:
    with open(file.absolute, "rb") as handle:
        source = handle.read()
    byte_passed += bool(registry.matching_rules(source, run_config))
    indexed += any(pattern in source for pattern in INDEX_PATTERNS)
# What the engine really parsed with libcst, after any later prefilter (FileResult.parsed).
index = runner.build_index(files, run_config)
parsed = sum(result.parsed for result in runner.run(files, run_config, index))
print(json.dumps({
    "discovered": len(files),
    "byte_passed": byte_passed,
    "parsed": parsed,
    "skipped": len(files) - parsed,
    "index_pass": runner.needs_index(run_config),
    "index_parsed": indexed,
    "rules": [rule.code for rule in registry.RULES if run_config.selects(rule.code)],
}))
"""


def file_counts(tree: Path, ruff: str, env: dict[str, str]) -> dict[str, object]:
    counts: dict[str, object] = json.loads(
        subprocess.run(
            [sys.executable, "-c", _COUNT_FILES, str(tree)],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    shown = subprocess.run(
        [ruff, "check", "--isolated", "--show-files", str(tree)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout
    counts["ruff_files"] = sum(1 for line in shown.splitlines() if line.strip().endswith(".py"))
    counts["on_disk"] = sum(1 for _ in tree.rglob("*.py"))
    return counts


# --------------------------------------------------------------------------- report


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}" if kib else "n/a"


def table(tree: str, measured: list[Measured], counts: dict[str, object]) -> str:
    by_label = {m.label: m for m in measured}
    ruff = by_label["ruff ASYNC251"].wall
    serial = by_label["plain libcst, serial"].wall if "plain libcst, serial" in by_label else 0
    pooled = by_label["plain libcst, pool of 2"].wall if "plain libcst, pool of 2" in by_label else 0
    lines = [
        f"### {tree}",
        "",
        f"{counts['on_disk']} `.py` files on disk; celerymod discovered {counts['discovered']}; "
        f"{counts['byte_passed']} passed its byte prefilter (rules "
        f"{', '.join(counts['rules'])}), "  # type: ignore[arg-type]
        f"its rules parsed {counts['parsed']} with libcst and skipped {counts['skipped']}; "
        + (
            f"its index pass parsed {counts['index_parsed']}; "
            if counts["index_pass"]
            else "no selected rule needs the index pass; "
        )
        + f"ruff checked {counts['ruff_files']}.",
        "",
        (
            "| command | wall s (median) | min–max | CPU s | × ruff | × libcst serial "
            "| × libcst pool 2 | peak RSS MiB (largest process) | peak RSS MiB (whole tree) "
            "| exit | reported |"
        ),
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for m in measured:
        reported = ", ".join(f"{code}: {n}" for code, n in sorted(m.findings.items()))
        reported = "; ".join(part for part in (reported, m.note) if part) or "none"
        exits = ",".join(sorted({str(c) for c in m.exit_codes}))
        lines.append(
            f"| {m.label} | {m.wall:.2f} | {min(m.walls):.2f}–{max(m.walls):.2f} | {m.cpu:.2f} "
            f"| {m.wall / ruff:.1f}× | {_ratio(m.wall, serial)} | {_ratio(m.wall, pooled)} "
            f"| {_mib(m.max_rss_kib)} | {_mib(m.tree_rss_kib)} | {exits} | {reported} |"
        )
    return "\n".join(lines)


def _ratio(wall: float, baseline: float) -> str:
    return f"{wall / baseline:.2f}" if baseline else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark celerymod vs ruff vs plain libcst.")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per command (median)")
    parser.add_argument("--tree", action="append", choices=PROJECTS, help="default: both")
    parser.add_argument(
        "--commit", help="measure this celerymod commit (default: the working tree)"
    )
    parser.add_argument(
        "--sdists", type=Path, help="folder with <project>-*.tar.gz to copy instead of downloading"
    )
    parser.add_argument(
        "--fix-repeat", type=int, default=1, help="timed runs of celerymod fix (default 1)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the sampled tree-RSS run")
    parser.add_argument(
        "--with-metadata",
        action="store_true",
        help="also time plain libcst resolving scope/qualified-name metadata (slow)",
    )
    parser.add_argument(
        "--no-plain-libcst",
        action="store_true",
        help="skip the plain libcst rows (the slowest part of a run)",
    )
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    options = parser.parse_args(argv)
    # Stopped with `kill`: exit through Python so the running command's group is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    ruff = str(BIN / "ruff") if (BIN / "ruff").exists() else shutil.which("ruff")
    if ruff is None:
        parser.error("ruff not found: pip install -e '.[bench]'")
    env, measured_version = celerymod_source(options.commit)
    ruff_version = subprocess.run(
        [ruff, "--version"], check=False, capture_output=True, text=True
    ).stdout.strip()

    started = datetime.datetime.now().astimezone()
    header = [
        (
            f"Measured {started:%Y-%m-%d %H:%M %Z}; celerymod {measured_version}; "
            f"{ruff_version}; libcst {_version('libcst')}; "
            f"Python {platform.python_version()}; {os.cpu_count()} cores; "
            f"load average at start {os.getloadavg()[0]:.2f}; "
            f"{options.repeat} timed runs per command ({options.fix_repeat} for fix), median."
        ),
    ]
    sections: list[str] = []
    bugs: list[str] = []
    everything: dict[str, object] = {"header": header[0], "trees": {}}
    cache_root = Path(tempfile.mkdtemp(prefix="celerymod-bench-cache-"))
    for project in options.tree or PROJECTS:
        tree = ensure_tree(project, options.sdists).relative_to(REPO)
        counts = file_counts(tree, ruff, env)
        measured = measure_all(
            commands(
                tree,
                ruff,
                options.with_metadata,
                options.fix_repeat,
                not options.no_plain_libcst,
                cache_root,
            ),
            options.repeat,
            env,
            not options.no_memory,
            tree,
        )
        bugs += [bug for m in measured for bug in m.bugs]
        sections.append(table(tree.name, measured, counts))
        everything["trees"][tree.name] = {  # type: ignore[index]
            "counts": counts,
            "measured": [
                asdict(m) | {"median_wall": m.wall, "median_cpu": m.cpu} for m in measured
            ],
        }
    report = "\n\n".join([*header, *sections])
    report += "\n\n" + (
        "celerymod bugs: none (no traceback, no internal error, exit 0/1 on every run)."
        if not bugs
        else "celerymod bugs:\n" + "\n".join(f"- {bug}" for bug in bugs)
    )
    report += f"\n\nLoad average at the end: {os.getloadavg()[0]:.2f}."
    shutil.rmtree(cache_root, ignore_errors=True)
    print(report)
    if options.json:
        everything["bugs"] = bugs
        options.json.write_text(json.dumps(everything, indent=2))
    return 1 if bugs else 0


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


if __name__ == "__main__":
    sys.exit(main())
