"""Scene prediction speed and memory against bare Keras, measured in the same run (ratios, not absolute timings).

1. **Throughput.** ``tlgeo.predict.predict_scene`` over a generated scene (windows streamed from a tiled, compressed
   GeoTIFF, read a batch ahead in a reader thread) versus a bare ``model.predict`` of the same model on the same
   number of windows already in memory. Target: ≥ 0.9 ×. Also printed: the ratio against the very forward pass
   predict_scene uses (a compiled ``model(x, training=False)``, a little faster than ``model.predict``) looped over
   in-memory batches — the pure cost of streaming. Each ratio is given in wall-clock time and in process CPU time
   (all threads): on a shared machine the wall clock mostly measures the neighbours, CPU time the work done. Measured for a model-bound setting (default
   ``efficientnet_lite0`` at 128 px, tile 128) and, for information, the read-bound ``tiny_cnn`` (img 32, tile 256:
   each window reads and resamples 64× more pixels than the model sees, so reading dominates).
2. **Memory.** Peak RSS (sampled with psutil every 20 ms from the parent; the child's ``VmHWM`` as a check) of a
   fresh process predicting a generated 2,000 × 2,000 and a 16,000 × 16,000 px scene with ``tiny_cnn`` (tile 256,
   img 32). Target: the large scene within a few hundred MB of the small one.

Usage::

    python bench/bench_predict.py [--backbone efficientnet_lite0] [--img-size 128] [--tile 128] [--scene 2048]
                                  [--rss-sizes 2000 16000] [--skip-rss] [--skip-tiny]

Scenes and runs are written to a temporary folder (deleted at the end; nothing is committed). Timings on this
2-core machine swing ±40 % between runs; compare the ratios, each measured within one run (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------------------------- data
def make_scene(path: Path, size: int, *, seed: int = 0, nodata_corner: float = 0.1) -> Path:
    """A 3-band uint8 scene of ``size`` × ``size`` px, written strip by strip (tiled, DEFLATE, nodata 0).

    A top-left square of ``nodata_corner`` × size is nodata, so empty windows are skipped as in real scenes.
    """
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32737",
        "transform": from_origin(250000.0, 9860000.0, 0.5, 0.5),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "zlevel": 1,
        "predictor": 2,
        "BIGTIFF": "IF_SAFER",
    }
    rng = np.random.default_rng(seed)
    corner = int(size * nodata_corner)
    x = np.arange(size, dtype="float32")
    with rasterio.open(path, "w", **profile) as ds:
        for r0 in range(0, size, 512):
            h = min(512, size - r0)
            y = np.arange(r0, r0 + h, dtype="float32")[:, None]
            base = 128 + 60 * np.sin(x[None, :] / 97.0) * np.cos(y / 61.0)
            data = np.empty((3, h, size), dtype="uint8")
            for b in range(3):
                noise = rng.integers(-20, 21, size=(h, size), dtype=np.int16)
                data[b] = np.clip(base + 15 * b + noise, 1, 255).astype("uint8")
            rows = slice(0, max(0, min(h, corner - r0)))
            data[:, rows, :corner] = 0
            ds.write(data, window=Window(0, r0, size, h))
    return path


def make_run(tmp: Path, backbone: str, img_size: int, tile: int):
    """Train a quick ``features_linear`` run on a task built in code (tiles of ``tile`` px) and save it."""
    from tests.conftest import make_task_data
    from tlgeo.config import TrainConfig
    from tlgeo.runs import save_run
    from tlgeo.train import train

    folder = tmp / f"task-{backbone}-{tile}"
    folder.mkdir(parents=True, exist_ok=True)
    data = make_task_data(folder, n=6, size=tile)
    # a random split: on a 6 × 6 grid, a spatial fold can hold a single class, which features_linear refuses
    cfg = TrainConfig(
        backbone=backbone,
        strategy="features_linear",
        img_size=img_size,
        folds=2,
        split="random",
        head_epochs=4,
        batch_size=32,
    )
    result = train(data, cfg)
    return save_run(result, replace(data.settings), tmp / "runs")


# --------------------------------------------------------------------------------------------- throughput
def throughput(run_path: Path, scene: Path, repeat: int, batch_size: int) -> dict:
    """Best-of-``repeat`` seconds of predict_scene vs bare model.predict on the same windows in memory."""
    from tlgeo.predict import load_predictor, predict_scene
    from tlgeo.tiles import iter_tiles, raster_info, scene_windows

    predictor = load_predictor(run_path)
    info = raster_info(scene)
    grid = scene_windows(info, predictor.tile_size, predictor.stride)
    wins = [g[2:] for g in grid]
    images = np.stack(
        [
            np.clip(np.rint(t.image), 0, 255).astype("uint8")
            for t in iter_tiles([scene] * len(wins), wins, predictor.bands, out_size=predictor.img_size)
        ]
    )
    x = images.astype("float32")
    model = predictor.model
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)  # warm-up (tracing) for both sides
    predict_scene(predictor, scene, batch_size=batch_size, skip_empty=False)

    def timed(fn) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - t, time.process_time() - c

    def loop() -> None:  # the same compiled forward pass predict_scene uses, on in-memory batches
        for i in range(0, len(x), batch_size):
            predictor.predict_images(images[i : i + batch_size])

    results: dict[str, list[tuple[float, float]]] = {"bare": [], "loop": [], "scene": []}
    for _ in range(repeat):  # interleaved, so drifts in machine load hit all sides alike
        results["bare"].append(timed(lambda: model.predict(x, batch_size=batch_size, verbose=0)))
        results["loop"].append(timed(loop))
        results["scene"].append(timed(lambda: predict_scene(predictor, scene, batch_size=batch_size, skip_empty=False)))
    n = len(x)
    wall = {k: min(v[0] for v in vals) for k, vals in results.items()}
    cpu = {k: min(v[1] for v in vals) for k, vals in results.items()}
    return {
        "windows": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "bare_img_s": n / wall["bare"],
        "scene_img_s": n / wall["scene"],
        "loop_img_s": n / wall["loop"],
        "ratio": wall["bare"] / wall["scene"],
        "ratio_cpu": cpu["bare"] / cpu["scene"],
        "ratio_vs_loop": wall["loop"] / wall["scene"],
        "ratio_vs_loop_cpu": cpu["loop"] / cpu["scene"],
    }


# --------------------------------------------------------------------------------------------- memory
CHILD = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import psutil
from tlgeo.predict import load_predictor, predict_scene
proc = psutil.Process()
predictor = load_predictor({run!r})
predict_scene(predictor, {warm!r}, batch_size=32)  # warm-up: tracing, first reads
ready = proc.memory_info().rss
t = time.perf_counter()
res = predict_scene(predictor, {scene!r}, batch_size=32)
elapsed = time.perf_counter() - t
hwm = 0
with open("/proc/self/status") as fh:
    for line in fh:
        if line.startswith("VmHWM"):
            hwm = int(line.split()[1]) * 1024
print("RESULT", json.dumps({{"rows": len(res.predictions), "ready_rss": ready, "vmhwm": hwm, "seconds": elapsed,
                            "warnings": res.warnings}}))
"""


