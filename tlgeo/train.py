"""Training: spatial cross-validation, two-phase fine-tuning, embeddings cache, metrics, callbacks.

:func:`train` runs K-fold cross-validation of one strategy on a :class:`~tlgeo.labels.TaskData` and, unless told
otherwise, refits the saved model on all labelled tiles. :func:`compare` runs several strategies on the *same*
folds, so their metrics can be set side by side. Progress goes to a :class:`TrainCallback` — the CLI prints it, the
dashboard draws a progress bar and live curves from it; this module never imports streamlit.

Frozen-feature strategies compute pooled backbone features once per dataset (cached on disk, keyed by tiles,
backbone, weights, input size, bands and stage) and train only the head; fine-tuning strategies train the head
on those features first (phase 1) and then unfreeze backbone stages with a lower learning rate (phase 2).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from tlgeo._utils import atomic_path, cache_dir, to_dict
from tlgeo.config import BandConfig, TrainConfig
from tlgeo.datasets import Targets, _tiles_key, fit_bands, load_images, make_dataset
from tlgeo.errors import TrainingError
from tlgeo.labels import TaskData
from tlgeo.metrics import classification_metrics, combine_targets, regression_metrics, summarize_folds
from tlgeo.splits import Folds, make_folds, train_val_indices
from tlgeo.transfer import (
    FROZEN,
    Recommendation,
    TransferModel,
    build_model,
    check_strategy,
    default_truncate_stage,
    fit_linear_head,
    layerwise_adam,
    outputs_by_target,
    rescale_regression_outputs,
    unfreeze,
)

#: Throughput of EfficientNet-Lite0 on a quiet 2-core CPU at 224 px, images/s: inference, whole-network training.
#: Conservative (this project's design notes; bench/ runs here measure up to ~2× more): estimates err long.
CPU_INFER_224, CPU_TRAIN_224 = 30.0, 5.0
#: Cost of a backbone relative to EfficientNet-Lite0 (same input size).
RELATIVE_COST = {
    "efficientnet_lite0": 1.0,
    "efficientnet_lite1": 1.4,
    "efficientnet_lite2": 2.0,
    "efficientnet_b0": 1.3,
    "mobilenet_v2": 1.0,
    "resnet50": 5.0,
    "vgg16": 15.0,
    "tiny_cnn": 0.02,
}

#: Relative cost of one head epoch per tile (features are in memory; a dense layer or two).
_HEAD_COST = 0.01
#: Relative cost of one training image vs one inference image (forward + backward ≈ 3 forwards).
_TRAIN_COST = 3.0


def estimate_seconds(n_images: int, config: TrainConfig, *, cpus: int | None = None, gpu: bool = False) -> float:
    """Rough seconds a training takes (±50 %; the live ETA is the real one), for a plan shown before it starts.

    Frozen-feature strategies read every tile once through the backbone (then the head trains in seconds);
    ``fine_tune_*`` and ``scratch`` train the whole network for ``epochs`` on each fold and the refit.
    """
    import os

    cpus = cpus or os.cpu_count() or 2
    # Cost grows with pixels, but small inputs use a CPU less efficiently: measured here, ~size^1.5 fits better.
    scale = (config.img_size / 224) ** 1.5 * RELATIVE_COST.get(config.backbone, 2.0) / max(cpus / 2, 0.5)
    if gpu:
        scale /= 20.0
    fits = config.folds + (1 if config.refit else 0)
    if config.strategy == "chip_stats":  # statistics once, then gradient boosting: ~1 s per fit on a few hundred chips
        return n_images * 0.002 + fits * (1.0 + n_images * 0.002)
    seconds = n_images * scale / CPU_INFER_224 if config.strategy != "scratch" else 0.0
    if config.strategy.startswith("fine_tune") or config.strategy == "scratch":
        share = 0.6 if config.strategy == "fine_tune_top" else 1.0
        seconds += fits * config.epochs * n_images * (1 - 1 / config.folds) * share * scale / CPU_TRAIN_224
    return seconds + 2.0 * fits


class TrainCallback:
    """Hooks for progress reporting. Subclass and override what you need; every method is a no-op here."""

    def on_stage(self, message: str) -> None:
        """A new stage starts (reading tiles, computing features, fold k, …)."""

    def on_progress(self, fraction: float, message: str) -> None:
        """Overall progress in [0, 1] with a short description."""

    def on_epoch_end(self, record: dict) -> None:
        """One epoch ended. ``record`` has strategy, fold, phase, epoch, loss, accuracy, val_loss, val_accuracy
        (validation keys only when there is a validation set) and, for whole-network phases, elapsed_s."""

    def on_fold_end(self, fold: int, metrics: dict) -> None:
        """A fold's test metrics are ready (the structure of :func:`tlgeo.metrics.combine_targets`)."""


