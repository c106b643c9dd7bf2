"""N-band input versus RGB only, and the two first-convolution rules, on multispectral chips (spatial folds).

For each labelled point a chip of ``--chip`` px centred on it is read (kept inside the scene). Three inputs are
cross-validated on the same chips and the same spatial folds:

- ``rgb``: bands red, green, blue only (3 channels: the ImageNet network unchanged) — the baseline of this run;
- ``cyclic``: every band, first convolution adapted by repeating the RGB kernels cyclically × 3/C (timm);
- ``rgb_mean``: every band, RGB kernels for the bands named red/green/blue, their mean for the others, × 3/C
  (Raster Vision, arcgis.learn).

It prints balanced accuracy and accuracy (mean ± sd over folds) per input and strategy, and each N-band input's
difference and ratio to the RGB baseline, plus the seconds each took relative to the baseline.

Data: ``sample_data/landcover`` when it exists (6-band 16-bit scene + labelled points; ``--data`` picks another
folder with ``imagery/*.tif`` and a labels file read by geopandas, ``--column`` its class column), else a synthetic
6-band scene generated here whose classes differ partly in NIR/SWIR only. ``--smoke``: the synthetic set, small,
``tiny_cnn`` and ``features_linear`` (well under a minute on 2 cores; checks the script runs, numbers are noise).

Usage::

    python bench/bench_bands.py [--strategies features_linear,fine_tune_all] [--img-size 64] [--folds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")


def synthetic(folder: Path, *, n_points: int, seed: int = 0) -> tuple[Path, Path, str]:
    """A 6-band uint16 scene (10 m, UTM 33N) of class patches, and labelled points in a GeoPackage.

    Five classes: water; forest and grassland (same visible bands, different NIR and SWIR); bare soil and cropland
    (same visible bands, cropland bright in NIR).
    """
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    rng = np.random.default_rng(seed)
    #            blue  green  red   nir  swir1 swir2
    means = {
        "water": (600, 700, 500, 300, 150, 100),
        "forest": (400, 800, 500, 3500, 1500, 700),
        "grassland": (400, 800, 500, 2500, 2400, 1400),
        "bare_soil": (1200, 1400, 1700, 2000, 3000, 2600),
        "cropland": (1200, 1400, 1700, 3600, 2500, 1500),
    }
    names = list(means)
    patch, grid = 24, 10
    size = patch * grid
    layout = rng.integers(0, len(names), size=(grid, grid))
    data = np.zeros((6, size, size), dtype="float64")
    for r in range(grid):
        for c in range(grid):
            mu = np.asarray(means[names[layout[r, c]]], dtype="float64")[:, None, None]
            shade = rng.normal(1.0, 0.15)  # patches of one class differ in brightness
            data[:, r * patch : (r + 1) * patch, c * patch : (c + 1) * patch] = mu * shade
    data *= rng.normal(1.0, 0.08, size=data.shape)
    data = np.clip(data, 1, 10000).astype("uint16")
    data[:, :, :8] = 0  # nodata strip
    transform = from_origin(500000.0, 5300000.0, 10.0, 10.0)
    scene = folder / "imagery" / "scene.tif"
    scene.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=size, height=size, count=6, dtype="uint16", crs="EPSG:32633", nodata=0)
    with rasterio.open(scene, "w", transform=transform, **profile) as ds:
        ds.write(data)
    pts, classes = [], []
    for _ in range(n_points):
        r, c = rng.integers(0, grid, size=2)
        y, x = r * patch + rng.integers(4, patch - 4), c * patch + rng.integers(4, patch - 4)
        pts.append(Point(*(transform * (x + 0.5, y + 0.5))))
        classes.append(names[layout[r, c]])
    labels = folder / "labels.gpkg"
    gpd.GeoDataFrame({"class": classes}, geometry=pts, crs="EPSG:32633").to_file(labels)
    return scene, labels, "class"


def chips(scene: Path, labels: Path, column: str, chip: int):
    """Tile-index rows: one ``chip`` px window centred on each labelled point inside the scene, class as target."""
    import geopandas as gpd
    from shapely.geometry import box

    from tlgeo.tiles import raster_info

    info = raster_info(scene)
    points = gpd.read_file(labels).to_crs(info.crs)
    points = points[points[column].notna()].reset_index(drop=True)
    classes = sorted(points[column].astype(str).unique())
    inv = ~info.transform
    rows = []
    for i, (geom, value) in enumerate(zip(points.geometry, points[column].astype(str), strict=True)):
        p = geom.representative_point()
        col, row = inv * (p.x, p.y)
        co = round(col - chip / 2)
        ro = round(row - chip / 2)
        if not (0 <= col < info.width and 0 <= row < info.height):
            continue
        co, ro = min(max(co, 0), info.width - chip), min(max(ro, 0), info.height - chip)
        x0, y0 = info.transform * (co, ro)
        x1, y1 = info.transform * (co + chip, ro + chip)
        rows.append(
            {
                "tile_id": f"chip{i:04d}",
                "path": str(info.path),
                "window": (co, ro, chip, chip),
                "source": scene.stem,
                "row": ro,
                "col": co,
                "crs": info.crs.to_string(),
                "class": classes.index(value),
                "geometry": box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)),
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=info.crs)
    return frame, classes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="folder with imagery/*.tif and a labels file")
    p.add_argument("--labels", default=None, help="labels file inside --data (default: the first .gpkg/.geojson)")
    p.add_argument("--column", default="class")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--strategies", default="features_linear")
    p.add_argument("--scaling", default="percentile", choices=["percentile", "standardize"])
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--chip", type=int, default=16)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--points", type=int, default=400, help="labelled points of the synthetic set")
    p.add_argument("--smoke", action="store_true", help="small synthetic set, tiny_cnn, features_linear")
    args = p.parse_args()
    if args.smoke:
        args.backbone, args.strategies, args.img_size, args.folds, args.points = (
            "tiny_cnn",
            "features_linear",
            32,
            3,
            120,
        )

    tmp = Path(tempfile.mkdtemp(prefix="tlgeo-bench-bands-"))
    os.environ.setdefault("TLGEO_CACHE", str(tmp / "cache"))

    from tlgeo.config import BandConfig, TaskSettings, TileConfig, TrainConfig
    from tlgeo.labels import TaskData
    from tlgeo.train import compare

    folder = args.data or (ROOT / "sample_data" / "landcover")
    if not args.smoke and folder.is_dir():
        scene = sorted((folder / "imagery").glob("*.tif"))[0]
        labels = (
            folder / args.labels
            if args.labels
            else next(f for f in sorted(folder.iterdir()) if f.suffix in (".gpkg", ".geojson"))
        )
        where = str(folder)
    else:
        scene, labels, args.column = synthetic(tmp, n_points=args.points)
        where = f"synthetic 6-band scene ({args.points} points)"
    frame, classes = chips(scene, labels, args.column, args.chip)
    print(f"data: {where}: {len(frame)} chips of {args.chip} px, {len(classes)} classes ({', '.join(classes)})")
    print(f"backbone {args.backbone} at {args.img_size} px, scaling {args.scaling}, {args.folds} spatial folds")

    inputs = {
        "rgb": (BandConfig(bands=(3, 2, 1), names=("red", "green", "blue"), scaling=args.scaling), "auto"),
        "cyclic": (BandConfig(bands=(1, 2, 3, 4, 5, 6), names=NAMES, scaling=args.scaling), "cyclic"),
        "rgb_mean": (BandConfig(bands=(1, 2, 3, 4, 5, 6), names=NAMES, scaling=args.scaling), "rgb_mean"),
    }
    config = TrainConfig(
        backbone=args.backbone,
        strategy="features_linear",
        img_size=args.img_size,
        folds=args.folds,
        epochs=args.epochs,
        batch_size=32,
        refit=False,
    )
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    from tlgeo.backbones import get_backbone

    warm = get_backbone(args.backbone, input_shape=(args.img_size, args.img_size, 3))  # weights converted/cached once,
    warm.predict(np.zeros((2, args.img_size, args.img_size, 3), "float32"), verbose=0)  # TF started: fair timings
    results: dict[tuple[str, str], tuple[float, float, float, float, float]] = {}
    for name, (bands, rule) in inputs.items():
        settings = TaskSettings(task="roads", tiles=TileConfig(size=args.chip, bands=bands))
        data = TaskData(task="roads", settings=settings, tiles=frame, targets={"class": classes})
        t0 = time.perf_counter()
        out = compare(data, replace(config, first_conv=rule), strategies)
        seconds = time.perf_counter() - t0
        for s, r in out.items():
            m = r.metrics["mean"]
            results[(name, s)] = (
                m["balanced_accuracy"]["mean"],
                m["balanced_accuracy"]["sd"],
                m["accuracy"]["mean"],
                m["accuracy"]["sd"],
                seconds,
            )
    print()
    print("| input | strategy | balanced accuracy | accuracy | Δ bal. acc. vs rgb | ratio vs rgb | time vs rgb |")
    print("|---|---|---|---|---|---|---|")
    for (name, s), (ba, ba_sd, acc, acc_sd, sec) in results.items():
        base = results[("rgb", s)]
        print(
            f"| {name} | {s} | {ba:.3f} ± {ba_sd:.3f} | {acc:.3f} ± {acc_sd:.3f} | {ba - base[0]:+.3f} | "
            f"{ba / max(base[0], 1e-9):.2f} × | {sec / max(base[4], 1e-9):.2f} × |"
        )
    best = max(((n, s) for n, s in results if n != "rgb"), key=lambda k: results[k][0])
    print(f"\nbest N-band input: {best[0]} ({best[1]}), balanced accuracy {results[best][0]:.3f}")


if __name__ == "__main__":
    main()
