"""Command-line flags as data: what a task (or any library module) offers, without argparse.

A :class:`Flag` names one option, its kind, range, choices and default; :mod:`tlgeo.cli` turns flags into argparse
options (the only place that imports argparse). Tasks list their ``tlgeo labels <task>`` flags this way, so the
registry stays the seam between tasks and command groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Kinds a flag can take: text, a filesystem path, a whole number, a finite number, an on/off switch.
FLAG_KINDS = ("str", "path", "int", "float", "switch")


@dataclass(frozen=True)
class Flag:
    """One command-line option.

    Attributes:
        name: The option as typed, e.g. ``"--min-speed"``.
        help: One line of help.
        kind: One of :data:`FLAG_KINDS`.
        required: The option must be given.
        default: Value when the option is absent (``None``: the settings decide).
        choices: Allowed values (text flags).
        many: The option takes one or more values.
        minimum: Smallest allowed value (numbers).
        maximum: Largest allowed value (numbers).
        exclusive_min: ``minimum`` itself is not allowed.
    """

    name: str
    help: str = ""
    kind: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] | None = None
    many: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FLAG_KINDS:
            raise ValueError(f"Flag {self.name}: kind {self.kind!r} is not one of {', '.join(FLAG_KINDS)}")

    @property
    def dest(self) -> str:
        """The attribute name the parsed value is stored under (``--min-speed`` → ``min_speed``)."""
        return self.name.lstrip("-").replace("-", "_")