class PrintCallback(TrainCallback):
    """Prints stages and epochs to stdout (used by the CLI)."""

    def on_stage(self, message: str) -> None:
        print(f"• {message}", flush=True)

    def on_epoch_end(self, record: dict) -> None:
        val = record.get("val_loss")
        vtxt = f" val_loss={val:.3f} val_acc={record.get('val_accuracy', float('nan')):.3f}" if val is not None else ""
        print(
            f"  fold {record['fold']} {record['phase']:<9} epoch {record['epoch']:>2}: loss={record['loss']:.3f} "
            f"acc={record.get('accuracy', float('nan')):.3f}{vtxt}",
            flush=True,
        )

    def on_fold_end(self, fold: int, metrics: dict) -> None:
        m = metrics["mean"]
        print(
            f"  fold {fold}: accuracy={m.get('accuracy', float('nan')):.3f} "
            f"balanced_accuracy={m.get('balanced_accuracy', float('nan')):.3f} macro_f1={m.get('macro_f1', float('nan')):.3f}",
            flush=True,
        )


class _Progress:
    """Turns work done (in image-equivalents) into a fraction, an ETA and callback calls."""

    def __init__(self, callback: TrainCallback, total: float):
        self.cb, self.total, self.done, self.start = callback, max(total, 1.0), 0.0, time.perf_counter()

    def add(self, amount: float, message: str) -> None:
        self.done = min(self.total, self.done + amount)
        frac = self.done / self.total
        elapsed = time.perf_counter() - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0.01 else float("nan")
        eta_txt = f", ETA {eta:.0f} s" if np.isfinite(eta) else ""
        self.cb.on_progress(frac, f"{message} — {elapsed:.0f} s elapsed{eta_txt}")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _keras_bridge(progress: _Progress, callback: TrainCallback, fold: int | str, phase: str, per_batch: float):
    import keras

    class Bridge(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            progress.add(per_batch, f"fold {fold} · {phase}")

        def on_epoch_end(self, epoch, logs=None):
            record = {"fold": fold, "phase": phase, "epoch": epoch + 1, "elapsed_s": round(progress.elapsed, 2)}
            record.update(_epoch_logs(logs or {}))
            callback.on_epoch_end(record)

    return Bridge()


def _epoch_logs(logs: dict) -> dict:
    """Average per-target Keras logs into loss / accuracy / val_loss / val_accuracy."""

    out = {"loss": float(logs.get("loss", np.nan))}
    acc = [float(v) for k, v in logs.items() if not k.startswith("val_") and k.endswith("accuracy")]
    if acc:
        out["accuracy"] = float(np.mean(acc))
    if "val_loss" in logs:
        out["val_loss"] = float(logs["val_loss"])
        vacc = [float(v) for k, v in logs.items() if k.startswith("val_") and k.endswith("accuracy")]
        if vacc:
            out["val_accuracy"] = float(np.mean(vacc))
    return out


# ----------------------------------------------------------------------------------------------- experiment
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
    heads: dict[str, _HeadTrainer] = field(default_factory=dict)
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


# ----------------------------------------------------------------------------------------------- results
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


# ----------------------------------------------------------------------------------------------- core
@contextlib.contextmanager
def _precision(config: TrainConfig) -> Iterator[bool]:
    import keras

    from tlgeo.devices import device_report

    use = config.mixed_precision == "on" or (config.mixed_precision == "auto" and bool(device_report().gpus))
    previous = keras.config.dtype_policy()
    if use:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield use
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _feature_key(exp: Experiment, config: TrainConfig, stage: str | None) -> str:
    extra = f"{config.backbone}|{config.weights}|{stage or 'full'}"
    if exp.channels != 3:
        extra += f"|{exp.channels}ch|{_first_conv(exp, config)}"
    return _tiles_key(exp.tiles, exp.band_config, exp.img_size, extra)


def _first_conv(exp: Experiment, config: TrainConfig) -> str:
    """The first-convolution rule actually used (``auto`` resolved; ``"rgb"`` for 3 channels, never adapted)."""
    from tlgeo.backbones.channels import resolve_rule

    if exp.channels == 3:
        return "rgb"
    return resolve_rule(config.first_conv, exp.channels, exp.band_config.names)


def _features(
    exp: Experiment, tm: TransferModel, config: TrainConfig, stage: str | None, progress: _Progress
) -> np.ndarray:
    """Pooled features of every labelled tile, computed once (memory and disk cache)."""
    key = _feature_key(exp, config, stage)
    if key in exp.features:
        return exp.features[key]
    path = cache_dir("embeddings") / f"{key}.npy"
    if path.exists():
        try:
            feats = np.load(path, allow_pickle=False)
            if feats.shape[0] == len(exp.images):
                exp.features[key] = feats
                progress.add(len(exp.images), "features (cached)")
                return feats
        except (OSError, ValueError):
            pass
    import keras

    n, bs = len(exp.images), 32

    class Report(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            done = min((batch + 1) * bs, n)
            progress.add(min(bs, n - batch * bs), f"computing {config.backbone} features {done}/{n}")

    feats = np.asarray(tm.features.predict(exp.images, batch_size=bs, verbose=0, callbacks=[Report()]), dtype="float32")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, feats, allow_pickle=False)
    exp.features[key] = feats
    return feats


def _losses(targets: Targets) -> tuple[dict, dict]:
    """Loss and weighted metrics per target: cross-entropy + accuracy, or mean squared error for a number."""
    import keras

    loss = {
        t: keras.losses.MeanSquaredError() if targets.is_continuous(t) else keras.losses.SparseCategoricalCrossentropy()
        for t in targets.names
    }
    return loss, {t: [] if targets.is_continuous(t) else ["accuracy"] for t in targets.names}


def _compile_head(tm: TransferModel, targets: Targets, lr: float) -> None:
    import keras

    loss, metrics = _losses(targets)
    tm.head.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, weighted_metrics=metrics)


