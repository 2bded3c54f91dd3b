"""Which files a run looks at: the paths given, `.gitignore`, excludes, no virtualenvs.

Explicitly named files are always taken, like ruff and black do, unless `force_exclude` is
set (`--force-exclude`, what pre-commit hooks need: they name every staged file). Files found
by walking a folder honour the exclude patterns and `.gitignore` and skip tool and build
output. Symlinks are never followed out of the folder being walked.

Exclude patterns are gitignore-style and, like ruff's, relative to the project root (the
folder of the pyproject.toml, else the current folder): `migrations/` skips every folder of
that name, `app/views.py` that one file, `*_pb2.py` any file so named.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from celerymod.model import FileError

SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".eggs",
        "__pycache__",
        "__pypackages__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "node_modules",
        "site-packages",
        "build",
        "dist",
        "_build",
        "buck-out",
    }
)


@dataclass(frozen=True)
class SourceFile:
    """A file to process: how to show it, where it is, and its dotted module name."""

    path: str
    absolute: str
    module_name: str | None


def discover(
    paths: Sequence[str],
    exclude: Sequence[str],
    respect_gitignore: bool = True,
    *,
    base: str | None = None,
    force_exclude: bool = False,
) -> tuple[list[SourceFile], list[FileError]]:
    """Expand `paths` into the Python files to process, plus errors for missing paths.

    `base` is the folder exclude patterns are relative to (default: the current folder).
    """
    errors: list[FileError] = []
    excluded = _Excluder(_spec(exclude, "exclude", errors), Path(base or os.getcwd()))
    files: dict[str, SourceFile] = {}
    for given in paths:
        root = Path(given)
        try:
            os.lstat(root)
        except (FileNotFoundError, NotADirectoryError):
            errors.append(FileError(given, "no such file or directory"))
            continue
        except OSError as error:  # In a folder that cannot be searched: not "no such file".
            errors.append(FileError(given, f"cannot read: {error.strerror or error}"))
            continue
        problem = _not_a_file(root)
        if problem and problem != "not a regular file or folder":
            errors.append(FileError(given, problem))
            continue
        if root.is_file():
            if not (force_exclude and excluded(root, root.parent, False)):
                _add(files, os.path.normpath(given), root.resolve())
            continue
        if not root.is_dir():
            errors.append(FileError(given, "not a regular file or folder"))
            continue
        walk_excluded = excluded
        if excluded(root, root.parent, True):
            if force_exclude:
                continue
            # Named on purpose: the patterns apply below it, relative to it, as they would
            # to a folder walked outside the project.
            walk_excluded = _Excluder(excluded.spec, root)
        packages: dict[Path, tuple[str, ...] | None] = {}  # Resolved folder -> its package.
        for found, real in _walk(root, walk_excluded, respect_gitignore, errors):
            display = os.path.normpath(os.path.join(given, found.relative_to(root)))
            _add(files, display, real, packages)
    return sorted(files.values(), key=lambda f: f.path), errors


def _spec(lines: Sequence[str], where: str, errors: list[FileError]) -> pathspec.GitIgnoreSpec:
    """The patterns pathspec accepts; each one it rejects (git may accept `[z-a]` or a
    trailing backslash) is an error of `where` and is left out, never a crash."""
    good: list[str] = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except Exception as error:  # noqa: BLE001 - pathspec raises re.error and its own.
            errors.append(FileError(where, f"pattern {line!r} ignored: {error}"))
            continue
        good.append(line)
    return pathspec.GitIgnoreSpec.from_lines(good)


def _not_a_file(path: Path) -> str | None:
    """Why `path` cannot be read as a source file or walked as a folder; None if it can."""
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "cannot read: symbolic link loop"
        if os.path.islink(path):
            return "cannot read: broken symbolic link"
        return f"cannot read: {error.strerror or error}"
    if stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
        return None
    return "not a regular file or folder"


def _add(
    files: dict[str, SourceFile],
    display: str,
    real: Path,
    packages: dict[Path, tuple[str, ...] | None] | None = None,
) -> None:
    """Add the file whose resolved path is `real`, unless another path already named it."""
    absolute = str(real)
    if absolute not in files:
        files[absolute] = SourceFile(display, absolute, _module_name(real, packages or {}))


@dataclass(frozen=True)
class _Excluder:
    """Whether a path matches an exclude pattern, as ruff and gitignore match them."""

    spec: pathspec.GitIgnoreSpec
    base: Path

    def __call__(self, path: Path, walked_from: Path, is_dir: bool) -> bool:
        if not self.spec.patterns:
            return False
        suffix = "/" if is_dir else ""
        absolute = Path(os.path.abspath(path))
        base = Path(os.path.abspath(self.base))
        if _inside(absolute, base) and absolute != base:
            # Relative to the project root: `app/views.py` names that file wherever the run
            # started, and `migrations/` matches at any depth.
            return self.spec.match_file(absolute.relative_to(base).as_posix() + suffix)
        # Outside the project root: relative to the folder walked, or the file's own name.
        relative = absolute.relative_to(Path(os.path.abspath(walked_from)))
        if relative == Path("."):
            return False
        return self.spec.match_file(relative.as_posix() + suffix) or self.spec.match_file(
            path.name + suffix
        )


def _walk(
    root: Path, excluded: _Excluder, respect_gitignore: bool, errors: list[FileError]
) -> Iterator[tuple[Path, Path]]:
    """The Python files under `root` to process, each with its resolved path. Each folder
    is resolved once: below it, only a symbolic link needs resolving again."""
    real_root = root.resolve()
    ignores = _ancestor_ignores(real_root) if respect_gitignore else []
    if _ignored(ignores, real_root, True):
        # The folder was named on the command line: naming it overrides the ignore files
        # above it (as for a named file), or the run would look at nothing and pass.
        ignores = []

    def unreadable(error: OSError) -> None:
        # A subfolder that cannot be listed (chmod 000): named, and the rest is still walked.
        folder = os.path.normpath(str(error.filename))
        reason = f"cannot read folder: {error.strerror or error}; the files in it were not checked"
        errors.append(FileError(folder, reason))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unreadable):
        here = Path(dirpath)
        real_here = here.resolve()
        # os.path's checks: False, not PermissionError, inside a folder that cannot be
        # searched; os.walk then reports that folder (`unreadable`) and the walk goes on.
        if respect_gitignore and os.path.isfile(here / ".gitignore"):
            ignores = [*ignores, (real_here, _read_ignore(here / ".gitignore", errors))]
        keep: list[str] = []
        for name in sorted(dirnames):
            folder = here / name
            if name in SKIPPED_DIRS or name.endswith(".egg-info") or folder.is_symlink():
                continue
            if os.path.exists(folder / "pyvenv.cfg"):  # A virtualenv, whatever its name.
                continue
            if _ignored(ignores, real_here / name, True) or excluded(folder, root, True):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            path = here / name
            problem = _not_a_file(path)
            if problem:
                # A FIFO would block the read forever; a symlink loop cannot be resolved.
                skipped = problem if problem.startswith("cannot read") else f"skipped: {problem}"
                errors.append(FileError(str(path), skipped))
                continue
            real = real_here / name
            if path.is_symlink():
                real = path.resolve()
                if not _inside(real, real_root):
                    continue
            if _ignored(ignores, real, False) or excluded(path, root, False):
                continue
            yield path, real


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _read_ignore(path: Path, errors: list[FileError] | None = None) -> pathspec.GitIgnoreSpec:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    return _spec(lines, str(path), errors if errors is not None else [])


def _ancestor_ignores(root: Path) -> list[tuple[Path, pathspec.GitIgnoreSpec]]:
    """`.gitignore` files above `root`, up to the repository's top, outermost first."""
    found: list[tuple[Path, pathspec.GitIgnoreSpec]] = []
    for folder in root.parents:
        if os.path.isfile(folder / ".gitignore"):
            found.append((folder, _read_ignore(folder / ".gitignore")))
        if os.path.exists(folder / ".git"):
            break
    else:
        return []  # Not inside a git repository: its parents' ignore files do not apply.
    return found[::-1]


