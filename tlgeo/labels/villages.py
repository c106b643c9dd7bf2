"""Village census indicators → per-tile multi-task labels.

Input: a CSV (``village_id``, ``lat``, ``lon`` in WGS84 degrees, one column per indicator) or a GeoJSON / GPKG /
Shapefile of points or polygons (any CRS, but it must have one). Indicators default to the Census-2011-style
``ASSET, BF, CHH, FC, MSL, MSW, LIT`` (:data:`tlgeo.config.DEFAULT_INDICATORS`); any named columns work.

**Levels.** A column whose values are all integers ``0 … levels−1`` is kept as it is. A column of fractions
(``0 ≤ v ≤ 1``) is binned into ``levels`` levels at its quantiles (tertiles for 3 levels; level ``i`` holds values
``cuts[i-1] ≤ v < cuts[i]``, so a higher fraction gives a higher level); the cut points are returned in ``bins`` and
re-used when given in ``VillageLabelConfig.bins``, so predictions are reported on the same bins. Anything else
(percentages, integers beyond the levels, text) is refused with a message naming the column.
A missing value masks that indicator only (``-1`` in its target column); the village still labels the other tasks.

**Join.** Villages are joined to the tile index with a spatial index: a point labels every tile that contains it;
a polygon labels the tiles it overlaps by at least half of the smaller of the two areas. A tile that holds several
villages **aggregates** them, per indicator and over the villages with a value for it: fractions (binned
indicators) are averaged and the mean is binned with the same cut points; integer levels take the mode (ties go to
the village nearest the tile centre, or with the largest overlap). With ``VillageLabelConfig.weight_column`` (e.g.
a population column; ``--weight-column`` on the command line) the mean and the mode are weighted by it. The tile's
``village_id`` is the village nearest its centre (largest overlap). The report counts the aggregated tiles;
villages outside every tile are counted too.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from tlgeo.config import TaskSettings, VillageLabelConfig
from tlgeo.errors import ConfigError, DataFileError, GeoreferenceError, LabelError
from tlgeo.labels._common import (
    boxes_intersect,
    check_file,
    check_lat_lon,
    find_columns,
    first_file,
    fmt_bounds,
    id_list,
    missing_columns_error,
    numeric_column,
    plural,
    read_table,
    swapped_bounds,
)
from tlgeo.taskdata import TaskData

VILLAGE_FILES = ("villages.csv", "villages.csv.gz", "villages.geojson", "villages.gpkg", "villages.shp")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
#: A polygon labels a tile when their overlap covers at least this share of the smaller of the two.
MIN_POLYGON_OVERLAP = 0.5
#: Column of :func:`read_villages` output holding each village's weight (when ``weight_column`` is set).
WEIGHT = "_weight"
_COORD_ALIASES = {"lat": ("lat", "latitude", "y"), "lon": ("lon", "lng", "long", "longitude", "x")}


def read_villages(path: str | Path, config: VillageLabelConfig | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read a village table (CSV) or vector file (GeoJSON, GPKG, Shapefile) with its indicator columns.

    Args:
        path: The file.
        config: Indicator columns and id column.

    Returns:
        ``(villages, report)``: the villages in their own CRS (EPSG:4326 for CSV) with the id column renamed to
        ``village_id`` (as text) and the indicator columns under their configured names (values untouched).

    Raises:
        DataFileError: Missing, empty or unreadable file.
        GeoreferenceError: A vector file without a CRS.
        LabelError: Missing columns, lat/lon out of range or swapped, no usable geometry.
    """
    cfg = config or VillageLabelConfig()
    path = check_file(path, "Village file")
    report: list[str] = []
    name = path.name.lower()
    if name.endswith(VECTOR_SUFFIXES):
        try:
            gdf = gpd.read_file(path, engine="pyogrio")
        except Exception as exc:  # pyogrio raises DataSourceError & co.; report as a file problem
            raise DataFileError(
                f"Cannot read village file {path} ({exc})", hint="Export it again as GeoJSON or GPKG.", path=path
            ) from exc
        if len(gdf) == 0:
            raise DataFileError(f"Village file {path} has no features", hint="Export it with its villages.", path=path)
        if gdf.crs is None:
            raise GeoreferenceError(
                f"Village file {path} has no CRS",
                hint="Assign one (e.g. in QGIS: Layer → Assign Projection, or gdf.set_crs(...)) and save it again.",
                path=path,
            )
        missing_geom = gdf.geometry.isna() | gdf.geometry.is_empty
        if missing_geom.all():
            raise LabelError(f"Village file {path} has no geometries", hint="Export points or polygons.", path=path)
        if missing_geom.any():
            report.append(f"{path.name}: {plural(int(missing_geom.sum()), 'village')} without geometry dropped")
            gdf = gdf[~missing_geom]
        types = set(gdf.geom_type)
        if not types <= {"Point", "MultiPoint", "Polygon", "MultiPolygon"}:
            raise LabelError(
                f"Village file {path} holds {', '.join(sorted(types))} geometries; expected points or polygons",
                hint="Export village locations as points or village boundaries as polygons.",
                path=path,
            )
        if "MultiPoint" in types:
            gdf = gdf.set_geometry(gdf.geometry.centroid.where(gdf.geom_type == "MultiPoint", gdf.geometry))
        table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        geometry = gdf.geometry.to_numpy()
        crs = gdf.crs
    else:
        table = read_table(path, what="Village table", str_columns=(cfg.id_column,), report=report)
        geometry, crs = None, "EPSG:4326"
    cols = list(table.columns)
    wanted = (cfg.id_column, *cfg.indicators, *([cfg.weight_column] if cfg.weight_column else []))
    found = find_columns(cols, {i: (i,) for i in wanted})
    need_coords = geometry is None
    coords = find_columns(cols, _COORD_ALIASES) if need_coords else {}
    missing = [k for k, v in found.items() if v is None] + [k for k, v in coords.items() if v is None]
    if missing:
        expected = [
            cfg.id_column,
            *(["lat", "lon"] if need_coords else []),
            *cfg.indicators,
            *([f"{cfg.weight_column} (weight_column)"] if cfg.weight_column else []),
        ]
        raise missing_columns_error(
            path,
            "Village file",
            missing,
            expected,
            cols,
            hint="Rename the columns, or choose the indicators with [villages] indicators = [...] in tlgeo.toml "
            "(--columns on the command line).",
        )
    where = path.name
    if need_coords:
        lat = numeric_column(table[coords["lat"]], coords["lat"], where, path=path)
        lon = numeric_column(table[coords["lon"]], coords["lon"], where, path=path)
        bad = ~(np.isfinite(lat) & np.isfinite(lon))
        if bad.all():
            raise LabelError(f"{where}: no village has both lat and lon", hint="Fill the coordinates.", path=path)
        if bad.any():
            report.append(f"{where}: {plural(int(bad.sum()), 'village')} without lat/lon dropped")
        check_lat_lon(lat, lon, where, path=path)
        table = table[~bad]
        geometry = shapely.points(lon[~bad], lat[~bad])
    out = pd.DataFrame({"village_id": table[found[cfg.id_column]].astype("string").fillna("").str.strip()})
    for ind in cfg.indicators:
        out[ind] = table[found[ind]].to_numpy()
    if cfg.weight_column:
        w = numeric_column(table[found[cfg.weight_column]], found[cfg.weight_column], where, path=path)
        if (w < 0).any():
            raise LabelError(
                f"{where}: weight column {found[cfg.weight_column]!r} holds negative values (down to {np.nanmin(w):g})",
                hint="Use a non-negative weight such as the population, or leave weight_column unset.",
                path=path,
            )
        if not np.isfinite(w).any():
            raise LabelError(
                f"{where}: weight column {found[cfg.weight_column]!r} has no value",
                hint="Fill it (e.g. the population), or leave weight_column unset.",
                path=path,
            )
        if (~np.isfinite(w)).any():
            report.append(
                f"{where}: {plural(int((~np.isfinite(w)).sum()), 'village')} without {found[cfg.weight_column]} "
                "weighted by the median weight"
            )
            w = np.where(np.isfinite(w), w, float(np.nanmedian(w)))
        out[WEIGHT] = w
    out.index = range(len(out))
    dup = out["village_id"].duplicated(keep=False) & (out["village_id"] != "")
    if dup.any():
        report.append(
            f"{where}: {plural(int(dup.sum()), 'row')} share a village_id with another row "
            f"({id_list(out.loc[dup, 'village_id'].unique(), 5)}); all kept"
        )
    empty_id = out["village_id"] == ""
    if empty_id.any():
        out.loc[empty_id, "village_id"] = [f"row{i + 2}" for i in np.flatnonzero(empty_id.to_numpy())]
        report.append(f"{where}: {plural(int(empty_id.sum()), 'village')} without an id named by row number")
    villages = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(np.asarray(geometry), crs=crs), crs=crs)
    report.insert(0, f"{where}: {plural(len(villages), 'village')} read")
    return villages, report


