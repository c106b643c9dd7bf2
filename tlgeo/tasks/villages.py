"""Task ``villages``: census indicators (levels or fractions) → one ordered multi-task target per indicator per grid
tile.

A thin adapter: the label algorithms live in :mod:`tlgeo.labels.villages` (imported when needed).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlgeo.config import DEFAULT_INDICATORS, TaskSettings, load_settings
from tlgeo.flags import Flag
from tlgeo.tasks.base import OrderedGridTask

if TYPE_CHECKING:
    from tlgeo.taskdata import TaskData


class VillagesTask(OrderedGridTask):
    """Village indicators from a census (settings section ``[villages]``)."""

    name = "villages"
    title = "Village indicators (census)"
    section = "villages"
    labels_help = "village indicators → per-tile multi-task labels"
    labels_flags = (
        Flag("--indicators", "CSV, GeoJSON or GPKG of villages", kind="path", required=True),
        Flag("--data", "task folder with imagery/", kind="path", required=True),
        Flag("--out", "labelled tile index GeoJSON to write", kind="path", required=True),
        Flag("--columns", f"indicator columns, comma-separated (default {','.join(DEFAULT_INDICATORS)})"),
        Flag(
            "--weight-column", "column weighting villages that share a tile, e.g. population ([villages] weight_column)"
        ),
        Flag("--overwrite", kind="switch"),
    )

    def find_labels(self, taskdir: Path) -> list[Path]:
        """The task's village file (``villages.csv``, ``.geojson``, ``.gpkg``, …)."""
        from tlgeo.labels.villages import find_village_file

        return [find_village_file(Path(taskdir))]

    def _load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        from tlgeo.labels.villages import load_villages_task

        return load_villages_task(taskdir, settings)

    def run_labels(self, args: Any) -> int:
        """``tlgeo labels villages``: indicators + imagery → labelled tile index GeoJSON."""
        from tlgeo.export import write_geojson
        from tlgeo.inputs import check_imagery_folder
        from tlgeo.labels._common import plural
        from tlgeo.labels.villages import village_labels
        from tlgeo.outputs import check_outputs
        from tlgeo.tiles import tile_index

        out = Path(args.out)
        check_outputs({"--out": out}, overwrite=args.overwrite)
        settings = load_settings(args.data, task="villages")
        check_imagery_folder(Path(args.data) / "imagery")
        cfg = settings.villages
        if args.columns:
            names = tuple(c.strip() for c in str(args.columns).split(",") if c.strip())
            cfg = dataclasses.replace(cfg, indicators=names)
        if args.weight_column:
            cfg = dataclasses.replace(cfg, weight_column=str(args.weight_column).strip())
        tiles = tile_index(Path(args.data) / "imagery", size=settings.tiles.size, stride=settings.tiles.step)
        labelled, _, bins, report = village_labels(args.indicators, tiles, cfg)
        for line in report:
            print(line)
        write_geojson(labelled, out, overwrite=args.overwrite)
        n_lab = int((labelled[list(cfg.indicators)] >= 0).any(axis=1).sum())
        if bins:
            print("cut points (save as [villages] bins in tlgeo.toml to reuse): " + json.dumps(bins))
        print(f"wrote {out} ({plural(n_lab, 'labelled tile')} of {len(labelled):,})")
        return 0
