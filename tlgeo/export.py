"""Writers of every file a user downloads: GeoJSON (RFC 7946, EPSG:4326, lon/lat, right-hand polygons) and GeoTIFF.

All writes are atomic (temporary file, then rename): a crash never leaves half a file, and an existing file is only
replaced when ``overwrite=True``. Writer defaults live in one profile per format.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from tlgeo._utils import atomic_path, refuse_existing
from tlgeo.errors import ConfigError, GeoreferenceError
from tlgeo.schema import PROB, class_of_prob_column, column_prefix, prob_columns, source_name

#: GDAL GeoJSON layer options: RFC 7946 reprojects to EPSG:4326, writes lon/lat and right-hand (CCW) exteriors.
GEOJSON_PROFILE = {"RFC7946": "YES", "COORDINATE_PRECISION": 7, "WRITE_BBOX": "YES"}


def to_rfc7946(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy ready for RFC 7946 GeoJSON: EPSG:4326, exterior rings counter-clockwise, JSON-friendly columns.

    Tuple/list/dict columns (e.g. the tile index ``window``) become strings; numpy scalars become Python values.

    Raises:
        GeoreferenceError: The frame has no CRS.
    """
    if gdf.crs is None:
        raise GeoreferenceError(
            "Cannot export features without a CRS", hint="Set the GeoDataFrame's CRS (gdf.set_crs) before exporting."
        )
    out = gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf.copy()
    out = out.set_geometry(shapely.orient_polygons(out.geometry.values, exterior_cw=False))
    for col in out.columns:
        if col == out.geometry.name:
            continue
        series = out[col]
        if series.dtype == object and series.map(lambda v: isinstance(v, (tuple, list, dict, set))).any():
            out[col] = series.map(lambda v: ",".join(str(x) for x in v) if isinstance(v, (tuple, list)) else str(v))
        elif pd.api.types.is_bool_dtype(series):
            out[col] = series.astype(bool)
        elif isinstance(series.dtype, pd.CategoricalDtype):
            out[col] = series.astype(str)
    return out


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a GeoDataFrame as an RFC 7946 FeatureCollection, atomically.

    Args:
        gdf: Features in any CRS.
        path: Output ``.geojson`` path.
        overwrite: Replace an existing file (otherwise :class:`~tlgeo.errors.OutputExistsError`).

    Returns:
        The path written. ``geopandas.read_file`` reads it back unchanged (CRS ``OGC:CRS84``/EPSG:4326).
    """
    path = Path(path)
    out = to_rfc7946(gdf)
    with atomic_path(path, overwrite=overwrite) as tmp:
        out.to_file(tmp, driver="GeoJSON", engine="pyogrio", layer=path.stem, layer_options=GEOJSON_PROFILE)
    return path


def _collection_parts(text: str) -> tuple[list[str], list[str], list[float] | None]:
    """A FeatureCollection written by GDAL → its header lines (up to ``"features": [``, without the bbox), its
    features (one JSON text each) and its bbox."""
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.startswith('"features": [')), None)
    end = max((i for i, ln in enumerate(lines) if ln == "]"), default=None)
    if start is None or end is None or end <= start:  # not GDAL's layout: parse it (slower, same features)
        doc = json.loads(text)
        header = ["{", '"type": "FeatureCollection",', f'"name": {json.dumps(doc.get("name", ""))},', '"features": [']
        features = [json.dumps(f, ensure_ascii=False) for f in doc.get("features", [])]
        return header, features, doc.get("bbox")
    bbox_lines = [ln for ln in lines[:start] if ln.startswith('"bbox":')]
    bbox = json.loads("{" + bbox_lines[0].rstrip().rstrip(",") + "}")["bbox"] if bbox_lines else None
    header = [ln for ln in lines[: start + 1] if not ln.startswith('"bbox":')]
    return header, [ln.rstrip(",") for ln in lines[start + 1 : end]], bbox


@contextlib.contextmanager
def geojson_writer(path: str | Path, *, overwrite: bool = False) -> Iterator[Callable[[gpd.GeoDataFrame], None]]:
    """Write an RFC 7946 FeatureCollection one frame at a time, atomically: memory is bounded by one frame.

    Yields ``add(frame)``; each frame goes through :func:`write_geojson` (the same GDAL writer and profile), and its
    features are appended as GDAL wrote them. The collection's ``bbox`` (the union of the frames') comes after the
    features (JSON members are unordered). Frames should share one CRS (as the parts of one frame would); read back,
    the file equals :func:`write_geojson` of the frames concatenated. Nothing is written if the block fails.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False (before anything is written).
    """
    path = Path(path)
    refuse_existing(path, overwrite=overwrite)
    state: dict = {"header": None, "n": 0, "bbox": None}
    with (
        atomic_path(path, overwrite=overwrite) as tmp,
        open(tmp, "w", encoding="utf-8") as out,
        tempfile.TemporaryDirectory(prefix="tlgeo-geojson-") as scratch,
    ):

        def add(frame: gpd.GeoDataFrame) -> None:
            if not len(frame):
                return
            chunk = write_geojson(frame, Path(scratch) / f"{path.stem}.geojson", overwrite=True)
            header, features, bbox = _collection_parts(chunk.read_text(encoding="utf-8"))
            if state["header"] is None:
                state["header"] = header
                out.write("\n".join(header))
            for feature in features:
                out.write(("," if state["n"] else "") + "\n" + feature)
                state["n"] += 1
            if bbox:
                old = state["bbox"] or bbox
                state["bbox"] = [*map(min, old[:2], bbox[:2]), *map(max, old[2:], bbox[2:])]

        yield add
        if state["header"] is None:
            out.write(f'{{\n"type": "FeatureCollection",\n"name": {json.dumps(path.stem)},\n"features": [')
        out.write("\n]")
        if state["bbox"]:
            out.write(f',\n"bbox": [ {", ".join(repr(float(v)) for v in state["bbox"])} ]')
        out.write("\n}\n")


def geojson_bytes(gdf: gpd.GeoDataFrame) -> bytes:
    """The RFC 7946 GeoJSON of ``gdf`` as bytes (for download buttons), written by the same writer as files."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write_geojson(gdf, Path(tmp) / "out.geojson")
        return path.read_bytes()


