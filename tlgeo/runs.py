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
from tlgeo.config import BandConfig, TileConfig
from tlgeo.errors import RunError

if TYPE_CHECKING:
    import keras

    from tlgeo.train import TrainResult

#: Version of the run-folder layout. Bump when files or keys change incompatibly.
RUN_FORMAT = 1
#: Columns every history.csv has (strategies without epochs, like features_linear, write just the header).
HISTORY_COLUMNS = ["strategy", "fold", "phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "elapsed_s"]
REQUIRED_FILES = ("model.keras", "config.json", "metrics.json", "history.csv", "splits.csv")
#: Strategies whose model is not a Keras model: strategy → model file replacing ``model.keras``.
OTHER_MODEL_FILES = {"chip_stats": "model.skops"}


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
    def ordered(self) -> dict[str, bool]:
        """Target → whether its classes are ordered (runs saved before tasks said so: ordered)."""
        saved = self.config.get("ordered") or {}
        return {t: bool(saved.get(t, True)) for t in self.targets}

    @property
    def temperature(self) -> dict[str, float]:
        """Target → calibration temperature fitted at training (1.0 for runs saved before calibration)."""
        saved = self.config.get("temperature") or {}
        return {t: float(saved.get(t, 1.0)) for t in self.targets}

    @property
    def tile_config(self) -> TileConfig:
        """Tile size, stride and bands the run was trained with."""
        from tlgeo._utils import from_dict

        return from_dict(TileConfig, self.config["tiles"], where=f"{self.path}/config.json tiles")

    @property
    def bands(self) -> BandConfig:
        return self.tile_config.bands

    def load_model(self) -> keras.Model:
        """The trained model, loaded with ``safe_mode=True``.

        Raises:
            RunError: The model file cannot be loaded (damaged, or written by an incompatible version).
        """
        if self.strategy in OTHER_MODEL_FILES:  # chip_stats: skops, trusted types only
            from tlgeo.chip_stats import load_model

            return load_model(self.path / OTHER_MODEL_FILES[self.strategy])
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
    if result.model is None:
        raise RunError("This result has no model to save", hint="Train with refit=True to save a run.")
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(result.task, result.config.backbone, result.config.strategy)
    from tlgeo.backbones import backbone_info
    from tlgeo.tasks import get_task

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
        "labels": to_dict(get_task(result.task).label_settings(data_settings)),
        "ordered": {t: result.ordered.get(t, True) for t in result.targets},
        "train": to_dict(result.config),
        "backbone": {
            "name": info.name,
            "family": info.family,
            "preprocessing": info.preprocessing,
            "default_size": info.default_size,
            "feature_dim": info.feature_dim,
        },
        "input_size": result.config.img_size,
        # fitted on the out-of-fold probabilities; prediction divides the logits by it (runs without it: T = 1)
        "temperature": {
            t: c["temperature"] for t, c in (result.metrics.get("calibration") or {}).items() if "temperature" in c
        },
        "recommendation": to_dict(result.recommendation) if result.recommendation else None,
        "device": result.device,
        "timings": result.timings,
        "versions": _versions(),
        **(extra or {}),
    }
    target = runs_dir / run_id
    with atomic_path(target) as tmp:
        tmp.mkdir()
        if result.config.strategy in OTHER_MODEL_FILES:
            result.model.save(tmp / OTHER_MODEL_FILES[result.config.strategy])
        else:
            import keras

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
    if path.exists() and not path.is_dir():
        raise RunError(
            f"{path} is a file, not a run folder",
            hint="Pass the run folder (runs/<run_id>); list them with `tlgeo runs`.",
            path=path,
        )
    if not path.is_dir():
        raise RunError(f"Run folder {path} does not exist", hint="List runs with `tlgeo runs`.", path=path)
    required = REQUIRED_FILES
    if not (path / "model.keras").exists() and any((path / f).exists() for f in OTHER_MODEL_FILES.values()):
        required = tuple(f for f in REQUIRED_FILES if f != "model.keras")  # the strategy's own model file instead
    missing = [f for f in required if not (path / f).exists()]
    if missing:
        raise RunError(
            f"Run folder {path} is incomplete: missing {', '.join(missing)}",
            hint="Train the run again; incomplete folders cannot be used for prediction.",
            path=path,
        )
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise RunError(
            f"Run {path} has an unreadable config.json or metrics.json ({_short(exc)})",
            hint="Train the run again.",
            path=path,
        ) from None
    except OSError as exc:
        raise RunError(f"Run {path} cannot be read ({_short(exc)})", hint="Check its permissions.", path=path) from None
    problem = run_schema_problem(config, metrics)
    if problem:
        raise RunError(f"Run {path} is malformed: {problem}", hint="Train the run again.", path=path)
    return Run(path=path, config=config, metrics=metrics)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def run_schema_problem(config: object, metrics: object) -> str | None:
    """What is wrong with a run's ``config.json`` / ``metrics.json`` (``None`` when they fit the schema).

    Checks the keys and types everything downstream relies on (listing, the dashboard, prediction), so a damaged
    or hand-edited run is reported once, as broken, instead of failing wherever a key is first read.
    """
    if not isinstance(config, dict):
        return f"config.json holds {type(config).__name__}, not an object"
    if not isinstance(metrics, dict):
        return f"metrics.json holds {type(metrics).__name__}, not an object"
    fmt = config.get("format")
    if fmt != RUN_FORMAT:
        return f"it has format {fmt!r}, this tlgeo reads format {RUN_FORMAT}"
    for key, kind in (("task", str), ("targets", dict), ("tiles", dict), ("train", dict)):
        if key not in config:
            return f"config.json lacks {key!r}"
        if not isinstance(config[key], kind):
            return f"config.json {key!r} is {type(config[key]).__name__}, expected {kind.__name__}"
    from tlgeo.tasks import list_tasks

    if config["task"] not in list_tasks():
        return f"config.json task is {config['task']!r}, expected one of: {', '.join(list_tasks())}"
    if not config["targets"]:
        return "config.json 'targets' is empty"
    for target, classes in config["targets"].items():
        if classes == []:  # a continuous target (regression)
            continue
        if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, (str, int)) for c in classes):
            return f"config.json targets.{target} must be a list of at least 2 class names, received {classes!r}"
    train = config["train"]
    for key in ("backbone", "strategy"):
        if not isinstance(train.get(key), str):
            return f"config.json train.{key} is missing or not text (received {train.get(key)!r})"
    if not _is_int(train.get("img_size")) or not 8 <= train["img_size"] <= 4096:
        return f"config.json train.img_size must be a whole number of pixels, received {train.get('img_size')!r}"
    size = config["tiles"].get("size")
    if size is not None and (not _is_int(size) or size < 1):
        return f"config.json tiles.size must be a positive whole number, received {size!r}"
    created = config.get("created", "")
    if not isinstance(created, str):
        return f"config.json created must be text, received {created!r}"
    mean = metrics.get("mean", {})
    if not isinstance(mean, dict):
        return f"metrics.json 'mean' is {type(mean).__name__}, expected an object"
    for name, value in mean.items():
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
            isinstance(value.get(k), (int, float)) and not isinstance(value.get(k), bool) for k in ("mean", "sd")
        ):
            return f'metrics.json mean.{name} must be {{"mean": number, "sd": number}}, received {value!r}'[:200]
    return None


