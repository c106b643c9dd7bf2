"""Prediction on a Dask cluster: the single-process prediction code, run on window batches by the workers.

The driver plans the inputs exactly as :func:`tlgeo.predict.predict_inputs` does (same checks, same warnings), then
cuts every scene into batches of :data:`WINDOWS_PER_TASK` windows (a multiple of ``batch_size``, so the model sees the
same batches as in one process) and tiles into batches of files. A worker task reads its windows straight from the
raster (the path must be the same on every worker: a shared file system; GDAL ``/vsi…`` paths are untested) with the same
reader and model code (:func:`tlgeo.predict.streaming._read_windows`, :func:`tlgeo.predict.streaming._predict_stream`); the run's model
is loaded once per worker process (:func:`_worker_predictor`). Each finished batch is written to a spool folder and
dropped from memory; at most :data:`IN_FLIGHT_PER_WORKER` batches per worker are submitted at once. At the end the
spooled batches are merged in order one at a time: into the same frame as one process, or — with a ``sink``, as
``tlgeo predict --cluster`` does — straight into the output files, so the driver never holds the whole job.

A batch whose task fails is retried (:data:`RETRIES`; a worker that dies is replaced by its nanny and the scheduler
reschedules its batches); batches that still fail are reported as warnings naming the scene and windows, and the
rest is written.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tlgeo.errors import DataFileError, RasterError, TlgeoError
from tlgeo.predict.inputs import _predict_tile_files, plan_inputs, scene_grid_array
from tlgeo.predict.predictor import PredictionResult, Predictor, ProgressFn, load_predictor
from tlgeo.predict.results import _concat, _nothing_predicted, _skip, check_batch, scene_frame
from tlgeo.predict.streaming import _ordered, _predict_stream, _read_windows, _Readers, _Source
from tlgeo.runs import Run
from tlgeo.schema import source_names
from tlgeo.tiles import raster_info

if TYPE_CHECKING:
    import geopandas as gpd

#: Windows per worker task (rounded up to a multiple of ``batch_size``).
WINDOWS_PER_TASK = 256
#: Tile files per worker task.
TILES_PER_TASK = 64
#: Times a failed batch is retried (besides the scheduler's own rescheduling when a worker dies).
RETRIES = 2
#: Batches submitted ahead per worker: bounds what the driver holds.
IN_FLIGHT_PER_WORKER = 4

_PREDICTORS: dict[tuple[str, float], Predictor] = {}


def _worker_predictor(run_path: str) -> Predictor:
    """The run's predictor in this worker process, loaded on first use and kept (one model per process)."""
    key = (run_path, os.path.getmtime(Path(run_path) / "config.json"))
    if key not in _PREDICTORS:
        _PREDICTORS.clear()
        _PREDICTORS[key] = load_predictor(run_path)
    return _PREDICTORS[key]