def _compile_model(tm: TransferModel, targets: Targets, optimizer) -> None:
    loss, metrics = _losses(targets)
    tm.model.compile(optimizer=optimizer, loss=loss, weighted_metrics=metrics)


def _early_stopping(
    config: TrainConfig, has_val: bool, *, whole_network: bool = False, regression: bool = False
) -> list:
    """Early stopping with the best weights restored.

    Heads on frozen features monitor validation loss. Whole-network phases monitor the mean validation accuracy over
    targets (class-weighted, i.e. balanced accuracy): a network trained from random weights first becomes
    overconfident — validation loss rises above the uniform guess of epoch 1 — long before its accuracy improves,
    and "best loss" would restore the untrained network. ``scratch`` is also never stopped before half its epochs.
    With ``regression`` (no class target) every phase monitors validation loss.
    """
    import keras

    if not has_val:
        return [keras.callbacks.EarlyStopping(monitor="loss", patience=config.patience, restore_best_weights=True)]
    if not whole_network or regression:
        return [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)]

    class MeanAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                accs = [float(v) for k, v in logs.items() if k.startswith("val_") and k.endswith("accuracy")]
                logs["val_mean_accuracy"] = float(np.mean(accs)) if accs else 0.0

    start = config.epochs // 2 if config.strategy == "scratch" else 0
    return [
        MeanAccuracy(),
        keras.callbacks.EarlyStopping(
            monitor="val_mean_accuracy",
            mode="max",
            patience=config.patience,
            restore_best_weights=True,
            start_from_epoch=start,
        ),
    ]


def _fit(
    exp: Experiment,
    config: TrainConfig,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    fold: int | str,
    progress: _Progress,
    callback: TrainCallback,
    seed: int,
    share: bool = True,
) -> tuple[TransferModel, list[dict]]:
    """Train one model of ``config.strategy`` on ``train_idx`` (early stopping on ``val_idx``).

    With ``share`` the backbone and head are the experiment's (reset before use, see :func:`_shared_backbone`):
    right for cross-validation folds, whose models are discarded. A model that outlives the call (the refit that
    gets saved) is built with ``share=False`` so a later fold cannot reset its weights.
    """
    if config.strategy == "chip_stats":
        return _fit_chip_stats(
            exp, config, np.concatenate([train_idx, val_idx]), fold=fold, callback=callback, seed=seed
        )
    import keras

    from tlgeo.devices import distribution_strategy
    from tlgeo.distributed.train_loop import fit_synchronous, multiworker_strategy

    history: list[dict] = []
    if multiworker_strategy() is not None:  # a cluster training worker: Keras' fit fails there (see train_loop)
        tm = fit_synchronous(
            exp, config, train_idx, val_idx, fold=fold, callback=callback, seed=seed, on_epoch=history.append
        )
        return tm, history

    class Recorder(TrainCallback):
        def on_epoch_end(self, record: dict) -> None:
            record = {"strategy": config.strategy, **record}
            history.append(record)
            callback.on_epoch_end(record)

    rec = Recorder()
    strategy = config.strategy
    keras.utils.set_random_seed(seed)
    with distribution_strategy().scope():  # model, optimizer and fit under one strategy
        tm = build_model(
            config.backbone,
            strategy,
            exp.data.targets,
            img_size=exp.img_size,
            weights=config.weights,
            truncate_stage=config.truncate_stage,
            dropout=config.dropout,
            seed=seed,
            net=_shared_backbone(exp, config) if share else None,
            head=trainer.head if (trainer := _shared_head(exp, config) if share else None) else None,
            channels=exp.channels,
            first_conv=config.first_conv,
            band_names=exp.band_config.names,
        )
        # continuous targets train as z-scores of the training tiles; rescaled into the output layer at the end
        stats = exp.targets.subset(train_idx).regression_stats()
        tr_t, va_t = exp.targets.subset(train_idx).standardized(stats), exp.targets.subset(val_idx).standardized(stats)
        has_val = len(val_idx) > 0
        if strategy in FROZEN or strategy.startswith("fine_tune"):
            stage = _feature_stage(config, tm.info)
            feats = _features(exp, tm, config, stage, progress)
            if strategy == "features_linear":
                callback.on_stage(f"fold {fold}: fitting {config.classifier} on {feats.shape[1]}-d features")
                fit_linear_head(tm, feats[train_idx], tr_t.y, config.classifier, seed)
            else:
                _train_head(
                    tm,
                    feats[train_idx],
                    tr_t,
                    feats[val_idx],
                    va_t,
                    config,
                    fold=fold,
                    callback=rec,
                    seed=seed,
                    trainer=trainer,
                    progress=progress,
                )
        if strategy.startswith("fine_tune") or strategy == "scratch":
            train_bs, val_bs, even = _replica_batches(config.batch_size)
            train_ds = make_dataset(
                exp.images[train_idx],
                tr_t,
                batch_size=train_bs,
                shuffle=True,
                augment=config.augment,
                balance=config.class_weights,
                seed=seed,
                single_output=False,
                drop_remainder=even,
            )
            val_ds = (
                make_dataset(
                    exp.images[val_idx],
                    va_t,
                    batch_size=val_bs,
                    balance=config.class_weights,
                    single_output=False,
                    drop_remainder=even,
                )
                if has_val
                else None
            )
            if strategy == "scratch":
                optimizer = keras.optimizers.Adam(config.learning_rate)
                phase = "scratch"
            else:
                slow = unfreeze(tm, strategy, config.top_k_stages)
                optimizer = layerwise_adam(config.learning_rate, slow, config.pretrained_lr_mult)
                phase = "fine_tune"
            _compile_model(tm, exp.targets, optimizer)
            per_batch = config.batch_size * _TRAIN_COST
            tm.model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=config.epochs,
                shuffle=False,  # the dataset reshuffles itself every epoch
                verbose=0,
                callbacks=[
                    *_early_stopping(
                        config, has_val, whole_network=True, regression=len(stats) == len(exp.targets.names)
                    ),
                    _keras_bridge(progress, rec, fold, phase, per_batch),
                ],
            )
        rescale_regression_outputs(tm, stats)
        return tm, history