def _ignored(ignores: list[tuple[Path, pathspec.GitIgnoreSpec]], path: Path, is_dir: bool) -> bool:
    result = False
    for base, spec in ignores:
        if not _inside(path, base) or path == base:
            continue
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        # A later (deeper) ignore file may re-include what an earlier one ignored.
        check = spec.check_file(relative)
        if check.include is not None:
            result = check.include
    return result


def module_name(path: Path) -> str | None:
    """The dotted module name of a file, from the packages (`__init__.py`) around it."""
    return _module_name(path.resolve(), {})


def _module_name(real: Path, packages: dict[Path, tuple[str, ...] | None]) -> str | None:
    """`module_name` of the resolved path `real`; `packages` remembers, per folder, the
    package it is (None: not a package), so that a walk asks each folder once."""
    if real.suffix != ".py":
        return None
    own = () if real.stem == "__init__" else (real.stem,)
    return ".".join((*(_package(real.parent, packages) or ()), *own)) or None


def _package(folder: Path, packages: dict[Path, tuple[str, ...] | None]) -> tuple[str, ...] | None:
    if folder not in packages:
        if os.path.exists(folder / "__init__.py"):
            packages[folder] = (*(_package(folder.parent, packages) or ()), folder.name)
        else:
            packages[folder] = None
    return packages[folder]
