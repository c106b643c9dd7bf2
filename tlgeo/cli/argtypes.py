"""``type=`` helpers for argparse: every numeric option is finite, in range and an integer where it must be.

argparse turns the ``ArgumentTypeError`` these raise into one line naming the option and the value received, with
exit status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from tlgeo.flags import Flag


def _number(text: str, *, integer: bool) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    if integer:
        if not value.is_integer():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        return int(value)
    return value


def number(
    *, minimum: float | None = None, maximum: float | None = None, integer: bool = False, exclusive_min: bool = False
) -> Callable[[str], float | int]:
    """An argparse ``type`` for a finite number in ``[minimum, maximum]`` (``(minimum, …`` if ``exclusive_min``)."""

    def parse(text: str) -> float | int:
        value = _number(text, integer=integer)
        low_ok = minimum is None or (value > minimum if exclusive_min else value >= minimum)
        high_ok = maximum is None or value <= maximum
        if not (low_ok and high_ok):
            lo = "" if minimum is None else (f"> {minimum:g}" if exclusive_min else f">= {minimum:g}")
            hi = "" if maximum is None else f"<= {maximum:g}"
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range (must be {' and '.join(x for x in (lo, hi) if x)})"
            )
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


def positive_int(maximum: int | None = None) -> Callable[[str], int]:
    """A whole number ≥ 1 (and ≤ ``maximum``)."""
    return number(minimum=1, maximum=maximum, integer=True)  # type: ignore[return-value]


def nonnegative_int(maximum: int | None = None) -> Callable[[str], int]:
    """A whole number ≥ 0 (and ≤ ``maximum``)."""
    return number(minimum=0, maximum=maximum, integer=True)  # type: ignore[return-value]


def positive_float(maximum: float | None = None) -> Callable[[str], float]:
    """A finite number > 0 (and ≤ ``maximum``)."""
    return number(minimum=0, maximum=maximum, exclusive_min=True)  # type: ignore[return-value]


def nonnegative_float(maximum: float | None = None) -> Callable[[str], float]:
    """A finite number ≥ 0 (and ≤ ``maximum``)."""
    return number(minimum=0, maximum=maximum)  # type: ignore[return-value]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``error: …``, exit status 2), naming ``--help``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}. See `{self.prog} --help`.\n")


def add_flag(parser: argparse.ArgumentParser, flag: Flag) -> argparse.Action:
    """Add a :class:`~tlgeo.flags.Flag` (data from a task or a settings module) as an argparse option."""
    if flag.kind == "switch":
        return parser.add_argument(flag.name, action="store_true", help=flag.help or None)
    kwargs: dict = {"default": flag.default, "required": flag.required, "help": flag.help or None}
    if flag.kind == "path":
        kwargs["type"] = Path
    elif flag.kind in ("int", "float"):
        kwargs["type"] = number(
            minimum=flag.minimum,
            maximum=flag.maximum,
            integer=flag.kind == "int",
            exclusive_min=flag.exclusive_min,
        )
    if flag.choices is not None:
        kwargs["choices"] = list(flag.choices)
    if flag.many:
        kwargs["nargs"] = "+"
    return parser.add_argument(flag.name, **kwargs)