@dataclass
class _ChipStatsFit:
    """What :func:`_fit` returns for ``chip_stats`` (``model`` is what a run saves)."""

    model: object


def chip_features_of(exp: Experiment) -> np.ndarray:
    """Chip statistics of every labelled tile (:func:`tlgeo.chip_stats.chip_features`), computed once."""
    if "chip_stats" not in exp.features:
        from tlgeo.chip_stats import chip_features

        exp.features["chip_stats"] = chip_features(exp.images, exp.band_config.names)
    return exp.features["chip_stats"]


def _fit_chip_stats(
    exp: Experiment, config: TrainConfig, train_idx: np.ndarray, *, fold: int | str, callback: TrainCallback, seed: int
) -> tuple[_ChipStatsFit, list[dict]]:
    """Gradient boosting on chip statistics (no epochs, no early stopping: validation tiles train too)."""
    from tlgeo.chip_stats import ChipStatsModel

    feats = chip_features_of(exp)
    callback.on_stage(f"fold {fold}: gradient boosting on {feats.shape[1]} chip statistics")
    tr = exp.targets.subset(train_idx)
    model = ChipStatsModel(exp.data.targets, exp.img_size, exp.channels, exp.band_config.names)
    model.fit(feats[train_idx], tr.y, tr.sample_weights(config.class_weights), seed=seed)
    return _ChipStatsFit(model), []


def _replica_batches(batch_size: int) -> tuple[int, int, bool]:
    """Training batch size, validation batch size and whether to drop partial batches, for the current strategy.

    Under ``MirroredStrategy`` (several GPUs, or logical CPUs) Keras fails on a last batch that does not split evenly
    across replicas, so training batches are rounded up to a multiple of the replica count and partial batches are
    dropped (reshuffled every epoch, every tile still gets used), and validation runs in batches of exactly one
    tile per replica (at most replicas − 1 validation tiles left out).
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync if tf.distribute.has_strategy() else 1
    if replicas <= 1:
        return batch_size, batch_size, False
    return -(-batch_size // replicas) * replicas, replicas, True


def _shared_head(exp: Experiment, config: TrainConfig) -> _HeadTrainer | None:
    """The experiment's head (and compiled trainer) for this backbone/strategy kind; ``None`` where none is used."""
    if config.strategy in ("scratch", "features_linear"):
        return None
    kind = "truncated" if config.strategy == "truncated" else "full"
    parts = (config.backbone, config.weights, exp.img_size, kind, config.truncate_stage, config.dropout)
    key = "|".join(str(v) for v in (*parts, config.learning_rate, config.batch_size))
    if key not in exp.heads:
        from tlgeo.transfer import build_head

        dim = int(_shared_backbone(exp, config, reset=False).output.shape[-1])
        head = build_head(dim, exp.data.targets, config.dropout, config.seed)
        continuous = [t for t in exp.data.targets if exp.data.is_continuous(t)]
        exp.heads[key] = _HeadTrainer(
            head, list(exp.data.targets), config.learning_rate, config.batch_size, continuous=continuous
        )
    return exp.heads[key]


def _shared_backbone(exp: Experiment, config: TrainConfig, *, reset: bool = True):
    """The experiment's backbone for this strategy, built once and reset to its initial weights for every fit.

    Building EfficientNet-Lite and loading its weights takes longer than a head's whole training; restoring the
    initial weights (a copy in memory) takes milliseconds.
    """
    from tlgeo.transfer import build_backbone

    cut = config.strategy == "truncated" or (config.strategy == "features_linear" and config.truncate_stage)
    stage = config.truncate_stage if cut else None
    kind = "scratch" if config.strategy == "scratch" else ("truncated" if cut else "full")
    key = f"{config.backbone}|{config.weights}|{exp.img_size}|{kind}|{stage}|{_first_conv(exp, config)}"
    if key not in exp.nets:
        net = build_backbone(
            config.backbone,
            config.strategy,
            img_size=exp.img_size,
            weights=config.weights,
            truncate_stage=stage,
            channels=exp.channels,
            first_conv=config.first_conv,
            band_names=exp.band_config.names,
        )
        exp.nets[key] = (net, net.get_weights())
        return net
    net, initial = exp.nets[key]
    if reset:
        net.set_weights(initial)  # another strategy or fold may have fine-tuned it
    return net


