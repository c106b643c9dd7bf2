"""``tlgeo train``, ``tlgeo compare`` and ``tlgeo runs``: argument parsing and printing around :mod:`tlgeo.train`.

Every flag default comes from :class:`~tlgeo.config.TrainConfig`; choices come from the registries and the
settings module (tasks, strategies, splits, classifiers, class weights, metrics, first-conv rules).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tlgeo.cli.argtypes import nonnegative_float, nonnegative_int, number, positive_float, positive_int
from tlgeo.config import (
    CLASS_WEIGHTS,
    CLASSIFIERS,
    COMPARE_STRATEGIES,
    FIRST_CONV_RULES,
    MIXED_PRECISION,
    OPTIMISE_METRICS,
    SPLITS,
    STRATEGIES,
    TrainConfig,
)


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``compare`` and ``runs``."""
    p = sub.add_parser("train", help="train one run (prints the run folder on its last line)")
    add_train_arguments(p, compare=False)
    p.set_defaults(func=run_train)
    c = sub.add_parser("compare", help="several strategies on the same folds, one table")
    add_train_arguments(c, compare=True)
    c.set_defaults(func=run_compare)
    r = sub.add_parser("runs", help="list saved runs")
    r.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
    r.set_defaults(func=run_runs)


def add_train_arguments(p: argparse.ArgumentParser, *, compare: bool) -> None:
    """Arguments shared by ``train`` and ``compare`` (defaults from :class:`~tlgeo.config.TrainConfig`)."""
    from tlgeo.tasks import list_tasks

    d = TrainConfig()
    p.add_argument("--task", choices=list_tasks(), default=None, help="default: the task folder's tlgeo.toml")
    p.add_argument("--data", type=Path, required=True, help="task folder (imagery/ + the task's labels)")
    p.add_argument(
        "--backbone", default=d.backbone, help=f"registry name (default {d.backbone}); see `tlgeo backbones`"
    )
    p.add_argument("--weights", default=d.weights, help="imagenet (default), none, or a local weights file")
    if compare:
        p.add_argument(
            "--strategies",
            default=",".join(COMPARE_STRATEGIES),
            help=f"comma-separated, from: {', '.join(s for s in STRATEGIES if s != 'as_is')}",
        )
        p.add_argument("--json", type=Path, default=None, help="write the comparison (table + per-fold metrics) here")
        p.add_argument("--overwrite", action="store_true", help="replace the --json file if it exists")
    else:
        p.add_argument("--strategy", default=d.strategy, help=f"one of {', '.join(STRATEGIES[1:])}, or auto")
        p.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
        p.add_argument("--no-refit", action="store_true", help="cross-validate only; save no run")
        p.add_argument(
            "--cluster",
            default=None,
            help="train synchronously on a cluster: local[:N] or a Dask scheduler address (whole-network "
            "strategies; docs/scaling.md)",
        )
    p.add_argument(
        "--epochs", type=positive_int(10_000), default=d.epochs, help=f"whole-network epochs (default {d.epochs})"
    )
    p.add_argument(
        "--head-epochs",
        type=positive_int(10_000),
        default=d.head_epochs,
        help=f"head epochs on frozen features (default {d.head_epochs})",
    )
    p.add_argument(
        "--img-size",
        type=number(minimum=32, maximum=1024, integer=True),
        default=d.img_size,
        help=f"input pixels (default {d.img_size})",
    )
    p.add_argument("--batch-size", type=positive_int(4096), default=d.batch_size)
    p.add_argument(
        "--lr",
        type=number(minimum=0, maximum=10, exclusive_min=True),
        default=d.learning_rate,
        help="learning rate of new layers",
    )
    p.add_argument(
        "--pretrained-lr-mult",
        type=number(minimum=0, maximum=1, exclusive_min=True),
        default=d.pretrained_lr_mult,
        help="× lr for pretrained layers",
    )
    p.add_argument("--top-k", type=positive_int(100), default=d.top_k_stages, help="stages unfrozen by fine_tune_top")
    p.add_argument(
        "--truncate-stage", default=d.truncate_stage, help="last stage kept by truncated (default: mid-network)"
    )
    p.add_argument("--classifier", choices=list(CLASSIFIERS), default=d.classifier, help="for features_linear")
    p.add_argument("--folds", type=number(minimum=2, maximum=100, integer=True), default=d.folds)
    p.add_argument("--split", choices=list(SPLITS), default=d.split)
    p.add_argument(
        "--block-size",
        type=positive_float(1_000_000),
        default=d.block_size_m,
        help="spatial block edge in metres (default: auto)",
    )
    p.add_argument(
        "--buffer",
        type=nonnegative_float(100_000),
        default=d.buffer_m,
        help="metres between test blocks and training tiles (0 to 100 km)",
    )
    p.add_argument(
        "--patience",
        type=positive_int(10_000),
        default=d.patience,
        help=f"early-stopping patience in epochs (default {d.patience})",
    )
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--seed", type=nonnegative_int(2**32 - 1), default=d.seed)
    p.add_argument("--mixed-precision", choices=list(MIXED_PRECISION), default=d.mixed_precision)
    p.add_argument(
        "--first-conv",
        choices=list(FIRST_CONV_RULES),
        default=d.first_conv,
        help="how the first convolution takes imagery with other than 3 bands (default auto = cyclic)",
    )
    p.add_argument(
        "--class-weights",
        choices=list(CLASS_WEIGHTS),
        default=d.class_weights,
        help=f"class weighting of the loss (default {d.class_weights}; auto chooses it by --metric; numbers: none)",
    )
    p.add_argument(
        "--metric",
        choices=list(OPTIMISE_METRICS),
        default=d.metric,
        help="the metric --strategy auto optimises (default: r2 when the targets are numbers, else balanced_accuracy)",
    )
    p.add_argument(
        "--budget-s",
        type=positive_float(1_000_000),
        default=d.budget_s,
        help=f"seconds --strategy auto may spend on its probes (default {d.budget_s:.0f})",
    )
    p.add_argument("--quiet", action="store_true", help="print only the result")