def peak_rss(run_path: Path, scene: Path, warm: Path) -> dict:
    """Run a fresh process that predicts ``scene``; sample its RSS with psutil every 20 ms."""
    import psutil

    code = CHILD.format(root=str(ROOT), run=str(run_path), scene=str(scene), warm=str(warm))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{err[-3000:]}")
    line = next(v for v in out.splitlines() if v.startswith("RESULT "))
    data = json.loads(line[len("RESULT ") :])
    data["psutil_peak"] = peak
    return data


def _print_throughput(name: str, r: dict) -> None:
    print(
        f"[throughput] {name}: {r['windows']} windows; bare model.predict {r['bare_img_s']:.1f} img/s, "
        f"predict_scene {r['scene_img_s']:.1f} img/s → ratio {r['ratio']:.2f} wall-clock, {r['ratio_cpu']:.2f} in "
        f"process CPU time (target ≥ 0.90); vs the same forward pass on in-memory batches ({r['loop_img_s']:.1f} "
        f"img/s): {r['ratio_vs_loop']:.2f} wall, {r['ratio_vs_loop_cpu']:.2f} CPU"
    )


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="efficientnet_lite0", help="model-bound throughput backbone")
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--tile", type=int, default=128)
    p.add_argument("--scene", type=int, default=2048, help="edge of the throughput scene in px")
    p.add_argument("--tiny-scene", type=int, default=4096, help="edge of the tiny_cnn throughput scene in px")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rss-sizes", type=int, nargs=2, default=(2000, 16000))
    p.add_argument("--skip-rss", action="store_true")
    p.add_argument("--skip-tiny", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--smoke", action="store_true", help="tiny settings that only check the script runs (CI)")
    args = p.parse_args()
    if args.smoke:
        args.backbone, args.img_size, args.tile, args.scene, args.tiny_scene = "tiny_cnn", 32, 64, 256, 512
        args.repeat, args.skip_rss = 1, True

    tmp = Path(tempfile.mkdtemp(prefix="tlgeo-bench-predict-"))
    os.environ["TLGEO_CACHE"] = str(tmp / "cache")
    report: dict = {}
    try:
        print(f"temporary folder: {tmp}")
        t = time.perf_counter()
        run = make_run(tmp, args.backbone, args.img_size, args.tile)
        scene = make_scene(tmp / f"scene_{args.scene}.tif", args.scene)
        print(f"run {run.run_id} and {args.scene}² scene ready in {time.perf_counter() - t:.0f} s")
        r = throughput(run.path, scene, args.repeat, args.batch_size)
        report["throughput"] = r
        _print_throughput(f"{args.backbone} img {args.img_size}, tile {args.tile}", r)
        tiny_run = None
        if not args.skip_tiny or not args.skip_rss:
            tiny_run = make_run(tmp, "tiny_cnn", 32, 256)
        if not args.skip_tiny:
            tiny_scene = make_scene(tmp / f"scene_{args.tiny_scene}.tif", args.tiny_scene)
            r = throughput(tiny_run.path, tiny_scene, args.repeat, args.batch_size)
            report["throughput_tiny"] = r
            _print_throughput("tiny_cnn img 32, tile 256 (read-bound)", r)
        if not args.skip_rss:
            small, large = args.rss_sizes
            t = time.perf_counter()
            warm = make_scene(tmp / "warm.tif", 512)
            scenes = {s: make_scene(tmp / f"rss_{s}.tif", s) for s in (small, large)}
            print(
                f"RSS scenes generated in {time.perf_counter() - t:.0f} s "
                f"({', '.join(f'{s}²: {mb(p.stat().st_size)} on disk' for s, p in scenes.items())})"
            )
            rss = {s: peak_rss(tiny_run.path, path, warm) for s, path in scenes.items()}
            report["rss"] = rss
            for s, d in rss.items():
                print(
                    f"[memory] {s:>6} × {s:<6} px: {d['rows']:>5} windows in {d['seconds']:.1f} s; RSS after "
                    f"model load {mb(d['ready_rss'])}, peak (psutil) {mb(d['psutil_peak'])}, VmHWM {mb(d['vmhwm'])}"
                )
            diff = rss[large]["psutil_peak"] - rss[small]["psutil_peak"]
            print(
                f"[memory] peak RSS {large}² minus {small}²: {mb(diff)} "
                f"(×{(large / small) ** 2:.0f} pixels; target: within a few hundred MB)"
            )
        print("JSON " + json.dumps(report, default=float))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
