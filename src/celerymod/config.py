"""`[tool.celerymod]` in the nearest `pyproject.toml`, validated, merged with the CLI.

An unknown key, an unknown rule code or a value of the wrong type is an error that names the
key and the file: a typo must not silently turn a check off.
"""

from __future__ import annotations

import os
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
    "select": _Key(
        list, "rule codes or prefixes to run: CEL001, CEL00, CEL, ALL (default: all but CEL006)"
    ),
    "extend-select": _Key(list, "rule codes or prefixes to run on top of `select`"),
    "ignore": _Key(list, "rule codes or prefixes to skip"),
    "per-file-ignores": _Key(
        dict, "gitignore-style pattern -> rule codes to skip in matching files"
    ),
    "exclude": _Key(list, "gitignore-style patterns of paths to skip"),
    "extend-exclude": _Key(list, "more patterns of paths to skip, on top of `exclude`"),
    "strategy": _Key(str, "how CEL001 rewrites return: metadata or replace"),
    "task-decorators": _Key(list, "extra decorators (dotted names) that define Celery tasks"),
    "respect-gitignore": _Key(bool, "skip files matched by .gitignore (default: true)"),
    "force-exclude": _Key(
        bool, "apply exclude to files named on the command line too (default: false)"
    ),
    "unsafe-fixes": _Key(bool, "let `fix --write` apply review fixes too (default: false)"),
    "cache-dir": _Key(str, "where results are cached between runs (default: .celerymod_cache)"),
    "output-format": _Key(str, "how `check` prints findings: text, json, github or sarif"),
    "result-timeout": _Key(
        float, "seconds CEL006's fix passes as `timeout=` to result waits (default: unset)"
    ),
}

OUTPUT_FORMATS = ("text", "json", "github", "sarif")


# A task decorator is named by its dotted path (`myproject.celery.app.task`).
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Options:
    """What the command line said; None means "not given, use the config file"."""

    select: Sequence[str] | None = None
    extend_select: Sequence[str] | None = None
    ignore: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    strategy: str | None = None
    jobs: int | None = None
    unsafe_fixes: bool | None = None
    no_cache: bool = False
    force_exclude: bool | None = None
    config_file: str | None = None  # --config: this file instead of the nearest pyproject


