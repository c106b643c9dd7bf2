"""Names and shapes of the data tlgeo writes and reads back, defined once: output columns, tile ids, source names,
footprints.

A rename here changes every writer and reader together (predictions, export, training, UI, maps):

* **Prediction columns.** One target: ``label``, ``class_index``, ``prob_<class>`` (``value`` for a continuous
  target). Several targets: the same names prefixed with ``<T>_`` (``BF_label``, ``BF_prob_1``, ``share_value``).
* **Tile ids.** ``<source>_r<row>_c<col>`` (three-digit row and column of the window grid) for scene windows; the
  source name alone for a file that is one tile; ``<source>_<label id>[_g<k>]`` for chips centred on labels.
* **Source names.** A raster's file stem, or ``<folder>_<stem>`` where stems repeat among the files.
* **Footprints.** The polygon through the four transformed corners of a pixel window, so rotated or sheared
  rasters get their true outline (not the box of two corners).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import shapely

#: Target column of the roads task (its classes: good / fair / poor).
ROAD_TARGET = "quality"
#: Prefix of a class-probability column (``prob_<class>``).
PROB = "prob_"


def target_prefix(target: str | None) -> str:
    """Prefix of the columns of a named target of a multi-task frame (``"BF_"``); ``""`` for ``None`` or ``""``."""
    return f"{target}_" if target else ""


def column_prefix(targets: Mapping[str, Sequence[str]] | int, target: str) -> str:
    """``""`` for a single target, ``"<target>_"`` when there are several (``targets``: the targets, or their count)."""
    n = targets if isinstance(targets, int) else len(targets)
    return target_prefix(None if n == 1 else target)


def target_column(targets: Mapping[str, Sequence[str]] | int, target: str, what: str = "label") -> str:
    """Column of ``what`` (``label``, ``class_index``, ``value``, ``prob_<class>``, ``true``, ``pred``…) of ``target``."""
    return f"{column_prefix(targets, target)}{what}"


def prob_column(targets: Mapping[str, Sequence[str]] | int, target: str, cls: object) -> str:
    """Probability column of class ``cls`` of ``target`` (``prob_<cls>`` or ``<T>_prob_<cls>``)."""
    return target_column(targets, target, f"{PROB}{cls}")


def prob_columns(targets: Mapping[str, Sequence[str]], target: str) -> list[str]:
    """Probability columns of every class of ``target``, in class order."""
    return [prob_column(targets, target, c) for c in targets[target]]


def class_of_prob_column(column: str) -> str:
    """The class named by a probability column (``BF_prob_1`` → ``1``)."""
    return column.split(PROB, 1)[1]


def tile_id(source: str, row: int, col: int) -> str:
    """Id of the window at grid ``row``, ``col`` of scene ``source``."""
    return f"{source}_r{int(row):03d}_c{int(col):03d}"


def chip_id(source: str, label_id: str, chip: int = 0) -> str:
    """Id of the chip centred on label ``label_id`` in scene ``source`` (``_g<chip>`` for the grid chips of a polygon)."""
    return f"{source}_{label_id}" + (f"_g{chip}" if chip else "")


def source_name(path: str | Path, *, repeated: bool = False) -> str:
    """``source`` of one raster: its stem, or ``<folder>_<stem>`` when another raster has the same stem."""
    path = Path(path)
    return f"{path.parent.name}_{path.stem}" if repeated else path.stem


def source_names(paths: Sequence[str | Path]) -> list[str]:
    """``source`` of each raster: its stem, or ``<folder>_<stem>`` where stems repeat among ``paths``."""
    paths = [Path(p) for p in paths]
    dup = {s for s, n in Counter(p.stem for p in paths).items() if n > 1}
    return [source_name(p, repeated=p.stem in dup) for p in paths]


def window_footprints(transform, windows) -> np.ndarray:
    """Footprint polygons of ``(col_off, row_off, width, height)`` pixel windows under an affine ``transform``.

    Each polygon runs through the four transformed corners (top-left, top-right, bottom-right, bottom-left), so a
    rotated raster's windows are its true parallelograms.
    """
    win = np.asarray(windows, dtype="float64").reshape(-1, 4)
    if len(win) == 0:
        return np.empty(0, dtype=object)
    co, ro, w, h = (win[:, k] for k in range(4))
    cols = np.stack([co, co + w, co + w, co, co], axis=1)
    rows = np.stack([ro, ro, ro + h, ro + h, ro], axis=1)
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    xs, ys = a * cols + b * rows + c, d * cols + e * rows + f
    return shapely.polygons(np.stack([xs, ys], axis=-1))
