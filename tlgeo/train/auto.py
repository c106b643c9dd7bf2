"""``strategy = auto``: the advisor's probes on the experiment's folds decide the strategy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tlgeo.config import TrainConfig
from tlgeo.splits import train_val_indices
from tlgeo.train.callbacks import (
    _HEAD_COST,
    _TRAIN_COST,
    CPU_INFER_224,
    CPU_TRAIN_224,
    RELATIVE_COST,
    TrainCallback,
    _Progress,
)
from tlgeo.train.experiment import Experiment
from tlgeo.train.fit import _fit
from tlgeo.train.heads import _feature_key, _precision, _predict_probs, _shared_backbone, chip_features_of
from tlgeo.transfer import (
    Recommendation,
    check_strategy,
    default_truncate_stage,
)


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