# --------------------------------------------------------------------------------------------- prediction rasters
#: GeoTIFF writer defaults for prediction rasters: one float32 file (GeoTIFF bands share one data type), tiled,
#: DEFLATE with the floating-point predictor, nodata −1 (never a class index nor a probability).
PREDICTION_GEOTIFF_PROFILE = {
    "driver": "GTiff",
    "dtype": "float32",
    "nodata": -1.0,
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "deflate",
    "predictor": 3,
    "interleave": "band",
    "BIGTIFF": "IF_SAFER",
}
PREDICTION_NODATA = -1.0


def _prediction_frame(result_or_predictions) -> tuple[gpd.GeoDataFrame, dict[str, list[str]] | None]:
    """The predictions GeoDataFrame and, when known, the run's targets."""
    predictions = getattr(result_or_predictions, "predictions", result_or_predictions)
    if not isinstance(predictions, gpd.GeoDataFrame):
        raise ConfigError(
            f"Expected a PredictionResult or a predictions GeoDataFrame, received {type(result_or_predictions).__name__}"
        )
    return predictions, getattr(result_or_predictions, "targets", None)


def prediction_columns(
    predictions: pd.DataFrame, targets: dict[str, list[str]] | None = None
) -> dict[str, tuple[str, list[str]]]:
    """Per target, the class-index column and the probability columns of a predictions frame.

    Single-target frames use ``class_index`` / ``prob_<class>``; multi-task frames ``<T>_class_index`` /
    ``<T>_prob_<class>``. A continuous target (regression; an empty class list) has one ``value`` (``<T>_value``)
    column instead, returned in place of the class index with no probability columns. Without ``targets`` the
    layout is read from the column names.

    Returns:
        ``{target: (class_index_or_value_column, [prob_column, …])}`` (target ``""`` when it cannot be named).
    """
    cols = list(predictions.columns)
    if not targets and "value" in cols and "class_index" not in cols:
        targets = {"": []}
    if targets:
        prefixes = {t: column_prefix(targets, t) for t in targets}
    elif "class_index" in cols:
        prefixes = {"": ""}
    else:
        prefixes = {
            c[: -len("class_index")].rstrip("_"): c[: -len("class_index")] for c in cols if c.endswith("_class_index")
        }
    out = {}
    for target, prefix in prefixes.items():
        if targets and not targets[target]:
            if f"{prefix}value" not in cols:
                raise ConfigError(
                    f"The predictions lack column {prefix}value",
                    hint="Pass the frame returned by tlgeo.predict (PredictionResult.predictions).",
                )
            out[target] = (f"{prefix}value", [])
            continue
        index_col = f"{prefix}class_index"
        probs = [c for c in cols if c.startswith(f"{prefix}{PROB}")]
        if targets:
            probs = prob_columns(targets, target)
        missing = [c for c in (index_col, *probs) if c not in cols]
        if missing or not probs:
            raise ConfigError(
                f"The predictions lack column(s) {', '.join(missing) or f'{prefix}{PROB}*'}",
                hint="Pass the frame returned by tlgeo.predict (PredictionResult.predictions).",
            )
        out[target] = (index_col, probs)
    if not out:
        raise ConfigError(
            "The predictions have no class_index column", hint="Pass the frame returned by tlgeo.predict."
        )
    return out


