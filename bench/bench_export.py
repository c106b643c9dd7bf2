"""Prediction GeoTIFF: which window each output pixel takes, against the per-window loop it replaced, in one run.

``tlgeo.export.window_owner`` burns each window's core (the pixels nearer its centre than any other's) with
``rasterio.features.rasterize`` and falls back to a per-window pass only next to holes (windows skipped as
all-nodata that their neighbours overlap). The baseline is the plain per-window numpy loop that
``write_prediction_geotiff`` used before: every window compares its centre distance over the pixels it covers. Both
are checked to give the same owner array. Timings swing on the 2-core machine, so only ratios count.

    python bench/bench_export.py           # 450 × 450 windows (≈ 180k, a 28,800² px scene at 64 px), then stride 32
    python bench/bench_export.py --smoke   # 60 × 60 windows, a second
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from tlgeo.export import window_owner


def per_window_loop(windows: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """The assignment write_prediction_geotiff used before (kept here as the baseline)."""
    owner = np.full((len(cy), len(cx)), -1, dtype=np.int64)
    best = np.full(owner.shape, np.inf)
    for k, (co, ro, w, h) in enumerate(windows):
        j0, j1 = np.searchsorted(cx, [co, co + w])
        i0, i1 = np.searchsorted(cy, [ro, ro + h])
        if j0 >= j1 or i0 >= i1:
            continue
        dist = (cy[i0:i1, None] - (ro + h / 2)) ** 2 + (cx[None, j0:j1] - (co + w / 2)) ** 2
        better = dist < best[i0:i1, j0:j1]
        best[i0:i1, j0:j1][better] = dist[better]
        owner[i0:i1, j0:j1][better] = k
    return owner


def grid(scene_px: int, size: int, stride: int, holes: float, seed: int = 0) -> np.ndarray:
    """Scene windows (col_off, row_off, w, h), the last ones shifted to the edge, a share dropped as all-nodata."""
    offsets = list(range(0, scene_px - size + 1, stride))
    if offsets[-1] != scene_px - size:
        offsets.append(scene_px - size)
    windows = np.array([(c, r, size, size) for r in offsets for c in offsets], dtype=np.int64)
    return windows[np.random.default_rng(seed).random(len(windows)) >= holes]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="60 × 60 windows, a second")
    parser.add_argument("--holes", type=float, default=0.1, help="share of windows dropped (default 0.1)")
    args = parser.parse_args()
    n, size = (60, 64) if args.smoke else (450, 64)
    scene_px = n * size + size // 3  # not a multiple: the last column and row of windows are shifted
    print(f"scene {scene_px:,} × {scene_px:,} px, {size} px windows, {args.holes:.0%} of windows dropped")
    window_owner(grid(4 * size, size, size, 0.0), np.arange(4) + 0.5, np.arange(4) + 0.5)  # warm-up: GDAL, imports
    print(f"{'stride':>6} {'windows':>9} {'loop s':>8} {'rasterize s':>12} {'ratio':>6}")
    for stride in (size, size // 2):
        windows = grid(scene_px, size, stride, args.holes)
        centres = np.minimum((np.arange(-(-scene_px // stride)) + 0.5) * stride, scene_px - 0.5)
        t = time.perf_counter()
        before = per_window_loop(windows, centres, centres)
        loop_s = time.perf_counter() - t
        t = time.perf_counter()
        after = window_owner(windows, centres, centres)
        new_s = time.perf_counter() - t
        assert np.array_equal(before, after), "window_owner differs from the per-window loop"
        print(f"{stride:>6} {len(windows):>9,} {loop_s:>8.2f} {new_s:>12.2f} {new_s / loop_s:>6.2f}")
    print("ratio = window_owner ÷ per-window loop (lower is better); both give the same owner array")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
