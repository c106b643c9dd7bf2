"""Labels from the field: phone vibration → road quality (:mod:`.roads`); census indicators → village labels
(:mod:`.villages`). Neither module imports Keras.

The task registry (:func:`tlgeo.tasks.load_task`) reads a task folder into a :class:`~tlgeo.taskdata.TaskData`: the
tile index with one integer target column per task (``-1`` = no label). :class:`TaskData` and :data:`ROAD_TARGET`
are re-exported here for existing imports.
"""

from __future__ import annotations

from tlgeo.schema import ROAD_TARGET
from tlgeo.taskdata import TaskData

__all__ = ["ROAD_TARGET", "TaskData"]
