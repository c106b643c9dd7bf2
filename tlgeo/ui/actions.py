"""Long work with live feedback: training, comparing, predicting — each a library call wrapped in progress widgets.

Everything runs inside the script run, so the progress bar, the stage log and the curves reach the browser while the
page waits; the results are returned for the page to store and show.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from tlgeo.ui.progress import StreamlitTrainCallback, format_seconds

if TYPE_CHECKING:
    from tlgeo.config import TrainConfig
    from tlgeo.predict import PredictionResult, Predictor
    from tlgeo.runs import Run
    from tlgeo.taskdata import TaskData
    from tlgeo.train import TrainResult


def train_and_save(
    data: TaskData, config: TrainConfig, *, runs_dir: Path, data_dir: Path, device: str = "", container=None
) -> tuple[Run, TrainResult]:
    """Train one run with live feedback and save it (same steps as ``tlgeo train``).

    Returns:
        The saved run and the training result.
    """
    from tlgeo.runs import save_run
    from tlgeo.train import train

    cb = StreamlitTrainCallback(container, device=device, label=f"Training {config.strategy} on {config.backbone}")
    try:
        result = train(data, replace(config, refit=True), callback=cb)
        cb.on_stage("Saving the run folder")
        run = save_run(
            result, data.settings, runs_dir, extra={"data": str(Path(data_dir).resolve()), "bins": data.bins}
        )
    except Exception:
        cb.failed()
        raise
    cb.done(f"Saved run {run.run_id}")
    return run, result


def compare_live(
    data: TaskData, config: TrainConfig, strategies: list[str], *, device: str = "", container=None
) -> dict[str, TrainResult]:
    """``tlgeo.train.compare`` with live feedback (same tiles and folds for every strategy, no refit)."""
    from tlgeo.train import compare

    cb = StreamlitTrainCallback(container, device=device, label=f"Comparing {', '.join(strategies)}")
    try:
        results = compare(data, config, strategies, callback=cb)
    except Exception:
        cb.failed()
        raise
    cb.done("Comparison finished")
    return results


def predict_live(
    predictor: Predictor, inputs: list[Path], *, scene: Path | None = None, cluster: str | None = None
) -> PredictionResult:
    """Predict uploaded files (tiles or scenes, ``tlgeo.predict.predict_inputs``) or one scene of the data
    (``predict_scene``) with a progress bar showing tiles done, elapsed time and ETA; with ``cluster`` (``local:N``
    or a scheduler address) the job runs on that Dask cluster (:mod:`tlgeo.distributed.predict`), same results."""
    from tlgeo.predict import predict_inputs, predict_scene

    bar = st.progress(0.0, text="Reading tiles…")
    start = time.perf_counter()
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.2 and done < total:
            return
        last[0] = now
        elapsed = now - start
        eta = elapsed * (total - done) / done if done else float("nan")
        eta_txt = f", ETA {format_seconds(eta)}" if done else ""
        bar.progress(
            min(done / max(total, 1), 1.0),
            text=f"{done:,}/{total:,} tiles · {format_seconds(elapsed)} elapsed{eta_txt}",
        )

    if cluster:
        from tlgeo.distributed.cluster import open_cluster, worker_count
        from tlgeo.distributed.predict import predict_inputs_on_cluster

        bar.progress(0.0, text=f"Connecting to cluster {cluster}…")
        with open_cluster(cluster) as client:
            client.wait_for_workers(1, timeout=60)
            bar.progress(0.0, text=f"Cluster {cluster}: {worker_count(client)} worker(s)…")
            files = [scene] if scene is not None else inputs
            result = predict_inputs_on_cluster(predictor, files, client=client, progress=report)
    elif scene is not None:
        result = predict_scene(predictor, scene, progress=report)
    else:
        result = predict_inputs(predictor, inputs, progress=report)
    n = len(result.predictions)
    bar.progress(1.0, text=f"{n:,} tiles predicted in {format_seconds(time.perf_counter() - start)}")
    return result


def prediction_files(
    result: PredictionResult, *, inputs: list[Path], scene: Path | None, workdir: Path
) -> dict[str, tuple[str, bytes, str]]:
    """Download payloads made by the library's writers: ``{kind: (file name, bytes, mime)}``.

    GeoJSON (RFC 7946) and CSV always; a GeoTIFF of class and probabilities when exactly one scene was predicted
    (a scene of the data, or one uploaded file the library cut into windows: ``result.scenes``).
    """
    from tlgeo.export import geojson_bytes, predictions_csv_bytes, write_prediction_geotiff

    if scene is None and len(result.scenes) == 1:
        scene = result.scenes[0]
    stem = f"predictions_{result.run_id}"
    files = {
        "geojson": (f"{stem}.geojson", geojson_bytes(result.predictions), "application/geo+json"),
        "csv": (f"{stem}.csv", predictions_csv_bytes(result), "text/csv"),
    }
    if scene is not None:
        out = write_prediction_geotiff(result, scene, Path(workdir) / f"{stem}.tif", overwrite=True)
        files["geotiff"] = (f"{scene.stem}_{stem}.tif", out.read_bytes(), "image/tiff")
    return files


def roads_for(result: PredictionResult, data: TaskData):
    """Road lines of the task cut by the predicted tiles (``tlgeo.predict.predictions_along_roads``): its road
    network (``roads.geojson``: roads nobody drove too) if it has one, else its labelled drive segments."""
    from tlgeo.errors import ConfigError
    from tlgeo.predict import predictions_along_roads

    lines = data.network if data.network is not None and not data.network.empty else data.vectors
    if lines is None or lines.empty:
        raise ConfigError("The current data has no road lines to draw along", hint="Show the predictions as tiles.")
    return predictions_along_roads(result, lines)
