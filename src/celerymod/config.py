"""`[tool.celerymod]` in the nearest `pyproject.toml`, validated, merged with the CLI.

An unknown key, an unknown rule code or a value of the wrong type is an error that names the
key and the file: a typo must not silently turn a check off.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celerymod import cache, registry
from celerymod.model import RunConfig, Strategy


class ConfigError(Exception):
    """Bad configuration or options; the CLI exits 2 with this message.

    `path` is the config file at fault, or None when the command line is.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class _Key:
    kind: type
    help: str


KEYS: dict[str, _Key] = {
    "select": _Key(list, "rule codes to run (default: all)"),
    "ignore": _Key(list, "rule codes to skip"),
    "exclude": _Key(list, "gitignore-style patterns of paths to skip"),
    "strategy": _Key(str, "how CEL001 rewrites return: metadata or replace"),
    "task-decorators": _Key(list, "extra decorators (dotted names) that define Celery tasks"),
    "respect-gitignore": _Key(bool, "skip files matched by .gitignore (default: true)"),
    "force-exclude": _Key(
        bool, "apply exclude to files named on the command line too (default: false)"
    ),
    "unsafe-fixes": _Key(bool, "let `fix --write` apply review fixes too (default: false)"),
    "cache-dir": _Key(str, "where results are cached between runs (default: .celerymod_cache)"),
}


# A task decorator is named by its dotted path (`myproject.celery.app.task`).
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Options:
    """What the command line said; None means "not given, use the config file"."""

    select: Sequence[str] | None = None
    ignore: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    strategy: str | None = None
    jobs: int | None = None
    unsafe_fixes: bool | None = None
    no_cache: bool = False
    force_exclude: bool | None = None


def find_pyproject(start: Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start`."""
    folder = start.resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate / "pyproject.toml"
    return None


def load(paths: Sequence[str], options: Options) -> RunConfig:
    """Build the run's config from the pyproject nearest the first path and the CLI."""
    start = Path(paths[0]) if paths and paths[0] != "-" else Path.cwd()
    pyproject = find_pyproject(start if start.exists() else Path.cwd())
    table: dict[str, Any] = _read_table(pyproject) if pyproject else {}
    where = str(pyproject) if pyproject else "the command line"
    file = str(pyproject) if pyproject else None

    def codes(key: str, given: Sequence[str] | None) -> list[str] | None:
        raw = given if given is not None else table.get(key)
        if raw is None:
            return None
        expanded = [code.strip().upper() for item in raw for code in str(item).split(",")]
        unknown = [code for code in expanded if code and code not in registry.BY_CODE]
        if unknown:
            known = ", ".join(registry.BY_CODE)
            if given is not None:
                raise ConfigError(f"unknown rule code {unknown[0]!r} in --{key} (known: {known})")
            raise ConfigError(
                f"unknown rule code {unknown[0]!r} in `tool.celerymod.{key}` in {where} "
                f"(known: {known})",
                file,
            )
        return [code for code in expanded if code]

    select = codes("select", options.select)
    if select is not None and not select:
        # An empty selection would check nothing and print "All checks passed!".
        source = "--select" if options.select is not None else f"`tool.celerymod.select` in {where}"
        known = ", ".join(registry.BY_CODE)
        raise ConfigError(f"{source} selects no rule (known: {known})", file)
    ignore = codes("ignore", options.ignore) or []
    # `strategy = ""` is a mistake to report, not the default.
    default = table.get("strategy", Strategy.METADATA.value)
    strategy_name = options.strategy or default
    try:
        strategy = Strategy(strategy_name)
    except ValueError:
        choices = ", ".join(s.value for s in Strategy)
        if options.strategy:
            message = f"unknown strategy {strategy_name!r} (choose from {choices})"
            raise ConfigError(message) from None
        raise ConfigError(
            f"`tool.celerymod.strategy` in {where} must be one of {choices}, not {strategy_name!r}",
            file,
        ) from None
    exclude = [*table.get("exclude", []), *(options.exclude or [])]
    if options.jobs is not None and options.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    return RunConfig(
        select=frozenset(select) if select is not None else None,
        ignore=frozenset(ignore),
        exclude=tuple(exclude),
        strategy=strategy,
        task_decorators=tuple(table.get("task-decorators", [])),
        jobs=options.jobs,
        config_path=str(pyproject) if pyproject else None,
        respect_gitignore=bool(table.get("respect-gitignore", True)),
        force_exclude=(
            options.force_exclude
            if options.force_exclude is not None
            else bool(table.get("force-exclude", False))
        ),
        unsafe_fixes=(
            options.unsafe_fixes
            if options.unsafe_fixes is not None
            else bool(table.get("unsafe-fixes", False))
        ),
        cache_dir=(
            None
            if options.no_cache
            else cache.resolve_dir(table.get("cache-dir"), str(pyproject) if pyproject else None)
        ),
    )


def _read_table(pyproject: Path) -> dict[str, Any]:
    """The `[tool.celerymod]` table, every key known and every value of its key's type."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {pyproject}: {error}", str(pyproject)) from None
    tool = data.get("tool", {})
    table = tool.get("celerymod", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"`tool.celerymod` in {pyproject} must be a table", str(pyproject))
    for key, value in table.items():
        spec = KEYS.get(key)
        if spec is None:
            known = ", ".join(KEYS)
            raise ConfigError(
                f"unknown key `tool.celerymod.{key}` in {pyproject} (known: {known})",
                str(pyproject),
            )
        if not isinstance(value, spec.kind) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ):
            wanted = {list: "a list of strings", str: "a string", bool: "true or false"}
            raise ConfigError(
                f"`tool.celerymod.{key}` in {pyproject} must be {wanted[spec.kind]}, "
                f"not {value!r}",
                str(pyproject),
            )
    for name in table.get("task-decorators", []):
        if not _DOTTED_NAME.fullmatch(name):
            raise ConfigError(
                f"`tool.celerymod.task-decorators` in {pyproject} must hold dotted names "
                f"(like `myproject.celery.app.task`), not {name!r}",
                str(pyproject),
            )
    return table