def indicator_levels(
    villages: pd.DataFrame, config: VillageLabelConfig | None = None, *, where: str = "villages"
) -> tuple[pd.DataFrame, dict[str, list[float]], list[str]]:
    """Turn indicator values into integer levels ``0 … levels−1`` (``-1`` where missing).

    Args:
        villages: Table with one column per ``config.indicators``.
        config: Indicators, number of levels and saved cut points.
        where: Name of the source for messages.

    Returns:
        ``(levels, bins, report)``: a DataFrame of int64 levels (same index), the cut points of each binned
        (fraction) indicator, and report lines.

    Raises:
        LabelError: Non-numeric values, percentages, integers beyond the levels, negative values.
        ConfigError: Saved cut points of the wrong length.
    """
    cfg = config or VillageLabelConfig()
    k = cfg.levels
    saved = cfg.bins or {}
    levels = pd.DataFrame(index=villages.index)
    bins: dict[str, list[float]] = {}
    report: list[str] = []
    kinds: dict[str, list[str]] = {"levels": [], "binned": []}
    for ind in cfg.indicators:
        v = numeric_column(villages[ind], ind, where)
        ok = np.isfinite(v)
        out = np.full(len(v), -1, dtype="int64")
        vals = v[ok]
        if vals.size == 0:
            report.append(f"{ind}: no value at all; task masked for every tile")
        elif ind in saved:
            cuts = np.asarray(saved[ind], dtype="float64")
            if cuts.size != k - 1:
                raise ConfigError(
                    f"villages.bins[{ind!r}] has {cuts.size} cut points, {k - 1} are needed for levels={k}",
                    hint="Remove the saved bins to recompute them.",
                )
            out[ok] = np.searchsorted(cuts, vals, side="right")
            bins[ind] = cuts.tolist()
            kinds["binned"].append(ind)
        elif np.all(vals == np.round(vals)) and vals.min() >= 0 and vals.max() <= k - 1:
            out[ok] = vals.astype("int64")
            kinds["levels"].append(ind)
        elif vals.min() >= 0 and vals.max() <= 1:
            cuts = np.quantile(vals, np.arange(1, k) / k)
            out[ok] = np.searchsorted(cuts, vals, side="right")
            bins[ind] = [float(c) for c in cuts]
            kinds["binned"].append(ind)
            if np.unique(cuts).size < cuts.size:
                report.append(
                    f"warning: {ind}: tied values give repeated cut points {bins[ind]}; some levels are empty"
                )
        else:
            if vals.min() < 0:
                detail = f"negative values (down to {vals.min():g})"
            elif np.all(vals == np.round(vals)):
                detail = f"integers {vals.min():g}–{vals.max():g}"
            else:
                detail = f"values {vals.min():g}–{vals.max():g}"
            raise LabelError(
                f"{where}: indicator {ind!r} holds {detail}; expected integer levels 0–{k - 1} or fractions 0–1",
                hint="Divide percentages by 100, or recode the column into levels.",
            )
        miss = int((~ok).sum())
        if miss:
            report.append(f"{ind}: {plural(miss, 'missing value')} masked for that task only")
        levels[ind] = out
    if kinds["levels"]:
        report.insert(0, f"integer levels kept: {', '.join(kinds['levels'])}")
    if kinds["binned"]:
        report.insert(
            0,
            f"fractions binned into {k} levels at "
            + "; ".join(f"{i} {', '.join(f'{c:.3g}' for c in bins[i])}" for i in kinds["binned"]),
        )
    return levels, bins, report


