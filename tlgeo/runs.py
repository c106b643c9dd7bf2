"""Run registry: every training is a folder ``runs/<run_id>/`` written atomically, listed and loaded later.

A run folder holds ``model.keras`` (image → class probabilities, preprocessing included), ``config.json``
(backbone, strategy, input size, bands & scaling, tile size, targets & classes, bins, split, seed, versions),
``metrics.json``, ``history.csv``, ``splits.csv`` and ``oof.csv`` (out-of-fold predictions per tile). It is
written into a hidden temporary folder and renamed into place, so a crash never leaves half a run. Models are
loaded with Keras ``safe_mode=True`` (no arbitrary code from a run folder is executed).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tlgeo import __version__
from tlgeo._utils import atomic_path, to_dict
from tlgeo.config import BandConfig, TileConfig, TrainConfig
from tlgeo.errors import RunError

if TYPE_CHECKING:
    import keras

    from tlgeo.train import TrainResult

#: Version of the run-folder layout. Bump when files or keys change incompatibly.
RUN_FORMAT = 1
#: Columns every history.csv has (strategies without epochs, like features_linear, write just the header).
HISTORY_COLUMNS = ["strategy", "fold", "phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "elapsed_s"]
REQUIRED_FILES = ("model.keras", "config.json", "metrics.json", "history.csv", "splits.csv")


@dataclass
class Run:
    """A saved run (files are read lazily).

    Attributes:
        path: The run folder.
        config: Parsed ``config.json``.
        metrics: Parsed ``metrics.json``.
    """

    path: Path
    config: dict
    metrics: dict

    @property
    def run_id(self) -> str:
        """Folder name."""
        return self.path.name

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def backbone(self) -> str:
        return self.config["train"]["backbone"]

    @property
    def strategy(self) -> str:
        return self.config["train"]["strategy"]

    @property
    def img_size(self) -> int:
        return int(self.config["train"]["img_size"])

    @property
    def targets(self) -> dict[str, list[str]]:
        """Target → class names."""
        return {k: list(v) for k, v in self.config["targets"].items()}

    @property
    def tile_config(self) -> TileConfig:
        """Tile size, stride and bands the run was trained with."""
        from tlgeo._utils import from_dict

        return from_dict(TileConfig, self.config["tiles"], where=f"{self.path}/config.json tiles")

    @property
    def bands(self) -> BandConfig:
        return self.tile_config.bands

    @property
    def train_config(self) -> TrainConfig:
        from tlgeo._utils import from_dict

        return from_dict(TrainConfig, self.config["train"], where=f"{self.path}/config.json train")

    def load_model(self) -> keras.Model:
        """The trained model, loaded with ``safe_mode=True``.

        Raises:
            RunError: The model file cannot be loaded (damaged, or written by an incompatible version).
        """
        import keras

        import tlgeo.backbones.layers  # noqa: F401  (registers tlgeo layers for deserialisation)

        try:
            return keras.models.load_model(self.path / "model.keras", compile=False, safe_mode=True)
        except Exception as exc:  # keras raises many types for a bad archive
            raise RunError(
                f"Cannot load the model of run {self.path} ({type(exc).__name__}: {exc})",
                hint="The run may be damaged or come from an incompatible tlgeo/Keras version; train it again.",
                path=self.path,
            ) from exc

    def history(self) -> pd.DataFrame:
        """One row per epoch (empty for strategies without epochs, e.g. ``features_linear``)."""
        try:
            return pd.read_csv(self.path / "history.csv")
        except pd.errors.EmptyDataError:
            return pd.DataFrame(columns=HISTORY_COLUMNS)

    def splits(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "splits.csv")

    def oof(self) -> pd.DataFrame | None:
        p = self.path / "oof.csv"
        return pd.read_csv(p) if p.exists() else None

    def summary_row(self) -> dict[str, object]:
        """One line for tables: run id, task, backbone, strategy, size, accuracy (mean ± sd), created."""
        from tlgeo.metrics import format_mean_sd

        mean = self.metrics.get("mean", {})
        return {
            "run_id": self.run_id,
            "task": self.task,
            "backbone": self.backbone,
            "strategy": self.strategy,
            "img_size": self.img_size,
            "accuracy": format_mean_sd(mean.get("accuracy")),
            "macro_f1": format_mean_sd(mean.get("macro_f1")),
            "created": self.config.get("created", ""),
        }


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"tlgeo": __version__}
    for pkg in ("tensorflow", "keras", "numpy", "rasterio"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def new_run_id(task: str, backbone: str, strategy: str) -> str:
    """``YYYYmmdd-HHMMSS-<task>-<backbone>-<strategy>-<4 hex>`` (sortable, unique)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{task}-{backbone}-{strategy}-{secrets.token_hex(2)}"


