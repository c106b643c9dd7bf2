"""Speed of the tile index with ``skip_empty=True``: one mask read per file instead of one read per window.

Timings on the 2-core machine swing ±40 % between runs, so the tile index is timed against a baseline measured in
the same run on the same file: one full-resolution read of the scene's dataset mask (``DatasetReader.dataset_mask``).
The old per-window method (open the file and read a 1/4-resolution mask for every window) is timed on a random
sample of windows and extrapolated to the whole grid; its answers on that sample are checked against the new ones.

    python bench/bench_tiles.py              # 10,000 × 10,000 px, 3-band uint8 scene with nodata, 64-px windows
    python bench/bench_tiles.py --smoke      # 2,000 × 2,000 px, a few seconds
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
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from tlgeo.tiles import raster_info, scene_windows, tile_index
from tlgeo.tiles.index import _window_valid_fraction


def write_scene(path: Path, size: int, seed: int = 0) -> float:
    """A tiled 3-band uint8 scene, nodata 0 outside a tilted footprint and in scattered holes; returns valid share."""
    rng = np.random.default_rng(seed)
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", nodata=0, tiled=True)
    profile.update(blockxsize=256, blockysize=256, crs="EPSG:32737", transform=from_origin(250000, 9860000, 10, 10))
    cols = np.arange(size)
    valid = 0
    with rasterio.open(path, "w", **profile) as ds:
        step = 1024
        for r0 in range(0, size, step):
            rows = np.arange(r0, min(size, r0 + step))[:, None]
            # footprint of a scene tilted by ~12°, like a Landsat path/row
            u = (cols[None, :] - size / 2) * 0.978 + (rows - size / 2) * 0.208
            v = -(cols[None, :] - size / 2) * 0.208 + (rows - size / 2) * 0.978
            inside = (np.abs(u) < 0.40 * size) & (np.abs(v) < 0.42 * size)
            inside &= rng.random(inside.shape) > 0.001  # scattered dropped pixels
            data = rng.integers(1, 255, size=(3, *inside.shape), dtype=np.uint8)
            data[:, ~inside] = 0
            ds.write(data, window=Window(0, r0, size, inside.shape[0]))
            valid += int(inside.sum())
    return valid / size**2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000, help="scene edge in pixels")
    parser.add_argument("--tile", type=int, default=64, help="window edge in pixels")
    parser.add_argument("--sample", type=int, default=300, help="windows timed with the old per-window method")
    parser.add_argument("--smoke", action="store_true", help="a small scene (2,000 px), for CI")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.sample = 2_000, 100
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.tif"
        t0 = time.perf_counter()
        share = write_scene(path, args.size)
        print(
            f"scene {args.size:,} × {args.size:,} px, 3 bands uint8, {share:.0%} valid (written in "
            f"{time.perf_counter() - t0:.1f} s); {args.tile}-px windows"
        )

        t_mask = t_index = float("inf")
        for _ in range(3):  # best of 3, alternating, so both see the same cache state
            t0 = time.perf_counter()
            with rasterio.open(path) as ds:
                mask = ds.dataset_mask()
            t_mask = min(t_mask, time.perf_counter() - t0)
            del mask
            t0 = time.perf_counter()
            index = tile_index(path, size=args.tile, skip_empty=True)
            t_index = min(t_index, time.perf_counter() - t0)
        info = raster_info(path)
        wins = [(co, ro, w, h) for _, _, co, ro, w, h in scene_windows(info, args.tile)]
        kept = {tuple(w) for w in index["window"]}

        rng = np.random.default_rng(1)
        pick = rng.choice(len(wins), size=min(args.sample, len(wins)), replace=False)
        t0 = time.perf_counter()
        old = [_window_valid_fraction(path, wins[i]) > 0.0 for i in pick]
        t_old_each = (time.perf_counter() - t0) / len(pick)
        agree = sum(o == (wins[i] in kept) for o, i in zip(old, pick, strict=True))

    print(f"windows: {len(wins):,}, kept (with data): {len(index):,}")
    print(f"one full-resolution dataset_mask read : {t_mask:8.2f} s  (baseline)")
    print(
        f"tile_index(skip_empty=True)           : {t_index:8.2f} s  = {t_index / t_mask:.2f} × baseline (target ≤ 1.5)"
    )
    print(
        f"old per-window method (extrapolated)  : {t_old_each * len(wins):8.1f} s  = "
        f"{t_old_each * len(wins) / t_mask:.0f} × baseline ({t_old_each * 1000:.1f} ms a window, {len(pick)} timed)"
    )
    print(f"old and new agree on {agree} of {len(pick)} sampled windows")
    return 0 if agree == len(pick) else 1


if __name__ == "__main__":
    raise SystemExit(main())
