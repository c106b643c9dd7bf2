"""Where to collect labels next with a saved run: road stretches to drive (length budget) or sites to survey (N).

The run predicts every tile of its task folder once (calibrated probabilities and pooled embeddings from one
forward pass), :mod:`tlgeo.active` scores and picks candidates, and :mod:`tlgeo.plan_roads` turns picked road
stretches into a greedy nearest-neighbour route.

- **Roads** (``budget_km``): candidates are the undriven stretches of the road network (the task's
  ``roads.geojson``/``.gpkg`` or any line file); a stretch's uncertainty and embedding are the length-weighted
  means over the tiles it crosses (:func:`tlgeo.predict.predictions_along_roads` cuts it by tile footprint);
  stretches outside the imagery are left out. Output: ordered LineStrings with ``rank`` (1 = most useful),
  ``order`` (driving order), ``score``, ``uncertainty``, ``length_km``, ``cum_km``, ``gap_m``.
- **Points / villages** (``budget`` = N): candidates are the tiles without any label; output: one Point per site
  (tile centre) with ``rank``, ``score``, ``uncertainty``, the predicted class(es), ``lon``/``lat``.

Every output row carries the run id and the :class:`~tlgeo.active.ActiveSettings` (``al_*`` columns).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from tlgeo.active import ActiveSettings, pairwise_m, select, standardize, uncertainty
from tlgeo.errors import ConfigError, RunError
from tlgeo.runs import Run, load_run

ProgressFn = Callable[[int, int], None]
ROUTE_COLUMNS = [
    "order",
    "rank",
    "stretch_id",
    "score",
    "uncertainty",
    "length_km",
    "cum_km",
    "gap_m",
    "reversed",
    "start",
    "lon_start",
    "lat_start",
    "lon_end",
    "lat_end",
    "run_id",
]
SITE_COLUMNS = ["rank", "tile_id", "source", "score", "uncertainty", "lon", "lat", "run_id"]


@dataclass
class PlanResult:
    """A plan: picked road stretches in driving order, or sites by rank.

    Attributes:
        kind: ``"roads"`` or ``"sites"``.
        plan: The picks (metric CRS; export writes EPSG:4326).
        run_id: Run that scored them.
        settings: How they were scored.
        budget: km (roads) or number of sites.
        candidates: Number of candidates scored.
        notes: What was left out and why, how the start point was chosen.
        start_xy: Route start in the plan's CRS (roads).
    """

    kind: str
    plan: gpd.GeoDataFrame
    run_id: str
    settings: ActiveSettings
    budget: float
    candidates: int
    notes: list[str] = field(default_factory=list)
    start_xy: tuple[float, float] | None = None

    def table(self) -> pd.DataFrame:
        """The ranked table (CSV and UI): route columns or site columns, plus the predicted class columns."""
        base = ROUTE_COLUMNS if self.kind == "roads" else SITE_COLUMNS
        extra = [c for c in self.plan.columns if c.endswith("label") and c not in base]
        cols = [c for c in [*base, *extra] if c in self.plan.columns]
        cols += [c for c in self.plan.columns if c.startswith("al_")]
        return pd.DataFrame(self.plan[cols]).reset_index(drop=True)

    @property
    def total_km(self) -> float:
        """Length of the stretches picked (roads)."""
        return float(self.plan["length_km"].sum()) if "length_km" in self.plan else 0.0


# --------------------------------------------------------------------------------------------- checks
def check_budget(value: object, *, km: bool) -> float:
    """A finite positive budget (km), or a positive whole number of sites.

    Raises:
        ConfigError: Naming the flag and the value received.
    """
    flag = "--budget-km" if km else "--budget"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number <= 0:
        what = "a positive number of kilometres, e.g. 20" if km else "a positive number of sites, e.g. 30"
        raise ConfigError(f"{flag} must be {what}, received {value!r}")
    if not km and number != int(number):
        raise ConfigError(f"--budget is a number of sites and must be a whole number, received {value!r}")
    return number


def parse_start(text: str | Sequence[float] | None) -> tuple[float, float] | None:
    """``"LON,LAT"`` → (lon, lat), checked for range.

    Raises:
        ConfigError: Not two finite numbers, or outside lon −180…180 / lat −90…90.
    """
    if text is None:
        return None
    try:
        parts = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        parts = []
    if len(parts) != 2 or not all(np.isfinite(parts)) or abs(parts[0]) > 180 or abs(parts[1]) > 90:
        raise ConfigError(
            f"--start must be LON,LAT in degrees (e.g. 36.78,-1.30), received {text!r}",
            hint="Longitude first, then latitude, separated by a comma.",
        )
    return parts[0], parts[1]


# --------------------------------------------------------------------------------------------- run → scores
def run_task(run: Run, data: str | Path | None = None):
    """The run's task folder read with the run's tile settings (so tiles match what the model was trained on).

    Raises:
        RunError: The run names no data folder (and none is given) or the folder is gone.
    """
    from tlgeo.config import load_settings
    from tlgeo.tasks import load_task

    continuous = [t for t, c in run.targets.items() if not c]
    if continuous:
        raise RunError(
            f"Run {run.run_id} predicts numbers ({', '.join(continuous)}): active-learning plans score class "
            "uncertainty and need a classification run",
            hint="Pass a run of a classes, roads or villages task (--run).",
            path=run.path,
        )
    folder = data or run.config.get("data")
    if not folder or not Path(folder).is_dir():
        raise RunError(
            f"Run {run.run_id} has no task folder to plan on ({folder or 'none recorded'})",
            hint="Pass --data TASKDIR (the folder with imagery/ the run was trained on).",
            path=run.path,
        )
    settings = load_settings(folder, task=run.task)
    settings = dataclasses.replace(settings, tiles=run.tile_config)
    return load_task(folder, settings=settings)


def tile_outputs(
    predictor, tiles: pd.DataFrame, *, batch_size: int = 64, progress: ProgressFn | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Calibrated probabilities and pooled embeddings of every tile, from one forward pass of the run's model.

    Args:
        predictor: A :class:`tlgeo.predict.Predictor`.
        tiles: Tile index rows (``path``, ``window``).
        batch_size: Images per model call.
        progress: Called as ``progress(done, total)``.

    Returns:
        ``(probs, embeddings)``: target → (N, K) and (N, D) float32.
    """
    import keras

    from tlgeo.datasets import load_images
    from tlgeo.transfer import outputs_by_target

    model = predictor.model
    if getattr(model, "numpy_model", False):  # chip_stats: the standardised chip statistics are the embeddings
        from tlgeo.chip_stats import chip_features

        feats = chip_features(load_images(tiles, predictor.bands, predictor.img_size), model.band_names)
        probs = {t: p.astype("float32") for t, p in model.predict_features(feats).items()}
        z = (feats - feats.mean(axis=0)) / np.maximum(feats.std(axis=0), 1e-6)
        return probs, z.astype("float32")
    try:
        pooled = model.get_layer("pool").output
    except ValueError as exc:
        raise RunError(
            f"Run {predictor.run_id}: its model has no 'pool' layer to take embeddings from",
            hint="Train the run again with this tlgeo version.",
            path=predictor.run.path,
        ) from exc
    both = keras.Model(model.inputs, [pooled, model.outputs])
    listed = isinstance(getattr(both, "_inputs_struct", None), (list, tuple))
    images = load_images(tiles, predictor.bands, predictor.img_size)
    embs, outs = [], []
    for a in range(0, len(images), batch_size):
        x = np.asarray(images[a : a + batch_size], dtype="float32")
        e, o = both([x] if listed else x, training=False)
        embs.append(np.asarray(e))
        outs.append(o)
        if progress:
            progress(min(a + batch_size, len(images)), len(images))
    first = outs[0]
    if isinstance(first, dict):
        merged = {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in first}
    elif isinstance(first, (list, tuple)):
        merged = [np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(first))]
        merged = merged[0] if len(merged) == 1 else merged
    else:
        merged = np.concatenate([np.asarray(o) for o in outs])
    probs = {t: np.asarray(p, dtype="float32") for t, p in outputs_by_target(merged, predictor.targets).items()}
    return probs, np.concatenate(embs).astype("float32")


