"""``tlgeo predict``: tiles, folders and whole scenes with a saved run → GeoJSON (+ GeoTIFF, CSV, road pieces)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tlgeo.cli.argtypes import positive_int
from tlgeo.errors import ConfigError

if TYPE_CHECKING:
    from tlgeo.predict import PredictionResult, ProgressFn


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``predict``."""
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``tlgeo predict`` (on a Dask cluster with ``--cluster``)."""
    if getattr(args, "cluster", None):
        from tlgeo.distributed.predict import cluster_predictor

        return run_predict(args, predict=cluster_predictor(args.cluster))
    return run_predict(args)


def run_predict(args: argparse.Namespace, predict: Callable[..., PredictionResult] | None = None) -> int:
    """``tlgeo predict``: predict tiles, folders and scenes; write GeoJSON (+ GeoTIFF, CSV); print a summary.

    ``predict`` replaces :func:`predict_inputs` (same signature), e.g. the cluster one of ``--cluster``. When it
    takes a ``sink`` (the cluster one does), the GeoJSON and CSV are written batch by batch as the rows arrive and
    only the ``--geotiff`` scene's rows are kept (``--roads`` needs every row and keeps them all).
    """
    from tlgeo.export import csv_writer, geojson_writer, write_geojson, write_prediction_geotiff
    from tlgeo.inputs import check_rasters_convertible
    from tlgeo.limits import check_windows
    from tlgeo.outputs import check_outputs
    from tlgeo.predict import (
        SCENE_FACTOR,
        check_batch,
        load_predictor,
        plan_inputs,
        predict_inputs,
        predictions_along_roads,
    )
    from tlgeo.predict.results import _concat

    roads_file, roads_out = getattr(args, "roads", None), getattr(args, "roads_out", None)
    if (roads_file is None) != (roads_out is None):
        raise ConfigError("--roads and --roads-out go together", hint="Give the road lines and where to write them.")
    check_outputs(
        {"--out": args.out, "--geotiff": args.geotiff, "--csv": args.csv, "--roads-out": roads_out},
        overwrite=args.overwrite,
    )
    check_batch(args.batch_size, args.stride)
    check_rasters_convertible(args.inputs)
    roads = None
    if roads_file is not None:
        from tlgeo.labels.roads import read_road_network

        roads = read_road_network(roads_file)  # fail on a bad road file before predicting
    predictor = load_predictor(args.run)
    plan = plan_inputs(predictor, args.inputs, args.stride)
    check_windows(plan.total, "the inputs")
    if args.geotiff is not None:
        if len(plan.scenes) != 1:
            raise ConfigError(
                f"--geotiff needs exactly one scene among the inputs, received {len(plan.scenes)} scene(s)"
                + (f" ({', '.join(p.name for p in plan.scenes[:4])})" if plan.scenes else ""),
                hint=f"A scene is a raster larger than {SCENE_FACTOR} × the run's tile size "
                f"({predictor.tile_size} px); predict one scene per command to get its GeoTIFF.",
            )
    kwargs = dict(stride=args.stride, batch_size=args.batch_size, progress=cli_progress())
    tally = _Tally(predictor.targets)
    written: list[Path] = []
    if getattr(predict, "takes_sink", False) and roads is None:
        kept = []  # the --geotiff scene's rows (one scene), else nothing
        with contextlib.ExitStack() as files:
            sinks = [tally.add, files.enter_context(geojson_writer(args.out, overwrite=args.overwrite))]
            if args.csv is not None:
                sinks.append(files.enter_context(csv_writer(args.csv, overwrite=args.overwrite)))
            if args.geotiff is not None:
                sinks.append(kept.append)
            result = predict(predictor, args.inputs, sink=lambda frame: [f(frame) for f in sinks], **kwargs)
            tally.print(result, predictor.backbone)
        written += [Path(args.out), *([Path(args.csv)] if args.csv is not None else [])]
        preds = _concat(kept, predictor)
    else:
        result = (predict or predict_inputs)(predictor, args.inputs, **kwargs)
        preds = result.predictions
        tally.add(preds)
        tally.print(result, predictor.backbone)
        written.append(write_geojson(preds, args.out, overwrite=args.overwrite))
        if args.csv is not None:
            with csv_writer(args.csv, overwrite=args.overwrite) as add_rows:
                add_rows(preds)
            written.append(Path(args.csv))
    if args.geotiff is not None:
        geotiff = write_prediction_geotiff(preds, plan.scenes[0], args.geotiff, overwrite=args.overwrite)
        written.insert(1, geotiff)
    if roads is not None:
        pieces = predictions_along_roads(result, roads)
        print(f"  {len(pieces)} road piece(s), {pieces.to_crs(pieces.estimate_utm_crs()).length.sum() / 1000:.2f} km")
        written.append(write_geojson(pieces, roads_out, overwrite=args.overwrite))
    for p in written:
        print(f"wrote {p}")
    return 0


class _Tally:
    """What ``tlgeo predict`` prints about the predictions, gathered a frame at a time (rows, classes, values)."""

    def __init__(self, targets) -> None:
        self.targets = targets
        self.rows = 0
        self.counts = {t: dict.fromkeys(c, 0) for t, c in targets.items() if c}
        self.values = {t: [np.inf, -np.inf, 0.0, 0] for t, c in targets.items() if not c}  # min, max, sum, n

    def add(self, frame) -> None:
        from tlgeo.predict import label_column

        self.rows += len(frame)
        for target, counts in self.counts.items():
            for c, n in frame[label_column(self.targets, target)].value_counts().items():
                if c in counts:
                    counts[c] += int(n)
        for target, acc in self.values.items():
            v = frame[label_column(self.targets, target, "value")].dropna().to_numpy(dtype="float64")
            if v.size:
                acc[:] = [min(acc[0], v.min()), max(acc[1], v.max()), acc[2] + v.sum(), acc[3] + v.size]

    def print(self, result: PredictionResult, backbone: str) -> None:
        """The summary lines: rows, tiles per class of each target, the range of each value, the warnings."""
        print(f"run {result.run_id} ({backbone}): {self.rows} tile(s) predicted")
        for target, counts in self.counts.items():
            name = "" if len(self.targets) == 1 else f"{target}: "
            print(f"  {name}" + ", ".join(f"{c} {n}" for c, n in counts.items()))
        for target, (lo, hi, total, n) in self.values.items():
            if n:
                print(f"  {target}: predicted from {lo:.4g} to {hi:.4g} (mean {total / n:.4g})")
        for w in result.warnings:
            print(f"warning: {w}")


def cli_progress(stream=None) -> ProgressFn:
    """A progress callback printing ``predicting: done/total (pct%)`` (in place on a terminal, every 25 % else)."""
    stream = stream if stream is not None else sys.stderr  # looked up now: the CLI may have swapped it
    state = {"last": -1}

    def report(done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if stream.isatty():
            print(f"\rpredicting: {done}/{total} ({pct}%)", end="" if done < total else "\n", file=stream, flush=True)
        elif pct // 25 != state["last"] // 25 or done == total:
            if pct != state["last"]:
                print(f"predicting: {done}/{total} ({pct}%)", file=stream, flush=True)
        state["last"] = pct

    return report