def _source_names(scene: Path) -> set[str]:
    """The ``source`` values a scene can have in predictions (its stem, or folder + stem where stems repeat)."""
    return {source_name(scene), source_name(scene, repeated=True)}


def _infer_cell(windows: np.ndarray) -> int:
    """The prediction stride: the most common step between neighbouring window offsets (else the window size)."""
    diffs = []
    for axis in (0, 1):
        offsets = np.unique(windows[:, axis])
        diffs.append(np.diff(offsets))
    steps = np.concatenate(diffs)
    steps = steps[steps > 0]
    if steps.size == 0:
        return int(max(1, windows[:, 2:].min()))
    values, counts = np.unique(steps, return_counts=True)
    return int(values[counts == counts.max()].max())


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """For each point, the index of the nearest of the sorted ``centres`` (a tie goes to the lower centre)."""
    return np.searchsorted((centres[:-1] + centres[1:]) / 2, points, side="left")


def window_owner(windows: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Which window each output pixel takes: the window whose centre is nearest the pixel centre, among the windows
    containing it (a tie goes to the upper-left window); −1 where no window contains the pixel.

    ``windows`` holds ``(col_off, row_off, width, height)`` rows in scene pixels; ``cx`` / ``cy`` are the increasing
    scene-pixel coordinates of the output pixel centres along columns and rows.

    The distance separates into a column part and a row part, so over the grid of window-centre columns × rows the
    nearest centre is the nearest centre column × the nearest centre row. Each window therefore owns a box — its
    **core**: the output pixels nearer its centre column and row than any other's, inside the window — and the cores
    are burnt with ``rasterio.features.rasterize`` (box edges on whole output pixels, so no pixel centre lies on an
    edge). Only where the grid has a hole (a window skipped as all-nodata, whose neighbours overlap it) do pixels lie in
    no core; those few take the nearest-centred window containing them, window by window, over the windows that
    contain such a pixel.
    """
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    nrows, ncols = len(cy), len(cx)
    owner = np.full((nrows, ncols), -1, dtype=np.int32)
    if not len(windows) or not nrows or not ncols:
        return owner
    co, ro, w, h = (windows[:, i] for i in range(4))
    mx, my = co + w / 2, ro + h / 2
    ux, uy = np.unique(mx), np.unique(my)
    near_x, near_y = _nearest(cx, ux), _nearest(cy, uy)
    kx, ky = np.searchsorted(ux, mx), np.searchsorted(uy, my)
    # the pixels each window contains: co <= centre < co + w
    in_j0, in_j1 = np.searchsorted(cx, co), np.searchsorted(cx, co + w)
    in_i0, in_i1 = np.searchsorted(cy, ro), np.searchsorted(cy, ro + h)
    j0 = np.maximum(in_j0, np.searchsorted(near_x, kx, side="left"))
    j1 = np.minimum(in_j1, np.searchsorted(near_x, kx, side="right"))
    i0 = np.maximum(in_i0, np.searchsorted(near_y, ky, side="left"))
    i1 = np.minimum(in_i1, np.searchsorted(near_y, ky, side="right"))
    keep = np.flatnonzero((j0 < j1) & (i0 < i1))[::-1]  # burnt last-wins: reversed, the first listed wins a duplicate
    if keep.size:
        # GeoJSON-like boxes: rasterize reads them ~9 × faster than shapely geometries (measured, 200k boxes)
        boxes = (
            {"type": "Polygon", "coordinates": [((a, b), (c, b), (c, d), (a, d), (a, b))]}
            for a, b, c, d in zip(*(v[keep].tolist() for v in (j0, i0, j1, i1)), strict=True)
        )
        owner = rasterize(
            zip(boxes, keep.tolist(), strict=True),
            out_shape=(nrows, ncols),
            transform=Affine.identity(),
            fill=-1,
            dtype="int32",
        )
    holes = owner < 0
    if not holes.any():
        return owner
    # windows containing a pixel in no core: count such pixels per window with a summed-area table
    sat = np.zeros((nrows + 1, ncols + 1), dtype=np.int64)
    sat[1:, 1:] = holes.cumsum(0).cumsum(1)
    n_holes = sat[in_i1, in_j1] - sat[in_i0, in_j1] - sat[in_i1, in_j0] + sat[in_i0, in_j0]
    best = np.full((nrows, ncols), np.inf)
    for k in np.flatnonzero(n_holes > 0):
        rows, cols = slice(in_i0[k], in_i1[k]), slice(in_j0[k], in_j1[k])
        dist = (cy[rows, None] - my[k]) ** 2 + (cx[None, cols] - mx[k]) ** 2
        better = holes[rows, cols] & (dist < best[rows, cols])
        best[rows, cols][better] = dist[better]
        owner[rows, cols][better] = k
    return owner


def write_prediction_geotiff(
    result_or_predictions,
    scene_path: str | Path,
    out_path: str | Path,
    *,
    overwrite: bool = False,
    cell: int | None = None,
) -> Path:
    """Write a scene's predictions as a GeoTIFF in the scene's CRS, atomically.

    **Layout.** One float32 file (every band of a GeoTIFF shares one data type): for each target (in run order) the
    class index (whole numbers 0…K−1; band description ``class_index`` or ``<T>_class_index``), then one band per
    class probability (``prob_<class>`` or ``<T>_prob_<class>``). Nodata is −1 on every band (cells no window
    covers, and windows skipped as all-nodata). Class names are stored as a band tag ``classes`` on each class-index
    band (``0=good,1=fair,2=poor``); the run id and backbone as dataset tags. Tiled 256 × 256, DEFLATE-compressed.

    **Pixel grid.** One output pixel per ``cell`` scene pixels (default: the prediction stride, inferred from the
    windows), anchored at the scene's top-left corner: the transform is ``scene.transform × scale(cell)`` and the
    raster has ``ceil(width / cell) × ceil(height / cell)`` pixels, so the last row and column may reach past the
    scene edge by less than one cell. Each output pixel takes the window whose centre is nearest to the pixel
    centre (clamped into the scene) among the windows containing it — with overlapping windows that is the most
    central prediction (a tie — a pixel on the border of two windows' halves — goes to the upper-left window);
    :func:`window_owner` burns each window's core with ``rasterio.features.rasterize``. ``cell=1`` gives one
    output pixel per scene pixel (memory grows with the scene).

    Args:
        result_or_predictions: A :class:`tlgeo.predict.PredictionResult` or its ``predictions`` frame (needs the
            ``source`` and ``window`` columns of scene predictions).
        scene_path: The scene the windows were read from.
        out_path: Output ``.tif`` path.
        overwrite: Replace an existing file (otherwise :class:`~tlgeo.errors.OutputExistsError`).
        cell: Output pixel size in scene pixels (default: the prediction stride).

    Returns:
        The path written.

    Raises:
        ConfigError: The predictions hold no windows of this scene, or ``cell`` is not positive.
        OutputExistsError: ``out_path`` exists and ``overwrite`` is False.
    """
    import rasterio
    from rasterio.transform import Affine

    from tlgeo.tiles import raster_info

    out_path = Path(out_path)
    refuse_existing(out_path, overwrite=overwrite)
    predictions, targets = _prediction_frame(result_or_predictions)
    scene = Path(scene_path)
    info = raster_info(scene)
    for col in ("source", "window"):
        if col not in predictions.columns:
            raise ConfigError(
                f"The predictions lack the {col!r} column needed to place windows in {scene}",
                hint="Pass the frame returned by tlgeo.predict.predict_scene or predict_inputs.",
            )
    rows = predictions[predictions["source"].isin(_source_names(scene))]
    if rows.empty:
        sources = sorted(map(str, predictions["source"].unique()))[:5]
        raise ConfigError(
            f"The predictions hold no windows of {scene} (sources: {', '.join(sources) or 'none'})",
            hint="Pass the scene the predictions were made on.",
            path=scene,
        )
    windows = np.array([tuple(int(v) for v in w) for w in rows["window"]], dtype=np.int64).reshape(-1, 4)
    outside = (windows[:, 0] < 0) | (windows[:, 1] < 0) | (windows[:, 0] + windows[:, 2] > info.width)
    outside |= windows[:, 1] + windows[:, 3] > info.height
    if outside.any():
        raise ConfigError(
            f"{int(outside.sum())} prediction window(s) lie outside {scene} ({info.width} × {info.height} px)",
            hint="Pass the scene the predictions were made on.",
            path=scene,
        )
    cell = _infer_cell(windows) if cell is None else int(cell)
    if cell < 1:
        raise ConfigError(f"cell must be a positive number of scene pixels, received cell={cell}")
    columns = prediction_columns(rows, targets)
    ncols, nrows = -(-info.width // cell), -(-info.height // cell)
    cx = np.minimum((np.arange(ncols) + 0.5) * cell, info.width - 0.5)
    cy = np.minimum((np.arange(nrows) + 0.5) * cell, info.height - 0.5)
    owner = window_owner(windows, cx, cy)
    covered = owner >= 0
    bands: list[tuple[str, np.ndarray]] = []
    for index_col, prob_cols in columns.values():
        for col in (index_col, *prob_cols):
            values = rows[col].to_numpy(dtype="float32")
            band = np.full((nrows, ncols), PREDICTION_NODATA, dtype="float32")
            band[covered] = values[owner[covered]]
            bands.append((col, band))
    profile = {
        **PREDICTION_GEOTIFF_PROFILE,
        "width": ncols,
        "height": nrows,
        "count": len(bands),
        "crs": info.crs,
        "transform": info.transform * Affine.scale(cell),
    }
    first = rows.iloc[0]
    with atomic_path(out_path, overwrite=overwrite) as tmp, rasterio.open(tmp, "w", **profile) as ds:
        for i, (name, band) in enumerate(bands, start=1):
            ds.write(band, i)
            ds.set_band_description(i, name)
        for target, (index_col, prob_cols) in columns.items():
            if not prob_cols:  # a value band (regression): no classes to name
                ds.update_tags([name for name, _ in bands].index(index_col) + 1, target=target)
                continue
            band_no = [name for name, _ in bands].index(index_col) + 1
            classes = [class_of_prob_column(c) for c in prob_cols]
            ds.update_tags(band_no, classes=",".join(f"{i}={c}" for i, c in enumerate(classes)), target=target)
        ds.update_tags(
            run_id=str(first.get("run_id", "")),
            backbone=str(first.get("backbone", "")),
            cell_px=str(cell),
            source=str(scene.name),
            software="tlgeo",
        )
    return out_path


@contextlib.contextmanager
def csv_writer(path: str | Path, *, overwrite: bool = False) -> Iterator[Callable[[gpd.GeoDataFrame], None]]:
    """Write the predictions CSV (:func:`predictions_csv_bytes`) one frame at a time, atomically; the header once.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False (before anything is written).
    """
    path = Path(path)
    refuse_existing(path, overwrite=overwrite)
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as out:
        header: list[bytes] = []

        def add(frame: gpd.GeoDataFrame) -> None:
            if not len(frame):
                return
            first, rest = predictions_csv_bytes(frame).split(b"\n", 1)
            if not header:
                header.append(first)
                out.write(first + b"\n")
            elif first != header[0]:
                raise ConfigError(f"The predictions written to {path} changed columns between parts")
            out.write(rest)

        yield add


def predictions_csv_bytes(predictions) -> bytes:
    """Predictions as a CSV table (UTF-8 bytes): no geometry, the footprint centroid as ``lon``/``lat`` (EPSG:4326).

    Args:
        predictions: A :class:`tlgeo.predict.PredictionResult` or its ``predictions`` frame (any CRS).

    Raises:
        GeoreferenceError: The frame has no CRS.
    """
    frame, _ = _prediction_frame(predictions)
    if frame.crs is None:
        raise GeoreferenceError(
            "Cannot compute lon/lat of predictions without a CRS", hint="Set the GeoDataFrame's CRS before exporting."
        )
    geom = frame.geometry
    if len(frame) and frame.crs.is_geographic:
        metric = frame.estimate_utm_crs()
        centroids = geom.to_crs(metric).centroid.to_crs(4326)
    else:
        centroids = geom.centroid.to_crs(4326)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    at = list(table.columns).index("source") + 1 if "source" in table.columns else min(1, len(table.columns))
    table.insert(at, "lon", centroids.x.round(7).to_numpy())
    table.insert(at + 1, "lat", centroids.y.round(7).to_numpy())
    for col in table.columns:
        if table[col].dtype == object and table[col].map(lambda v: isinstance(v, (tuple, list))).any():
            table[col] = table[col].map(lambda v: ",".join(str(x) for x in v) if isinstance(v, (tuple, list)) else v)
    return table.to_csv(index=False, lineterminator="\n").encode("utf-8")