def _window_task(
    run_path: str, scene: str, stride: int, start: int, count: int, batch_size: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Worker: windows ``start … start + count − 1`` of a scene's grid (the run's tile size, ``stride``) → positions
    kept (non-empty windows) and probabilities per target. The worker rebuilds the grid itself, so a task carries
    a few numbers, not its window list (the scheduler holds every pending task's arguments)."""
    import rasterio

    from tlgeo.predict import READ_CACHE_BYTES

    predictor = _worker_predictor(run_path)
    grid = scene_grid_array(raster_info(scene), predictor.tile_size, stride)
    windows = [tuple(w) for w in grid[start : start + count, 2:].tolist()]
    src = _Source.prepare(scene, predictor.bands)
    readers = _Readers()
    jobs = (
        functools.partial(_read_windows, readers, src, windows[a : a + batch_size], start + a, predictor.img_size, True)
        for a in range(0, len(windows), batch_size)
    )
    reads = _ordered(jobs)
    try:
        with rasterio.Env(GDAL_CACHEMAX=READ_CACHE_BYTES):
            return _predict_stream(predictor, reads, batch_size, len(windows), None)
    finally:
        reads.close()
        readers.close()


def _tile_task(run_path: str, paths: list[str], sources: list[str], batch_size: int):
    """Worker: tile files → (frame or ``None``, warnings); errors travel as text (exception classes may not pickle)."""
    predictor = _worker_predictor(run_path)
    frame, warnings, errors = _predict_tile_files(
        predictor, [Path(p) for p in paths], sources, [None] * len(paths), None, batch_size, None
    )
    return frame, warnings, [f"{type(e).__name__}: {e}" for e in errors]


@dataclass
class _Job:
    kind: str  # "tiles" | "scene"
    key: int  # scene number, or tile batch number
    start: int
    count: int
    args: tuple


def predict_inputs_on_cluster(
    run: Run | Predictor | str | Path,
    inputs: Iterable[str | Path],
    *,
    client,
    stride: int | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
    windows_per_task: int = WINDOWS_PER_TASK,
    sink: Callable[[gpd.GeoDataFrame], None] | None = None,
) -> PredictionResult:
    """:func:`tlgeo.predict.predict_inputs` with the reading and the model on the workers of ``client``.

    The result is the one :func:`~tlgeo.predict.predict_inputs` returns (same rows, same order, same values);
    batches that could not be predicted after retries are named in ``warnings``.

    With ``sink``, the driver never holds the whole job: each batch's rows go to ``sink`` as a frame, in the order
    of the rows of :func:`~tlgeo.predict.predict_inputs` and in the CRS of the first (the frames concatenated are
    that function's frame), and are dropped; the result then has no rows (its warnings, targets and scenes are
    set). ``tlgeo predict --cluster`` writes its GeoJSON and CSV this way
    (:func:`tlgeo.export.geojson_writer`, :func:`tlgeo.export.csv_writer`).

    Args:
        run: Run folder, :class:`~tlgeo.runs.Run` or :class:`~tlgeo.predict.Predictor` (its folder must be readable
            by the workers at the same path).
        inputs: Files and folders (searched recursively).
        client: A :class:`distributed.Client` (:func:`tlgeo.distributed.cluster.open_cluster`).
        stride: Window step for scenes (default: the run's).
        batch_size: Images per model call.
        progress: Called as ``progress(done, total)`` over all tiles and windows, as batches finish.
        windows_per_task: Windows per worker task (rounded up to a multiple of ``batch_size``).
        sink: Called with each batch's frame instead of collecting them (see above).

    Raises:
        RunError: The run cannot be used.
        CompatibilityError / RasterError / DataFileError: Nothing at all could be predicted (reasons named).
    """
    from distributed import as_completed

    from tlgeo.limits import check_windows

    check_batch(batch_size, stride)
    # The driver plans and merges with the run's settings; a run folder's model is loaded once per process and
    # kept (as on the workers), so a long-lived driver (the dashboard, a bench) does not reload it for every call.
    predictor = _worker_predictor(str(Path(run).resolve())) if isinstance(run, (str, Path)) else load_predictor(run)
    run_path = str(Path(predictor.run.path).resolve())
    plan = plan_inputs(predictor, inputs, stride)
    check_windows(plan.total, "the inputs")
    warnings, errors = list(plan.warnings), list(plan.errors)
    names = dict(zip(plan.tiles + plan.scenes, source_names(plan.tiles + plan.scenes), strict=True))
    per_task = max(1, -(-windows_per_task // batch_size)) * batch_size
    jobs: list[_Job] = []
    for n, a in enumerate(range(0, len(plan.tiles), TILES_PER_TASK)):
        paths = plan.tiles[a : a + TILES_PER_TASK]
        args = ([str(p.resolve()) for p in paths], [names[p] for p in paths], batch_size)
        jobs.append(_Job("tiles", n, a, len(paths), args))
    scenes = []  # (path, info, grid, windows) of each scene that passes the driver's checks
    for scene in plan.scenes:
        try:
            info = raster_info(scene)
            predictor.check_raster(info)
        except TlgeoError as exc:
            warnings.append(_skip(scene, exc))
            errors.append(exc)
            continue
        # one int64 row per window (48 bytes): a job holds a slice of it and gets its window list when submitted
        grid = scene_grid_array(info, predictor.tile_size, stride or predictor.stride)
        windows = grid[:, 2:]
        k = len(scenes)
        scenes.append((scene, info, grid, windows))
        for a in range(0, len(windows), per_task):
            n = min(per_task, len(windows) - a)
            args = (str(Path(scene).resolve()), stride or predictor.stride, a, n, batch_size)
            jobs.append(_Job("scene", k, a, n, args))
    total = plan.total
    spool = Path(tempfile.mkdtemp(prefix="tlgeo-spool-"))
    try:
        failed = _run_jobs(client, jobs, run_path, spool, total, progress, as_completed)
        for job, reason in failed:
            if job.kind == "tiles":
                what = f"tile files {job.start + 1}–{job.start + job.count}"
                files = plan.tiles[job.start : job.start + job.count]
                what += f" ({files[0].name} … {files[-1].name})"
            else:
                what = f"{scenes[job.key][0]}: windows {job.start}–{job.start + job.count - 1}"
            warnings.append(f"{what}: could not be predicted ({reason})")
        frames, done, crs = [], set(), None
        for frame in _merged(predictor, spool, scenes, names, warnings, errors):
            done.update(frame["source"])
            if sink is None:
                frames.append(frame)
                continue
            crs = crs or frame.crs
            sink(frame if frame.crs == crs else frame.to_crs(crs))  # as _concat reprojects onto the first
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    if progress:
        progress(total, total)
    if not frames and not done:
        if not errors and not failed:
            raise DataFileError("No raster files given", hint="Pass tiles, folders of tiles or scenes.")
        if not errors:
            raise RasterError(
                f"Nothing could be predicted with run {predictor.run_id}: every batch failed on the cluster "
                f"({failed[0][1]})",
                hint="Check that every worker sees the run folder and the rasters at the same paths.",
            )
        raise _nothing_predicted(predictor, errors, "no input could be used")
    merged = _concat(frames, predictor)  # no rows with a sink
    predicted = [Path(s[0]) for s in scenes if names[s[0]] in done]
    return PredictionResult(merged, warnings, predictor.run_id, predictor.targets, predicted)


def _spool_name(job: _Job) -> str:
    return f"{job.kind}_{job.key:06d}_{job.start:012d}_{job.count}.pkl"


def _run_jobs(client, jobs: list[_Job], run_path: str, spool: Path, total: int, progress, as_completed):
    """Submit the jobs a few per worker at a time; spool each result to disk as it arrives. Returns failed jobs."""
    import pickle

    from tlgeo.distributed.cluster import worker_count

    limit = max(1, worker_count(client)) * IN_FLIGHT_PER_WORKER
    todo: Iterator[_Job] = iter(jobs)
    failed: list[tuple[_Job, str]] = []
    done = 0
    by_key: dict[str, _Job] = {}

    def submit(job: _Job):
        fn = _tile_task if job.kind == "tiles" else _window_task
        future = client.submit(fn, run_path, *job.args, retries=RETRIES, pure=False)
        by_key[future.key] = job
        return future

    pool = as_completed([submit(j) for j in _take(todo, limit)])
    if progress:
        progress(0, total)
    for future in pool:
        job = by_key.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:  # any task failure is reported per batch; the rest is kept
            failed.append((job, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")))
        else:
            with open(spool / _spool_name(job), "wb") as fh:
                pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        future.release()
        done += job.count
        if progress:
            progress(min(done, total), total)
        for nxt in _take(todo, 1):
            pool.add(submit(nxt))
    return failed


def _take(it: Iterator[_Job], n: int) -> list[_Job]:
    out = []
    for job in it:
        out.append(job)
        if len(out) >= n:
            break
    return out


def _merged(
    predictor: Predictor, spool: Path, scenes, names, warnings: list[str], errors: list[TlgeoError]
) -> Iterator:
    """Frames in :func:`tlgeo.predict.predict_inputs` order (tiles first, then scenes), one per spooled batch:
    concatenated they are that function's frame. Reading one batch at a time, a caller that writes each frame and
    drops it holds one batch, not the job. Warnings and errors are appended as they are found."""
    import pickle

    for path in sorted(spool.glob("tiles_*.pkl")):
        with open(path, "rb") as fh:
            frame, tile_warnings, tile_errors = pickle.load(fh)
        warnings.extend(tile_warnings)
        errors.extend(RasterError(text) for text in tile_errors)
        if frame is not None and len(frame):
            yield frame
    size = predictor.tile_size
    for k, (scene, info, grid, windows) in enumerate(scenes):
        parts = sorted(spool.glob(f"scene_{k:06d}_*.pkl"))  # by start window (zero-padded)
        if len(grid) == 1 and (info.width < size or info.height < size):
            warnings.append(
                f"{scene}: {info.width} × {info.height} px is smaller than the run's tile size ({size} px); "
                f"predicted as one tile resampled to {predictor.img_size} px"
            )
        kept = 0
        for path in parts:
            with open(path, "rb") as fh:
                idx, probs = pickle.load(fh)
            if len(idx):
                kept += len(idx)
                yield scene_frame(predictor, names[scene], info, grid, windows, idx, probs)
        if not kept:
            if parts:
                exc = RasterError(
                    f"{scene} has no valid pixel in any of its {len(grid)} window(s) (all nodata)",
                    hint="Check the file's nodata value and mask.",
                    path=scene,
                )
                warnings.append(_skip(scene, exc))
                errors.append(exc)
            continue
        read = sum(int(p.stem.rsplit("_", 1)[1]) for p in parts)  # windows read, empty ones included
        if read - kept:
            warnings.append(f"{scene}: {read - kept} of {len(grid)} window(s) skipped: all nodata")


def cluster_predictor(cluster: str, *, stream=None):
    """A drop-in for :func:`tlgeo.predict.predict_inputs` that opens the cluster ``cluster`` names for the call.

    ``tlgeo predict --cluster …`` passes it to :func:`tlgeo.cli.predict.run_predict`, so the cluster starts only
    after every input and output has been checked.
    """
    import sys

    from tlgeo.distributed.cluster import open_cluster, parse_cluster, worker_count

    spec = parse_cluster(cluster)  # a bad value fails before any work

    def predict(run, inputs, **kwargs) -> PredictionResult:
        with open_cluster(spec) as client:
            if not spec.local:
                client.wait_for_workers(1, timeout=60)
            print(f"cluster {spec}: {worker_count(client)} worker(s)", file=stream or sys.stderr, flush=True)
            return predict_inputs_on_cluster(run, inputs, client=client, **kwargs)

    predict.takes_sink = True  # run_predict streams the output files through ``sink=`` (bounded driver memory)
    return predict