_RUN_RE = re.compile(r"^\d{8}-\d{6}-")


@dataclass(frozen=True)
class BrokenRun:
    """A folder under the runs folder that is not a usable run.

    Attributes:
        path: The folder.
        reason: Why it cannot be used (one line).
    """

    path: Path
    reason: str

    @property
    def run_id(self) -> str:
        """Folder name."""
        return self.path.name

    def summary_row(self) -> dict[str, object]:
        """One line for tables, marked broken, with the reason."""
        return {
            "run_id": self.run_id,
            "task": "BROKEN",
            "backbone": "",
            "strategy": "",
            "img_size": "",
            "accuracy": "",
            "macro_f1": "",
            "created": self.reason,
        }


def scan_runs(runs_dir: str | Path, *, task: str | None = None) -> tuple[list[Run], list[BrokenRun]]:
    """Valid runs (newest first) and broken run folders (with the reason) under ``runs_dir``.

    A folder counts as a run folder when its name looks like a run id or it holds a ``config.json``; other
    folders and hidden ones (temporary folders of runs being written) are ignored.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return [], []
    runs: list[Run] = []
    broken: list[BrokenRun] = []
    try:
        entries = sorted(runs_dir.iterdir(), reverse=True)
    except OSError:
        return [], []
    for p in entries:
        if p.name.startswith(".") or not p.is_dir():
            continue
        if not (_RUN_RE.match(p.name) or (p / "config.json").exists()):
            continue
        try:
            run = load_run(p)
        except RunError as exc:
            broken.append(BrokenRun(p, exc.message.replace(f"Run folder {p} ", "").replace(f"Run {p} ", "")))
            continue
        if task is None or run.task == task:
            runs.append(run)
    return runs, broken


_TMP_RE = re.compile(r"^\.\d{8}-\d{6}-.+\.tmp$")
#: Temporary run folders older than this are leftovers of a killed save.
STALE_TEMP_S = 24 * 3600


def clean_stale_temp(runs_dir: str | Path, *, max_age_s: float = STALE_TEMP_S) -> list[str]:
    """Remove leftovers of killed saves: hidden ``.<run_id>.*.tmp`` folders older than ``max_age_s``.

    Only folders named like tlgeo's own temporary run folders are touched; nothing else.

    Returns:
        One report line per folder removed (or that could not be removed).
    """
    import shutil
    import time

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    lines = []
    now = time.time()
    try:
        entries = list(runs_dir.iterdir())
    except OSError:
        return []
    for p in entries:
        if not _TMP_RE.match(p.name) or p.is_symlink() or not p.is_dir():
            continue
        try:
            age = now - p.stat().st_mtime
        except OSError:
            continue
        if age < max_age_s:
            continue
        try:
            shutil.rmtree(p)
            lines.append(f"removed {p}: temporary folder of an interrupted save, {age / 3600:.0f} h old")
        except OSError as exc:
            lines.append(f"could not remove stale temporary folder {p}: {_short(exc)}")
    return lines


def list_runs(runs_dir: str | Path, *, task: str | None = None) -> list[Run]:
    """Valid runs under ``runs_dir``, newest first (broken or foreign folders are skipped; see :func:`scan_runs`).

    Args:
        runs_dir: Parent folder of runs (missing → empty list).
        task: Only runs of this task.
    """
    return scan_runs(runs_dir, task=task)[0]
