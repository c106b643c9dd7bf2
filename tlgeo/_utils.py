"""Small helpers shared by every layer: atomic writes, the cache folder, dataclass (de)serialisation."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tlgeo.errors import ConfigError

CACHE_ENV = "TLGEO_CACHE"


def cache_dir(sub: str | None = None) -> Path:
    """The user's tlgeo cache folder: ``$TLGEO_CACHE``, else the platform's user cache folder (``platformdirs``:
    ``$XDG_CACHE_HOME/tlgeo`` or ``~/.cache/tlgeo`` on Linux, ``~/Library/Caches/tlgeo`` on macOS,
    ``%LOCALAPPDATA%\\tlgeo\\Cache`` on Windows).

    Args:
        sub: Optional sub-folder, created if missing.
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        base = Path(root).expanduser()
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("tlgeo", appauthor=False))
    path = base / sub if sub else base
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_file(path: str | Path, what: str = "File") -> Path:
    """Check that ``path`` is an existing, non-empty file.

    Args:
        path: The file.
        what: What the file is, for the message (e.g. ``"Raster file"``).

    Raises:
        DataFileError: Missing, a folder, or 0 bytes — naming the file and what to do.
    """
    from tlgeo.errors import DataFileError

    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{what} {path} does not exist", hint="Check the path.", path=path)
    if path.is_dir():
        raise DataFileError(f"{path} is a folder, not a {what.lower()}", hint="Pass the file itself.", path=path)
    if path.stat().st_size == 0:
        raise DataFileError(f"{what} {path} is empty (0 bytes)", hint="Export or copy the file again.", path=path)
    return path


def refuse_existing(*paths: str | Path | None, overwrite: bool) -> None:
    """Raise before any work if an output exists and overwriting was not asked for.

    Raises:
        OutputExistsError: Naming the first existing path.
    """
    if overwrite:
        return
    from tlgeo.errors import OutputExistsError

    for p in paths:
        if p is not None and Path(p).exists():
            raise OutputExistsError(
                f"{p} already exists", hint="Choose another output path or pass --overwrite.", path=Path(p)
            )


@contextlib.contextmanager
def atomic_path(target: str | Path, *, overwrite: bool = True, replace_folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed onto ``target``.

    A crash or exception leaves ``target`` untouched (the temporary file is removed). Works for files and new
    folders. An existing folder is never replaced (nor deleted) unless ``replace_folder`` is given: the sample
    generator swaps its own task folders that way.

    Args:
        target: Final path.
        overwrite: If False and ``target`` exists, raise ``FileExistsError`` before anything is written.
        replace_folder: Allow replacing an existing folder ``target`` (its old content is removed).

    Raises:
        OutputExistsError: ``target`` exists and ``overwrite`` is False, or it is a folder (without ``replace_folder``).
    """
    from tlgeo.errors import OutputExistsError

    target = Path(target)
    if target.is_dir() and not target.is_symlink() and not replace_folder:
        raise OutputExistsError(
            f"{target} is a folder; tlgeo never replaces a folder", hint="Give a file path instead.", path=target
        )
    refuse_existing(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if replace_folder and target.is_dir() and not target.is_symlink():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


def atomic_write_text(target: str | Path, text: str, *, overwrite: bool = True) -> Path:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def atomic_write_json(target: str | Path, data: Any, *, overwrite: bool = True) -> Path:
    """Write ``data`` as indented JSON to ``target`` atomically."""
    return atomic_write_text(target, json.dumps(data, indent=2, default=_json_default) + "\n", overwrite=overwrite)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj):
        return to_dict(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def to_dict(obj: Any) -> Any:
    """Turn a (nested) dataclass into plain JSON-able Python values (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def from_dict(cls: type, data: dict[str, Any] | None, *, where: str = "settings") -> Any:
    """Build dataclass ``cls`` from a mapping, recursing into nested dataclasses.

    Unknown keys raise :class:`ConfigError` naming the key and listing the accepted ones.

    Args:
        cls: A dataclass type.
        data: Mapping of field values; missing fields keep their defaults.
        where: Name of the source, used in error messages.
    """
    if data is None:
        return cls()
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table of settings for {cls.__name__}, received {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}",
            hint=f"Accepted settings are: {', '.join(fields)}.",
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except (ConfigError, TypeError, ValueError):
                continue
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=where)
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        return tuple(value)
    if origin is dict and isinstance(value, dict):
        return dict(value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, received {value!r}")
    return value


def human_bytes(n: float) -> str:
    """Format a byte count: ``human_bytes(2048) == '2.0 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"
