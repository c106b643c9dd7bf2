"""Task ``roads``: phone vibration logs → road roughness segments → ordered classes (good < fair < poor) per grid tile.

A thin adapter: the label algorithms live in :mod:`tlgeo.labels.roads` (imported when needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tlgeo.argtypes import nonnegative_float, positive_float
from tlgeo.config import RoadLabelConfig, TaskSettings

if TYPE_CHECKING:
    from tlgeo.labels import TaskData


class RoadsTask:
    """Road quality from phone vibration (settings section ``[roads]``)."""

    name = "roads"
    title = "Road quality (phone vibration)"
    target_kind = "ordered"
    section = "roads"

    def label_settings(self, settings: TaskSettings) -> RoadLabelConfig:
        """The ``[roads]`` settings."""
        return settings.roads

    def find_labels(self, taskdir: Path) -> list[Path]:
        """Phone logs and RoadRunner logs under ``taskdir/vibration``."""
        from tlgeo.labels.roads import find_vibration_logs

        return find_vibration_logs(Path(taskdir) / "vibration")

    def load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        """Grid tiles labelled by the length-weighted roughness of the segments crossing them."""
        from tlgeo.labels.roads import load_roads_task

        data = load_roads_task(taskdir, settings)
        data.ordered = dict.fromkeys(data.targets, True)
        return data

    def add_labels_parser(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """``tlgeo labels roads``."""
        r = subparsers.add_parser("roads", help="phone vibration logs → roughness segments (→ labelled tiles)")
        r.add_argument(
            "--log", type=Path, nargs="+", required=True, help="raw phone logs and/or RoadRunner segment logs"
        )
        r.add_argument("--data", type=Path, default=None, help="task folder with imagery/ to label tiles")
        r.add_argument("--out", type=Path, required=True, help="segments GeoJSON to write")
        r.add_argument(
            "--tiles-out", type=Path, default=None, help="labelled tile index GeoJSON (default: beside --out)"
        )
        r.add_argument("--min-speed", type=nonnegative_float(199), default=None, help="km/h (default 20)")
        r.add_argument(
            "--segment-length", type=positive_float(100_000), default=None, help="metres (default 50; at most 100 km)"
        )
        r.add_argument(
            "--roughness", choices=["iri_proxy", "rms"], default=None, help="index used for classes (default iri_proxy)"
        )
        r.add_argument(
            "--thresholds",
            default=None,
            help="absolute class boundaries, comma-separated (default: per-device quantiles)",
        )
        r.add_argument("--overwrite", action="store_true")
        r.set_defaults(func=_run_labels)
        return r


def _run_labels(args: argparse.Namespace) -> int:
    from tlgeo.labels.roads import run_labels_roads

    return run_labels_roads(args)
