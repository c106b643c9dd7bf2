"""``--strategy auto`` as a measured choice: cheap probes on the user's own tiles and spatial folds, then a pick.

1. ``chip_stats`` (gradient boosting on per-band chip statistics) — the non-deep baseline, always measured.
2. Linear heads (logistic regression) on pooled features from three depths of the pretrained backbone — an early
   stage, the middle stage and the last — all taken from ONE forward pass of a multi-output feature model. A
   winning probe is picked as it was measured: ``features_linear`` on that stage's features (``truncate_stage``).
3. If the best deep probe beats ``chip_stats`` by more than the fold sd, transfer helps; whole-network fine-tuning
   is then tried on one fold when its estimated cost fits the rest of the budget (the dataset size is the prior:
   with a large rarest class and no budget left, fine-tuning is picked on the prior alone), and kept when it beats
   the best probe on that fold by more than the probes' fold sd. Otherwise ``auto`` keeps the baseline and says
   "transfer from ImageNet does not help on this data".

Class weighting follows the metric optimised: ``balanced`` for balanced accuracy, ``sqrt`` for macro F1, ``none``
for accuracy.

Regression (task ``values``; every target continuous): the metric is R² (the default; a class metric is refused),
the probes are ridge regressions on the same pooled features and the ``chip_stats`` regressor, and class weighting is
``none`` (numbers have no classes to weight: a class-weighting setting is ignored with a report line).

This module never imports keras: the forward pass and the fine-tuning trial are handed in by :mod:`tlgeo.train`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tlgeo.errors import ConfigError

if TYPE_CHECKING:
    from tlgeo.config import TrainConfig

#: Class weighting ``auto`` uses for each metric it optimises.
WEIGHTING_BY_METRIC = {"balanced_accuracy": "balanced", "macro_f1": "sqrt", "accuracy": "none", "r2": "none"}
#: Penalties the ridge probe of a continuous target chooses from (leave-one-out, on standardised features).
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 4, 13))


@dataclass
class Probe:
    """One row of the probe table.

    Attributes:
        name: Row label (``chip_stats``, ``linear@stage3``, …).
        strategy: The strategy this probe stands for.
        stage: Backbone stage of the features (``None``: the whole backbone or no backbone).
        mean: Mean of the metric over folds (NaN when not measured).
        sd: Its sd over folds.
        per_fold: The metric per fold.
        seconds: Time spent on this probe.
        note: ``measured``, ``fold 1 only`` or why it was skipped.
    """

    name: str
    strategy: str
    stage: str | None = None
    mean: float = float("nan")
    sd: float = float("nan")
    per_fold: list[float] = field(default_factory=list)
    seconds: float = 0.0
    note: str = "measured"

    def row(self) -> dict[str, object]:
        """Plain values for tables and config.json."""
        return {
            "probe": self.name,
            "strategy": self.strategy,
            "stage": self.stage,
            "mean": None if np.isnan(self.mean) else round(self.mean, 4),
            "sd": None if np.isnan(self.sd) else round(self.sd, 4),
            "seconds": round(self.seconds, 2),
            "note": self.note,
        }


def probe_depths(stages: tuple[str, ...], default_mid: str) -> tuple[str, str]:
    """The early and middle stages probed (the last depth is the backbone's own output)."""
    early = stages[max(1, len(stages) // 4)] if len(stages) > 2 else stages[0]
    mid = default_mid if default_mid != early else stages[min(len(stages) - 1, stages.index(early) + 1)]
    return early, mid


#: The metric ``auto`` optimises when none is given: R² when every target is a number, else balanced accuracy.
DEFAULT_METRIC = {"continuous": "r2", "classes": "balanced_accuracy"}


def resolve_metric(metric: str | None, classes: Mapping[str, list]) -> str:
    """The metric to optimise for targets ``classes`` (target → class names, ``[]`` = continuous).

    ``None`` is the default: ``r2`` when every target is continuous, else ``balanced_accuracy``.

    Raises:
        ConfigError: ``r2`` without a continuous target, or a class metric when every target is continuous.
    """
    continuous = [t for t, c in classes.items() if not c]
    if metric is None:
        return DEFAULT_METRIC["continuous" if classes and len(continuous) == len(classes) else "classes"]
    if metric == "r2" and not continuous:
        raise ConfigError(
            "--metric r2 is for continuous targets, but this task predicts classes",
            hint="Use --metric balanced_accuracy, accuracy or macro_f1.",
        )
    if metric != "r2" and classes and len(continuous) == len(classes):
        raise ConfigError(
            f"--metric {metric} is for classes, but this task predicts numbers ({', '.join(continuous)})",
            hint="Use --metric r2 (the default for numeric targets), or leave --metric out.",
        )
    return metric


def for_targets(
    config: TrainConfig, classes: Mapping[str, list], say: Callable[[str], None] | None = None
) -> TrainConfig:
    """``config`` with its metric resolved (:func:`resolve_metric`) and, when every target is continuous, class
    weighting ``none`` (numbers have no classes to weight; another setting is ignored with a line to ``say``).

    Raises:
        ConfigError: A metric that does not fit the targets.
    """
    from dataclasses import replace

    metric = resolve_metric(config.metric, classes)
    weights = config.class_weights
    if classes and all(not c for c in classes.values()) and weights != "none":
        if say is not None:
            say(f"Class weighting: none — the targets are numbers, so class_weights={weights!r} does not apply")
        weights = "none"
    return replace(config, metric=metric, class_weights=weights)


def fold_metric(exp, probs: Mapping[str, np.ndarray], test_idx: np.ndarray, metric: str) -> float:
    """The metric (mean over targets) of probabilities (values, for a continuous target) for the tiles
    ``test_idx``."""
    from tlgeo.metrics import fold_metrics

    return float(fold_metrics(exp, probs, test_idx)["mean"].get(metric, float("nan")))


def linear_probs(
    x_tr: np.ndarray, targets_tr, x_te: np.ndarray, weighting: str, seed: int = 0
) -> dict[str, np.ndarray]:
    """Logistic regression per target on standardised features → test probabilities (absent classes 0); a
    continuous target gets a ridge regression (penalty by leave-one-out) → (N, 1) test values."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    weights = targets_tr.sample_weights(weighting)
    out = {}
    for t, y in targets_tr.y.items():
        if targets_tr.is_continuous(t):
            mask = np.isfinite(y)
            values = np.full((len(x_te), 1), float(np.mean(y[mask])) if mask.any() else 0.0)
            if mask.sum() >= 2:
                est = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
                with threadpool_limits(1):
                    est.fit(x_tr[mask], y[mask])
                    values[:, 0] = est.predict(x_te)
            out[t] = values
            continue
        mask = y >= 0
        probs = np.zeros((len(x_te), len(targets_tr.classes[t])))
        present = np.unique(y[mask])
        if present.size < 2:
            probs[:, present] = 1.0
        else:
            est = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=300, random_state=seed))
            with threadpool_limits(1):
                est.fit(x_tr[mask], y[mask], logisticregression__sample_weight=weights[t][mask])
                probs[:, est[-1].classes_] = est.predict_proba(x_te)
        out[t] = probs
    return out


def advise(
    exp,
    config,
    *,
    chip_features: Callable[[], np.ndarray],
    deep_features: Callable[[tuple[str, str]], dict[str | None, np.ndarray]] | None,
    deep_cost_s: float,
    finetune_trial: Callable[[str], dict[str, np.ndarray]] | None,
    finetune_cost_s: float,
    stages: tuple[str, ...] = (),
    default_mid: str | None = None,
    rarest: int = 0,
    small_threshold: int = 1000,
    callback=None,
):
    """Measure the probes and pick a strategy within ``config.budget_s``.

    Args:
        exp: The :class:`tlgeo.train.Experiment` (tiles, targets, folds).
        config: The train config (``metric``, ``budget_s``, ``folds``, ``seed``).
        chip_features: Returns the chip statistics of every labelled tile.
        deep_features: Returns pooled features per probed stage (``None`` key: the whole backbone), from one forward
            pass; ``None`` when the backbone has no pretrained weights.
        deep_cost_s: Estimated seconds of that forward pass.
        finetune_trial: Trains ``fine_tune_all`` on the training tiles of a fold's split and returns probabilities
            of its test tiles (argument: the class weighting); ``None`` to never try.
        finetune_cost_s: Estimated seconds of that trial.
        stages: The backbone's stages (registry order).
        default_mid: The middle stage (``truncated``'s default).
        rarest: Labelled tiles in the rarest class (the size prior).
        small_threshold: Rarest-class count below which data counts as small.
        callback: A :class:`tlgeo.train.TrainCallback` (stages printed).

    Returns:
        ``(strategy, truncate_stage, class_weights, Recommendation)``.

    Raises:
        ConfigError: A metric that does not fit the targets (:func:`resolve_metric`).
    """
    from tlgeo.transfer import Recommendation

    metric, budget = resolve_metric(config.metric, exp.targets.classes), float(config.budget_s)
    regression = all(exp.targets.is_continuous(t) for t in exp.targets.names)
    say = callback.on_stage if callback is not None else (lambda _m: None)
    weighting = "none" if regression else WEIGHTING_BY_METRIC[metric]
    start = time.perf_counter()
    splits = [exp.folds.train_test(k) for k in range(config.folds)]
    probes: list[Probe] = []

    # 1. the baseline, always
    from tlgeo.chip_stats import ChipStatsModel

    t = time.perf_counter()
    feats = chip_features()
    scores = []
    for k, (tr, te) in enumerate(splits):
        sub = exp.targets.subset(tr)
        model = ChipStatsModel(exp.data.targets, exp.img_size, exp.channels, exp.band_config.names)
        model.fit(feats[tr], sub.y, sub.sample_weights(weighting), seed=config.seed + k)
        scores.append(fold_metric(exp, model.predict_features(feats[te]), te, metric))
    base = _probe("chip_stats", "chip_stats", None, scores, time.perf_counter() - t)
    probes.append(base)
    say(f"probe chip_stats: {metric} {base.mean:.3f} ± {base.sd:.3f} ({base.seconds:.1f} s)")

    # 2. linear heads on three depths, one forward pass
    deep: list[Probe] = []
    early, mid = probe_depths(stages, default_mid) if stages and default_mid else (None, None)
    head = "ridge" if regression else "linear"  # the probe's model: ridge regression for numbers
    names = [(f"{head}@{early}", early), (f"{head}@{mid}", mid), (f"{head}@last", None)]
    remaining = budget - (time.perf_counter() - start)
    if deep_features is None or early is None:
        for label, stage in names:
            probes.append(Probe(label, "features_linear", stage, note="no pretrained backbone"))
    elif deep_cost_s > remaining:
        for label, stage in names:
            probes.append(
                Probe(
                    label,
                    "features_linear",
                    stage,
                    note=f"skipped: ~{deep_cost_s:.0f} s forward pass > {remaining:.0f} s left of the budget",
                )
            )
    else:
        t = time.perf_counter()
        by_stage = deep_features((early, mid))
        pass_s = time.perf_counter() - t
        for label, stage in names:
            t = time.perf_counter()
            x = by_stage[stage]
            scores = [
                fold_metric(exp, linear_probs(x[tr], exp.targets.subset(tr), x[te], weighting, config.seed), te, metric)
                for tr, te in splits
            ]
            p = _probe(
                label,
                "features_linear",
                stage,
                scores,
                time.perf_counter() - t + pass_s / 3,
            )
            probes.append(p)
            deep.append(p)
            say(f"probe {label}: {metric} {p.mean:.3f} ± {p.sd:.3f}")

    # 3. decide
    pick, stage, sentence = "chip_stats", None, None
    if not deep:
        why = "No backbone probe was measured, so the measured baseline chip_stats is kept."
        helps = None
    else:
        best = max(deep, key=lambda p: p.mean)
        sd = max(base.sd, best.sd)
        helps = best.mean - base.mean > sd
        if not helps:
            sentence = f"transfer from ImageNet does not help on this data: {best.mean:.2f} vs {base.mean:.2f}"
            why = (
                f"Measured: {sentence} ({metric}; the best backbone probe, {best.name}, does not beat "
                f"chip_stats by more than the fold sd {sd:.2f}). Keeping the baseline chip_stats."
            )
        else:
            pick, stage = best.strategy, best.stage
            why = (
                f"{best.name} beats chip_stats by {best.mean - base.mean:.2f} {metric} (fold sd {sd:.2f}): transfer "
                "helps."
            )
            small = rarest < small_threshold
            remaining = budget - (time.perf_counter() - start)
            size = f"{rarest} {'labelled tiles' if regression else 'tiles in the rarest class'} " + (
                f"({'small' if small else 'large'} data)"
            )
            if best.mean >= 0.99:
                why += " The probe is already at the ceiling, so fine-tuning has nothing to add."
            elif finetune_trial is not None and finetune_cost_s <= remaining:
                t = time.perf_counter()
                tr, te = splits[0]
                ft = fold_metric(exp, finetune_trial(weighting), te, metric)
                trial = Probe(
                    "fine_tune_all",
                    "fine_tune_all",
                    None,
                    ft,
                    float("nan"),
                    [ft],
                    time.perf_counter() - t,
                    "fold 1 only",
                )
                probes.append(trial)
                gain = ft - best.per_fold[0]
                say(f"probe fine_tune_all (fold 1): {metric} {ft:.3f} vs {best.per_fold[0]:.3f} for {best.name}")
                if gain > best.sd:
                    pick, stage = "fine_tune_all", None
                    why += (
                        f" With {size}, fine-tuning was tried on fold 1 and beats {best.name} there by {gain:.2f} "
                        f"(> its fold sd {best.sd:.2f}): worth its cost."
                    )
                else:
                    why += (
                        f" With {size}, fine-tuning was tried on fold 1 and gains {gain:+.2f} over {best.name} "
                        f"(not more than its fold sd {best.sd:.2f}): not worth its cost."
                    )
            elif not small and finetune_trial is not None:
                pick, stage = "fine_tune_all", None
                why += (
                    f" Fine-tuning (~{finetune_cost_s:.0f} s for one fold) does not fit the {remaining:.0f} s left of "
                    f"the budget; {size}, where fine-tuning usually pays, so it is picked on that prior."
                )
            else:
                why += (
                    f" Fine-tuning was not tried (~{finetune_cost_s:.0f} s for one fold, {remaining:.0f} s left of the "
                    f"budget); with {size} the frozen pick stays."
                )
    spent = time.perf_counter() - start
    label = pick if stage is None else f"{pick} (up to {stage})"
    reason = (
        f"Recommended: {label}, by {metric} on {config.folds} {config.split} folds (class weighting {weighting}; "
        f"{spent:.0f} s of a {budget:.0f} s budget). {why}"
    )
    rec = Recommendation(
        strategy=pick,
        small=rarest < small_threshold,
        similar=bool(helps),
        images_per_class=int(rarest),
        similarity=None,
        reason=reason,
        alternatives=tuple(p.strategy for p in probes if p.strategy != pick and not np.isnan(p.mean)),
        probes=tuple(p.row() for p in probes),
        metric=metric,
        class_weights=weighting,
        transfer_helps=helps,
        verdict=sentence,
        budget_s=budget,
        spent_s=round(spent, 2),
    )
    return pick, stage, weighting, rec


def _probe(name: str, strategy: str, stage: str | None, scores: list[float], seconds: float) -> Probe:
    arr = np.asarray(scores, dtype="float64")
    ok = arr[np.isfinite(arr)]
    mean = float(ok.mean()) if ok.size else float("nan")
    sd = float(ok.std(ddof=1)) if ok.size > 1 else 0.0
    return Probe(name, strategy, stage, mean, sd, [float(v) for v in arr], seconds)


def probe_table_lines(probes: tuple[Mapping[str, object], ...] | list) -> list[str]:
    """The probe table as aligned text lines (CLI; :func:`tlgeo.tables.table_lines`)."""
    from tlgeo.tables import table_lines

    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    rows = [
        {
            "probe": p["probe"],
            "strategy": p["strategy"],
            "mean": fmt(p["mean"]),
            "sd": fmt(p["sd"]),
            "seconds": f"{p['seconds']:.1f}",
            "note": p["note"],
        }
        for p in probes
    ]
    return table_lines(rows, ["probe", "strategy", "mean", "sd", "seconds", "note"], rule=False)