class _HeadTrainer:
    """A head, its Adam optimizer and their compiled step/evaluate functions, reusable across folds.

    Tracing the two functions costs more than training a head on a few hundred features, so an experiment keeps
    one trainer per head shape and :meth:`reset` restores the initial weights and clears the optimizer state.
    """

    def __init__(self, head, names: list[str], learning_rate: float, batch_size: int, continuous: Sequence[str] = ()):
        import keras
        import tensorflow as tf

        self.head, self.names, self.learning_rate = head, names, learning_rate
        self.initial = head.get_weights()
        self.opt = keras.optimizers.Adam(learning_rate)
        self.opt.build(head.trainable_variables)

        def one_loss(t, out, y):
            if t in continuous:  # mean squared error on the z-scored target
                return tf.square(tf.cast(y, tf.float32) - out[:, 0])
            return keras.losses.sparse_categorical_crossentropy(y, out)

        def losses(out, y, w, n):
            return tf.add_n([tf.reduce_sum(w[t] * one_loss(t, out[t], y[t])) / n for t in names])

        @tf.function(reduce_retracing=True)
        def train_epoch(x, y, w, order):
            """One epoch of minibatch Adam steps over ``order``, as a single graph call."""
            n = tf.shape(order)[0]
            for start in tf.range(0, n, batch_size):
                idx = order[start : start + batch_size]
                xb = tf.gather(x, idx)
                yb = {k: tf.gather(v, idx) for k, v in y.items()}
                wb = {k: tf.gather(v, idx) for k, v in w.items()}
                with tf.GradientTape() as tape:
                    loss = losses(head(xb, training=True), yb, wb, tf.cast(tf.shape(xb)[0], tf.float32))
                self.opt.apply(tape.gradient(loss, head.trainable_variables), head.trainable_variables)

        @tf.function(reduce_retracing=True)
        def evaluate(x, y, w):
            out = head(x, training=False)
            loss = losses(out, y, w, tf.cast(tf.shape(x)[0], tf.float32))
            accs = [
                tf.reduce_sum(w[t] * tf.cast(tf.argmax(out[t], axis=1, output_type=tf.int32) == y[t], tf.float32))
                / tf.maximum(tf.reduce_sum(w[t]), 1e-9)
                for t in names
                if t not in continuous
            ]
            return loss, tf.add_n(accs) / len(accs) if accs else tf.constant(float("nan"))

        self.train_epoch, self.evaluate = train_epoch, evaluate

    def reset(self) -> None:
        """Initial head weights, fresh optimizer state (moments and step counter at zero)."""
        self.head.set_weights(self.initial)
        for v in self.opt.variables:  # iterations, moments — and the learning rate, restored below
            v.assign(np.zeros(v.shape, dtype=v.dtype))
        self.opt.learning_rate = self.learning_rate


def _train_head(
    tm: TransferModel,
    x_tr: np.ndarray,
    tr_t: Targets,
    x_va: np.ndarray,
    va_t: Targets,
    config: TrainConfig,
    *,
    fold: int | str,
    callback: TrainCallback,
    seed: int,
    trainer: _HeadTrainer | None = None,
    progress: _Progress | None = None,
) -> None:
    """Train the head on frozen features: Adam, minibatches, early stopping with the best weights restored.

    A compiled step per minibatch instead of ``Model.fit``: on a few hundred feature vectors Keras' per-epoch
    machinery costs more than the optimisation itself. Losses and weights match what ``fit`` would use
    (sample-weighted sparse cross-entropy summed over targets, missing labels weighted 0). Under a multi-device
    strategy it falls back to ``fit``. ``trainer`` (the same head, reset) lets folds share compiled functions.
    """
    import tensorflow as tf

    names = tr_t.names
    train_bs, val_bs, even = _replica_batches(config.batch_size)
    if even:  # several replicas: Keras fit on tf.data with batches that split evenly
        _compile_head(tm, tr_t, config.learning_rate)
        has_val = len(x_va) > 0

        def dataset(x, t, bs, shuffle):
            ds = tf.data.Dataset.from_tensor_slices((x, t.safe_labels(), t.sample_weights(config.class_weights)))
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True) if shuffle else ds
            return ds.batch(bs, drop_remainder=True)

        tm.head.fit(
            dataset(x_tr, tr_t, train_bs, True),
            validation_data=dataset(x_va, va_t, val_bs, False) if has_val else None,
            epochs=config.head_epochs,
            verbose=0,
            callbacks=[
                *_early_stopping(config, has_val),
                _keras_bridge(_Progress(TrainCallback(), 1), callback, fold, "head", 0.0),
            ],
        )
        return
    continuous = [t for t in names if tr_t.is_continuous(t)]
    trainer = trainer or _HeadTrainer(tm.head, names, config.learning_rate, config.batch_size, continuous=continuous)
    trainer.reset()
    head, evaluate = tm.head, trainer.evaluate

    def tensors(x, t):
        y, w = t.safe_labels(), t.sample_weights(config.class_weights)
        return (
            tf.constant(x, tf.float32),
            {k: tf.constant(v) for k, v in y.items()},
            {k: tf.constant(v) for k, v in w.items()},
        )

    xt, yt, wt = tensors(x_tr, tr_t)
    has_val = len(x_va) > 0
    xv, yv, wv = tensors(x_va, va_t) if has_val else (None, None, None)
    rng = np.random.default_rng(seed)
    n = len(x_tr)
    best, best_weights, waited = np.inf, head.get_weights(), 0
    for epoch in range(config.head_epochs):
        trainer.train_epoch(xt, yt, wt, tf.constant(rng.permutation(n)))
        loss, acc = (float(v) for v in evaluate(xt, yt, wt))
        record = {"fold": fold, "phase": "head", "epoch": epoch + 1, "loss": loss, "accuracy": acc}
        if has_val:
            vloss, vacc = (float(v) for v in evaluate(xv, yv, wv))
            record.update(val_loss=vloss, val_accuracy=vacc)
        callback.on_epoch_end(record)
        if progress is not None:
            progress.add(n * _HEAD_COST, f"fold {fold} · head epoch {epoch + 1}")
        monitored = record.get("val_loss", loss)
        if monitored < best - 1e-4:
            best, best_weights, waited = monitored, head.get_weights(), 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    if progress is not None:  # early stopping skips the rest of the planned head epochs
        progress.add((config.head_epochs - epoch - 1) * n * _HEAD_COST, f"fold {fold} · head done")
    head.set_weights(best_weights)


