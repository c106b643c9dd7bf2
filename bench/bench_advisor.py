"""Cost of ``--strategy auto``'s probes against what they are built from, measured in the same run (a ratio).

Probes = ``chip_stats`` cross-validated + linear heads on pooled features from three depths of the backbone (one
multi-output forward pass) on the same folds — fine-tuning trial excluded (it runs only when the budget allows).
Baseline = one bare ``model.predict`` pass of the same backbone over the labelled chips held in memory + the
``chip_stats`` cross-validation alone (the forest fit). Target: probes ≤ 1.3 × baseline.

Usage::

    python bench/bench_advisor.py [--data sample_data/landcover] [--backbone efficientnet_lite0] [--img-size 64]
        [--folds 5] [--smoke [--values]]

``--smoke``: a synthetic task built in a temporary folder, ``tiny_cnn``, 32 px (checks the script runs, for CI);
with ``--values`` a generated regression (``values``) task, whose probes are ridge regressions scored by R². A values
task folder as ``--data`` works too.
Timings on this 2-core machine swing ±40 % between runs; compare the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("sample_data/landcover"))
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="tiny synthetic task and backbone (CI)")
    p.add_argument("--values", action="store_true", help="with --smoke: a generated values (regression) task")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tlgeo-bench-"))
    os.environ["TLGEO_CACHE"] = str(tmp / "cache")  # cold caches: features are computed, not loaded

    from tlgeo.advisor import advise
    from tlgeo.backbones import backbone_info
    from tlgeo.chip_stats import ChipStatsModel
    from tlgeo.config import TrainConfig
    from tlgeo.train import chip_features_of, prepare_experiment
    from tlgeo.train.auto import _multi_depth_features
    from tlgeo.transfer import default_truncate_stage

    if args.smoke and args.values:
        from tests.test_values import make_values_task
        from tlgeo.tasks import load_task

        data = load_task(make_values_task(tmp / "values", n=32))
        args.backbone, args.img_size, args.folds = "tiny_cnn", 32, 2
    elif args.smoke:
        from tests.conftest import make_task_data

        data = make_task_data(tmp, n=8, size=32)
        args.backbone, args.img_size, args.folds = "tiny_cnn", 32, 2
    else:
        from tlgeo.tasks import load_task

        data = load_task(args.data)
    config = TrainConfig(backbone=args.backbone, img_size=args.img_size, folds=args.folds, strategy="auto")
    exp = prepare_experiment(data, config)
    info = backbone_info(args.backbone)
    n = len(exp.images)

    # baseline 1: one bare forward pass of the backbone (built and warmed up first, like the probes' is)
    from tlgeo.transfer import build_backbone

    net = build_backbone(
        args.backbone, "frozen_head", img_size=args.img_size, channels=exp.channels, band_names=exp.band_config.names
    )
    images = exp.images.astype("float32")
    net.predict(images[:32], batch_size=32, verbose=0)
    t = time.perf_counter()
    net.predict(images, batch_size=32, verbose=0)
    forward_s = time.perf_counter() - t
    # baseline 2: chip statistics + gradient boosting on every fold
    t = time.perf_counter()
    feats = chip_features_of(exp)
    for k in range(args.folds):
        tr, _ = exp.folds.train_test(k)
        sub = exp.targets.subset(tr)
        ChipStatsModel(exp.data.targets, exp.img_size, exp.channels).fit(
            feats[tr], sub.y, sub.sample_weights("balanced")
        )
    forest_s = time.perf_counter() - t

    # the probes, on a fresh experiment (no cached features); the backbone is built and warmed like the baseline's
    exp2 = replace(exp, features={}, nets={}, heads={})
    _multi_depth_features(exp2, config, info, ("stem",) if args.smoke else (info.stages[1],))  # build + warm up
    exp2.features.clear()
    t = time.perf_counter()
    _, _, _, rec = advise(
        exp2,
        replace(config, budget_s=1e9),
        chip_features=lambda: chip_features_of(exp2),
        deep_features=lambda stages: _multi_depth_features(exp2, config, info, stages),
        deep_cost_s=0.0,
        finetune_trial=None,
        finetune_cost_s=0.0,
        stages=tuple(info.stages),
        default_mid=default_truncate_stage(info),
        rarest=0,
    )
    probes_s = time.perf_counter() - t
    base = forward_s + forest_s
    print(f"{data.task}: {n} labelled chips, {args.backbone} at {args.img_size} px, {args.folds} folds")
    for row in rec.probes:
        print(f"  {row['probe']:<16} {row['mean']:.3f} ± {row['sd']:.3f}  ({row['seconds']:.1f} s)")
    print(f"one forward pass {forward_s:.1f} s + chip_stats CV {forest_s:.1f} s = {base:.1f} s")
    print(f"auto's probes {probes_s:.1f} s → ratio {probes_s / base:.2f} × (target ≤ 1.3)")
    print(f"pick: {rec.strategy}")
    return None


if __name__ == "__main__":
    main()