def config_from_args(args: argparse.Namespace, *, strategy: str | None = None) -> TrainConfig:
    """Build a :class:`TrainConfig` from parsed arguments (validates every value)."""
    weights = None if str(args.weights).lower() == "none" else args.weights
    return TrainConfig(
        backbone=args.backbone,
        weights=weights,
        strategy=strategy or args.strategy,
        img_size=args.img_size,
        epochs=args.epochs,
        head_epochs=args.head_epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        pretrained_lr_mult=args.pretrained_lr_mult,
        top_k_stages=args.top_k,
        truncate_stage=args.truncate_stage,
        classifier=args.classifier,
        folds=args.folds,
        split=args.split,
        block_size_m=args.block_size,
        buffer_m=args.buffer,
        augment=not args.no_augment,
        patience=args.patience,
        refit=not getattr(args, "no_refit", False),
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        first_conv=args.first_conv,
        class_weights=args.class_weights,
        metric=args.metric,
        budget_s=args.budget_s,
    )


def _callback(args: argparse.Namespace):
    from tlgeo.train import PrintCallback, TrainCallback

    return TrainCallback() if args.quiet else PrintCallback()


def run_train(args: argparse.Namespace) -> int:
    """``tlgeo train``: cross-validate, refit, save the run; the last line printed is the run folder."""
    from tlgeo.backbones import backbone_info
    from tlgeo.distributed.train_loop import is_chief
    from tlgeo.inputs import check_imagery_folder, check_training_imagery
    from tlgeo.metrics import format_mean_sd, shown_metrics
    from tlgeo.outputs import check_output_folder
    from tlgeo.runs import clean_stale_temp, save_run
    from tlgeo.tasks import load_task
    from tlgeo.train import train

    config = config_from_args(args)
    backbone_info(config.backbone)  # fail fast on a typo, before reading data
    chief = is_chief()  # in a cluster job (--cluster) only worker 0 touches the runs folder
    if config.refit and chief:
        check_output_folder(args.runs, flag="--runs")
        for line in clean_stale_temp(args.runs):
            print(line)
    if getattr(args, "cluster", None):
        from tlgeo.distributed.train import check_cluster_strategy, train_on_cluster

        check_cluster_strategy(config.strategy)
        check_imagery_folder(Path(args.data) / "imagery")
        raw = list(getattr(args, "argv", None) or sys.argv[1:])
        return train_on_cluster(raw[raw.index("train") + 1 :], args.cluster)
    check_imagery_folder(Path(args.data) / "imagery")
    data = load_task(args.data, task=args.task)
    check_training_imagery(data)
    for line in data.report:
        print(f"  {line}")
    result = train(data, config, callback=_callback(args))
    rec = result.recommendation
    if rec:
        if rec.probes:
            from tlgeo.advisor import probe_table_lines

            print("\n".join(probe_table_lines(rec.probes)))
        print(rec.reason)
    mean = result.metrics["mean"]
    print(
        f"{result.config.strategy} on {config.backbone}, {config.folds} {config.split} folds, class weighting "
        f"{result.config.class_weights}: "
        + ", ".join(f"{m}={format_mean_sd(mean.get(m))}" for m in shown_metrics(mean))
    )
    if result.model is None:
        print("(no run saved: --no-refit)")
        return 0
    if not chief:
        print("(this cluster worker leaves the run to worker 0)")
        return 0
    run = save_run(result, data.settings, args.runs, extra={"data": str(Path(args.data).resolve()), "bins": data.bins})
    print(run.path)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """``tlgeo compare``: several strategies on the same folds, one table."""
    from tlgeo._utils import atomic_write_json, to_dict
    from tlgeo.errors import ConfigError
    from tlgeo.inputs import check_imagery_folder, check_training_imagery
    from tlgeo.metrics import format_mean_sd, shown_metrics
    from tlgeo.outputs import check_outputs
    from tlgeo.tasks import load_task
    from tlgeo.train import compare

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if not strategies:
        raise ConfigError(
            f"--strategies names no strategy (received {args.strategies!r})",
            hint="Give a comma-separated list, e.g. --strategies scratch,frozen_head.",
        )
    config = config_from_args(args, strategy=strategies[0])
    for s in strategies:
        config_from_args(args, strategy=s)  # an unknown name fails here, before any work
    check_outputs({"--json": args.json}, overwrite=args.overwrite)
    check_imagery_folder(Path(args.data) / "imagery")
    data = load_task(args.data, task=args.task)
    check_training_imagery(data)
    results = compare(data, config, strategies, callback=_callback(args))
    rows = []
    for s, r in results.items():
        mean = r.metrics["mean"]
        rows.append(
            {
                "strategy": s,
                **{m: format_mean_sd(mean.get(m)) for m in shown_metrics(mean)},
                "seconds": f"{r.timings.get('total_s', 0):.0f}",
            }
        )
    from tlgeo.tables import print_table

    print(
        f"\n{data.task}: {config.backbone}, {config.img_size} px, {config.folds} {config.split} folds, {len(data.labelled())} labelled tiles"
    )
    print_table(rows)
    if args.json:
        payload = {
            "task": data.task,
            "config": to_dict(config) | {"strategy": None, "strategies": strategies},
            "table": rows,
            "results": {
                s: {"metrics": r.metrics, "timings": r.timings, "history": r.history.to_dict("records")}
                for s, r in results.items()
            },
        }
        atomic_write_json(args.json, json.loads(json.dumps(payload, default=str)), overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


def run_runs(args: argparse.Namespace) -> int:
    """``tlgeo runs``: a table of the saved runs (broken ones with their reason)."""
    from tlgeo.outputs import check_output_folder
    from tlgeo.runs import clean_stale_temp, scan_runs
    from tlgeo.tables import print_table

    check_output_folder(args.runs, flag="--runs")
    for line in clean_stale_temp(args.runs):
        print(line)
    runs, broken = scan_runs(args.runs)
    print_table([r.summary_row() for r in runs] + [b.summary_row() for b in broken])
    if broken:
        print(
            f"{len(broken)} broken run folder(s): the reason is in the 'created' column; train them again or move them away."
        )
    return 0
