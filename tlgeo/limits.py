"""Work limits with safe defaults: a small file must not be able to ask for unbounded work.

Each limit is read from an environment variable when it is checked, so a user raises it for one command, e.g.
``TLGEO_MAX_PIXELS=4000000000 tlgeo predict …``:

| variable | default | what |
|---|---|---|
| ``TLGEO_MAX_PIXELS`` | 400,000,000 | pixels (width × height) of one input raster or image |
| ``TLGEO_MAX_WINDOWS`` | 200,000 | windows (tiles) one command predicts |
| ``TLGEO_MAX_DECOMPRESSED_MB`` | 512 | decompressed size of one compressed input file (``.gz``) |
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from tlgeo.errors import ConfigError, DataFileError

PIXELS_ENV = "TLGEO_MAX_PIXELS"
WINDOWS_ENV = "TLGEO_MAX_WINDOWS"
DECOMPRESSED_ENV = "TLGEO_MAX_DECOMPRESSED_MB"

DEFAULT_MAX_PIXELS = 400_000_000
DEFAULT_MAX_WINDOWS = 200_000
DEFAULT_MAX_DECOMPRESSED_MB = 512


def _read(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"Environment variable {env}={raw!r} is not a positive number",
            hint=f"Unset {env} or set e.g. {env}={default:g}.",
        )
    return value


def max_pixels() -> int:
    """Most pixels (width × height) of one input raster (``$TLGEO_MAX_PIXELS``)."""
    return int(_read(PIXELS_ENV, DEFAULT_MAX_PIXELS))


def max_windows() -> int:
    """Most windows one command predicts (``$TLGEO_MAX_WINDOWS``)."""
    return int(_read(WINDOWS_ENV, DEFAULT_MAX_WINDOWS))


def max_decompressed_bytes() -> int:
    """Most bytes one compressed input may inflate to (``$TLGEO_MAX_DECOMPRESSED_MB`` MiB)."""
    return int(_read(DECOMPRESSED_ENV, DEFAULT_MAX_DECOMPRESSED_MB) * 1024 * 1024)


def check_pixels(path: str | Path, width: int, height: int) -> None:
    """Refuse a raster or image larger than :func:`max_pixels`.

    Raises:
        DataFileError: Naming the file, its size and how to raise the limit.
    """
    limit = max_pixels()
    if int(width) * int(height) > limit:
        raise DataFileError(
            f"{path} is {width:,} × {height:,} px, over the limit of {limit:,} px per raster",
            hint=f"Cut it into smaller files, or raise the limit with {PIXELS_ENV}={int(width) * int(height)}.",
            path=path,
        )


def check_windows(n: int, what: str = "the inputs") -> None:
    """Refuse a command that would predict more than :func:`max_windows` windows.

    Raises:
        ConfigError: Naming the count and how to raise the limit (or use a larger --stride).
    """
    limit = max_windows()
    if n > limit:
        raise ConfigError(
            f"{what} would need {n:,} windows, over the limit of {limit:,} per command",
            hint=f"Use a larger --stride, fewer inputs, or raise the limit with {WINDOWS_ENV}={n}.",
        )


def check_decompressed(path: str | Path) -> None:
    """Refuse a ``.gz`` file that inflates beyond :func:`max_decompressed_bytes` (streamed, constant memory).

    Raises:
        DataFileError: Naming the file, the limit and how to raise it; or the file is not valid gzip.
    """
    path = Path(path)
    if not path.name.lower().endswith(".gz") or not path.is_file():
        return
    limit = max_decompressed_bytes()
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise DataFileError(
                        f"{path} inflates to more than {limit // (1024 * 1024):,} MiB",
                        hint=f"Split the file, or raise the limit with {DECOMPRESSED_ENV}="
                        f"{2 * limit // (1024 * 1024)}.",
                        path=path,
                    )
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(
            f"{path} is not a valid gzip file ({exc})",
            hint="Compress it again with gzip, or pass the plain CSV.",
            path=path,
        ) from None


@contextlib.contextmanager
def pillow_limit() -> Iterator[int]:
    """Pillow's decompression-bomb limit set to :func:`max_pixels` inside the block (restored afterwards).

    Pillow raises ``DecompressionBombError`` above twice its limit; callers map that to a one-line error.
    """
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels()
    try:
        yield Image.MAX_IMAGE_PIXELS
    finally:
        Image.MAX_IMAGE_PIXELS = old