def _feature_stage(config: TrainConfig, info) -> str | None:
    """The stage whose pooled features a frozen strategy uses (``None``: the whole backbone).

    ``truncated`` cuts at ``truncate_stage`` (default: mid-network); ``features_linear`` uses the whole backbone
    unless ``truncate_stage`` is set (the measured advisor picks a linear head on a stage's features that way).
    """
    if config.strategy == "truncated":
        return config.truncate_stage or default_truncate_stage(info)
    if config.strategy == "features_linear":
        return config.truncate_stage
    return None


def _predict_probs(exp: Experiment, tm: TransferModel, config: TrainConfig, idx: np.ndarray) -> dict[str, np.ndarray]:
    if config.strategy == "chip_stats":
        return tm.model.predict_features(chip_features_of(exp)[idx])
    key = None
    if config.strategy in FROZEN:
        stage = _feature_stage(config, tm.info)
        key = _feature_key(exp, config, stage)
    if key is not None and key in exp.features:
        out = tm.head.predict(exp.features[key][idx], batch_size=256, verbose=0)
    else:
        out = tm.model.predict(exp.images[idx].astype("float32"), batch_size=config.batch_size, verbose=0)
    return {t: v.astype("float64") for t, v in outputs_by_target(out, exp.targets.names).items()}


def _work_estimate(exp: Experiment, config: TrainConfig, n_fits: int) -> float:
    n = len(exp.images)
    if config.strategy == "chip_stats":
        return n * 0.02 + n_fits * n * 0.05
    total = n if config.strategy != "scratch" else 0.0  # one feature pass (shared by all folds)
    if config.strategy.startswith("fine_tune") or config.strategy == "scratch":
        per_fit = config.epochs * (n * (config.folds - 1) / config.folds) * _TRAIN_COST
        total += n_fits * per_fit
    if config.strategy in ("frozen_head", "truncated") or config.strategy.startswith("fine_tune"):
        total += n_fits * config.head_epochs * n * (config.folds - 1) / config.folds * _HEAD_COST
    total += n_fits * n * 0.05  # predictions
    return total


def resolve_strategy(
    exp: Experiment, config: TrainConfig, *, callback: TrainCallback | None = None
) -> tuple[TrainConfig, Recommendation | None]:
    """Replace ``strategy="auto"`` with the measured advisor's pick (:func:`tlgeo.advisor.advise`).

    The pick comes with its class weighting (chosen by ``config.metric``) and, for ``truncated``, the stage probed.
    """
    if config.strategy != "auto":
        check_strategy(config.strategy)
        return config, None
    callback = callback or TrainCallback()
    callback.on_stage(
        f"Strategy advisor: measuring cheap probes on your {config.folds} {config.split} folds "
        f"(by {config.metric}, budget {config.budget_s:.0f} s)"
    )
    from tlgeo.advisor import advise
    from tlgeo.backbones import backbone_info

    info = backbone_info(config.backbone)
    pretrained = config.weights is not None  # (tiny_cnn's "imagenet" is a fixed seed: probes exercised in tests)
    counts = [n for per in exp.data.class_counts().values() for n in per.values()]
    n = len(exp.images)
    scale = (config.img_size / 224) ** 1.5 * RELATIVE_COST.get(config.backbone, 2.0)
    deep_cost = 3.0 + n * scale / CPU_INFER_224
    ft_cost = 5.0 + config.epochs * n * (1 - 1 / config.folds) * scale / CPU_TRAIN_224

    def deep_features(stages: tuple[str, ...]) -> dict[str | None, np.ndarray]:
        return _multi_depth_features(exp, config, info, stages)

    def finetune_trial(weighting: str) -> dict[str, np.ndarray]:
        cfg = replace(config, strategy="fine_tune_all", class_weights=weighting)
        train_idx, test_idx = exp.folds.train_test(0)
        fit_idx, val_idx = train_val_indices(
            train_idx, exp.folds.block, config.val_fraction, config.seed, strata=exp.strata
        )
        with _precision(cfg):
            tm, _ = _fit(
                exp,
                cfg,
                fit_idx,
                val_idx,
                fold=0,
                progress=_Progress(TrainCallback(), 1.0),
                callback=TrainCallback(),
                seed=config.seed,
            )
            return _predict_probs(exp, tm, cfg, test_idx)

    pick, stage, weighting, rec = advise(
        exp,
        config,
        chip_features=lambda: chip_features_of(exp),
        deep_features=deep_features if pretrained else None,
        deep_cost_s=deep_cost,
        finetune_trial=finetune_trial if pretrained else None,
        finetune_cost_s=ft_cost,
        stages=tuple(info.stages),
        default_mid=default_truncate_stage(info),
        rarest=min(counts) if counts else 0,
        callback=callback,
    )
    from tlgeo.advisor import probe_table_lines

    for line in probe_table_lines(rec.probes):
        callback.on_stage(line)
    callback.on_stage(rec.reason)
    chosen = replace(
        config,
        strategy=pick,
        class_weights=weighting,
        truncate_stage=stage if pick == "features_linear" else config.truncate_stage,
    )
    return chosen, rec