def join_villages_to_tiles(
    villages: gpd.GeoDataFrame,
    tiles: gpd.GeoDataFrame,
    indicators: list[str],
    *,
    bins: dict[str, list[float]] | None = None,
    weight_name: str | None = None,
    continuous: bool = False,
) -> tuple[gpd.GeoDataFrame, np.ndarray, list[str]]:
    """Give each tile the indicator levels of its villages, aggregated (spatial-index join; see the module docstring).

    Args:
        villages: Villages with integer level columns for ``indicators`` (``-1`` = missing), any CRS; for each
            binned indicator in ``bins`` optionally ``<IND>_value`` (the fraction), and optionally :data:`WEIGHT`.
        tiles: Tile index.
        indicators: Level columns to copy.
        bins: Cut points of binned indicators: several villages' fractions are averaged and re-binned with them.
        continuous: Keep the (averaged) fraction of binned indicators as a float column instead of re-binning.
        weight_name: Name of the weight column, for the report.

    Returns:
        ``(tiles, village_tile, report)``: a copy of the tiles with one int column per indicator (``-1`` = no label)
        and ``village_id`` (the nearest village; None where none); for each village the ``tile_id`` of the first
        tile it labels (or None); report lines.
    """
    bins = bins or {}
    out = tiles.copy()
    n = len(out)
    report: list[str] = []
    v = villages.to_crs(out.crs) if villages.crs != out.crs else villages
    geoms = v.geometry.to_numpy()
    tgeoms = out.geometry.to_numpy()
    vi, ti = out.sindex.query(geoms, predicate="intersects")
    is_poly = np.isin(shapely.get_type_id(geoms), (3, 6))
    poly_pair = is_poly[vi]
    score = np.zeros(vi.size)
    keep_pair = np.ones(vi.size, dtype=bool)
    if poly_pair.any():
        pv, pt = vi[poly_pair], ti[poly_pair]
        area = shapely.area(shapely.intersection(geoms[pv], tgeoms[pt]))
        smaller = np.minimum(shapely.area(geoms[pv]), shapely.area(tgeoms[pt]))
        frac = area / np.where(smaller > 0, smaller, 1.0)
        keep_pair[poly_pair] = frac >= MIN_POLYGON_OVERLAP
        score[poly_pair] = -area / np.maximum(shapely.area(tgeoms[pt]), 1e-12)  # larger overlap first
    if (~poly_pair).any():
        centres = shapely.centroid(tgeoms[ti[~poly_pair]])
        diag = np.sqrt(shapely.area(tgeoms[ti[~poly_pair]]) * 2.0)
        score[~poly_pair] = 1.0 + shapely.distance(geoms[vi[~poly_pair]], centres) / np.maximum(diag, 1e-12)
    vi, ti, score = vi[keep_pair], ti[keep_pair], score[keep_pair]
    order = np.lexsort((vi, score, ti))
    vi, ti, score = vi[order], ti[order], score[order]
    first = np.r_[True, ti[1:] != ti[:-1]] if ti.size else np.zeros(0, dtype=bool)
    win_v, win_t = vi[first], ti[first]
    weights = v[WEIGHT].to_numpy(dtype="float64") if WEIGHT in v.columns else np.ones(len(v))
    pairs = pd.DataFrame({"t": ti, "w": weights[vi], "rank": np.arange(ti.size)})
    for ind in indicators:
        col = np.full(n, -1, dtype="int64")
        lev = v[ind].to_numpy(dtype="int64")[vi]
        value_col = f"{ind}_value"
        if ind in bins and value_col in v.columns:
            val = v[value_col].to_numpy(dtype="float64")[vi]
            p = pairs.assign(val=val)[np.isfinite(val)]
            p = p.assign(wv=p["w"] * p["val"])
            agg = p.groupby("t")[["wv", "w"]].sum()
            plain = p.groupby("t")["val"].mean()  # tiles whose villages all weigh 0
            mean = (agg["wv"] / agg["w"].where(agg["w"] > 0)).fillna(plain)
            if continuous:  # the mean fraction itself (regression target), NaN where no village has a value
                values = np.full(n, np.nan)
                values[mean.index.to_numpy()] = mean.to_numpy()
                out[ind] = values
                continue
            col[mean.index.to_numpy()] = np.searchsorted(np.asarray(bins[ind]), mean.to_numpy(), side="right")
        else:
            p = pairs.assign(lev=lev)[lev >= 0]
            agg = p.groupby(["t", "lev"]).agg(w=("w", "sum"), rank=("rank", "min")).reset_index()
            agg = agg.sort_values(["t", "w", "rank"], ascending=[True, False, True])
            best = agg.drop_duplicates("t")
            col[best["t"].to_numpy()] = best["lev"].to_numpy()
        out[ind] = col
    vid = np.full(n, None, dtype=object)
    vid[win_t] = v["village_id"].to_numpy(dtype=object)[win_v]
    out["village_id"] = vid
    nv = len(v)
    touched = np.zeros(nv, dtype=bool)
    touched[vi] = True
    village_tile = np.full(nv, None, dtype=object)
    tile_ids = out["tile_id"].to_numpy(dtype=object)
    order_v = np.lexsort((ti, vi))
    wv, wt = vi[order_v], ti[order_v]
    firsts = np.r_[True, wv[1:] != wv[:-1]] if wv.size else np.zeros(0, dtype=bool)
    village_tile[wv[firsts]] = tile_ids[wt[firsts]]
    outside = ~touched
    counts = np.bincount(ti, minlength=n)
    multi = int((counts > 1).sum())
    report.append(
        f"{plural(int(touched.sum()), 'village')} joined to {plural(int(pd.notna(vid).sum()), 'tile')} of {n:,}"
    )
    if outside.any():
        ids = v["village_id"].to_numpy(dtype=object)[outside]
        report.append(f"{plural(int(outside.sum()), 'village')} outside all tiles: {id_list(ids)}")
    if multi:
        how = []
        binned = [i for i in indicators if i in bins and f"{i}_value" in v.columns]
        if binned:
            how.append(f"mean of fractions for {', '.join(binned)}")
        if len(binned) < len(indicators):
            how.append("mode of levels" + (" for the others" if binned else ""))
        weighted = ", weighted by " + (weight_name or "weight") if WEIGHT in v.columns else ""
        report.append(
            f"{plural(multi, 'tile')} {'holds' if multi == 1 else 'hold'} more than one village "
            f"({int(counts[counts > 1].sum()):,} villages): aggregated ({'; '.join(how)}{weighted})"
        )
    return out, village_tile, report