def _predicted_labels(targets: dict[str, list[str]], probs: dict[str, np.ndarray], idx: np.ndarray) -> dict:
    out = {}
    for t, classes in targets.items():
        col = "label" if len(targets) == 1 else f"{t}_label"
        out[col] = np.asarray(classes, dtype=object)[probs[t][idx].argmax(axis=1)]
    return out


# --------------------------------------------------------------------------------------------- sites
def plan_sites(
    task,
    probs: dict[str, np.ndarray],
    embeddings: np.ndarray,
    n: int,
    *,
    settings: ActiveSettings = ActiveSettings(),
    run_id: str = "",
) -> PlanResult:
    """The ``n`` unlabelled tiles whose labels would teach the run most (see the module docstring).

    Args:
        task: :class:`~tlgeo.labels.TaskData` whose tiles are aligned with ``probs`` and ``embeddings``.
        probs: Target → (N, K) calibrated probabilities of every tile.
        embeddings: (N, D) embeddings of every tile.
        n: Number of sites.
        settings: Scoring settings.
        run_id: Written into every row.

    Raises:
        ConfigError: ``n`` is not positive, or no tile is unlabelled.
    """
    n = int(check_budget(n, km=False))
    tiles = task.tiles
    labelled = (tiles[list(task.targets)] >= 0).any(axis=1).to_numpy()
    cand = np.flatnonzero(~labelled)
    if not len(cand):
        raise ConfigError(
            f"Every one of the {len(tiles)} tiles already has a label: there is nowhere new to survey",
            hint="Add imagery of places without labels to the task folder's imagery/.",
        )
    x = standardize(embeddings)
    unc = uncertainty({t: p[cand] for t, p in probs.items()}, settings.uncertainty)
    centres = shapely.centroid(tiles.geometry.values[cand])
    dist = pairwise_m(shapely.get_coordinates(centres)) if settings.min_distance_m > 0 else None
    picks, scores = select(unc, x[cand], x[labelled], n, settings=settings, distance_m=dist)
    idx = cand[picks]
    pts = gpd.GeoSeries(centres[picks], crs=tiles.crs)
    lonlat = pts.to_crs(4326)
    data = {
        "rank": np.arange(1, len(idx) + 1),
        "tile_id": tiles["tile_id"].to_numpy()[idx],
        "source": tiles["source"].to_numpy()[idx] if "source" in tiles else "",
        "score": np.round(scores, 6),
        "uncertainty": np.round(unc[picks], 6),
        **_predicted_labels(task.targets, probs, idx),
        "lon": np.round(lonlat.x.to_numpy(), 7),
        "lat": np.round(lonlat.y.to_numpy(), 7),
        "run_id": run_id,
        **settings.properties(),
    }
    plan = gpd.GeoDataFrame(data, geometry=pts.values, crs=tiles.crs)
    notes = [f"{len(cand)} unlabelled tile(s) scored; {len(idx)} site(s) picked"]
    if len(idx) < n:
        notes.append(f"only {len(idx)} of {n} sites could be picked (candidates or --min-distance-m ran out)")
    return PlanResult("sites", plan, run_id, settings, float(n), len(cand), notes)


