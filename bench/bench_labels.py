"""Speed of road labels: raw phone log → segments, and a RoadRunner log → tile labels.

Timings on the 2-core machine swing ±40 % between runs, so every number is printed next to a baseline measured in
the same run (a plain ``pandas.read_csv`` of the same file, and a per-segment Python loop for the tile join).

    python bench/bench_labels.py                 # one hour of 100 Hz 3-axis log, 50,000 RoadRunner segments
    python bench/bench_labels.py --rows 36000 --segments 5000   # quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from tlgeo.config import RoadLabelConfig
from tlgeo.labels.roads import (
    classify_segments,
    phone_log_segments,
    read_roadrunner_log,
    tile_road_labels,
)
from tlgeo.tiles import tile_index

CRS = 32737
X0, Y0 = 250_000.0, 9_860_000.0
TO_LONLAT = Transformer.from_crs(CRS, 4326, always_xy=True)


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def write_phone_log(path: Path, rows: int, fs: float = 100.0, iso: bool = False, seed: int = 0) -> None:
    """A drive of ``rows`` samples: 3-axis tilted phone with gravity, 1 Hz GPS, speed 0–25 m/s, varying roughness."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows) / fs
    seconds = int(np.ceil(t[-1])) + 2
    speed = np.clip(12 + 8 * np.sin(np.arange(seconds) / 90.0) + rng.normal(0, 1, seconds), 0, 25)
    heading = np.cumsum(rng.normal(0, 0.05, seconds))
    step_x, step_y = speed * np.cos(heading), speed * np.sin(heading)
    sx = X0 + np.r_[0, np.cumsum(step_x)]
    sy = Y0 + np.r_[0, np.cumsum(step_y)]
    sec = np.floor(t).astype(int)
    frac = t - sec
    x = sx[sec] + frac * step_x[sec]
    y = sy[sec] + frac * step_y[sec]
    lon, lat = TO_LONLAT.transform(x, y)
    rough = 0.3 + 2.0 * (np.sin(t / 40.0) > 0.3)
    av = rough * np.sin(2 * np.pi * 3.0 * t) + 0.2 * rng.standard_normal(rows)
    up = np.array([0.3, -0.4, 0.866])
    up /= np.linalg.norm(up)
    acc = np.outer(9.81 + av, up) + rng.normal(0, 0.05, (rows, 3))
    gps = (np.arange(rows) % int(fs)) == 0
    df = pd.DataFrame(
        {
            "time": 1.7e9 + t,
            "lat": np.where(gps, lat, np.nan),
            "lon": np.where(gps, lon, np.nan),
            "acc_x": acc[:, 0],
            "acc_y": acc[:, 1],
            "acc_z": acc[:, 2],
            "device_id": "bench",
        }
    )
    if iso:
        df["time"] = pd.to_datetime(df["time"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    df.to_csv(path, index=False, float_format="%.7f")


def write_roadrunner(path: Path, n: int, extent_m: float, seed: int = 0) -> None:
    """``n`` RoadRunner segments of ~50 m along random-walk drives inside a square of ``extent_m``."""
    rng = np.random.default_rng(seed)
    per_drive = 1000
    drives = int(np.ceil(n / per_drive))
    heading = np.cumsum(rng.normal(0, 0.15, (drives, per_drive + 1)), axis=1) + rng.uniform(0, 2 * np.pi, (drives, 1))
    step = rng.uniform(40, 60, (drives, per_drive + 1))
    x = rng.uniform(0.2, 0.8, (drives, 1)) * extent_m + np.cumsum(step * np.cos(heading), axis=1)
    y = rng.uniform(0.2, 0.8, (drives, 1)) * extent_m + np.cumsum(step * np.sin(heading), axis=1)
    x = np.abs(np.mod(x, 2 * extent_m) - extent_m)  # fold back into the square
    y = np.abs(np.mod(y, 2 * extent_m) - extent_m)
    lon, lat = TO_LONLAT.transform(X0 + x, Y0 - y)
    a = np.stack([lon[:, :-1], lat[:, :-1]], axis=-1).reshape(-1, 2)[:n]
    b = np.stack([lon[:, 1:], lat[:, 1:]], axis=-1).reshape(-1, 2)[:n]
    lines = [
        f"{{'type': 'LineString', 'coordinates': [[{p[0]:.7f}, {p[1]:.7f}], [{q[0]:.7f}, {q[1]:.7f}]]}}"
        for p, q in zip(a, b, strict=True)
    ]
    rough = rng.gamma(2.0, 2.0, n)
    phones = np.array(["a1f3", "b7c2", "", "d00d"])[rng.integers(0, 4, n)]
    from tests.conftest import roadrunner_frame

    roadrunner_frame(
        lines,
        distance=step[:, 1:].reshape(-1)[:n],
        rough=rough,
        filename=[f"20240610_{i // per_drive}" for i in range(n)],
        time=1718000000000 + np.arange(n) * 3000,
        phone=phones,
    ).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=360_000, help="samples in the raw log (100 Hz)")
    parser.add_argument("--segments", type=int, default=50_000, help="RoadRunner segments")
    parser.add_argument("--loop-sample", type=int, default=1000, help="segments timed in the per-segment loop baseline")
    parser.add_argument("--smoke", action="store_true", help="small inputs that only check the script runs (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.segments, args.loop_sample = 36_000, 2_000, 100
    cfg = RoadLabelConfig()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"raw phone log: {args.rows:,} rows at 100 Hz, 3 axes with gravity ({args.rows / 360_000:.2f} h)")
        for iso in (False, True):
            log = tmp / f"phone{'_iso' if iso else ''}.csv"
            write_phone_log(log, args.rows, iso=iso)
            _, t_read = timed(pd.read_csv, log)
            (seg, _), t_seg = timed(phone_log_segments, log, cfg)
            kind = "ISO 8601 times" if iso else "epoch-second times"
            print(
                f"  {kind:>18}: pandas.read_csv {t_read:6.2f} s | log → segments {t_seg:6.2f} s "
                f"({t_seg / t_read:4.1f}× the bare read) → {len(seg):,} segments, {len(seg) / t_seg:,.0f} segments/s, "
                f"{args.rows / t_seg / 1e6:.2f} M samples/s"
            )

        extent = 20_000.0
        rr = tmp / "roadrunner.csv"
        write_roadrunner(rr, args.segments, extent)
        imagery = tmp / "imagery"
        imagery.mkdir()
        px = 4096
        res = extent / px
        with rasterio.open(
            imagery / "scene.tif", "w", driver="GTiff", width=px, height=px, count=1, dtype="uint8", crs=f"EPSG:{CRS}",
            transform=from_origin(X0, Y0, res, res), compress="deflate",
        ) as ds:  # fmt: skip
            ds.write(np.zeros((1, px, px), dtype=np.uint8))
        print(f"\nRoadRunner log: {args.segments:,} segments over {extent / 1000:.0f} km × {extent / 1000:.0f} km")
        _, t_read = timed(pd.read_csv, rr)
        (seg, _), t_parse = timed(read_roadrunner_log, rr, cfg)
        (classed, bins, _), t_cls = timed(classify_segments, seg, cfg)
        tiles, t_idx = timed(tile_index, imagery, size=64)
        (labelled, _), t_join = timed(tile_road_labels, classed, tiles, cfg, bins["thresholds"])
        n_lab = int((labelled["quality"] >= 0).sum())
        total = t_parse + t_cls + t_join
        print(f"  pandas.read_csv (baseline)           {t_read:6.2f} s")
        print(f"  read + parse lines + flag            {t_parse:6.2f} s ({t_parse / t_read:4.1f}× the bare read)")
        print(f"  per-device calibration + classes     {t_cls:6.2f} s")
        print(f"  tile index ({len(tiles):,} tiles of 64 px)     {t_idx:6.2f} s")
        print(f"  spatial-index join → tile labels     {t_join:6.2f} s → {n_lab:,} labelled tiles")
        print(f"  log → tile labels in all             {total:6.2f} s ({total / t_read:4.1f}× the bare read)")

        # baseline: a Python loop over segments, each intersected with every tile (vectorised over tiles)
        sample = classed[classed["class_index"] >= 0].to_crs(tiles.crs).iloc[: args.loop_sample]
        tile_geoms = tiles.geometry.to_numpy()
        t0 = time.perf_counter()
        acc = np.zeros(len(tiles))
        for geom, rough in zip(sample.geometry.to_numpy(), sample["roughness"].to_numpy(), strict=True):
            hit = shapely.intersects(tile_geoms, geom)
            acc[hit] += shapely.length(shapely.intersection(tile_geoms[hit], geom)) * rough
        t_loop = (time.perf_counter() - t0) * len(classed) / max(len(sample), 1)
        print(
            f"  per-segment loop (baseline, {len(sample):,} timed, extrapolated to {len(classed):,}) {t_loop:6.2f} s "
            f"→ the index join is {t_loop / t_join:,.0f}× faster"
        )


if __name__ == "__main__":
    main()
