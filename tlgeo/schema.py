"""Names of the data tlgeo writes and reads back, defined once: output columns, tile ids, source names, footprints.

A rename here changes every writer and reader together (predictions, export, training, UI, maps).
"""

from __future__ import annotations

#: Target column of the roads task (its classes: good / fair / poor).
ROAD_TARGET = "quality"