def save_run(result: TrainResult, data_settings, runs_dir: str | Path, *, extra: dict | None = None) -> Run:
    """Write a training result as a run folder, atomically.

    Args:
        result: From :func:`tlgeo.train.train` (must hold a refitted model).
        data_settings: The task's :class:`~tlgeo.config.TaskSettings` (tile size, bands, label settings).
        runs_dir: Parent folder of runs.
        extra: More keys for ``config.json`` (e.g. the data folder, bins).

    Returns:
        The saved :class:`Run`.
    """
    import keras

    if result.model is None:
        raise RunError("This result has no model to save", hint="Train with refit=True to save a run.")
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(result.task, result.config.backbone, result.config.strategy)
    from tlgeo.backbones import backbone_info

    info = backbone_info(result.config.backbone)
    tiles = data_settings.tiles if result.bands is None else replace(data_settings.tiles, bands=result.bands)
    config = {
        "format": RUN_FORMAT,
        "run_id": run_id,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "task": result.task,
        "targets": result.targets,
        "tiles": to_dict(tiles),
        "input": _input_summary(tiles.bands, result),
        "labels": to_dict(data_settings.roads if result.task == "roads" else data_settings.villages),
        "train": to_dict(result.config),
        "backbone": {
            "name": info.name,
            "family": info.family,
            "preprocessing": info.preprocessing,
            "default_size": info.default_size,
            "feature_dim": info.feature_dim,
        },
        "input_size": result.config.img_size,
        "recommendation": to_dict(result.recommendation) if result.recommendation else None,
        "device": result.device,
        "timings": result.timings,
        "versions": _versions(),
        **(extra or {}),
    }
    target = runs_dir / run_id
    with atomic_path(target) as tmp:
        tmp.mkdir()
        # Save an uncompiled copy: the optimizer (with per-layer learning rates) is not needed to predict.
        plain = keras.Model(result.model.inputs, result.model.outputs, name=result.model.name)
        plain.save(tmp / "model.keras")
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(result.metrics, indent=2, default=str) + "\n", encoding="utf-8")
        history = result.history if not result.history.empty else pd.DataFrame(columns=HISTORY_COLUMNS)
        history.to_csv(tmp / "history.csv", index=False)
        result.splits.to_csv(tmp / "splits.csv", index=False)
        result.oof.to_csv(tmp / "oof.csv", index=False)
    return load_run(target)


def _input_summary(bands: BandConfig, result: TrainResult) -> dict:
    """What the model reads, for people and tools reading config.json (``tiles.bands`` is what tlgeo loads)."""
    channels = int(result.model.input_shape[-1])
    return {
        "channels": channels,
        "bands": list(bands.bands) if bands.bands else None,
        "names": list(bands.names) if bands.names else None,
        "dtype": bands.dtype,
        "scaling": bands.scaling,
        "stats": to_dict(bands.stats) if bands.scaling == "standardize" else None,
        "first_conv": result.config.first_conv if channels != 3 else "none (RGB)",
    }


def load_run(path: str | Path) -> Run:
    """Open a run folder (checks files and format version; the model loads on demand).

    Raises:
        RunError: Missing folder or files, unreadable JSON, or a format from another tlgeo version.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"Run folder {path} does not exist", hint="List runs with `tlgeo runs`.", path=path)
    missing = [f for f in REQUIRED_FILES if not (path / f).exists()]
    if missing:
        raise RunError(
            f"Run folder {path} is incomplete: missing {', '.join(missing)}",
            hint="Train the run again; incomplete folders cannot be used for prediction.",
            path=path,
        )
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"Run {path} has an unreadable config.json or metrics.json ({exc})", path=path) from exc
    fmt = config.get("format")
    if fmt != RUN_FORMAT:
        raise RunError(
            f"Run {path} has format {fmt!r}, this tlgeo reads format {RUN_FORMAT}",
            hint="Train the run again with this version of tlgeo.",
            path=path,
        )
    for key in ("task", "targets", "tiles", "train"):
        if key not in config:
            raise RunError(f"Run {path} config.json lacks {key!r}", hint="Train the run again.", path=path)
    return Run(path=path, config=config, metrics=metrics)


_RUN_RE = re.compile(r"^\d{8}-\d{6}-")


def list_runs(runs_dir: str | Path, *, task: str | None = None) -> list[Run]:
    """Complete runs under ``runs_dir``, newest first (incomplete or foreign folders are skipped).

    Args:
        runs_dir: Parent folder of runs (missing → empty list).
        task: Only runs of this task.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = []
    for p in sorted(runs_dir.iterdir(), reverse=True):
        if not p.is_dir() or p.name.startswith("."):
            continue
        try:
            run = load_run(p)
        except RunError:
            continue
        if task is None or run.task == task:
            runs.append(run)
    return runs
