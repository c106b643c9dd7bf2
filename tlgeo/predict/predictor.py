"""The predictor of a saved run (model, bands, targets, calibration) and the result type of every prediction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from tlgeo.errors import (
    CompatibilityError,
    ConfigError,
    RunError,
    TlgeoError,
)
from tlgeo.runs import Run, load_run
from tlgeo.schema import target_column
from tlgeo.tiles import RasterInfo

if TYPE_CHECKING:
    import keras

    from tlgeo.config import BandConfig


#: A raster more than this many times the run's tile size (width or height) is predicted as a scene.
SCENE_FACTOR = 1.5


#: Probabilities are rounded to this many decimals (float32 precision, readable in GeoJSON and QGIS).
PROB_DECIMALS = 6


ProgressFn = Callable[[int, int], None]


@dataclass
class PredictionResult:
    """Predictions of one call.

    Attributes:
        predictions: One row per tile or window (see the module docstring), in the CRS of the first input.
        warnings: Per-file problems, each naming the file and the reason (``"<file>: skipped: …"``).
        run_id: The run that predicted.
        targets: Target → class names, in model order.
        scenes: Inputs predicted as scenes with sliding windows (the ones a GeoTIFF can be written for).
    """

    predictions: gpd.GeoDataFrame
    warnings: list[str]
    run_id: str
    targets: dict[str, list[str]]
    scenes: list[Path] = field(default_factory=list)

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Predicted tiles per class, per target (classes never predicted count 0)."""
        out = {}
        for target, classes in self.targets.items():
            if not classes:
                continue  # a continuous target has no classes to count
            col = label_column(self.targets, target)
            counts = self.predictions[col].value_counts() if len(self.predictions) else pd.Series(dtype=int)
            out[target] = {c: int(counts.get(c, 0)) for c in classes}
        return out


def label_column(targets: Mapping[str, Sequence[str]], target: str, what: str = "label") -> str:
    """Column name of ``what`` (``label``, ``class_index``, ``prob_<class>``, or ``value`` of a continuous target).

    The naming rule is :func:`tlgeo.schema.target_column`.
    """
    return target_column(targets, target, what)


