"""An experiment: labelled tiles, targets, bands and spatial folds prepared once and shared by every strategy;
the per-fold outcomes and the result of a training call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from tlgeo.config import BandConfig, TrainConfig
from tlgeo.datasets import Targets, fit_bands, load_images
from tlgeo.errors import TrainingError
from tlgeo.splits import Folds, make_folds
from tlgeo.taskdata import TaskData
from tlgeo.train.callbacks import TrainCallback
from tlgeo.transfer import (
    Recommendation,
)


@dataclass
class Experiment:
    """Data prepared once and shared by every strategy trained on it (same tiles, images and folds).

    Attributes:
        data: The task data.
        tiles: Labelled tiles (index 0..N−1).
        images: (N, S, S, C) at the training input size: uint8 for 8-bit unscaled data, else float32.
        targets: Labels per target.
        folds: Fold assignment.
        img_size: Input size of ``images``.
        features: Cache of pooled features per (backbone, weights, stage) key.
        nets: Backbones built once per (backbone, weights, size, kind) with their initial weights.
        heads: Heads with compiled trainers, shared by folds (reset before each use).
        bands: The task's band settings completed from the labelled tiles (dtype, band count, ``standardize``
            statistics; :func:`tlgeo.datasets.fit_bands`): what the run saves.
    """

    data: TaskData
    tiles: gpd.GeoDataFrame
    images: np.ndarray
    targets: Targets
    folds: Folds
    img_size: int
    features: dict[str, np.ndarray] = field(default_factory=dict)
    nets: dict[str, tuple] = field(default_factory=dict)
    heads: dict[str, Any] = field(default_factory=dict)  # feature key → tlgeo.train.heads._HeadTrainer
    bands: BandConfig | None = None

    @property
    def channels(self) -> int:
        """Input channels (one per band read)."""
        return int(self.images.shape[-1])

    @property
    def band_config(self) -> BandConfig:
        """:attr:`bands`, or the task's settings when the experiment was built without fitting them."""
        return self.bands or self.data.settings.tiles.bands

    @property
    def strata(self) -> np.ndarray:
        """Labels of the first target (used to keep every class in validation sets); quantile bins of a number."""
        return self.targets.strata(self.targets.names[0])

    def splits_frame(self) -> pd.DataFrame:
        """tile_id, block, fold, and the tile centroid in lon/lat (for maps)."""
        cents = None
        if self.tiles.crs is not None:
            projected = self.tiles if self.tiles.crs.is_projected else self.tiles.to_crs(self.tiles.estimate_utm_crs())
            cents = projected.geometry.centroid.to_crs(4326)
        frame = pd.DataFrame(
            {
                "tile_id": self.tiles["tile_id"].to_numpy(),
                "block": self.folds.block,
                "fold": self.folds.fold,
                "split": self.folds.kind,
            }
        )
        if cents is not None:
            frame["lon"], frame["lat"] = cents.x.to_numpy(), cents.y.to_numpy()
        return frame


def prepare_experiment(data: TaskData, config: TrainConfig, *, callback: TrainCallback | None = None) -> Experiment:
    """Read the labelled tiles and assign folds.

    Raises:
        TrainingError: No labelled tiles, too few for the folds, or a class without examples.
    """
    callback = callback or TrainCallback()
    labelled = data.labelled().reset_index(drop=True)
    if labelled.empty:
        raise TrainingError(
            f"No labelled tiles in the {data.task} task",
            hint="Check that the labels overlap the imagery (see the Data page or `tlgeo labels`).",
        )
    bands = fit_bands(labelled, data.settings.tiles.bands)  # scenes that differ in bands or dtype fail here, first
    targets = Targets.from_frame(labelled, data.targets)
    primary = next(iter(data.targets))
    folds = make_folds(
        labelled,
        config.folds,
        strata=targets.strata(primary),
        class_names=data.targets[primary] if not data.multi_task and not data.is_continuous(primary) else None,
        split=config.split,
        block_size_m=config.block_size_m,
        buffer_m=config.buffer_m,
        seed=config.seed,
    )
    if data.multi_task:
        for t, classes in data.targets.items():
            if not classes:
                continue
            counts = np.bincount(targets.y[t][targets.y[t] >= 0], minlength=len(classes))
            if (counts == 0).any():
                raise TrainingError(
                    f"Target {t!r} has no labelled tiles of class {classes[int(np.argmin(counts))]!r}",
                    hint="Use fewer levels or drop that indicator from the settings.",
                )
    callback.on_stage(f"Reading {len(labelled)} labelled tiles at {config.img_size} px")
    images = load_images(
        labelled,
        bands,
        config.img_size,
        progress=lambda d, t: callback.on_progress(0.0, f"reading tiles {d}/{t}"),
    )
    return Experiment(
        data=data, tiles=labelled, images=images, targets=targets, folds=folds, img_size=config.img_size, bands=bands
    )


@dataclass
class FoldOutcome:
    """One fold's held-out predictions and metrics."""

    fold: int
    test_idx: np.ndarray
    probs: dict[str, np.ndarray]
    metrics: dict
    history: list[dict]


@dataclass
class TrainResult:
    """Everything one training produces; :func:`tlgeo.runs.save_run` writes it to a run folder.

    Attributes:
        config: The configuration actually used (``strategy`` resolved if it was ``auto``).
        task: Registered task name (``tlgeo.tasks``).
        targets: Target → class names.
        folds: Per-fold outcomes.
        metrics: Summary (:func:`tlgeo.metrics.summarize_folds`) plus per-fold metrics.
        history: One row per epoch (fold, phase, epoch, loss, …).
        oof: Out-of-fold predictions per tile (tile_id, fold, ``<target>_true``, ``<target>_pred``, probabilities).
        splits: Fold assignment per tile.
        model: The model refitted on all labelled tiles (``None`` if not refitted).
        recommendation: The advisor's output when ``strategy="auto"``.
        timings: Seconds spent per stage.
        device: Device summary.
        ordered: Target → whether its classes are ordered (from the task).
        bands: Band settings completed from the training tiles (saved in the run instead of the task's).
    """

    config: TrainConfig
    task: str
    targets: dict[str, list[str]]
    folds: list[FoldOutcome]
    metrics: dict
    history: pd.DataFrame
    oof: pd.DataFrame
    splits: pd.DataFrame
    model: object | None
    recommendation: Recommendation | None
    timings: dict[str, float]
    device: str
    ordered: dict[str, bool] = field(default_factory=dict)
    bands: BandConfig | None = None