def _multi_depth_features(exp: Experiment, config: TrainConfig, info, stages: tuple[str, ...]) -> dict:
    """Pooled features at ``stages`` and at the backbone's end, from ONE forward pass (a multi-output model).

    The results also fill the experiment's feature cache under the keys ``features_linear`` (the end) and
    ``truncated`` (each stage) use, so training the pick afterwards needs no second pass.
    """
    import keras

    cfg = replace(config, strategy="frozen_head")
    with _precision(cfg):
        net = _shared_backbone(exp, cfg)
        pooled = [
            keras.layers.GlobalAveragePooling2D(dtype="float32")(
                net.get_layer(info.stage_outputs[info.stages.index(s)]).output
            )
            for s in stages
        ]
        pooled.append(keras.layers.GlobalAveragePooling2D(dtype="float32")(net.output))
        probe = keras.Model(net.input, pooled, name="advisor_probe")
        outs = probe.predict(exp.images.astype("float32"), batch_size=32, verbose=0)
    out: dict[str | None, np.ndarray] = {}
    for s, f in zip((*stages, None), outs, strict=True):
        f = np.asarray(f, dtype="float32")
        out[s] = f
        exp.features.setdefault(_feature_key(exp, config, s), f)
    return out


def train(
    data: TaskData,
    config: TrainConfig,
    *,
    callback: TrainCallback | None = None,
    experiment: Experiment | None = None,
) -> TrainResult:
    """Cross-validate one strategy and (if ``config.refit``) refit the model to save on all labelled tiles.

    Args:
        data: Labelled tiles from :func:`tlgeo.labels.load_task`.
        config: Training settings.
        callback: Progress hooks.
        experiment: Reuse tiles/images/folds prepared by :func:`prepare_experiment` (same folds across strategies).

    Raises:
        TrainingError, ConfigError, WeightsError: with what to change.
    """
    callback = callback or TrainCallback()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    exp = experiment or prepare_experiment(data, config, callback=callback)
    if exp.img_size != config.img_size:
        raise TrainingError(
            f"The prepared experiment has {exp.img_size} px images but the config asks for {config.img_size} px",
            hint="Prepare the experiment with the same img_size.",
        )
    timings["prepare_s"] = time.perf_counter() - t0
    if exp.channels != 3:  # save the rule actually used
        config = replace(config, first_conv=_first_conv(exp, config))
    config, rec = resolve_strategy(exp, config, callback=callback)
    from tlgeo.devices import device_report

    device = device_report().summary
    n_fits = config.folds + (1 if config.refit else 0)
    progress = _Progress(callback, _work_estimate(exp, config, n_fits))
    outcomes: list[FoldOutcome] = []
    histories: list[dict] = []
    with _precision(config):
        t1 = time.perf_counter()
        for k in range(config.folds):
            callback.on_stage(f"Fold {k + 1}/{config.folds}: {config.strategy} on {config.backbone} ({device})")
            train_idx, test_idx = exp.folds.train_test(k)
            fit_idx, val_idx = train_val_indices(
                train_idx, exp.folds.block, config.val_fraction, config.seed + k, strata=exp.strata
            )
            tm, hist = _fit(
                exp, config, fit_idx, val_idx, fold=k, progress=progress, callback=callback, seed=config.seed + k
            )
            probs = _predict_probs(exp, tm, config, test_idx)
            per_target = {
                t: regression_metrics(exp.targets.y[t][test_idx], probs[t])
                if exp.targets.is_continuous(t)
                else classification_metrics(
                    exp.targets.y[t][test_idx], probs[t], exp.targets.classes[t], ordered=exp.data.is_ordered(t)
                )
                for t in exp.targets.names
            }
            metrics = combine_targets(per_target)
            outcomes.append(FoldOutcome(fold=k, test_idx=test_idx, probs=probs, metrics=metrics, history=hist))
            histories.extend(hist)
            callback.on_fold_end(k, metrics)
            progress.add(len(test_idx) * 0.05, f"fold {k} evaluated")
        timings["cross_validation_s"] = time.perf_counter() - t1
        model = None
        if config.refit:
            t2 = time.perf_counter()
            callback.on_stage(f"Refitting {config.strategy} on all {len(exp.tiles)} labelled tiles")
            all_idx = np.arange(len(exp.tiles))
            fit_idx, val_idx = train_val_indices(
                all_idx, exp.folds.block, config.val_fraction, config.seed + 99, strata=exp.strata
            )
            tm, hist = _fit(
                exp,
                config,
                fit_idx,
                val_idx,
                fold="all",
                progress=progress,
                callback=callback,
                seed=config.seed + 99,
                share=False,
            )
            histories.extend(hist)
            model = tm.model
            timings["refit_s"] = time.perf_counter() - t2
    progress.add(progress.total, "done")
    summary = summarize_folds([o.metrics for o in outcomes])
    summary["per_fold"] = [o.metrics for o in outcomes]
    summary["n_tiles"] = len(exp.tiles)
    summary["class_counts"] = exp.data.class_counts()
    summary["calibration"] = _calibration(exp, outcomes)
    timings["total_s"] = time.perf_counter() - t0
    return TrainResult(
        config=config,
        task=data.task,
        targets=dict(data.targets),
        folds=outcomes,
        metrics=summary,
        history=pd.DataFrame(histories),
        oof=_oof_frame(exp, outcomes),
        splits=exp.splits_frame(),
        model=model,
        recommendation=rec,
        timings={k: round(v, 2) for k, v in timings.items()},
        device=device,
        ordered={t: data.is_ordered(t) for t in data.targets},
        bands=exp.bands,
    )


