"""Training calls: :func:`train` (cross-validate, refit, calibrate) and :func:`compare` (strategies on the same folds)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from tlgeo.config import TrainConfig
from tlgeo.errors import TrainingError
from tlgeo.metrics import fold_metrics, summarize_folds
from tlgeo.schema import column_prefix, prob_column
from tlgeo.splits import train_val_indices
from tlgeo.taskdata import TaskData
from tlgeo.train.auto import _work_estimate, resolve_strategy
from tlgeo.train.callbacks import TrainCallback, _Progress
from tlgeo.train.experiment import Experiment, FoldOutcome, TrainResult, prepare_experiment
from tlgeo.train.fit import _fit
from tlgeo.train.heads import _first_conv, _precision, _predict_probs
from tlgeo.transfer import (
    check_strategy,
)


def train(
    data: TaskData,
    config: TrainConfig,
    *,
    callback: TrainCallback | None = None,
    experiment: Experiment | None = None,
) -> TrainResult:
    """Cross-validate one strategy and (if ``config.refit``) refit the model to save on all labelled tiles.

    Args:
        data: Labelled tiles from :func:`tlgeo.tasks.load_task`.
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
    from tlgeo.advisor import for_targets

    config = for_targets(config, exp.targets.classes, callback.on_stage)  # metric by task; numbers: no weighting
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
            metrics = fold_metrics(exp, probs, test_idx)
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
    """Temperature per target fitted on the out-of-fold probabilities, with the ECE before and after.

    A continuous target has no class probabilities to calibrate: its entry says it was skipped (no temperature).
    """
    from tlgeo.calibration import SKIPPED_REGRESSION, calibrate_targets

    probs, ys = {}, {}
    skipped = {t: {"skipped": SKIPPED_REGRESSION} for t in exp.targets.names if exp.targets.is_continuous(t)}
    for t, classes in exp.targets.classes.items():
        if t in skipped or not classes:
            continue
        p = np.full((len(exp.tiles), len(classes)), np.nan)
        for o in outcomes:
            p[o.test_idx] = o.probs[t]
        probs[t], ys[t] = p, np.asarray(exp.targets.y[t])
    return {**calibrate_targets(probs, ys), **skipped}


def _oof_frame(exp: Experiment, outcomes: Sequence[FoldOutcome]) -> pd.DataFrame:
    """Out-of-fold predictions: one row per labelled tile."""
    frame = pd.DataFrame({"tile_id": exp.tiles["tile_id"].to_numpy(), "fold": exp.folds.fold})
    for t, classes in exp.targets.classes.items():
        prefix = column_prefix(exp.targets.classes, t)
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
        frame[f"{prefix}true"] = exp.targets.y[t]
        pred = np.where(np.isnan(probs).any(axis=1), -1, np.nan_to_num(probs).argmax(axis=1))
        frame[f"{prefix}pred"] = pred
        for j, c in enumerate(classes):
            frame[prob_column(exp.targets.classes, t, c)] = probs[:, j]
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
    from tlgeo.advisor import for_targets

    config = for_targets(config, exp.targets.classes, callback.on_stage)  # said once, not per strategy
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
