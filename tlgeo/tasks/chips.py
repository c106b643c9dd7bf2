"""Chips centred on labels: what the ``classes`` and ``values`` tasks share.

Reading any vector labels file or CSV (points, lines, polygons; ``lat``/``lon`` or ``x``/``y`` + CRS) into label
points, one chip (a window of the tile index) centred on each, the ``[labels]`` settings both tasks hold
(:class:`ChipLabelConfig`), the task base class :class:`ChipTask` and the ``tlgeo labels`` flags and handler.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tlgeo._utils import check_file
from tlgeo.config import TaskSettings, load_settings
from tlgeo.errors import ConfigError, DataFileError, GeoreferenceError, LabelError
from tlgeo.flags import Flag

if TYPE_CHECKING:
    import geopandas as gpd

    from tlgeo.taskdata import TaskData

LABEL_FILES = ("labels.gpkg", "labels.geojson", "labels.json", "labels.fgb", "labels.shp", "labels.csv")


VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".fgb", ".shp")


CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")


POLYGON_CHIPS = ("representative", "grid")


_LATLON = {"lat": ("lat", "latitude"), "lon": ("lon", "lng", "long", "longitude")}


_XY = {"x": ("x", "easting"), "y": ("y", "northing")}


#: Columns of the chip index besides the tile-index columns.
EXTRA_COLUMNS = ("label_id", "class_name")


@dataclass(frozen=True)
class ChipLabelConfig:
    """What every ``[labels]`` section of a chip task holds (``classes``, ``values``).

    Attributes:
        file: Labels file, relative to the task folder (default: the first of :data:`LABEL_FILES` there).
        column: The label column.
        chip_m: Chip edge in metres, converted to pixels at the first scene's resolution (one chip size for every
            scene, as the network needs); overrides ``[tiles] size``.
        polygon_chips: ``"representative"`` (one chip per polygon) or ``"grid"`` (a chip at every grid point inside).
        grid_spacing_m: Grid step for ``polygon_chips = "grid"`` (default: the chip edge in metres).
        crs: CRS of ``x``/``y`` columns in a CSV (``lat``/``lon`` are EPSG:4326).
        id_column: Column identifying each label (default: its row number).
    """

    file: str | None = None
    column: str = "label"
    chip_m: float | None = None
    polygon_chips: str = "representative"
    grid_spacing_m: float | None = None
    crs: str | None = None
    id_column: str | None = None

    def __post_init__(self) -> None:
        if self.polygon_chips not in POLYGON_CHIPS:
            raise ConfigError(
                f"[labels] polygon_chips = {self.polygon_chips!r} is unknown",
                hint=f"Use one of: {', '.join(POLYGON_CHIPS)}.",
            )
        for name in ("chip_m", "grid_spacing_m"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"[labels] {name} must be > 0 metres, received {value!r}")
        if not str(self.column).strip():
            raise ConfigError(
                "[labels] column is empty", hint=f"Name the label column, e.g. column = {type(self).column!r}."
            )


def _class_text(values) -> np.ndarray:
    """Class values as text: integers (also integer-valued floats) without a decimal point, text stripped."""
    import pandas as pd

    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append(None)
        elif isinstance(v, (bool, np.bool_)):
            out.append(str(v).lower())
        elif isinstance(v, (int, np.integer)):
            out.append(str(int(v)))
        elif isinstance(v, (float, np.floating)):
            out.append(str(int(v)) if float(v).is_integer() else str(v))
        else:
            text = str(v).strip()
            out.append(text or None)
    return np.asarray(out, dtype=object)


def _class_text_of(values, path: Path, column: str) -> np.ndarray:
    return _class_text(values)


def read_class_labels(
    path: str | Path, config: ChipLabelConfig | None = None, *, convert=None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read a labels file with its class column.

    Args:
        path: GeoPackage, GeoJSON, Shapefile, FlatGeobuf (anything pyogrio reads), or CSV with ``lat``/``lon``
            (EPSG:4326) or ``x``/``y`` (CRS from ``config.crs``).
        config: Column names and CRS (any object with ``column``, ``crs`` and ``id_column``).
        convert: ``convert(raw_values, path, column) -> values`` (``None`` = missing) turning the column into the
            ``class_name`` values; default: class text. The ``values`` task passes a numeric check here.

    Returns:
        ``(labels, report)``: a GeoDataFrame in the file's CRS with ``label_id`` (text), ``class_name`` (text) and
        the geometry; rows without a class or a geometry are dropped and counted in ``report``.

    Raises:
        DataFileError: Missing, empty or unreadable file.
        GeoreferenceError: A vector file without a CRS.
        ConfigError: A CSV with x/y and no ``crs`` setting.
        LabelError: The class column is missing (the columns there are named), or no row is usable.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    from tlgeo.labels._common import check_lat_lon, find_columns, numeric_column, read_table

    cfg = config or ChipLabelConfig(column="class")
    path = check_file(path, "Labels file")
    name = path.name.lower()
    report: list[str] = []
    if name.endswith(CSV_SUFFIXES):
        table = read_table(path, what="Labels file", str_columns=[cfg.column], report=report)
        columns = [str(c) for c in table.columns]
        latlon = find_columns(columns, _LATLON)
        xy = find_columns(columns, _XY)
        if latlon["lat"] and latlon["lon"]:
            lat = numeric_column(table[latlon["lat"]], latlon["lat"], path.name, path=path)
            lon = numeric_column(table[latlon["lon"]], latlon["lon"], path.name, path=path)
            check_lat_lon(lat, lon, path.name, path=path)
            crs, xs, ys = "EPSG:4326", lon, lat
        elif xy["x"] and xy["y"]:
            if not cfg.crs:
                raise ConfigError(
                    f"{path} has x/y columns but no CRS is given for them",
                    hint='Set crs = "EPSG:…" in [labels] of tlgeo.toml (or --crs EPSG:…), or give lat/lon columns.',
                )
            xs = numeric_column(table[xy["x"]], xy["x"], path.name, path=path)
            ys = numeric_column(table[xy["y"]], xy["y"], path.name, path=path)
            crs = cfg.crs
        else:
            raise LabelError(
                f"{path} has no coordinate columns (found {', '.join(columns[:20])})",
                hint="Add lat and lon columns (WGS84 degrees), or x and y with crs = … in [labels].",
                path=path,
            )
        ok = np.isfinite(xs) & np.isfinite(ys)
        geometry = np.where(ok, shapely.points(np.nan_to_num(xs), np.nan_to_num(ys)), None)
        try:
            gdf = gpd.GeoDataFrame(table, geometry=list(geometry), crs=crs)
        except Exception as exc:  # pyproj's CRSError for a crs setting it cannot parse
            raise ConfigError(
                f"[labels] crs = {crs!r} is not a CRS pyproj knows ({exc})", hint="e.g. EPSG:32633."
            ) from exc
    elif name.endswith(VECTOR_SUFFIXES):
        try:
            gdf = gpd.read_file(path, engine="pyogrio")
        except Exception as exc:  # pyogrio raises its own error types for unreadable files
            raise DataFileError(
                f"{path} is not a readable vector file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                hint="Export the labels again as GeoPackage, GeoJSON, Shapefile or FlatGeobuf.",
                path=path,
            ) from exc
        if gdf.crs is None:
            raise GeoreferenceError(
                f"{path} has no CRS", hint="Save it with a CRS (GeoJSON is EPSG:4326 by definition).", path=path
            )
        columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    else:
        raise DataFileError(
            f"{path} is not a labels file tlgeo reads (suffix {path.suffix!r})",
            hint=f"Use one of: {', '.join(VECTOR_SUFFIXES + CSV_SUFFIXES)}.",
            path=path,
        )
    if cfg.column not in gdf.columns:
        raise LabelError(
            f"{path} has no class column {cfg.column!r}; its columns are: {', '.join(columns[:30])}",
            hint="Name the class column with column = … in [labels] of tlgeo.toml (or --column NAME).",
            path=path,
        )
    if cfg.id_column and cfg.id_column not in gdf.columns:
        raise LabelError(
            f"{path} has no id column {cfg.id_column!r}; its columns are: {', '.join(columns[:30])}",
            hint="Fix id_column in [labels] or leave it out (labels are then numbered by row).",
            path=path,
        )
    ids = (
        gdf[cfg.id_column].astype(str).to_numpy()
        if cfg.id_column
        else np.asarray([f"l{i:05d}" for i in range(len(gdf))])
    )
    if cfg.id_column and len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise LabelError(
            f"{path}: id column {cfg.id_column!r} holds {dup!r} more than once",
            hint="Give every label its own id, or leave id_column out (labels are then numbered by row).",
            path=path,
        )
    out = gpd.GeoDataFrame(
        {"label_id": ids, "class_name": (convert or _class_text_of)(gdf[cfg.column].to_numpy(), path, cfg.column)},
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )
    no_class = out["class_name"].isna().to_numpy()
    no_geom = (out.geometry.isna() | out.geometry.is_empty).to_numpy()
    if no_class.any():
        report.append(f"{path.name}: {int(no_class.sum()):,} label(s) without a value in {cfg.column!r} left out")
    if (no_geom & ~no_class).any():
        report.append(f"{path.name}: {int((no_geom & ~no_class).sum()):,} label(s) without geometry left out")
    out = out[~no_class & ~no_geom].reset_index(drop=True)
    if out.empty:
        raise LabelError(
            f"{path} holds no label with both a geometry and a value in {cfg.column!r}",
            hint="Check the class column and the geometries.",
            path=path,
        )
    return out, report


def label_points(labels: gpd.GeoDataFrame, config: ChipLabelConfig, chip_m: float) -> gpd.GeoDataFrame:
    """One point per chip: points as they are, line midpoints, polygon representative points (or a grid inside).

    Args:
        labels: From :func:`read_class_labels`, in a projected CRS (metres).
        config: ``polygon_chips`` and ``grid_spacing_m``.
        chip_m: Chip edge in metres (the default grid step).

    Returns:
        Point GeoDataFrame with ``label_id``, ``class_name`` and ``chip`` (0, 1, … per label; > 0 only for grids).
    """
    import geopandas as gpd
    import shapely

    geoms = labels.geometry.values
    kinds = labels.geom_type.to_numpy()
    rows_idx: list[int] = []
    points: list = []
    chips: list[int] = []
    step = config.grid_spacing_m or chip_m
    for i, (geom, kind) in enumerate(zip(geoms, kinds, strict=True)):
        if kind == "Point":
            pts = [geom]
        elif kind == "LineString":
            pts = [geom.interpolate(0.5, normalized=True)]
        elif kind in ("Polygon", "MultiPolygon") and config.polygon_chips == "grid":
            x0, y0, x1, y1 = geom.bounds
            xs = np.arange(x0 + step / 2, x1, step)
            ys = np.arange(y1 - step / 2, y0, -step)
            gx, gy = np.meshgrid(xs, ys)
            cand = shapely.points(gx.ravel(), gy.ravel())
            pts = list(cand[shapely.contains(geom, cand)]) or [geom.representative_point()]
        else:  # polygons, multi-geometries, collections
            pts = [geom.representative_point()]
        for j, p in enumerate(pts):
            rows_idx.append(i)
            points.append(p)
            chips.append(j)
    sel = labels.iloc[rows_idx]
    return gpd.GeoDataFrame(
        {"label_id": sel["label_id"].to_numpy(), "class_name": sel["class_name"].to_numpy(), "chip": chips},
        geometry=points,
        crs=labels.crs,
    )


def chip_index(
    imagery: str | Path, points: gpd.GeoDataFrame, size: int | None, chip_m: float | None
) -> tuple[gpd.GeoDataFrame, dict[str, int], int]:
    """Chips of ``size`` px (or ``chip_m`` metres) centred on each point, on the first scene with data there.

    Returns:
        ``(chips, lost, size_px)``: tile-index rows (plus ``label_id``, ``class_name``, ``chip``) in the CRS of the
        first scene (``row``/``col`` hold the label's pixel, not a grid position); counts of points ``{"outside": …, "nodata": …}`` that got no chip; the chip edge in pixels.
    """
    import geopandas as gpd
    import pandas as pd
    import rasterio
    from rasterio.windows import Window

    from tlgeo.schema import chip_id, source_names, window_footprints
    from tlgeo.tiles import INDEX_COLUMNS, find_rasters, raster_info

    files = find_rasters(imagery)
    infos = [raster_info(f) for f in files]
    if chip_m is not None:
        size = max(8, round(chip_m / _resolution_m(infos[0])))
    assert size is not None
    half = size // 2
    todo = np.ones(len(points), dtype=bool)
    inside_any = np.zeros(len(points), dtype=bool)
    frames = []
    index_crs = infos[0].crs
    for source, info in zip(source_names(files), infos, strict=True):
        if not todo.any():
            break
        pts = points.to_crs(info.crs) if points.crs != info.crs else points
        inv = ~info.transform
        cols, rows = inv * (pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())
        cols, rows = np.floor(cols).astype("int64"), np.floor(rows).astype("int64")
        inside = todo & (cols >= 0) & (rows >= 0) & (cols < info.width) & (rows < info.height)
        inside_any |= inside
        recs = []
        with rasterio.open(info.path) as ds:
            for i in np.flatnonzero(inside):
                c, r = int(cols[i]), int(rows[i])
                if not ds.dataset_mask(window=Window(c, r, 1, 1))[0, 0]:
                    continue  # nodata under the label: another scene may have data there
                todo[i] = False
                window = (c - half, r - half, size, size)
                lid, chip = str(pts["label_id"].iloc[i]), int(pts["chip"].iloc[i])
                recs.append(
                    {
                        "tile_id": chip_id(source, lid, chip),
                        "path": str(info.path),
                        "window": window,
                        "source": source,
                        "row": r,
                        "col": c,
                        "crs": info.crs.to_string(),
                        "geometry": window_footprints(info.transform, [window])[0],
                        "label_id": lid,
                        "class_name": pts["class_name"].iloc[i],
                        "chip": chip,
                    }
                )
        frame = gpd.GeoDataFrame(
            recs, columns=[*INDEX_COLUMNS, *EXTRA_COLUMNS, "chip"], geometry="geometry", crs=info.crs
        )
        if info.crs != index_crs:
            frame = frame.to_crs(index_crs)
        frames.append(frame)
    chips = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=index_crs)
    lost = {"outside": int((~inside_any).sum()), "nodata": int((inside_any & todo).sum())}
    return chips, lost, size


def label_chips(
    taskdir: str | Path, settings: TaskSettings, cfg, labels_file: str | Path | None = None, *, convert=None
) -> tuple[gpd.GeoDataFrame, list[str], gpd.GeoDataFrame, int, Path]:
    """Labels file + imagery → chips centred on each label (shared by the ``classes`` and ``values`` tasks).

    Args:
        taskdir: Task folder with ``imagery/``.
        settings: Task settings (``[tiles] size``).
        cfg: The task's ``[labels]`` settings (``file``, ``column``, ``crs``, ``id_column``, ``chip_m``,
            ``polygon_chips``, ``grid_spacing_m``).
        labels_file: Use this labels file instead of the one the settings name.
        convert: Column conversion for :func:`read_class_labels`.

    Returns:
        ``(chips, report, labels, size_px, path)``: chips carry the converted label value in ``class_name``;
        ``labels`` are the labels read (their CRS).

    Raises:
        LabelError: No label on valid pixels of the imagery (and what :func:`read_class_labels` raises).
    """
    from tlgeo.labels._common import plural

    taskdir = Path(taskdir)
    path = Path(labels_file) if labels_file is not None else find_label_file(taskdir, cfg)
    labels, report = read_class_labels(path, cfg, convert=convert)
    where = path.name
    n_read = len(labels)
    first_scene = _first_scene_crs(taskdir / "imagery")
    work_crs = first_scene if first_scene.is_projected else labels.to_crs(4326).estimate_utm_crs()
    labels_m = labels.to_crs(work_crs)
    chip_m = cfg.chip_m or settings.tiles.size * _first_resolution_m(taskdir / "imagery")
    points = label_points(labels_m, cfg, chip_m)
    chips, lost, size = chip_index(
        taskdir / "imagery", points, settings.tiles.size if not cfg.chip_m else None, cfg.chip_m
    )
    if lost["outside"]:
        report.append(f"{where}: {plural(lost['outside'], 'label')} outside all imagery left out")
    if lost["nodata"]:
        report.append(f"{where}: {plural(lost['nodata'], 'label')} with no valid pixel under them (nodata) left out")
    if chips.empty:
        raise LabelError(
            f"{where}: none of its {plural(n_read, 'label')} lies on valid pixels of the imagery in {taskdir / 'imagery'}",
            hint="Check that the labels and the imagery cover the same area (and the CRS of the labels).",
            path=path,
        )
    return chips, report, labels, size, path


def find_label_file(taskdir: Path, cfg: ChipLabelConfig) -> Path:
    """The labels file named by ``[labels] file`` (relative to the task folder), else the first of LABEL_FILES.

    Raises:
        DataFileError: The file named does not exist, or there is no labels file.
    """
    from tlgeo.labels._common import first_file

    if cfg.file:
        path = Path(cfg.file)
        path = path if path.is_absolute() else taskdir / path
        return check_file(path, "Labels file")
    hint = f"Name it with file = … in [labels] of tlgeo.toml, or add one of: {', '.join(LABEL_FILES)}."
    return first_file(taskdir, LABEL_FILES, "labels file", hint)


def _first_scene_crs(imagery: Path):
    from tlgeo.tiles import find_rasters, raster_info

    return raster_info(find_rasters(imagery)[0]).crs


def _first_resolution_m(imagery: Path) -> float:
    from tlgeo.tiles import find_rasters, raster_info

    return _resolution_m(raster_info(find_rasters(imagery)[0]))


def _resolution_m(info) -> float:
    """Pixel size of a raster in metres (degrees of a geographic CRS taken at the scene's latitude)."""
    if info.crs.is_projected:
        return info.resolution * float(info.crs.linear_units_factor[1])
    lat = (info.bounds[1] + info.bounds[3]) / 2
    return info.resolution * 111_320.0 * (1.0 + math.cos(math.radians(lat))) / 2  # mean of x and y metres


class ChipTask:
    """Shared part of the tasks whose samples are chips centred on the labels of a vector file (``[labels]``).

    A subclass sets the :class:`~tlgeo.tasks.base.Task` attributes and implements ``config(settings)`` (its settings
    dataclass) and ``chips(taskdir, settings, labels_file=None)`` → ``(chips, targets, report, vectors, size,
    ordered, summary)``.
    """

    section = "labels"
    name: str

    def config(self, settings: TaskSettings) -> Any:
        raise NotImplementedError

    def chips(self, taskdir: Path, settings: TaskSettings, labels_file: Path | None = None) -> tuple:
        raise NotImplementedError

    def label_settings(self, settings: TaskSettings) -> Any:
        """The ``[labels]`` settings."""
        return self.config(settings)

    def find_labels(self, taskdir: Path) -> list[Path]:
        """The labels file of a task folder."""
        settings = load_settings(taskdir, task=self.name)
        return [find_label_file(Path(taskdir), self.config(settings))]

    def load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        """Chips centred on every label; ``tiles.size`` in the returned settings is the chip edge in pixels."""
        from tlgeo.taskdata import TaskData

        chips, targets, report, vectors, size, ordered, _ = self.chips(taskdir, settings)
        if size != settings.tiles.size:
            settings = dataclasses.replace(settings, tiles=dataclasses.replace(settings.tiles, size=size, stride=None))
        return TaskData(self.name, settings, chips, targets, report, vectors, ordered=ordered)

    def run_labels(self, args: Any) -> int:
        """``tlgeo labels <task>``: labels file + imagery → chip index GeoJSON (checked before writing)."""
        return run_chip_labels(args, self.name, self.chips)


def chip_flags(column_help: str, *extra: Flag) -> tuple[Flag, ...]:
    """The ``tlgeo labels`` flags of a task whose samples are chips centred on labels (``classes``, ``values``)."""
    return (
        Flag("--labels", "GPKG, GeoJSON, Shapefile, FlatGeobuf or CSV", kind="path", required=True),
        Flag("--column", column_help, required=True),
        Flag("--data", "task folder with imagery/ (and tlgeo.toml)", kind="path", required=True),
        Flag("--out", "chip index GeoJSON to write", kind="path", required=True),
        Flag("--crs", "CRS of x/y columns of a CSV, e.g. EPSG:32633"),
        Flag("--chip-size", "chip edge in pixels (default: [tiles] size)", kind="int", minimum=1, maximum=100_000),
        Flag(
            "--chip-m",
            "chip edge in metres (instead of --chip-size)",
            kind="float",
            minimum=0,
            maximum=1e7,
            exclusive_min=True,
        ),
        *extra,
        Flag("--overwrite", kind="switch"),
    )


def run_chip_labels(args: Any, task: str, chips_of: Any) -> int:
    """``tlgeo labels <task>`` of a chip task: the ``[labels]`` settings of ``--data`` with the flags given applied,
    chips via ``chips_of`` (:meth:`ChipTask.chips`), one GeoJSON written."""
    from tlgeo.export import write_geojson
    from tlgeo.inputs import check_imagery_folder
    from tlgeo.labels._common import plural
    from tlgeo.outputs import check_outputs

    out = Path(args.out)
    check_outputs({"--out": out}, overwrite=args.overwrite)
    settings = load_settings(args.data, task=task)
    check_imagery_folder(Path(args.data) / "imagery")
    table = dict(settings.labels or {})
    table.update({"file": str(Path(args.labels).resolve()), "column": args.column})
    for key in ("crs", "chip_m", "min_class_samples", "rare", "polygon_chips"):
        value = getattr(args, key, None)
        if value is not None:
            table[key] = value
    tiles = settings.tiles
    if args.chip_size is not None:
        tiles = dataclasses.replace(tiles, size=args.chip_size)
    settings = dataclasses.replace(settings, labels=table, tiles=tiles)
    chips, _, report, _, size, _, summary = chips_of(args.data, settings, args.labels)
    for line in report:
        print(line)
    write_geojson(chips, out, overwrite=args.overwrite)
    print(f"wrote {out} ({plural(len(chips), 'chip')} of {size} px, {summary})")
    return 0
