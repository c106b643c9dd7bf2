"""Task ``roads``: phone vibration logs → road roughness segments → ordered classes (good < fair < poor) per grid tile.

A thin adapter: the label algorithms live in :mod:`tlgeo.labels.roads` (imported when needed).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlgeo.config import RoadLabelConfig, TaskSettings, load_settings
from tlgeo.errors import ConfigError
from tlgeo.flags import Flag
from tlgeo.tasks.base import OrderedGridTask

if TYPE_CHECKING:
    from tlgeo.taskdata import TaskData

_D = RoadLabelConfig()


class RoadsTask(OrderedGridTask):
    """Road quality from phone vibration (settings section ``[roads]``)."""

    name = "roads"
    title = "Road quality (phone vibration)"
    section = "roads"
    labels_help = "phone vibration logs → roughness segments (→ labelled tiles)"
    labels_flags = (
        Flag("--log", "raw phone logs and/or RoadRunner segment logs", kind="path", required=True, many=True),
        Flag("--data", "task folder with imagery/ to label tiles", kind="path"),
        Flag("--out", "segments GeoJSON to write", kind="path", required=True),
        Flag("--tiles-out", "labelled tile index GeoJSON (default: beside --out)", kind="path"),
        Flag("--min-speed", f"km/h (default {_D.min_speed_kmh:g})", kind="float", minimum=0, maximum=199),
        Flag(
            "--segment-length",
            f"metres (default {_D.segment_length_m:g}; at most 100 km)",
            kind="float",
            minimum=0,
            maximum=100_000,
            exclusive_min=True,
        ),
        Flag(
            "--roughness",
            f"index used for classes (default {_D.roughness})",
            choices=("iri_proxy", "rms"),
        ),
        Flag("--thresholds", "absolute class boundaries, comma-separated (default: per-device quantiles)"),
        Flag("--overwrite", kind="switch"),
    )

    def find_labels(self, taskdir: Path) -> list[Path]:
        """Phone logs and RoadRunner logs under ``taskdir/vibration``."""
        from tlgeo.labels.roads import find_vibration_logs

        return find_vibration_logs(Path(taskdir) / "vibration")

    def _load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        from tlgeo.labels.roads import load_roads_task

        return load_roads_task(taskdir, settings)

    def run_labels(self, args: Any) -> int:
        """``tlgeo labels roads``: logs → labelled segments GeoJSON (+ labelled tile index with ``--data``)."""
        from tlgeo.export import write_geojson
        from tlgeo.inputs import check_imagery_folder
        from tlgeo.labels._common import plural
        from tlgeo.labels.roads import find_vibration_logs, no_overlap_error, road_segments, tile_road_labels
        from tlgeo.outputs import check_outputs
        from tlgeo.schema import ROAD_TARGET

        settings, cfg = _config_from_args(args)
        out = Path(args.out)
        tiles_out = Path(args.tiles_out) if args.tiles_out else out.with_name(f"{out.stem}_tiles.geojson")
        check_outputs({"--out": out, "--tiles-out": tiles_out if args.data else None}, overwrite=args.overwrite)
        if args.data:
            check_imagery_folder(Path(args.data) / "imagery")
        logs: list[Path] = []
        for item in map(Path, args.log):
            logs += find_vibration_logs(item) if item.is_dir() else [item]
        segments, bins, report = road_segments(logs, cfg)
        tiles = None
        if args.data:
            from tlgeo.tiles import tile_index

            assert settings is not None
            index = tile_index(Path(args.data) / "imagery", size=settings.tiles.size, stride=settings.tiles.step)
            tiles, rep = tile_road_labels(segments, index, cfg, bins["thresholds"])
            report += rep
            if (tiles[ROAD_TARGET] < 0).all():
                raise no_overlap_error(segments, index, Path(args.data) / "imagery")
        for line in report:
            print(line)
        write_geojson(segments, out, overwrite=args.overwrite)
        print(f"wrote {out} ({plural(len(segments), 'segment')})")
        if tiles is not None:
            write_geojson(tiles, tiles_out, overwrite=args.overwrite)
            n = int((tiles[ROAD_TARGET] >= 0).sum())
            print(f"wrote {tiles_out} ({plural(n, 'labelled tile')} of {len(tiles):,})")
        return 0


def _config_from_args(args: Any) -> tuple[TaskSettings | None, RoadLabelConfig]:
    """The ``[roads]`` settings of ``--data`` (or the defaults) with the flags given applied."""
    import numpy as np

    settings = load_settings(args.data, task="roads") if args.data else None
    cfg = settings.roads if settings else RoadLabelConfig()
    changes: dict = {}
    if args.min_speed is not None:
        changes["min_speed_kmh"] = float(args.min_speed)
    if args.segment_length is not None:
        changes["segment_length_m"] = float(args.segment_length)
    if args.roughness:
        changes["roughness"] = args.roughness
    if args.thresholds:
        try:
            changes["thresholds"] = tuple(float(v) for v in str(args.thresholds).split(","))
            if not all(np.isfinite(changes["thresholds"])):
                raise ValueError("not finite")
        except ValueError as exc:
            raise ConfigError(
                f"--thresholds must be comma-separated numbers (finite), received {args.thresholds!r}",
                hint="e.g. 2.5,5",
            ) from exc
    if changes:
        cfg = dataclasses.replace(cfg, **changes)
    if settings is not None:
        settings = dataclasses.replace(settings, roads=cfg)
    return settings, cfg
