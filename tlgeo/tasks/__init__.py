"""Task kinds behind one protocol and registry (see :mod:`tlgeo.tasks.base`).

Built-in tasks: ``roads`` (phone vibration → road quality, :mod:`.roads`), ``villages`` (census indicators →
multi-task levels, :mod:`.villages`) and ``classes`` (any vector labels file with a class column → chips centred on
each label, :mod:`.classes`) and ``values`` (the same chips with a numeric column → regression,
:mod:`.values`). Adding a task: write one module with a class implementing
:class:`~tlgeo.tasks.base.Task` and add one ``register_task`` line below.
"""

from __future__ import annotations

from tlgeo.tasks.base import TARGET_KINDS, Task, get_task, list_tasks, load_task, register_task
from tlgeo.tasks.classes import ClassesTask
from tlgeo.tasks.roads import RoadsTask
from tlgeo.tasks.values import ValuesTask
from tlgeo.tasks.villages import VillagesTask

register_task(RoadsTask())
register_task(VillagesTask())
register_task(ClassesTask())
register_task(ValuesTask())

__all__ = ["TARGET_KINDS", "Task", "get_task", "list_tasks", "load_task", "register_task"]
