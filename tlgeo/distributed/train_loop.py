"""Synchronous data-parallel training of one model on N workers (``tf.distribute.MultiWorkerMirroredStrategy``).

Keras 3's ``Model.fit`` fails under ``MultiWorkerMirroredStrategy`` with two or more workers
(keras-team/keras#20585: ``Attempt to convert a value (PerReplica…) to a Tensor``), so whole-network training on a
cluster runs this custom loop instead: a ``tf.function`` step under ``strategy.run`` (``tf.GradientTape``, the same
optimizers as single-host training), gradients all-reduced by the strategy, the loss averaged over the *global*
batch. Every worker reads only its own shard of the training tiles (``distribute_datasets_from_function``); each
holds the same weights after every step. Validation and early stopping run on each worker over the whole
validation set with identical weights, so every worker takes the same decision without another collective.

The recipe is the single-host one, on images: for ``fine_tune_*`` the head is first trained with the backbone
frozen (``head_epochs``), then the backbone layers are unfrozen with the lower rate for pretrained layers; ``scratch``
trains everything from random weights. Early stopping follows :func:`tlgeo.train._early_stopping`'s rules.
Only the whole-network strategies run here (the feature strategies are one cheap forward pass).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

#: Strategies a cluster trains (whole-network gradient steps; the feature strategies gain nothing from it).
CLUSTER_STRATEGIES = ("scratch", "fine_tune_all", "fine_tune_top")
#: Environment variable naming this process's worker index in a cluster training job (set by the driver).
WORKER_INDEX_ENV = "TLGEO_WORKER_INDEX"


#: The stage line each worker prints after every fit; the driver checks that all workers printed the same.
CHECKSUM_LABEL = "weights checksum"


def weights_checksum(model) -> str:
    """SHA-256 (first 16 hex digits) of every variable of ``model``, trainable or not, in order."""
    import hashlib

    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()[:16]


def multiworker_strategy():
    """The process's ``MultiWorkerMirroredStrategy`` when it runs as a training worker, else ``None``."""
    from tlgeo import devices

    strategy = devices.current_strategy()
    if strategy is None:
        return None
    import tensorflow as tf

    return strategy if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else None


def is_chief() -> bool:
    """Whether this process writes results: worker 0 of a cluster job, or any process outside one."""
    return int(os.environ.get(WORKER_INDEX_ENV, "0") or 0) == 0


