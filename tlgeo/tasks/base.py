"""The task protocol and registry: what every task kind (roads, villages, classes, …) provides.

A *task* turns a task folder (``imagery/`` + the task's labels + ``tlgeo.toml``) into labelled samples
(:class:`~tlgeo.labels.TaskData`) and owns everything else that depends on the kind of label: its settings section,
where its label files are, whether its targets are ordered, categorical or continuous, and its ``tlgeo labels``
subcommand (as :class:`~tlgeo.flags.Flag` data plus a handler; :mod:`tlgeo.cli` builds the parser). The rest of tlgeo
(CLI, training, runs, metrics, maps) looks the task up by name with :func:`get_task` instead of branching on strings.
Registering a task = one module implementing :class:`Task` plus one :func:`register_task` line in :mod:`tlgeo.tasks`.

This module imports only the bottom layer (config, errors): task modules import label code lazily, so
``tlgeo.labels`` can call back into the registry without an import cycle at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tlgeo.config import TaskSettings, load_settings
from tlgeo.errors import ConfigError
from tlgeo.flags import Flag

if TYPE_CHECKING:
    from tlgeo.taskdata import TaskData

#: What a task's targets are: ordered classes (metrics add ``within_one``, maps use ramps), unordered classes
#: (categorical colours, no ``within_one``), or numbers (regression; reserved for the ``values`` task).
TARGET_KINDS = ("ordered", "categorical", "continuous")


@runtime_checkable
class Task(Protocol):
    """What a task kind provides.

    Attributes:
        name: Registry name, the value of ``task = …`` in ``tlgeo.toml``.
        title: Human name for menus and reports.
        target_kind: One of :data:`TARGET_KINDS` (a task whose kind depends on its settings reports the default and
            sets :attr:`~tlgeo.labels.TaskData.ordered` per target when loading).
        section: The ``tlgeo.toml`` section holding its label settings (``"roads"``, ``"villages"``, ``"labels"``).
    """

    name: str
    title: str
    target_kind: str
    section: str

    def label_settings(self, settings: TaskSettings) -> Any:
        """The task's own settings dataclass, read from ``settings`` (validated; raises ConfigError)."""
        ...

    def find_labels(self, taskdir: Path) -> list[Path]:
        """The label files of a task folder (raises DataFileError naming what is expected when there are none)."""
        ...

    def load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        """Read imagery + labels into labelled samples."""
        ...

    labels_help: str
    labels_flags: tuple[Flag, ...]

    def run_labels(self, args: Any) -> int:
        """``tlgeo labels <name>``: ``args`` holds one attribute per flag of :attr:`labels_flags` (``Flag.dest``)."""
        ...


class OrderedGridTask:
    """Shared part of the tasks that label grid tiles with ordered classes (``roads``, ``villages``).

    A subclass sets the :class:`Task` attributes and implements ``_load(taskdir, settings)``; the settings
    dataclass is the attribute of :class:`~tlgeo.config.TaskSettings` named like its ``section``.
    """

    name: str
    section: str
    target_kind = "ordered"

    def label_settings(self, settings: TaskSettings) -> Any:
        """The task's settings section (``settings.roads``, ``settings.villages``)."""
        return getattr(settings, self.section)

    def load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        """Grid tiles labelled by the task; every target ordered."""
        data = self._load(Path(taskdir), settings)
        data.ordered = dict.fromkeys(data.targets, True)
        return data

    def _load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        raise NotImplementedError


_REGISTRY: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task to the registry (a second task with the same name replaces the first).

    Raises:
        ConfigError: ``task`` lacks a method or attribute of :class:`Task`, or has an unknown ``target_kind``.
    """
    if not isinstance(task, Task):
        raise ConfigError(f"{task!r} does not implement the tlgeo Task protocol", hint="See tlgeo.tasks.base.Task.")
    if task.target_kind not in TARGET_KINDS:
        raise ConfigError(
            f"Task {task.name!r} has target_kind {task.target_kind!r}", hint=f"Use one of: {', '.join(TARGET_KINDS)}."
        )
    _REGISTRY[task.name] = task
    return task


def list_tasks() -> list[str]:
    """Registered task names, in registration order."""
    return list(_REGISTRY)


def get_task(name: str) -> Task:
    """The task registered as ``name``.

    Raises:
        ConfigError: One line naming the unknown task and the known ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"Unknown task {name!r}", hint=f"Use one of: {', '.join(list_tasks())} (task = … in tlgeo.toml or --task)."
        ) from None


def load_task(taskdir: str | Path, task: str | None = None, settings: TaskSettings | None = None) -> TaskData:
    """Read a task folder into labelled samples with the task named in its settings.

    Args:
        taskdir: The task folder.
        task: Overrides ``task = …`` of ``tlgeo.toml``.
        settings: Use these settings instead of reading ``tlgeo.toml``.

    Raises:
        ConfigError: Unknown task or unusable settings.
        DataFileError / LabelError: Missing or malformed imagery or labels.
    """
    if task is not None:
        get_task(task)  # an unknown --task is named before any file is read
    settings = settings or load_settings(taskdir, task=task)
    return get_task(settings.task).load(Path(taskdir), settings)
