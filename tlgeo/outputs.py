"""One output-path policy for every command and writer.

- A directory is never deleted or replaced: a folder given where a file is expected is refused.
- An existing file is only replaced with ``--overwrite``.
- Before any work, every output of a command is checked: its nearest existing parent is a folder (missing folders
  are created when writing), is writable, the name fits the file system, and no two outputs share a path.
- Writes stay atomic (:func:`tlgeo._utils.atomic_path`: temporary file beside the target, then rename).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tlgeo.errors import ConfigError, DataFileError, OutputExistsError

#: Longest file name most file systems accept (bytes, UTF-8).
NAME_MAX = 255


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def check_output(path: str | Path, *, flag: str = "output", overwrite: bool = False) -> Path:
    """Check that ``path`` can be written as a file (before any work is done).

    Args:
        path: The output file.
        flag: The option that named it (e.g. ``"--out"``), for the message.
        overwrite: Whether an existing *file* may be replaced (a folder never is).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputExistsError: The path is an existing folder, or an existing file without ``overwrite``.
        DataFileError: The parent is missing, not a folder or not writable, or the name is too long.
    """
    path = Path(path)
    _check_name_lengths(path, flag, NAME_MAX)  # before touching the file system (too long a name raises there)
    if path.is_dir():
        raise OutputExistsError(
            f"{flag} {path} is a folder; tlgeo never replaces a folder",
            hint=f"Give a file path for {flag}, e.g. {path / 'out'}{_suffix_hint(flag)}.",
            path=path,
        )
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputExistsError(
                f"{flag} {path} already exists", hint="Choose another path or pass --overwrite.", path=path
            )
        if not os.access(path, os.W_OK):
            raise DataFileError(f"{flag} {path} is not writable", hint="Choose another path.", path=path)
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent  # missing folders are created when the file is written
    if not existing.is_dir():
        raise DataFileError(
            f"{flag} {path} is inside {existing}, which is a file, not a folder",
            hint="Choose a path inside a folder.",
            path=path,
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataFileError(
            f"The folder {existing} of {flag} {path} is not writable",
            hint="Choose a folder you can write to.",
            path=path,
        )
    _check_name_lengths(path, flag, _name_max(existing))  # the limit of the file system it lands on
    return path


def _check_name_lengths(path: Path, flag: str, limit: int) -> None:
    """Refuse a file name too long for ``limit`` bytes once the atomic writer's temporary name is added
    (``.<name>.<random>.tmp``, about 16 bytes longer), or a folder name over :data:`NAME_MAX`."""
    size = len(path.name.encode("utf-8"))
    if size + 16 > limit:
        raise DataFileError(
            f"The file name of {flag} is {size} bytes long, over the limit of {limit - 16} bytes ({path.name[:40]}…)",
            hint="Choose a shorter file name.",
            path=path,
        )
    if any(len(part.encode("utf-8")) > NAME_MAX for part in path.parent.parts):
        raise DataFileError(f"A folder name in {flag} {path} is too long", hint="Choose a shorter path.", path=path)


def _suffix_hint(flag: str) -> str:
    return {"--json": ".json", "--csv": ".csv", "--geotiff": ".tif"}.get(flag, ".geojson")


def check_outputs(outputs: Mapping[str, str | Path | None], *, overwrite: bool = False) -> dict[str, Path]:
    """Check every output of a command up front (see :func:`check_output`), and that no two share a path.

    Args:
        outputs: Option name → path (``None`` entries are ignored).
        overwrite: Whether existing files may be replaced.

    Returns:
        Option name → path, for the outputs given.

    Raises:
        ConfigError: Two options name the same file.
        OutputExistsError / DataFileError: See :func:`check_output`.
    """
    given = {flag: Path(p) for flag, p in outputs.items() if p is not None}
    seen: dict[Path, str] = {}
    for flag, p in given.items():
        key = Path(os.path.abspath(p))
        if key in seen:
            raise ConfigError(f"{seen[key]} and {flag} both name {p}", hint="Give each output its own path.", path=p)
        seen[key] = flag
    for flag, p in given.items():
        check_output(p, flag=flag, overwrite=overwrite)
    return given


def check_output_folder(path: str | Path, *, flag: str = "--runs") -> Path:
    """Check that ``path`` is (or can be created as) a writable folder — e.g. the folder of runs.

    Raises:
        DataFileError: ``path`` is a file, or sits below a file, or cannot be written.
    """
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise DataFileError(
            f"{flag} {path} is a file, not a folder" if probe == path else f"{flag} {path} is inside {probe}, a file",
            hint=f"Give a folder for {flag}.",
            path=path,
        )
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise DataFileError(
            f"{flag} folder {probe} is not writable", hint="Choose a folder you can write to.", path=path
        )
    if any(len(part.encode("utf-8")) > NAME_MAX for part in path.parts):
        raise DataFileError(f"A folder name in {flag} {path} is too long", hint="Choose a shorter path.", path=path)
    return path