def fit_synchronous(
    exp,
    config,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    fold: int | str,
    callback,
    seed: int,
    on_epoch: Callable[[dict], None] | None = None,
):
    """Train ``config.strategy`` on ``train_idx`` synchronously across the workers of the current strategy.

    Args:
        exp: The :class:`tlgeo.train.Experiment` (every worker holds the same one).
        config: The train config (a whole-network strategy, :data:`CLUSTER_STRATEGIES`).
        train_idx: Training tiles; worker ``i`` of ``N`` steps on its shard ``train_idx[i::N]``.
        val_idx: Validation tiles for early stopping (whole set on every worker).
        fold: Fold number or ``"refit"`` (for the records).
        callback: Gets ``on_stage`` / ``on_epoch_end`` like single-host training.
        seed: Seed of weights, shuffling and augmentation (the same on every worker).
        on_epoch: Called with each epoch record (history).

    Returns:
        The trained :class:`tlgeo.transfer.TransferModel` (continuous outputs rescaled as single-host training does).
    """
    import keras
    import tensorflow as tf

    from tlgeo.datasets import make_dataset
    from tlgeo.transfer import build_model, layerwise_adam, rescale_regression_outputs, unfreeze

    strategy = multiworker_strategy()
    resolver = strategy.cluster_resolver
    n_workers = max(1, resolver.cluster_spec().num_tasks("worker"))
    index = int(resolver.task_id or 0)
    keras.utils.set_random_seed(seed)
    stats = exp.targets.subset(train_idx).regression_stats()
    tr_t, va_t = exp.targets.subset(train_idx).standardized(stats), exp.targets.subset(val_idx).standardized(stats)
    names = list(exp.targets.names)
    continuous = {t for t in names if exp.targets.is_continuous(t)}
    per_worker = max(1, config.batch_size // n_workers)
    global_batch = per_worker * n_workers
    shard = np.arange(len(train_idx))[index::n_workers]
    steps = max(1, (len(train_idx) // n_workers) // per_worker)  # the same on every worker (a synchronous step)

    with strategy.scope():
        tm = build_model(
            config.backbone,
            config.strategy,
            exp.data.targets,
            img_size=exp.img_size,
            weights=config.weights,
            dropout=config.dropout,
            seed=seed,
            channels=exp.channels,
            first_conv=config.first_conv,
            band_names=exp.band_config.names,
        )
    model = tm.model
    # BatchNorm moving statistics are updated from each worker's own batches and are NOT synchronised by the
    # strategy (Keras 3 keeps them per worker): averaged after every step, so all workers hold identical
    # variables — and take identical early-stopping decisions (a differing decision would deadlock the
    # next all-reduce).
    moving = [v for v in model.non_trainable_variables if "moving_" in v.path and "float" in str(v.dtype)]

    def dataset_fn(ctx):
        ds = make_dataset(
            exp.images[train_idx[shard]],
            tr_t.subset(shard),
            batch_size=per_worker,
            shuffle=True,
            augment=config.augment,
            balance=config.class_weights,
            seed=seed + index,
            single_output=False,
            drop_remainder=True,
        )
        return ds.repeat()

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    def per_target_loss(t, out, y):
        if t in continuous:
            return tf.square(tf.cast(y, tf.float32) - tf.cast(out, tf.float32)[:, 0])
        return keras.losses.sparse_categorical_crossentropy(y, tf.cast(out, tf.float32))

    def make_step(optimizer, variables):
        scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        @tf.function
        def train_step(it):
            def step(x, y, w):
                with tf.GradientTape() as tape:
                    out = model(x, training=True)
                    out = out if isinstance(out, dict) else {names[0]: out}
                    per_sample = tf.add_n([w[t] * per_target_loss(t, out[t], y[t]) for t in names])
                    loss = tf.nn.compute_average_loss(per_sample, global_batch_size=global_batch)
                    to_diff = optimizer.scale_loss(loss) if scaled else loss
                grads = tape.gradient(to_diff, variables)
                optimizer.apply_gradients(zip(grads, variables, strict=True))
                if moving:
                    ctx = tf.distribute.get_replica_context()
                    means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in moving])
                    for v, m in zip(moving, means, strict=True):
                        v.assign(m)
                hits, weight = tf.constant(0.0), tf.constant(0.0)
                for t in names:
                    if t not in continuous:  # class-weighted accuracy of the batch, as Keras' weighted metric
                        pred = tf.argmax(out[t], axis=1, output_type=tf.int64)
                        wt = tf.cast(w[t], tf.float32)
                        hits += tf.reduce_sum(wt * tf.cast(pred == tf.cast(y[t], tf.int64), tf.float32))
                        weight += tf.reduce_sum(wt)
                return loss, hits, weight

            per_replica = strategy.run(step, args=next(it))
            return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in per_replica]

        return train_step

    def optimizer_for(phase: str):
        with strategy.scope():
            if phase == "head" or phase == "scratch":
                opt = keras.optimizers.Adam(config.learning_rate)
            else:
                slow = unfreeze(tm, config.strategy, config.top_k_stages)
                opt = layerwise_adam(config.learning_rate, slow, config.pretrained_lr_mult)
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                opt = keras.optimizers.LossScaleOptimizer(opt)
            opt.build(model.trainable_variables)
        return opt

    val = _validation(model, exp, val_idx, va_t, names, continuous, config) if len(val_idx) else None
    phases: list[tuple[str, int]] = []
    if config.strategy.startswith("fine_tune"):
        tm.backbone.trainable = False
        phases.append(("head", config.head_epochs))
        phases.append(("fine_tune", config.epochs))
    else:
        phases.append(("scratch", config.epochs))
    regression = len(continuous) == len(names)
    for phase, epochs in phases:
        optimizer = optimizer_for(phase)
        train_step = make_step(optimizer, model.trainable_variables)
        whole = phase != "head"
        by_accuracy = val is not None and whole and not regression
        start = config.epochs // 2 if config.strategy == "scratch" else 0
        best, best_weights, waited = -np.inf, model.get_weights(), 0
        for epoch in range(epochs):
            sums = np.array([[float(v) for v in train_step(iterator)] for _ in range(steps)])
            record = {"fold": fold, "phase": phase, "epoch": epoch + 1, "loss": float(sums[:, 0].mean())}
            if len(continuous) < len(names):
                record["accuracy"] = float(sums[:, 1].sum() / max(sums[:, 2].sum(), 1e-9))
            if val is not None:
                record.update(val())
            record["workers"] = n_workers
            callback.on_epoch_end(record)
            if on_epoch is not None:
                on_epoch(record)
            if by_accuracy:
                score = record.get("val_mean_accuracy", 0.0)
            else:
                score = -record.get("val_loss", record["loss"])
            if epoch < start:
                best_weights = model.get_weights()
                continue
            if score > best + 1e-4:
                best, best_weights, waited = score, model.get_weights(), 0
            else:
                waited += 1
                if waited >= config.patience:
                    break
        model.set_weights(best_weights)
    rescale_regression_outputs(tm, stats)
    callback.on_stage(f"fold {fold}: {CHECKSUM_LABEL} {weights_checksum(model)} (worker {index} of {n_workers})")
    return tm


def _validation(model, exp, val_idx, va_t, names: Sequence[str], continuous: set, config) -> Callable[[], dict]:
    """Loss and class-weighted accuracy on the whole validation set (identical on every worker)."""
    images = exp.images[val_idx].astype("float32")
    labels, weights = va_t.safe_labels(), va_t.sample_weights(config.class_weights)

    def evaluate() -> dict:
        outs = [model(images[i : i + 64], training=False) for i in range(0, len(images), 64)]
        out = {
            t: np.concatenate([np.asarray(o[t] if isinstance(o, dict) else o, dtype="float64") for o in outs])
            for t in names
        }
        loss, accs, logs = 0.0, [], {}
        for t in names:
            y, w = np.asarray(labels[t]), np.asarray(weights[t], dtype="float64")
            if t in continuous:
                per = (y.astype("float64") - out[t][:, 0]) ** 2
            else:
                p = np.clip(out[t][np.arange(len(y)), y.astype(int)], 1e-7, 1.0)
                per = -np.log(p)
                acc = float((w * (out[t].argmax(axis=1) == y)).sum() / max(w.sum(), 1e-9))
                accs.append(acc)
                logs[f"val_{t}_accuracy"] = acc
            loss += float((w * per).sum() / max(len(y), 1))
        logs["val_loss"] = loss
        if accs:
            logs["val_mean_accuracy"] = logs["val_accuracy"] = float(np.mean(accs))
        return logs

    return evaluate