def _no_overlap_error(villages: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame, where: Path) -> LabelError:
    vb = tuple(villages.to_crs(4326).total_bounds)
    tb = tuple(tiles.to_crs(4326).total_bounds)
    swapped = boxes_intersect(swapped_bounds(vb), tb)
    return LabelError(
        f"No village of {where} falls inside the imagery: villages span {fmt_bounds(vb)}, imagery spans "
        f"{fmt_bounds(tb)}" + ("; with lat and lon swapped they would" if swapped else ""),
        hint="Swap the lat/lon columns." if swapped else "Check that the villages and the imagery cover the same area.",
        path=where,
    )


def village_labels(
    path: str | Path, tiles: gpd.GeoDataFrame, config: VillageLabelConfig | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, list[float]], list[str]]:
    """Village file + tile index → labelled tiles.

    Args:
        path: Village CSV / GeoJSON / GPKG.
        tiles: Tile index (:func:`tlgeo.tiles.tile_index`).
        config: Village label settings.

    Returns:
        ``(tiles, villages, bins, report)``: tiles with one int column per indicator and ``village_id``; villages in
        EPSG:4326 with their levels (``-1`` missing), original values (``<IND>_value`` for binned indicators) and
        ``tile_id``; cut points per binned indicator; report lines.

    Raises:
        LabelError: Malformed file, or no village inside the imagery.
    """
    cfg = config or VillageLabelConfig()
    path = Path(path)
    villages, report = read_villages(path, cfg)
    levels, bins, rep = indicator_levels(villages, cfg, where=path.name)
    report += rep
    inds = list(cfg.indicators)
    vec = villages.copy()
    for ind in inds:
        if ind in bins:
            vec[f"{ind}_value"] = numeric_column(villages[ind], ind, path.name)
        vec[ind] = levels[ind].to_numpy()
    labelled, village_tile, rep = join_villages_to_tiles(
        vec, tiles, inds, bins=bins, weight_name=cfg.weight_column, continuous=cfg.continuous
    )
    report += rep
    if labelled["village_id"].isna().all():
        raise _no_overlap_error(villages, tiles, path)
    vec["tile_id"] = village_tile
    vec = vec.to_crs(4326)
    counts = {ind: int((labelled[ind].fillna(-1) >= 0).sum()) for ind in inds}
    report.append("labelled tiles per task: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return labelled, vec, bins, report


def find_village_file(taskdir: str | Path) -> Path:
    """The village file of a task folder: ``villages.csv`` (or ``.csv.gz``, ``.geojson``, ``.gpkg``, ``.shp``).

    Raises:
        DataFileError: None of them exists.
    """
    taskdir = Path(taskdir)
    hint = f"Add one of: {', '.join(VILLAGE_FILES)} (village_id, lat, lon and indicator columns)."
    return first_file(taskdir, VILLAGE_FILES, "village file", hint)


def load_villages_task(taskdir: str | Path, settings: TaskSettings) -> TaskData:
    """Read ``TASKDIR/imagery`` and ``TASKDIR/villages.*`` into multi-task labelled tiles (``truth/`` is ignored).

    Returns:
        :class:`~tlgeo.labels.TaskData`: one int column per indicator (classes ``"0" … str(levels−1)``, ``-1`` =
        masked), ``village_id``; ``vectors`` = villages (EPSG:4326); ``bins`` = cut points of binned indicators.
    """
    from tlgeo.tiles import tile_index

    taskdir = Path(taskdir)
    cfg = settings.villages
    tiles = tile_index(taskdir / "imagery", size=settings.tiles.size, stride=settings.tiles.step)
    path = find_village_file(taskdir)
    labelled, villages, bins, report = village_labels(path, tiles, cfg)
    classes = [str(i) for i in range(cfg.levels)]
    return TaskData(
        task="villages",
        settings=settings,
        tiles=labelled,
        targets={ind: [] if cfg.continuous and ind in bins else list(classes) for ind in cfg.indicators},
        report=report,
        vectors=villages,
        bins=bins,
    )