class Predictor:
    """A run with its model loaded once (cache it in the UI; pass it wherever a run is accepted).

    Args:
        run: The saved run.
        model: Its model, if already loaded (default: :meth:`tlgeo.runs.Run.load_model`).

    Raises:
        RunError: The run's settings or model do not fit together (input size, outputs, classes).
    """

    def __init__(self, run: Run, model: keras.Model | None = None):
        self.run = run
        try:
            self.targets: dict[str, list[str]] = run.targets
            tiles = run.tile_config
            self.img_size: int = run.img_size
            self.backbone: str = run.backbone
        except (TlgeoError, KeyError, TypeError, ValueError) as exc:
            raise RunError(
                f"Run {run.path} has unusable settings in config.json ({exc})",
                hint="The run may come from an incompatible tlgeo version; train it again.",
                path=run.path,
            ) from exc
        if not self.targets or any(len(c) == 1 for c in self.targets.values()):  # [] = continuous
            raise RunError(f"Run {run.path} lists no usable targets: {self.targets!r}", path=run.path)
        self.tile_size: int = tiles.size
        self.stride: int = tiles.step
        self.bands: BandConfig = tiles.bands
        self.model = model if model is not None else run.load_model()
        self.temperature: dict[str, float] = run.temperature
        self.channels: int = int(self.model.input_shape[-1]) if len(self.model.input_shape) == 4 else 3
        if self.channels == 3 and self.bands.bands is not None and len(self.bands.bands) == 1:
            # runs saved before N-band input read one chosen band as grey RGB
            self.bands = replace(self.bands, bands=self.bands.bands * 3, names=None)
        self._infer = self._make_infer()
        self._check_model()

    @property
    def run_id(self) -> str:
        """The run's id (folder name)."""
        return self.run.run_id

    def _make_infer(self) -> Callable[[Any], Any]:
        """The model's forward pass (inference mode) as one compiled function, retraced for new batch sizes only.

        Called batch by batch it is a little faster than ``model.predict_on_batch`` (no per-call Keras
        bookkeeping), which matters when reading windows shares the CPU with the model.
        """
        model = self.model
        if getattr(model, "numpy_model", False):  # chip_stats: numpy in, {target: probabilities} out
            return lambda x: model.predict_images(np.asarray(x, dtype="float32"))
        import tensorflow as tf

        listed = isinstance(getattr(model, "_inputs_struct", None), (list, tuple))

        def forward(x):
            return model([x] if listed else x, training=False)

        return tf.function(forward, reduce_retracing=True)

    def _check_model(self) -> None:
        shape = tuple(self.model.input_shape)
        channels = len(self.bands.bands) if self.bands.bands is not None else 3
        if len(shape) != 4 or tuple(shape[1:]) != (self.img_size, self.img_size, channels):
            raise RunError(
                f"Run {self.run.path}: the model takes input {shape[1:]}, but config.json says "
                f"img_size={self.img_size} with {channels} band(s)",
                hint="The run folder is inconsistent; train it again.",
                path=self.run.path,
            )
        try:
            probs = self.predict_images(np.zeros((1, self.img_size, self.img_size, channels), dtype=np.uint8))
        except ConfigError as exc:
            raise RunError(f"Run {self.run.path}: {exc}", hint="Train the run again.", path=self.run.path) from exc
        for target, classes in self.targets.items():
            if probs[target].shape != (1, len(classes) or 1):
                raise RunError(
                    f"Run {self.run.path}: the model predicts {probs[target].shape[-1]} classes for {target!r}, "
                    f"config.json lists {len(classes)} ({', '.join(classes)})",
                    hint="The run folder is inconsistent; train it again.",
                    path=self.run.path,
                )

    def predict_images(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Class probabilities of a batch of preprocessed images.

        Args:
            images: (N, img_size, img_size, C) on the 0–255 scale (uint8 or float), C = the run's bands.

        Returns:
            Target → float32 array (N, classes).
        """
        from tlgeo.transfer import outputs_by_target

        if getattr(self.model, "numpy_model", False):
            out = self._infer(images)
            return {t: np.asarray(p, dtype="float32") for t, p in outputs_by_target(out, self.targets).items()}
        import tensorflow as tf

        out = self._infer(tf.convert_to_tensor(np.asarray(images, dtype="float32")))
        if isinstance(out, Mapping):
            out = {k: v.numpy() for k, v in out.items()}
        elif isinstance(out, (list, tuple)):
            out = [v.numpy() for v in out]
        else:
            out = out.numpy()
        from tlgeo.calibration import apply_temperature

        return {
            t: apply_temperature(np.asarray(p, dtype="float32"), self.temperature.get(t, 1.0))
            if self.targets[t]  # a continuous target's value is never softmaxed
            else np.asarray(p, dtype="float32")
            for t, p in outputs_by_target(out, self.targets).items()
        }

    def check_raster(self, info: RasterInfo) -> None:
        """Raise :class:`~tlgeo.errors.CompatibilityError` when a raster's bands or data type do not fit the run."""
        from tlgeo.tiles import resolve_bands

        bands = self.bands
        expects = f"run {self.run_id} expects"
        if bands.source_bands is not None and info.data_bands != bands.source_bands:
            raise CompatibilityError(
                f"{info.path} has {info.data_bands} band{'s' if info.data_bands != 1 else ''}, {expects} "
                f"{bands.source_bands}-band imagery "
                f"(reading bands {list(bands.bands or (1, 2, 3))})",
                hint="Predict on imagery with the same bands as the training imagery, or train a run on this imagery.",
                path=info.path,
            )
        if bands.dtype is not None and info.dtype != bands.dtype:
            raise CompatibilityError(
                f"{info.path} holds {info.dtype} data, {expects} {bands.dtype} like its training imagery",
                hint=f"Convert the file to {bands.dtype} with the same value scale, or train a run on this imagery.",
                path=info.path,
            )
        if bands.scaling == "none" and info.dtype != "uint8":
            raise CompatibilityError(
                f"{info.path} holds {info.dtype} data, but run {self.run_id} was trained on 8-bit imagery without "
                "scaling (scaling='none')",
                hint="Convert the file to 8-bit RGB as the training imagery was, or train a run with "
                "scaling='percentile' or 'fixed'.",
                path=info.path,
            )
        if bands.bands is None and info.data_bands not in (1, 3):
            raise CompatibilityError(
                f"{info.path} has {info.data_bands} bands, but run {self.run_id} was trained on 3-band RGB imagery "
                "(bands taken as 1-2-3)",
                hint="Pass 3-band RGB (or 1-band) imagery like the training imagery, or train a run with explicit "
                "bands for multi-band imagery (e.g. bands = [3, 2, 1]).",
                path=info.path,
            )
        try:
            resolve_bands(info, bands)
        except TlgeoError as exc:
            raise CompatibilityError(
                f"{exc.message} (run {self.run_id} reads bands {list(bands.bands or ())})",
                hint=exc.hint,
                path=info.path,
            ) from exc


def load_predictor(run: Run | Predictor | str | Path) -> Predictor:
    """Load a run's model once for many predictions.

    Args:
        run: A run folder, a :class:`~tlgeo.runs.Run`, or a :class:`Predictor` (returned as it is).

    Raises:
        RunError: The folder is missing, incomplete, from an incompatible version, or its model does not load.
    """
    if isinstance(run, Predictor):
        return run
    if isinstance(run, (str, Path)):
        run = load_run(run)
    if not isinstance(run, Run):
        raise ConfigError(f"run must be a run folder, a Run or a Predictor, received {type(run).__name__}")
    return Predictor(run)