def _calibration(exp: Experiment, outcomes: Sequence[FoldOutcome]) -> dict[str, dict[str, float]]:
    """Temperature per target fitted on the out-of-fold probabilities, with the ECE before and after."""
    from tlgeo.calibration import calibrate_targets

    probs, ys = {}, {}
    for t, classes in exp.targets.classes.items():
        if not classes:  # a continuous target: no probabilities to calibrate
            continue
        p = np.full((len(exp.tiles), len(classes)), np.nan)
        for o in outcomes:
            p[o.test_idx] = o.probs[t]
        probs[t], ys[t] = p, np.asarray(exp.targets.y[t])
    return calibrate_targets(probs, ys)


def _oof_frame(exp: Experiment, outcomes: Sequence[FoldOutcome]) -> pd.DataFrame:
    """Out-of-fold predictions: one row per labelled tile."""
    frame = pd.DataFrame({"tile_id": exp.tiles["tile_id"].to_numpy(), "fold": exp.folds.fold})
    for t, classes in exp.targets.classes.items():
        prefix = "" if len(exp.targets.classes) == 1 else f"{t}_"
        if not classes:  # a number: truth and out-of-fold prediction
            pred = np.full(len(frame), np.nan)
            for o in outcomes:
                pred[o.test_idx] = o.probs[t].reshape(len(o.test_idx), -1)[:, 0]
            frame[f"{prefix}true"] = exp.targets.y[t]
            frame[f"{prefix}pred"] = pred
            continue
        probs = np.full((len(frame), len(classes)), np.nan)
        for o in outcomes:
            probs[o.test_idx] = o.probs[t]
        prefix = "" if len(exp.targets.classes) == 1 else f"{t}_"
        frame[f"{prefix}true"] = exp.targets.y[t]
        pred = np.where(np.isnan(probs).any(axis=1), -1, np.nan_to_num(probs).argmax(axis=1))
        frame[f"{prefix}pred"] = pred
        for j, c in enumerate(classes):
            frame[f"{prefix}prob_{c}"] = probs[:, j]
    return frame


def compare(
    data: TaskData,
    config: TrainConfig,
    strategies: Sequence[str],
    *,
    callback: TrainCallback | None = None,
) -> dict[str, TrainResult]:
    """Cross-validate several strategies on the same tiles and folds (no refit).

    Returns:
        Strategy → result, in the order given.
    """
    callback = callback or TrainCallback()
    for s in strategies:
        check_strategy(s)
    if len(set(strategies)) != len(strategies):
        raise TrainingError(f"Strategies repeat: {', '.join(strategies)}", hint="Name each strategy once.")
    exp = prepare_experiment(data, config, callback=callback)
    results = {}
    for s in strategies:
        callback.on_stage(f"=== {s} ===")
        results[s] = train(data, replace(config, strategy=s, refit=False), callback=callback, experiment=exp)
    return results


def comparison_table(results: dict[str, TrainResult]) -> pd.DataFrame:
    """One row per strategy: mean ± sd of the summary metrics over folds, and seconds spent."""
    rows = []
    for s, r in results.items():
        row = {"strategy": s, "backbone": r.config.backbone, "folds": r.config.folds}
        for m, stat in r.metrics["mean"].items():
            row[m] = stat["mean"]
            row[f"{m}_sd"] = stat["sd"]
        row["seconds"] = r.timings.get("total_s")
        rows.append(row)
    return pd.DataFrame(rows)


def result_config_dict(result: TrainResult) -> dict:
    """The train config of a result as plain JSON values."""
    return to_dict(result.config)
