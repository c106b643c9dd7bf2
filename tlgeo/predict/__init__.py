"""Prediction with a saved run: single tiles, folders of tiles and whole scenes → a GeoDataFrame of class probabilities.

Every tile is preprocessed exactly as in training: bands chosen and scaled by the run's
:class:`~tlgeo.config.BandConfig` (its saved statistics for ``standardize``), resampled (bilinear) to the run's input
size while reading, stored as training stores tiles (:func:`tlgeo.datasets.as_stored`: 8-bit for unscaled 8-bit
data, float32 otherwise) and fed as float32 0–255, one channel per band, to the model, whose first layer applies
the backbone's preprocessing. Imagery whose band count or data type differs from the run's training imagery is
refused with one line naming the file, what the run expects and what the file has.

**Scenes** are cut into sliding windows of the run's tile size and stride (``stride=`` overrides it; a stride smaller
than the tile size overlaps windows). The last row and column of windows end exactly at the scene's edges
(:func:`tlgeo.tiles.window_offsets`), so a scene whose size is not a multiple of the stride is still covered to its
edges. Windows stream from disk: reader threads (:data:`READ_WORKERS`; GDAL and numpy release the GIL, so reads
run in parallel with each other and with the model) read batches of windows a few batches ahead with windowed reads
(each thread opens the file once; GDAL's block cache is capped at :data:`READ_CACHE_BYTES` during the call), while
the model predicts full batches in order; only the predicted probabilities are kept, so memory does not grow with
the scene. Windows with no valid pixel at the model's
input resolution (all nodata) are skipped and not part of the result. A scene smaller than one tile is predicted as
one tile resampled to the input size — training resampled tiles the same way — with a warning.

**Result** (:class:`PredictionResult`): a GeoDataFrame in the CRS of the first input, one row per tile or window —
footprint polygon, ``tile_id`` (``<source>_r<row>_c<col>`` for windows, as in the tile index), ``source``, ``row``,
``col``, ``window`` (``col_off, row_off, width, height`` in source pixels), then for a single target ``label``,
``class_index``, ``prob_<class>`` and for several targets ``<T>_label``, ``<T>_class_index``, ``<T>_prob_<class>``
(probabilities rounded to :data:`PROB_DECIMALS` decimals; ``class_index`` is their argmax), then ``run_id`` and
``backbone``. Export it with :func:`tlgeo.export.write_geojson` (RFC 7946),
:func:`tlgeo.export.write_prediction_geotiff` and :func:`tlgeo.export.predictions_csv_bytes`.

Problems with one file (band count or data type that do not fit the run, no georeference, unreadable, all nodata)
skip that file with a warning naming it; the others are still predicted. Only when nothing at all could be
predicted is an error raised.
"""

from __future__ import annotations

from tlgeo.predict.inputs import (
    InputPlan,
    expand_inputs,
    plan_inputs,
    predict_inputs,
    predict_scene,
    predict_tiles,
    scene_grid,
)
from tlgeo.predict.predictor import (
    PROB_DECIMALS,
    SCENE_FACTOR,
    PredictionResult,
    Predictor,
    ProgressFn,
    label_column,
    load_predictor,
)
from tlgeo.predict.results import check_batch
from tlgeo.predict.roads import predictions_along_roads
from tlgeo.predict.streaming import READ_AHEAD, READ_CACHE_BYTES, READ_WORKERS, STRIP_PX

__all__ = [
    "PROB_DECIMALS",
    "READ_AHEAD",
    "READ_CACHE_BYTES",
    "READ_WORKERS",
    "SCENE_FACTOR",
    "STRIP_PX",
    "InputPlan",
    "PredictionResult",
    "Predictor",
    "ProgressFn",
    "check_batch",
    "expand_inputs",
    "label_column",
    "load_predictor",
    "plan_inputs",
    "predict_inputs",
    "predict_scene",
    "predict_tiles",
    "predictions_along_roads",
    "scene_grid",
]
