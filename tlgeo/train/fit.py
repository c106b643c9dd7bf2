"""The fit loop of one fold: build the model for the strategy, train head then backbone, early stopping, predict."""

from __future__ import annotations

import numpy as np

from tlgeo.config import TrainConfig
from tlgeo.datasets import make_dataset
from tlgeo.train.callbacks import _TRAIN_COST, TrainCallback, _keras_bridge, _Progress
from tlgeo.train.experiment import Experiment
from tlgeo.train.heads import (
    _compile_model,
    _early_stopping,
    _feature_stage,
    _features,
    _fit_chip_stats,
    _replica_batches,
    _shared_backbone,
    _shared_head,
    _train_head,
)
from tlgeo.transfer import (
    FROZEN,
    TransferModel,
    build_model,
    fit_linear_head,
    layerwise_adam,
    rescale_regression_outputs,
    unfreeze,
)


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

    history: list[dict] = []
    from tlgeo.distributed.train_loop import fit_synchronous, multiworker_strategy

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
                head = "ridge" if len(stats) == len(exp.targets.names) else config.classifier
                callback.on_stage(f"fold {fold}: fitting {head} on {feats.shape[1]}-d features")
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
