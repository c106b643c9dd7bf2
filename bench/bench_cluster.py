"""Scene prediction on a local Dask cluster vs in-process, ratios measured in the same run.

1. ``tlgeo.predict.predict_inputs`` in this process (model loaded and warmed first) vs
   ``tlgeo.distributed.predict.predict_inputs_on_cluster`` on a local cluster of **1 worker** (cluster started and
   the worker's model loaded by a warm-up job first: the steady state of a long job). Target: ≤ 1.2 × wall time.
2. The same on **2 workers** vs 1 — on a 2-core machine two TensorFlow processes share the same two cores, so
   expect little or no gain; reported as measured.
3. For information: the one-off cost of starting a local cluster (workers import TensorFlow and load the model).
4. The driver's peak memory (``tracemalloc``) predicting the scene and writing its GeoJSON from the whole frame vs
   batch by batch through ``tlgeo.export.geojson_writer`` (as ``predict --cluster`` writes its files).

Usage::

    python bench/bench_cluster.py [--backbone efficientnet_lite0] [--img-size 128] [--tile 128] [--scene 4096]
    python bench/bench_cluster.py --smoke     # tiny_cnn, a 512 px scene: checks the script runs (CI)

Data and runs go to a temporary folder, deleted at the end. Timings on a shared 2-core machine swing ±40 %:
compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def driver_memory(predictor, scene: Path, client, batch_size: int, tmp: Path) -> dict:
    """Peak memory the driver allocates (``tracemalloc``: Python and NumPy; GEOS geometries are not counted, so the
    whole-frame figure is an underestimate) to predict ``scene`` and write its GeoJSON: the whole frame, then
    :func:`tlgeo.export.write_geojson` vs each batch through :func:`tlgeo.export.geojson_writer` as it arrives
    (what ``tlgeo predict --cluster`` does)."""
    import tracemalloc

    from tlgeo.distributed.predict import predict_inputs_on_cluster
    from tlgeo.export import geojson_writer, write_geojson

    peaks = {}
    for mode in ("whole", "streamed"):
        tracemalloc.start()
        if mode == "whole":
            res = predict_inputs_on_cluster(predictor, [scene], client=client, batch_size=batch_size)
            write_geojson(res.predictions, tmp / "whole.geojson")
            del res
        else:
            with geojson_writer(tmp / "streamed.geojson") as add:
                predict_inputs_on_cluster(predictor, [scene], client=client, batch_size=batch_size, sink=add)
        peaks[mode] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {
        "driver_peak_mib_whole": round(peaks["whole"], 1),
        "driver_peak_mib_streamed": round(peaks["streamed"], 1),
        "ratio_driver_memory_streamed_vs_whole": round(peaks["streamed"] / peaks["whole"], 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--tile", type=int, default=128)
    p.add_argument("--scene", type=int, default=4096, help="scene edge in px")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--smoke", action="store_true", help="tiny settings that only check the script runs (CI)")
    args = p.parse_args()
    if args.smoke:
        args.backbone, args.img_size, args.tile, args.scene = "tiny_cnn", 32, 32, 512

    from bench_predict import make_run, make_scene

    from tlgeo.distributed.cluster import open_cluster
    from tlgeo.distributed.predict import predict_inputs_on_cluster
    from tlgeo.predict import load_predictor, predict_inputs

    tmp = Path(tempfile.mkdtemp(prefix="tlgeo-bench-cluster-"))
    try:
        run = make_run(tmp, args.backbone, args.img_size, args.tile)
        scene = make_scene(tmp / "scene.tif", args.scene, nodata_corner=0.0)
        warm = make_scene(tmp / "warm.tif", args.tile * 6, seed=1, nodata_corner=0.0)  # ≥ one full batch
        predictor = load_predictor(run.path)
        predict_inputs(predictor, [warm], batch_size=args.batch_size)
        t = time.perf_counter()
        ref = predict_inputs(predictor, [scene], batch_size=args.batch_size)
        in_process = time.perf_counter() - t
        n = len(ref.predictions)
        out = {"windows": n, "backbone": args.backbone, "img_size": args.img_size, "in_process_s": round(in_process, 2)}
        for workers in (1,) if args.smoke else (1, 2):  # smoke: one cluster start only (CI time)
            t = time.perf_counter()
            with open_cluster(f"local:{workers}") as client:
                client.wait_for_workers(workers)
                for _ in range(workers):  # load the model on every worker
                    predict_inputs_on_cluster(predictor, [warm], client=client, batch_size=args.batch_size)
                start = time.perf_counter() - t
                t = time.perf_counter()
                # the driver gets the predictor already loaded, as the in-process baseline has it (its model load,
                # ~1–2 s, is a one-off start-up cost of the CLI, like the workers' own)
                res = predict_inputs_on_cluster(predictor, [scene], client=client, batch_size=args.batch_size)
                wall = time.perf_counter() - t
                if workers == 1:
                    out.update(driver_memory(predictor, scene, client, args.batch_size, tmp))
            assert len(res.predictions) == n
            out[f"cluster{workers}_start_s"] = round(start, 2)
            out[f"cluster{workers}_s"] = round(wall, 2)
        out["ratio_1worker_vs_in_process"] = round(out["cluster1_s"] / in_process, 3)
        out["ratio_2workers_vs_1worker"] = round(out.get("cluster2_s", float("nan")) / out["cluster1_s"], 3)
        out["windows_per_s"] = {
            k: round(n / out[f"{k}_s"], 1) for k in ("in_process", "cluster1", "cluster2") if f"{k}_s" in out
        }
        print(json.dumps(out, indent=2))
        print(
            f"1 worker vs in-process: {out['ratio_1worker_vs_in_process']:.2f} × wall time (target ≤ 1.2); "
            f"2 workers vs 1: {out['ratio_2workers_vs_1worker']:.2f} × wall time; driver peak memory writing the "
            f"GeoJSON batch by batch vs from the whole frame: {out['ratio_driver_memory_streamed_vs_whole']:.2f} ×"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
