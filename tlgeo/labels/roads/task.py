"""A roads task folder (imagery + vibration logs + settings) → labelled grid tiles (:class:`~tlgeo.taskdata.TaskData`)."""

from __future__ import annotations

from pathlib import Path

from tlgeo.config import TaskSettings
from tlgeo.labels.roads.classes import road_segments
from tlgeo.labels.roads.logs import find_vibration_logs
from tlgeo.labels.roads.network import find_road_network, read_road_network
from tlgeo.labels.roads.tiles import no_overlap_error, tile_road_labels
from tlgeo.schema import ROAD_TARGET
from tlgeo.taskdata import TaskData


def load_roads_task(taskdir: str | Path, settings: TaskSettings) -> TaskData:
    """Read ``TASKDIR/imagery`` and ``TASKDIR/vibration`` into labelled tiles (``truth/`` is ignored).

    Args:
        taskdir: Task folder.
        settings: Settings (``tiles`` for the tile index, ``roads`` for the labels).

    Returns:
        :class:`~tlgeo.labels.TaskData` with ``tiles[quality]`` (-1 = unlabelled), ``roughness``,
        ``driven_length_m``; ``vectors`` = classified segments; ``bins`` = class boundaries per device;
        ``network`` = the task's road lines (``roads.geojson``/``.gpkg``) if it has them.

    Raises:
        DataFileError: No imagery or no logs.
        LabelError: Malformed logs, or no segment crossing the imagery.
    """
    from tlgeo.tiles import tile_index

    taskdir = Path(taskdir)
    cfg = settings.roads
    tiles = tile_index(taskdir / "imagery", size=settings.tiles.size, stride=settings.tiles.step)
    logs = find_vibration_logs(taskdir / "vibration")
    segments, bins, report = road_segments(logs, cfg)
    labelled, rep = tile_road_labels(segments, tiles, cfg, bins["thresholds"])
    if (labelled[ROAD_TARGET] < 0).all():
        raise no_overlap_error(segments, tiles, taskdir / "imagery")
    network_file = find_road_network(taskdir)
    network = read_road_network(network_file) if network_file else None
    if network is not None:
        report.append(f"{network_file.name}: {len(network):,} road lines to map predictions along (driven or not)")
    return TaskData(
        task="roads",
        settings=settings,
        tiles=labelled,
        targets={ROAD_TARGET: list(cfg.classes)},
        report=report + rep,
        vectors=segments,
        bins=bins,
        network=network,
    )
