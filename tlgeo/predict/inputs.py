"""What to predict: single tiles, whole scenes (sliding windows) and mixed inputs (files and folders)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.crs import CRS

from tlgeo.errors import (
    ConfigError,
    DataFileError,
    RasterError,
    TlgeoError,
)
from tlgeo.runs import Run
from tlgeo.schema import source_names, window_footprints
from tlgeo.tiles import RasterInfo, find_rasters, raster_info, read_tile, scene_windows, window_offsets

if TYPE_CHECKING:
    pass
from tlgeo.predict.predictor import SCENE_FACTOR, PredictionResult, Predictor, ProgressFn, load_predictor
from tlgeo.predict.results import _concat, _frame, _nothing_predicted, _skip, check_batch, scene_frame
from tlgeo.predict.streaming import (
    READ_CACHE_BYTES,
    _as_stored,
    _ordered,
    _predict_stream,
    _Read,
    _read_windows,
    _Readers,
    _Source,
    _stack,
)


def _bounds_for(bounds, paths: Sequence[Path]) -> list[Sequence[float] | None]:
    if bounds is None:
        return [None] * len(paths)
    if isinstance(bounds, Mapping):
        lookup = {str(Path(k)): v for k, v in bounds.items()}
        return [lookup.get(str(p), lookup.get(p.name)) for p in paths]
    if len(paths) != 1:
        raise ConfigError(
            f"bounds=(left, bottom, right, top) applies to one file, received {len(paths)} files",
            hint="Pass a mapping {path: bounds} for several images without world files.",
        )
    return [bounds]


def _tile_info(path: Path, bounds: Sequence[float] | None, crs) -> RasterInfo:
    from tlgeo.errors import GeoreferenceError

    try:
        return raster_info(path, bounds=bounds, crs=crs if bounds is not None else None)
    except GeoreferenceError:
        if crs is None or bounds is not None:
            raise
        return raster_info(path, crs=crs)  # a world file without .prj: the CRS given applies


def predict_tiles(
    run: Run | Predictor | str | Path,
    paths: Sequence[str | Path],
    *,
    bounds: Sequence[float] | Mapping[str | Path, Sequence[float]] | None = None,
    crs: CRS | str | int | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> PredictionResult:
    """Predict files that are one tile each (GeoTIFF in any CRS, or PNG/JPEG with a world file or bounds).

    Each file is read whole, with the run's bands and scaling, resampled to the run's input size. ``tile_id`` and
    ``source`` are the file's stem (``<folder>_<stem>`` where stems repeat).

    Args:
        run: Run folder, :class:`~tlgeo.runs.Run` or :class:`Predictor`.
        paths: Tile files.
        bounds: ``(left, bottom, right, top)`` of an image without a world file (one file), or ``{path: bounds}``.
        crs: CRS of ``bounds``, or of world files without a ``.prj``.
        batch_size: Tiles per model call.
        progress: Called as ``progress(done, total)`` after each batch.

    Returns:
        Predictions in the CRS of the first tile predicted; files that could not be used are listed in ``warnings``.

    Raises:
        RunError: The run cannot be used.
        CompatibilityError / RasterError / DataFileError: No file at all could be predicted (the reasons are named).
    """
    check_batch(batch_size)
    predictor = load_predictor(run)
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataFileError("No tile files given", hint="Pass at least one GeoTIFF, PNG or JPEG.")
    frame, warnings, errors = _predict_tile_files(
        predictor, paths, source_names(paths), _bounds_for(bounds, paths), crs, batch_size, progress
    )
    if frame is None:
        raise _nothing_predicted(predictor, errors, f"none of {len(paths)} tile file(s) could be used")
    return PredictionResult(frame, warnings, predictor.run_id, predictor.targets)


def _read_one_tile(
    predictor: Predictor, path: Path, bounds: Sequence[float] | None, crs: CRS | str | int | None
) -> tuple[RasterInfo, np.ndarray]:
    """Reader job part: one file read whole as one tile (stored as in training, the run's input size)."""
    from rasterio.errors import RasterioError

    try:
        info = _tile_info(path, bounds, crs)
        predictor.check_raster(info)
        tile = read_tile(path, bands=predictor.bands, out_size=predictor.img_size, info=info)
    except TlgeoError:
        raise
    except (RasterioError, OSError) as exc:
        raise RasterError(f"{path} cannot be read ({exc})", path=path) from exc
    if not tile.valid.any():
        raise RasterError(f"{path} has no valid pixel (all nodata)", path=path)
    return info, _as_stored(tile.image, predictor.bands)


def _predict_tile_files(
    predictor: Predictor,
    paths: list[Path],
    sources: list[str],
    bounds: list[Sequence[float] | None],
    crs: CRS | str | int | None,
    batch_size: int,
    progress: ProgressFn | None,
) -> tuple[gpd.GeoDataFrame | None, list[str], list[TlgeoError]]:
    """Predict one tile per file; returns the frame (``None`` if nothing was predicted), warnings and errors."""
    warnings: list[str] = []
    errors: list[TlgeoError] = []
    infos: dict[int, RasterInfo] = {}
    total, size = len(paths), predictor.img_size

    def job(start: int, stop: int) -> _Read:
        index, images, kept, skipped = [], [], [], []
        for i in range(start, stop):
            try:
                info, image = _read_one_tile(predictor, paths[i], bounds[i], crs)
            except TlgeoError as exc:
                skipped.append((_skip(paths[i], exc), exc))
                continue
            index.append(i)
            images.append(image)
            kept.append(info)
        stacked = _stack(images, size, predictor.channels, predictor.bands)
        return _Read(np.asarray(index, dtype="int64"), stacked, stop, kept, skipped)

    def on_read(read: _Read) -> None:
        for warning, error in read.skipped:
            warnings.append(warning)
            errors.append(error)
        infos.update(zip(read.index.tolist(), read.infos, strict=True))

    jobs = (functools.partial(job, a, min(a + batch_size, total)) for a in range(0, total, batch_size))
    reads = _ordered(jobs)
    try:
        index, probs = _predict_stream(predictor, reads, batch_size, total, progress, on_read)
    finally:
        reads.close()
    if not len(index):
        return None, warnings, errors
    meta = [(int(i), infos[int(i)]) for i in index]
    groups: dict[str, list[int]] = {}
    for k, (_, info) in enumerate(meta):
        groups.setdefault(info.crs.to_wkt(), []).append(k)
    frames = []
    for keys in groups.values():
        group = [meta[k][1] for k in keys]
        windows = np.array([[0, 0, info.width, info.height] for info in group], dtype="int64")
        geoms = np.concatenate([window_footprints(info.transform, windows[j : j + 1]) for j, info in enumerate(group)])
        names = [sources[meta[k][0]] for k in keys]
        frame = _frame(
            predictor,
            tile_ids=names,
            sources=names,
            rows=[0] * len(keys),
            cols=[0] * len(keys),
            windows=windows,
            geometry=geoms,
            probs={t: p[keys] for t, p in probs.items()},
            crs=group[0].crs,
        )
        frames.append(frame.assign(_order=keys))
    frame = _concat(frames, predictor).sort_values("_order").drop(columns="_order").reset_index(drop=True)
    return frame, warnings, errors


def scene_grid(
    info: RasterInfo, tile_size: int, stride: int | None = None
) -> list[tuple[int, int, int, int, int, int]]:
    """The sliding windows of a scene, ``(row, col, col_off, row_off, width, height)``, reaching its edges.

    A scene smaller than one tile (in width or height) is one window: the whole file.
    """
    if info.width < tile_size or info.height < tile_size:
        return [(0, 0, 0, 0, info.width, info.height)]
    return scene_windows(info, tile_size, stride)


def scene_grid_array(info: RasterInfo, tile_size: int, stride: int | None = None) -> np.ndarray:
    """:func:`scene_grid` as an ``(n, 6)`` int64 array, same rows in the same order: 48 bytes a window and no
    Python tuple per window (a country-sized plan on a cluster driver)."""
    if info.width < tile_size or info.height < tile_size:
        return np.array([[0, 0, 0, 0, info.width, info.height]], dtype="int64")
    step = stride or tile_size
    rows = np.asarray(window_offsets(info.height, tile_size, step), dtype="int64")
    cols = np.asarray(window_offsets(info.width, tile_size, step), dtype="int64")
    r, c = (a.ravel() for a in np.meshgrid(np.arange(len(rows)), np.arange(len(cols)), indexing="ij"))
    size = np.full(r.size, tile_size, dtype="int64")
    return np.stack([r, c, cols[c], rows[r], size, size], axis=1)


def predict_scene(
    run: Run | Predictor | str | Path,
    path: str | Path,
    *,
    stride: int | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
    skip_empty: bool = True,
    source: str | None = None,
) -> PredictionResult:
    """Predict a whole scene with sliding windows, streamed from disk in batches.

    Args:
        run: Run folder, :class:`~tlgeo.runs.Run` or :class:`Predictor`.
        path: The scene (GeoTIFF, or PNG/JPEG with a world file).
        stride: Window step in pixels (default: the run's; smaller than the tile size overlaps windows).
        batch_size: Windows per model call.
        progress: Called as ``progress(done, total)`` with windows read so far (skipped ones included).
        skip_empty: Leave out windows with no valid pixel (all nodata).
        source: Name for ``source``/``tile_id`` (default: the file's stem).

    Returns:
        One row per window predicted, in the scene's CRS. A scene smaller than one tile gives one row and a warning.

    Raises:
        RunError: The run cannot be used.
        CompatibilityError: The scene's bands or data type do not fit the run.
        RasterError / GeoreferenceError / DataFileError: The file cannot be read or has no georeference.
    """
    check_batch(batch_size, stride)
    predictor = load_predictor(run)
    path = Path(path)
    info = raster_info(path)
    predictor.check_raster(info)
    source = source or path.stem
    warnings: list[str] = []
    size, step = predictor.tile_size, stride or predictor.stride
    grid = scene_grid(info, size, step)
    if len(grid) == 1 and (info.width < size or info.height < size):
        warnings.append(
            f"{path}: {info.width} × {info.height} px is smaller than the run's tile size ({size} px); predicted as "
            f"one tile resampled to {predictor.img_size} px"
        )
    windows = np.array([g[2:] for g in grid], dtype="int64").reshape(-1, 4)
    total = len(grid)
    wins = [tuple(w) for w in windows.tolist()]
    src = _Source.prepare(path, predictor.bands)
    readers = _Readers()
    jobs = (
        functools.partial(_read_windows, readers, src, wins[a : a + batch_size], a, predictor.img_size, skip_empty)
        for a in range(0, total, batch_size)
    )
    reads = _ordered(jobs)
    try:
        with rasterio.Env(GDAL_CACHEMAX=READ_CACHE_BYTES):
            idx, probs = _predict_stream(predictor, reads, batch_size, total, progress)
    finally:
        reads.close()  # stops the reader threads before their datasets close
        readers.close()
    skipped = total - len(idx)
    if not len(idx):
        raise RasterError(
            f"{path} has no valid pixel in any of its {total} window(s) (all nodata)",
            hint="Check the file's nodata value and mask.",
            path=path,
        )
    if skipped:
        warnings.append(f"{path}: {skipped} of {total} window(s) skipped: all nodata")
    predictions = scene_frame(predictor, source, info, grid, windows, idx, probs)
    return PredictionResult(predictions, warnings, predictor.run_id, predictor.targets, [Path(path)])


@dataclass
class InputPlan:
    """What :func:`predict_inputs` will do with each file.

    Attributes:
        tiles: Files predicted as one tile each.
        scenes: Files cut into sliding windows.
        windows: Window count per scene.
        warnings: Files that cannot be used, with the reason.
        errors: The errors behind ``warnings``.
    """

    tiles: list[Path]
    scenes: list[Path]
    windows: dict[Path, int]
    warnings: list[str]
    errors: list[TlgeoError] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Tiles plus windows."""
        return len(self.tiles) + sum(self.windows.values())


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[str], list[TlgeoError]]:
    """Files and folders → raster files (folders searched recursively for GeoTIFF/PNG/JPEG), duplicates removed.

    Returns:
        The files, and a warning (with its error) for each folder holding no raster.
    """
    files: list[Path] = []
    warnings: list[str] = []
    errors: list[TlgeoError] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            try:
                files.extend(find_rasters(p))
            except TlgeoError as exc:
                warnings.append(_skip(p, exc))
                errors.append(exc)
        else:
            files.append(p)  # missing files and unknown suffixes too: raster_info names the problem
    seen: set[Path] = set()
    out = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out, warnings, errors


def plan_inputs(predictor: Predictor, inputs: Iterable[str | Path], stride: int | None = None) -> InputPlan:
    """Sort inputs into tiles and scenes: a raster wider or taller than 1.5 × the run's tile size is a scene.

    Files that cannot be opened (missing, not a raster, no georeference) are listed in the plan's warnings.
    """
    files, warnings, errors = expand_inputs(inputs)
    plan = InputPlan(tiles=[], scenes=[], windows={}, warnings=warnings, errors=errors)
    size = predictor.tile_size
    for path in files:
        try:
            info = raster_info(path)
        except TlgeoError as exc:
            plan.warnings.append(_skip(path, exc))
            plan.errors.append(exc)
            continue
        if max(info.width, info.height) > SCENE_FACTOR * size:
            plan.scenes.append(path)
            plan.windows[path] = len(scene_grid_array(info, size, stride or predictor.stride))
        else:
            plan.tiles.append(path)
            if min(info.width, info.height) < size:
                plan.warnings.append(
                    f"{path}: {info.width} × {info.height} px is smaller than the run's tile ({size} px); it is "
                    "stretched to fit, so its prediction is unreliable"
                )
    return plan


def predict_inputs(
    run: Run | Predictor | str | Path,
    inputs: Iterable[str | Path],
    *,
    stride: int | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> PredictionResult:
    """Predict files and folders: small rasters as tiles, larger ones (> 1.5 × tile size) as scenes.

    Args:
        run: Run folder, :class:`~tlgeo.runs.Run` or :class:`Predictor`.
        inputs: Files and folders (searched recursively).
        stride: Window step for scenes (default: the run's).
        batch_size: Images per model call.
        progress: Called as ``progress(done, total)`` over all tiles and windows.

    Returns:
        All predictions in the CRS of the first file predicted; unusable files are listed in ``warnings``.

    Raises:
        RunError: The run cannot be used.
        CompatibilityError / RasterError / DataFileError: Nothing at all could be predicted (reasons named).
    """
    check_batch(batch_size, stride)
    predictor = load_predictor(run)
    plan = plan_inputs(predictor, inputs, stride)
    from tlgeo.limits import check_windows

    check_windows(plan.total, "the inputs")  # bounded work whoever calls (CLI, dashboard)
    warnings, errors = list(plan.warnings), list(plan.errors)
    total, offset = plan.total, 0
    frames: list[gpd.GeoDataFrame] = []
    names = dict(zip(plan.tiles + plan.scenes, source_names(plan.tiles + plan.scenes), strict=True))

    def shifted(base: int) -> ProgressFn | None:
        if progress is None:
            return None
        return lambda done, _total: progress(base + done, total)

    if plan.tiles:
        frame, tile_warnings, tile_errors = _predict_tile_files(
            predictor,
            plan.tiles,
            [names[p] for p in plan.tiles],
            [None] * len(plan.tiles),
            None,
            batch_size,
            shifted(offset),
        )
        warnings.extend(tile_warnings)
        errors.extend(tile_errors)
        if frame is not None:
            frames.append(frame)
        offset += len(plan.tiles)
    for scene in plan.scenes:
        try:
            res = predict_scene(
                predictor, scene, stride=stride, batch_size=batch_size, progress=shifted(offset), source=names[scene]
            )
            frames.append(res.predictions)
            warnings.extend(res.warnings)
        except TlgeoError as exc:
            warnings.append(_skip(scene, exc))
            errors.append(exc)
        offset += plan.windows[scene]
        if progress:
            progress(offset, total)
    if not frames:
        if not errors:
            raise DataFileError("No raster files given", hint="Pass tiles, folders of tiles or scenes.")
        raise _nothing_predicted(predictor, errors, "no input could be used")
    merged = _concat(frames, predictor)
    done = set(merged["source"])
    scenes = [Path(s) for s in plan.scenes if names[s] in done]
    return PredictionResult(merged, warnings, predictor.run_id, predictor.targets, scenes)
