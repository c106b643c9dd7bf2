"""Cost of a scene overview (tlgeo.overview) against one decimated read of the same scene, measured in the same run.

Target: rendering a 16,000 × 16,000 px scene's overview (read at ≤ 2048 px, scale, encode, cache) costs at most
2 × one ``DatasetReader.read(out_shape=…)`` of the scene at the same size; loading it again from the cache costs a
small fraction of that (the scene is not opened). Timings swing ±40 % on the 2-core machine, so only ratios count.

    python bench/bench_overview.py           # 16,000 × 16,000 px, 3-band uint8, tiled (about a minute to write)
    python bench/bench_overview.py --smoke   # 3,000 × 3,000 px, a few seconds
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from tlgeo import overview


def write_scene(path: Path, size: int, seed: int = 0) -> None:
    """A tiled, DEFLATE-compressed 3-band uint8 scene with smooth fields and noise, written in row blocks."""
    rng = np.random.default_rng(seed)
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", tiled=True, compress="deflate")
    profile.update(blockxsize=512, blockysize=512, crs="EPSG:32737", transform=from_origin(250000, 9860000, 1, 1))
    cols = np.arange(size)
    with rasterio.open(path, "w", **profile) as ds:
        step = 1024
        for r0 in range(0, size, step):
            rows = np.arange(r0, min(size, r0 + step))[:, None]
            base = (np.sin(rows / 700.0) + np.cos(cols / 900.0)) * 50 + 120
            block = np.stack([base + 20 * k for k in range(3)])
            block += rng.integers(-12, 13, size=block.shape)
            ds.write(np.clip(block, 0, 255).astype("uint8"), window=((r0, r0 + len(rows)), (0, size)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small scene, a few seconds")
    parser.add_argument("--size", type=int, default=None, help="scene edge in px (default 16000; 3000 with --smoke)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N (default 3)")
    args = parser.parse_args()
    size = args.size or (3000 if args.smoke else 16000)
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene.tif"
        t = time.perf_counter()
        write_scene(scene, size)
        print(f"scene {size:,} × {size:,} px written in {time.perf_counter() - t:.1f} s")
        scale = size / overview.MAX_PX
        shape = (round(size / scale), round(size / scale))
        read_s, render_s, cached_s = [], [], []
        for k in range(args.repeats):
            t = time.perf_counter()
            with rasterio.open(scene) as ds:
                ds.read([1, 2, 3], out_shape=(3, *shape))
            read_s.append(time.perf_counter() - t)
            cache = Path(tmp) / f"cache{k}"
            t = time.perf_counter()
            ov = overview.render_overview(scene, cache=cache)
            render_s.append(time.perf_counter() - t)
            reads = overview.SCENE_READS
            t = time.perf_counter()
            again = overview.render_overview(scene, cache=cache)
            again.data_uri()
            cached_s.append(time.perf_counter() - t)
            assert reads == overview.SCENE_READS, "the cached overview re-read the scene"
        read, render, cached = min(read_s), min(render_s), min(cached_s)
        print(f"overview {ov.size[0]} × {ov.size[1]} px, {ov.path.stat().st_size / 1e6:.2f} MB ({ov.path.suffix})")
        print(f"one decimated read (out_shape {shape}): {read:.3f} s")
        print(f"overview rendered:                     {render:.3f} s  → ratio {render / read:.2f} (target ≤ 2)")
        print(f"overview from the cache (data URI):    {cached:.4f} s  → ratio {cached / read:.3f}")
        if render / read > 2:
            print("WARNING: the overview costs more than 2 × one decimated read")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
