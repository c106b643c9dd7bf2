"""Progress of a training call: the callback protocol (CLI printer, dashboard bridge) and the time estimate."""

from __future__ import annotations

import time

import numpy as np

from tlgeo.config import TrainConfig

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
        # regression records hold losses only (accuracy absent or NaN)
        has_acc = any(np.isfinite(record.get(k, np.nan)) for k in ("accuracy", "val_accuracy"))
        vacc = f" val_acc={record.get('val_accuracy', float('nan')):.3f}" if has_acc else ""
        vtxt = f" val_loss={val:.3f}{vacc}" if val is not None else ""
        acc = f" acc={record.get('accuracy', float('nan')):.3f}" if has_acc else ""
        print(
            f"  fold {record['fold']} {record['phase']:<9} epoch {record['epoch']:>2}: loss={record['loss']:.3f}"
            f"{acc}{vtxt}",
            flush=True,
        )

    def on_fold_end(self, fold: int, metrics: dict) -> None:
        from tlgeo.metrics import shown_metrics

        m = metrics["mean"]
        shown = [k for k in shown_metrics(m) if k != "within_one"] or ["accuracy", "balanced_accuracy", "macro_f1"]
        print(f"  fold {fold}: " + " ".join(f"{k}={m.get(k, float('nan')):.3f}" for k in shown), flush=True)


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
