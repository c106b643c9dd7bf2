"""Heads: features of a frozen backbone computed once, heads trained on them (Keras or chip statistics), losses
and compilation shared with the fit loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from tlgeo._utils import atomic_path, cache_dir
from tlgeo.config import TrainConfig
from tlgeo.datasets import Targets, _tiles_key
from tlgeo.train.callbacks import _HEAD_COST, TrainCallback, _keras_bridge, _Progress
from tlgeo.train.experiment import Experiment
from tlgeo.transfer import (
    FROZEN,
    TransferModel,
    default_truncate_stage,
    outputs_by_target,
)


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