def find_pyproject(start: Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start`.

    os.path's checks, not Path's: they say False for a folder that cannot be searched
    (chmod 000) instead of raising, and discovery then reports that folder by name.
    """
    folder = start.resolve()
    if not os.path.isdir(folder):
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        if os.path.isfile(candidate / "pyproject.toml"):
            return candidate / "pyproject.toml"
    return None


def load(paths: Sequence[str], options: Options) -> RunConfig:
    """Build the run's config from the pyproject nearest the first path and the CLI."""
    return load_with_origins(paths, options)[0]


def load_with_origins(
    paths: Sequence[str], options: Options
) -> tuple[RunConfig, dict[str, str]]:
    """The run's config and, per setting, where its value came from (`--show-settings`):
    "default", "--option" or the config file's `key`."""
    pyproject = _config_file(paths, options)
    table: dict[str, Any] = _read_table(pyproject) if pyproject else {}
    where = str(pyproject) if pyproject else "the command line"
    file = str(pyproject) if pyproject else None
    origins: dict[str, str] = {}

    def origin(setting: str, cli: object, key: str) -> None:
        if cli is not None and cli is not False and cli != []:
            origins[setting] = f"--{key}"
        elif key in table:
            origins[setting] = f"`{key}` in {where}"
        else:
            origins.setdefault(setting, "default")

    def codes(key: str, raw: Sequence[str] | None, from_cli: bool) -> set[str] | None:
        if raw is None:
            return None
        found: set[str] = set()
        for item in raw:
            for selector in str(item).split(","):
                selector = selector.strip().upper()
                if not selector:
                    continue
                matched = _expand(selector)
                if not matched:
                    known = ", ".join(registry.BY_CODE)
                    problem = f"unknown rule code {selector!r}"
                    hint = f"(known: {known}, a prefix of them such as CEL00, or ALL)"
                    if from_cli:
                        raise ConfigError(f"{problem} in --{key} {hint}")
                    raise ConfigError(f"{problem} in `tool.celerymod.{key}` in {where} {hint}", file)
                found |= matched
        if key == "select" and not found:
            # An empty selection would check nothing and print "All checks passed!".
            source = "--select" if from_cli else f"`tool.celerymod.select` in {where}"
            known = ", ".join(registry.BY_CODE)
            raise ConfigError(f"{source} selects no rule (known: {known})", None if from_cli else file)
        return found

    # As in ruff: the config file's selection, then the command line's; a `select` starts
    # over from its own codes, `extend-select` adds, `ignore` removes.
    enabled = set(registry.DEFAULT_CODES)
    layers = (
        (False, table.get("select"), table.get("extend-select"), table.get("ignore")),
        (True, options.select, options.extend_select, options.ignore),
    )
    for from_cli, select, extend, ignore in layers:
        chosen = codes("select", select, from_cli)
        if chosen is not None:
            enabled = chosen
        enabled |= codes("extend-select", extend, from_cli) or set()
        enabled -= codes("ignore", ignore, from_cli) or set()
    # Where the rule selection came from: a --select starts over, so the config's is gone.
    rule_keys = (("select", "select"), ("extend-select", "extend_select"), ("ignore", "ignore"))
    sources = [f"--{key}" for key, attr in rule_keys if getattr(options, attr) is not None]
    if options.select is None:
        sources += [f"`{key}` in {where}" for key, _ in rule_keys if key in table]
    origins["rules"] = ", ".join(sources) or "default"

    per_file: list[tuple[str, frozenset[str]]] = []
    for pattern, listed in table.get("per-file-ignores", {}).items():
        ignored = codes(f"per-file-ignores.{pattern!r}", listed, False) or set()
        per_file.append((pattern, frozenset(ignored)))
    origin("per-file-ignores", None, "per-file-ignores")

    # `strategy = ""` is a mistake to report, not the default.
    default = table.get("strategy", Strategy.METADATA.value)
    strategy_name = options.strategy or default
    origin("strategy", options.strategy, "strategy")
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
    output_format = table.get("output-format", "text")
    if output_format not in OUTPUT_FORMATS:
        raise ConfigError(
            f"`tool.celerymod.output-format` in {where} must be one of "
            f"{', '.join(OUTPUT_FORMATS)}, not {output_format!r}",
            file,
        )
    exclude = [*table.get("exclude", []), *table.get("extend-exclude", []), *(options.exclude or [])]
    origin("exclude", options.exclude, "exclude")
    if "extend-exclude" in table and origins["exclude"] == "default":
        origins["exclude"] = f"`extend-exclude` in {where}"
    if options.jobs is not None and options.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    for setting, cli, key in (
        ("jobs", options.jobs, "jobs"),
        ("task-decorators", None, "task-decorators"),
        ("respect-gitignore", None, "respect-gitignore"),
        ("force-exclude", options.force_exclude, "force-exclude"),
        ("unsafe-fixes", options.unsafe_fixes, "unsafe-fixes"),
        ("cache-dir", True if options.no_cache else None, "no-cache" if options.no_cache else "cache-dir"),
        ("output-format", None, "output-format"),
        ("result-timeout", None, "result-timeout"),
    ):
        origin(setting, cli, key)
    run_config = RunConfig(
        select=None if enabled == set(registry.BY_CODE) else frozenset(enabled),
        per_file_ignores=tuple(per_file),
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
        output_format=output_format,
        result_timeout=_result_timeout(table, where, file),
    )
    return run_config, origins


def _result_timeout(table: dict[str, Any], where: str, file: str | None) -> float | None:
    """`result-timeout`: a positive number of seconds, or None when unset."""
    value = table.get("result-timeout")
    if value is None:
        return None
    if value <= 0:
        raise ConfigError(
            f"`tool.celerymod.result-timeout` in {where} must be a positive number of "
            f"seconds, not {value!r}",
            file,
        )
    return float(value)


def _expand(selector: str) -> set[str]:
    """The rule codes a selector names: `ALL`, a code, or a prefix of codes (`CEL00`)."""
    if selector == "ALL":
        return set(registry.BY_CODE)
    return {code for code in registry.BY_CODE if code.startswith(selector)}


def _config_file(paths: Sequence[str], options: Options) -> Path | None:
    """`--config PATH`, else the pyproject nearest the first path (or the current folder)."""
    if options.config_file is not None:
        given = Path(options.config_file)
        if not os.path.isfile(given):
            raise ConfigError(f"--config {options.config_file}: no such file")
        return given
    start = Path(paths[0]) if paths and paths[0] != "-" else Path.cwd()
    return find_pyproject(start if os.path.exists(start) else Path.cwd())


def _read_table(pyproject: Path) -> dict[str, Any]:
    """The `[tool.celerymod]` table, every key known and every value of its key's type."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {pyproject}: {error}", str(pyproject)) from None
    tool = data.get("tool", {})
    table = tool.get("celerymod", {}) if isinstance(tool, dict) else {}
    if pyproject.name != "pyproject.toml" and "tool" not in data:
        table = data  # A `--config celerymod.toml` holds the keys at its top level.
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
        # TOML spells `30` as an int: a number key takes both (but not a bool).
        kind: type | tuple[type, ...] = (int, float) if spec.kind is float else spec.kind
        if not isinstance(value, kind) or (isinstance(value, bool) and spec.kind is float) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ) or (
            isinstance(value, dict)
            and not all(
                isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
            )
        ):
            wanted = {
                list: "a list of strings",
                str: "a string",
                bool: "true or false",
                dict: 'a table of pattern = ["CODE", ...]',
                float: "a number of seconds",
            }
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