# --------------------------------------------------------------------------------------------- roads
def stretch_scores(
    stretches: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame, tile_unc: np.ndarray, tile_emb: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length-weighted mean uncertainty and embedding of each stretch over the tiles it crosses.

    Returns:
        ``(keep, unc, emb)``: positions of stretches crossing at least one tile, and their uncertainty/embedding.
    """
    from tlgeo.predict import predictions_along_roads

    frame = gpd.GeoDataFrame(
        {"tile_id": np.arange(len(tiles)), "class_index": np.zeros(len(tiles), dtype="int64")},
        geometry=tiles.geometry.values,
        crs=tiles.crs,
    )
    lines = gpd.GeoDataFrame({"stretch": np.arange(len(stretches))}, geometry=stretches.geometry.values)
    lines = lines.set_crs(stretches.crs)
    pieces = predictions_along_roads(frame, lines)
    if pieces.empty:
        return np.empty(0, dtype="int64"), np.empty(0), np.empty((0, tile_emb.shape[1]))
    s = pieces["stretch"].to_numpy().astype("int64")
    t = pieces["tile_id"].to_numpy().astype("int64")
    w = pieces["length_m"].to_numpy().astype("float64")
    keep = np.unique(s)
    pos = np.searchsorted(keep, s)
    wsum = np.bincount(pos, weights=w, minlength=len(keep))
    unc = np.bincount(pos, weights=w * tile_unc[t], minlength=len(keep)) / wsum
    emb = np.zeros((len(keep), tile_emb.shape[1]))
    np.add.at(emb, pos, w[:, None] * tile_emb[t])
    return keep, unc, emb / wsum[:, None]


def start_point(
    start: Sequence[float] | None, network: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame
) -> tuple[float, float] | None:
    """(lon, lat) → (x, y) in the tiles' CRS, checked to lie within 5 km of the roads and imagery.

    Raises:
        ConfigError: The point is outside the data.
    """
    from tlgeo.plan_roads import check_start

    if start is None:
        return None
    crs = tiles.crs
    pt = gpd.GeoSeries([shapely.Point(*start)], crs=4326).to_crs(crs).iloc[0]
    extent = gpd.GeoDataFrame(geometry=[*network.to_crs(crs).geometry, *tiles.geometry], crs=crs)
    check_start((pt.x, pt.y), extent, text=f"{start[0]},{start[1]}")
    return float(pt.x), float(pt.y)


def plan_drives(
    task,
    probs: dict[str, np.ndarray],
    embeddings: np.ndarray,
    budget_km: float,
    *,
    network: gpd.GeoDataFrame | None = None,
    start: tuple[float, float] | None = None,
    settings: ActiveSettings = ActiveSettings(),
    run_id: str = "",
    max_stretch_m: float | None = None,
) -> PlanResult:
    """Undriven stretches to drive next, within ``budget_km``, as a greedy nearest-neighbour route.

    Args:
        task: Roads :class:`~tlgeo.labels.TaskData` (tiles aligned with ``probs``; ``vectors`` = driven segments).
        probs: Target → (N, K) calibrated probabilities of every tile.
        embeddings: (N, D) embeddings of every tile.
        budget_km: Total length of the stretches to drive (the straight gaps between them are not counted).
        network: Road lines (default: the task's ``roads.geojson``).
        start: (lon, lat) where the route starts (default: the driven road nearest to the picks).
        settings: Scoring settings (``min_distance_m`` applies between stretches).
        run_id: Written into every row.
        max_stretch_m: Cut longer undriven pieces (default :data:`tlgeo.plan_roads.MAX_STRETCH_M`).

    Raises:
        ConfigError: No road network, a budget that is not a positive number, a start outside the data, or no
            undriven road inside the imagery.
    """
    from tlgeo.plan_roads import (
        MAX_STRETCH_M,
        metric_crs,
        nearest_driven_point,
        route_frame,
        undriven_stretches,
    )

    budget_km = check_budget(budget_km, km=True)
    network = network if network is not None else task.network
    if network is None or not len(network):
        raise ConfigError(
            "--budget-km plans drives along a road network, but this run's task folder has none (roads.geojson)",
            hint="Pass --roads FILE with the road lines (GeoJSON/GPKG), or plan sites with --budget N.",
        )
    tiles = task.tiles
    crs = tiles.crs if tiles.crs.is_projected else metric_crs(network)
    tiles_m = tiles.to_crs(crs)
    start_xy = start_point(start, network, tiles_m)
    driven = task.vectors
    stretches = undriven_stretches(network, driven, crs=crs, max_stretch_m=max_stretch_m or MAX_STRETCH_M)
    labelled = (tiles[list(task.targets)] >= 0).any(axis=1).to_numpy()
    x = standardize(embeddings)
    tile_unc = uncertainty(probs, settings.uncertainty)
    keep, unc, emb = stretch_scores(stretches, tiles_m, tile_unc, x)
    notes = [f"{len(stretches)} undriven stretch(es) on the network, {len(keep)} inside the imagery scored"]
    if not len(keep):
        raise ConfigError(
            "No undriven road of the network lies inside the imagery: there is nothing to plan",
            hint="Pass --roads FILE with roads over the imagery, or add imagery of the undriven roads.",
        )
    cand = stretches.iloc[keep].reset_index(drop=True)
    lengths = cand["length_m"].to_numpy() / 1000.0
    dist = None
    if settings.min_distance_m > 0:
        g = cand.geometry.values
        dist = shapely.distance(g[:, None], g[None, :])
    picks, scores = select(unc, emb, x[labelled], settings=settings, costs=lengths, budget=budget_km, distance_m=dist)
    chosen = cand.iloc[picks].copy()
    chosen["rank"] = np.arange(1, len(picks) + 1)
    chosen["score"] = np.round(scores, 6)
    chosen["uncertainty"] = np.round(unc[picks], 6)
    chosen["length_km"] = np.round(chosen["length_m"].to_numpy() / 1000.0, 4)
    if len(chosen) == 0:
        shortest = float(lengths.min())
        raise ConfigError(
            f"--budget-km {budget_km:g} is shorter than every undriven stretch (the shortest is {shortest:.2f} km)",
            hint=f"Give --budget-km of at least {np.ceil(shortest * 100) / 100:.2f}.",
        )
    source = "given"
    if start_xy is None:
        p = nearest_driven_point(driven, chosen)
        if p is not None:
            start_xy, source = (float(p[0]), float(p[1])), "nearest driven road"
        else:
            first = chosen.geometry.values[0].coords[0]
            start_xy, source = (first[0], first[1]), "first stretch (nothing driven)"
    route = route_frame(chosen, start_xy, start_source=source)
    ends = gpd.GeoSeries(
        [shapely.Point(g.coords[0]) for g in route.geometry] + [shapely.Point(g.coords[-1]) for g in route.geometry],
        crs=crs,
    ).to_crs(4326)
    k = len(route)
    route["lon_start"], route["lat_start"] = np.round(ends.x.to_numpy()[:k], 7), np.round(ends.y.to_numpy()[:k], 7)
    route["lon_end"], route["lat_end"] = np.round(ends.x.to_numpy()[k:], 7), np.round(ends.y.to_numpy()[k:], 7)
    route["run_id"] = run_id
    for key, value in settings.properties().items():
        route[key] = value
    route = route.drop(columns=["piece", "length_m"])
    notes.append(
        f"{k} stretch(es) picked, {route['length_km'].sum():.2f} of {budget_km:g} km; route starts at the {source}; "
        f"{route['cum_km'].iloc[-1]:.2f} km in all with straight-line gaps"
    )
    return PlanResult("roads", route, run_id, settings, budget_km, len(keep), notes, start_xy)


# --------------------------------------------------------------------------------------------- one call
def plan_from_run(
    run: Run | str | Path,
    *,
    budget: int | None = None,
    budget_km: float | None = None,
    roads: str | Path | gpd.GeoDataFrame | None = None,
    start: tuple[float, float] | str | None = None,
    settings: ActiveSettings = ActiveSettings(),
    data: str | Path | None = None,
    predictor=None,
    progress: ProgressFn | None = None,
) -> PlanResult:
    """Score a run's task and plan drives (``budget_km``) or sites (``budget``).

    Args:
        run: Run folder or :class:`~tlgeo.runs.Run`.
        budget: Number of sites to visit (any task).
        budget_km: Length of road to drive (roads runs, with a road network).
        roads: Road lines file or frame (default: the task's ``roads.geojson``).
        start: (lon, lat) or ``"LON,LAT"`` where the route starts.
        settings: Scoring settings.
        data: Task folder (default: the one the run was trained on).
        predictor: A loaded :class:`~tlgeo.predict.Predictor` of the run (saves loading the model again).
        progress: Called as ``progress(done, total)`` while tiles are predicted.

    Raises:
        ConfigError / RunError / DataFileError: Bad budget, start, road file or run (checked before predicting).
    """
    from tlgeo.predict import load_predictor

    if (budget is None) == (budget_km is None):
        raise ConfigError("Give either --budget-km (road drives) or --budget (sites), not both and not neither")
    run = run if isinstance(run, Run) else load_run(run)
    if budget_km is not None:
        check_budget(budget_km, km=True)
        if run.task != "roads":
            raise ConfigError(
                f"--budget-km plans drives on a road network, but run {run.run_id} is a {run.task} run",
                hint="Plan sites with --budget N instead.",
            )
    else:
        check_budget(budget, km=False)
    start = parse_start(start) if isinstance(start, str) else start
    network = None
    if isinstance(roads, gpd.GeoDataFrame):
        network = roads
    elif roads is not None:
        from tlgeo.labels.roads import read_road_network

        network = read_road_network(roads)
    task = run_task(run, data)
    if budget_km is not None and network is None and task.network is None:
        raise ConfigError(
            f"--budget-km needs a road network, but the task folder of run {run.run_id} has no roads.geojson",
            hint="Pass --roads FILE with the road lines (GeoJSON/GPKG), or plan sites with --budget N.",
        )
    if budget_km is not None and start is not None:  # a start outside the data is refused before predicting
        from tlgeo.plan_roads import metric_crs

        net = network if network is not None else task.network
        tiles = task.tiles if task.tiles.crs.is_projected else task.tiles.to_crs(metric_crs(net))
        start_point(start, net, tiles)
    predictor = predictor if predictor is not None else load_predictor(run)
    probs, emb = tile_outputs(predictor, task.tiles, progress=progress)
    if budget_km is not None:
        return plan_drives(
            task, probs, emb, budget_km, network=network, start=start, settings=settings, run_id=run.run_id
        )
    return plan_sites(task, probs, emb, int(budget), settings=settings, run_id=run.run_id)


# --------------------------------------------------------------------------------------------- files
def plan_csv_bytes(result: PlanResult) -> bytes:
    """The ranked table as CSV (UTF-8)."""
    return result.table().to_csv(index=False).encode("utf-8")
