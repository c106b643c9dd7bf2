"""Bad inputs across labels, train, compare, predict, imagenet, runs, the upload helpers and the dashboard.

Each CLI case runs in-process (``tlgeo.cli.main``) and asserts: exit status 2, exactly one line on stderr naming the
file or value and the fix, no "Traceback", and that no pre-existing file or folder changed (hashes before/after).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from tests.conftest import train_saved_run, write_geotiff
from tlgeo.cli import main

LOCAL_WKT = 'LOCAL_CS["arbitrary",LOCAL_DATUM["local",0],UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]'


# --------------------------------------------------------------------------------------------- the user's files
@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Everything a user owns: inputs, an existing output file, an existing output folder with content, runs."""
    d = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(7)
    write_geotiff(d / "tile.tif", rng.integers(0, 255, (3, 40, 40), dtype=np.uint8))
    write_geotiff(d / "scene.tif", rng.integers(0, 255, (3, 300, 300), dtype=np.uint8))
    with rasterio.open(
        d / "local.tif", "w", driver="GTiff", width=40, height=40, count=3, dtype="uint8", crs=LOCAL_WKT,
        transform=rasterio.transform.from_origin(0, 40, 1, 1),
    ) as ds:  # fmt: skip
        ds.write(np.ones((3, 40, 40), np.uint8))
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(
        d / "huge.tif", "w", driver="GTiff", width=40_000, height=40_000, count=1, dtype="uint8", crs="EPSG:32737",
        transform=rasterio.transform.from_origin(257000, 9858000, 1, 1), tiled=True, compress="deflate",
        sparse_ok=True,
    ):  # fmt: skip
        pass
    (d / "ltask" / "imagery").mkdir(parents=True)
    shutil.copy(d / "local.tif", d / "ltask" / "imagery" / "local.tif")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(d / "photo.png")
    (d / "notes.txt").write_text("not a raster\n")
    (d / "file.txt").write_text("a file, not a folder\n")
    (d / "existing.geojson").write_text('{"type": "FeatureCollection", "features": []}\n')
    out_dir = d / "outdir"
    (out_dir / "sub").mkdir(parents=True)
    (out_dir / "keep.txt").write_text("precious\n")
    (out_dir / "sub" / "data.bin").write_bytes(bytes(range(256)))
    with gzip.open(d / "bomb.csv.gz", "wb") as fh:
        fh.write(b"time,lat,lon,acc_z\n" + b"0" * (3 * 1024 * 1024))
    # villages: a task folder with one scene near Nairobi and indicator tables with problems
    vt = d / "vtask"
    (vt / "imagery").mkdir(parents=True)
    write_geotiff(vt / "imagery" / "scene.tif", rng.integers(0, 255, (3, 128, 128), dtype=np.uint8))
    header = "village_id,lat,lon,ASSET,BF,CHH,FC,MSL,MSW,LIT\n"
    row = "{id},{lat},{lon},{a},1,1,1,1,1,1\n"
    (d / "text_cells.csv").write_text(
        header + "".join(row.format(id=f"v{i}", lat=-1.283, lon=36.82, a="1" if i % 4 else "high") for i in range(8))
    )
    (d / "lat198.csv").write_text(header + row.format(id="v1", lat=198, lon=36.8, a=1))
    (d / "no_columns.csv").write_text("village_id,lat,lon\nv1,-1.28,36.82\n")
    # a RoadRunner export whose rows all repeat one segment exactly (ids reused with other content are kept)
    rr = ["id,line,distance,iriXp,iriYp,iriZp,iriX,iriY,iriZ,filename,time,phoneID"]
    line = "{'type': 'LineString', 'coordinates': [[36.800000, -1.28], [36.800300, -1.28]]}"
    rr += [f'7,"{line}",33.4,1.2,0.5,2.3,0,0,0,20240610_7,1718000000000,ab12'] * 30
    (d / "rr_dups.csv").write_text("\n".join(rr) + "\n")
    return d


@pytest.fixture(scope="module")
def run_dir(world, tmp_path_factory) -> Path:
    """A runs folder with one valid tiny run and three malformed ones."""
    from tlgeo.config import TrainConfig

    tmp = tmp_path_factory.mktemp("runtask")
    cfg = TrainConfig(
        backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, head_epochs=4, batch_size=16
    )
    _, run = train_saved_run(tmp, world / "runs", cfg)
    good = run.path
    for name, config, metrics in (
        ("20250101-000000-bad-config-list", [1, 2], None),
        ("20250101-000001-bad-mean-list", None, {"mean": []}),
        ("20250101-000002-bad-train-empty", "train_empty", None),
    ):
        bad = world / "runs" / name
        shutil.copytree(good, bad)
        if config == "train_empty":
            c = json.loads((bad / "config.json").read_text())
            c["train"] = {}
            (bad / "config.json").write_text(json.dumps(c))
        elif config is not None:
            (bad / "config.json").write_text(json.dumps(config))
        if metrics is not None:
            (bad / "metrics.json").write_text(json.dumps(metrics))
    return good


def snapshot(root: Path) -> dict[str, str]:
    """Path → content hash (or "dir") of everything under ``root``, except the tlgeo cache."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel.startswith("cache"):
            continue
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def check_cli(argv: list[str], capsys, root: Path, expect: list[str]) -> str:
    """Run the CLI in-process; assert status 2, one error line naming ``expect``, no traceback, nothing changed."""
    before = snapshot(root)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (argv, code, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:"), lines
    for text in expect:
        assert text in lines[0], (text, lines[0])
    assert snapshot(root) == before, "a pre-existing file or folder changed"
    return lines[0]


# --------------------------------------------------------------------------------------------- cases
# (id, argv with {d} = the user's folder and {run} = a valid run, texts the one line must contain)
LABELS = [
    (
        "seglen-nan",
        "labels roads --log {d}/notes.txt --out {d}/o.geojson --segment-length nan",
        ["--segment-length", "nan"],
    ),
    (
        "seglen-inf",
        "labels roads --log {d}/notes.txt --out {d}/o.geojson --segment-length inf",
        ["--segment-length", "inf"],
    ),
    (
        "seglen-neg",
        "labels roads --log {d}/notes.txt --out {d}/o.geojson --segment-length -5",
        ["--segment-length", "-5"],
    ),
    ("seglen-zero", "labels roads --log {d}/notes.txt --out {d}/o.geojson --segment-length 0", ["--segment-length"]),
    (
        "seglen-text",
        "labels roads --log {d}/notes.txt --out {d}/o.geojson --segment-length abc",
        ["--segment-length", "abc"],
    ),
    ("minspeed-neg", "labels roads --log {d}/notes.txt --out {d}/o.geojson --min-speed -1", ["--min-speed"]),
    ("minspeed-nan", "labels roads --log {d}/notes.txt --out {d}/o.geojson --min-speed nan", ["--min-speed", "nan"]),
    (
        "thresholds-text",
        "labels roads --log {d}/notes.txt --out {d}/o.geojson --thresholds a,b",
        ["--thresholds", "a,b"],
    ),
    ("thresholds-empty", "labels roads --log {d}/notes.txt --out {d}/o.geojson --thresholds ,", ["--thresholds"]),
    (
        "thresholds-nan",
        "labels roads --log {d}/notes.txt --out {d}/o.geojson --thresholds 1,nan",
        ["--thresholds", "nan"],
    ),
    (
        "thresholds-desc",
        "labels roads --log {d}/notes.txt --out {d}/o.geojson --thresholds 5,2",
        ["thresholds", "increasing"],
    ),
    ("roads-out-dir", "labels roads --log {d}/notes.txt --out {d}/outdir", ["outdir", "folder"]),
    (
        "roads-out-dir-overwrite",
        "labels roads --log {d}/notes.txt --out {d}/outdir --overwrite",
        ["outdir", "never replaces"],
    ),
    (
        "roads-out-exists",
        "labels roads --log {d}/notes.txt --out {d}/existing.geojson",
        ["existing.geojson", "--overwrite"],
    ),
    (
        "roads-out-in-file",
        "labels roads --log {d}/notes.txt --out {d}/file.txt/o.geojson",
        ["file.txt", "not a folder"],
    ),
    ("roads-out-long", "labels roads --log {d}/notes.txt --out {d}/" + "x" * 300 + ".geojson", ["--out", "shorter"]),
    (
        "roads-out-collide",
        "labels roads --log {d}/notes.txt --data {d}/vtask --out {d}/a.geojson --tiles-out {d}/a.geojson",
        ["--tiles-out", "own path"],
    ),
    (
        "roads-tiles-out-dir",
        "labels roads --log {d}/notes.txt --data {d}/vtask --out {d}/a.geojson --tiles-out {d}/outdir",
        ["outdir"],
    ),
    ("roads-log-missing", "labels roads --log {d}/nope.csv --out {d}/o.geojson", ["nope.csv"]),
    (
        "roads-log-gz-bomb",
        "labels roads --log {d}/bomb.csv.gz --out {d}/o.geojson",
        ["bomb.csv.gz", "TLGEO_MAX_DECOMPRESSED_MB"],
    ),
    (
        "roads-duplicate-ids",
        "labels roads --log {d}/rr_dups.csv --out {d}/o.geojson",
        ["29 rows repeating an earlier row"],
    ),
    (
        "roads-local-crs",
        "labels roads --log {d}/notes.txt --data {d}/ltask --out {d}/o.geojson",
        ["local.tif", "WGS84"],
    ),
    (
        "villages-local-crs",
        "labels villages --indicators {d}/text_cells.csv --data {d}/ltask --out {d}/v.geojson",
        ["local.tif", "WGS84"],
    ),
    ("roads-data-missing", "labels roads --log {d}/notes.txt --data {d}/nodata --out {d}/o.geojson", ["nodata"]),
    (
        "villages-out-dir",
        "labels villages --indicators {d}/text_cells.csv --data {d}/vtask --out {d}/outdir",
        ["outdir"],
    ),
    (
        "villages-out-dir-overwrite",
        "labels villages --indicators {d}/text_cells.csv --data {d}/vtask --out {d}/outdir --overwrite",
        ["outdir"],
    ),
    (
        "villages-out-exists",
        "labels villages --indicators {d}/text_cells.csv --data {d}/vtask --out {d}/existing.geojson",
        ["existing.geojson"],
    ),
    (
        "villages-text-cells",
        "labels villages --indicators {d}/text_cells.csv --data {d}/vtask --out {d}/v.geojson",
        ["ASSET", "'high'", "empty"],
    ),
    (
        "villages-lat-198",
        "labels villages --indicators {d}/lat198.csv --data {d}/vtask --out {d}/v.geojson",
        ["198", "out of range"],
    ),
    (
        "villages-no-columns",
        "labels villages --indicators {d}/no_columns.csv --data {d}/vtask --out {d}/v.geojson",
        ["no_columns.csv"],
    ),
    (
        "villages-missing",
        "labels villages --indicators {d}/nope.csv --data {d}/vtask --out {d}/v.geojson",
        ["nope.csv"],
    ),
    (
        "villages-data-missing",
        "labels villages --indicators {d}/text_cells.csv --data {d}/nodata --out {d}/v.geojson",
        ["nodata"],
    ),
    (
        "villages-columns-unknown",
        "labels villages --indicators {d}/text_cells.csv --data {d}/vtask --out {d}/v.geojson --columns ZZZ",
        ["ZZZ"],
    ),
]
TRAIN = [
    ("lr-nan", "--lr nan", ["--lr", "nan"]),
    ("lr-inf", "--lr inf", ["--lr", "inf"]),
    ("lr-zero", "--lr 0", ["--lr", "'0'"]),
    ("lr-neg", "--lr -0.1", ["--lr"]),
    ("epochs-zero", "--epochs 0", ["--epochs"]),
    ("epochs-frac", "--epochs 1.5", ["--epochs", "whole"]),
    ("head-epochs-nan", "--head-epochs nan", ["--head-epochs"]),
    ("img-size-small", "--img-size 16", ["--img-size", "16"]),
    ("img-size-text", "--img-size big", ["--img-size", "big"]),
    ("folds-one", "--folds 1", ["--folds"]),
    ("folds-frac", "--folds 2.5", ["--folds"]),
    ("buffer-neg", "--buffer -10", ["--buffer", "-10"]),
    ("buffer-huge", "--buffer 1e9", ["--buffer", "1e9"]),
    ("buffer-nan", "--buffer nan", ["--buffer"]),
    ("batch-zero", "--batch-size 0", ["--batch-size"]),
    ("lr-mult-big", "--pretrained-lr-mult 2", ["--pretrained-lr-mult"]),
    ("seed-neg", "--seed -1", ["--seed"]),
    ("block-zero", "--block-size 0", ["--block-size"]),
    ("patience-zero", "--patience 0", ["--patience"]),
    ("top-k-zero", "--top-k 0", ["--top-k"]),
    ("strategy-typo", "--strategy finetune", ["finetune", "auto"]),
    ("backbone-typo", "--backbone efficientnet_lite9", ["efficientnet_lite9"]),
]
COMPARE = [
    ("strategies-comma", "--strategies ,", ["--strategies", "e.g."]),
    ("strategies-blank", "--strategies ' , '", ["--strategies"]),
    ("strategies-typo", "--strategies scratch,bogus", ["bogus"]),
    ("json-dir", "--strategies scratch --json {d}/outdir", ["outdir", "folder"]),
    ("json-dir-overwrite", "--strategies scratch --json {d}/outdir --overwrite", ["outdir", "never replaces"]),
    ("json-exists", "--strategies scratch --json {d}/existing.geojson", ["existing.geojson", "--overwrite"]),
    ("json-in-file", "--strategies scratch --json {d}/file.txt/c.json", ["file.txt"]),
    ("lr-nan", "--strategies scratch --lr nan", ["--lr"]),
    ("buffer-neg", "--strategies scratch --buffer -1", ["--buffer"]),
]
PREDICT = [
    ("run-missing", "predict --run {d}/runs/nope --out {d}/p.geojson {d}/tile.tif", ["nope", "tlgeo runs"]),
    ("run-is-file", "predict --run {d}/notes.txt --out {d}/p.geojson {d}/tile.tif", ["notes.txt", "is a file"]),
    (
        "run-config-list",
        "predict --run {d}/runs/20250101-000000-bad-config-list --out {d}/p.geojson {d}/tile.tif",
        ["config.json", "list"],
    ),
    (
        "run-mean-list",
        "predict --run {d}/runs/20250101-000001-bad-mean-list --out {d}/p.geojson {d}/tile.tif",
        ["metrics.json", "mean"],
    ),
    (
        "run-train-empty",
        "predict --run {d}/runs/20250101-000002-bad-train-empty --out {d}/p.geojson {d}/tile.tif",
        ["train.backbone"],
    ),
    ("out-dir", "predict --run {run} --out {d}/outdir {d}/tile.tif", ["outdir", "folder"]),
    (
        "out-dir-overwrite",
        "predict --run {run} --out {d}/outdir --overwrite {d}/tile.tif",
        ["outdir", "never replaces"],
    ),
    ("out-exists", "predict --run {run} --out {d}/existing.geojson {d}/tile.tif", ["existing.geojson", "--overwrite"]),
    ("out-in-file", "predict --run {run} --out {d}/file.txt/p.geojson {d}/tile.tif", ["file.txt"]),
    ("out-long", "predict --run {run} --out {d}/" + "p" * 300 + ".geojson {d}/tile.tif", ["--out", "shorter"]),
    ("csv-collides", "predict --run {run} --out {d}/p.geojson --csv {d}/p.geojson {d}/tile.tif", ["--csv", "own path"]),
    ("csv-dir", "predict --run {run} --out {d}/p.geojson --csv {d}/outdir {d}/tile.tif", ["--csv", "outdir"]),
    (
        "geotiff-dir",
        "predict --run {run} --out {d}/p.geojson --geotiff {d}/outdir {d}/scene.tif",
        ["--geotiff", "outdir"],
    ),
    (
        "geotiff-no-scene",
        "predict --run {run} --out {d}/p.geojson --geotiff {d}/g.tif {d}/tile.tif",
        ["--geotiff", "scene"],
    ),
    (
        "roads-out-dir",
        "predict --run {run} --out {d}/p.geojson --roads {d}/notes.txt --roads-out {d}/outdir {d}/tile.tif",
        ["--roads-out", "outdir"],
    ),
    (
        "roads-alone",
        "predict --run {run} --out {d}/p.geojson --roads {d}/notes.txt {d}/tile.tif",
        ["--roads", "--roads-out"],
    ),
    ("stride-zero", "predict --run {run} --out {d}/p.geojson --stride 0 {d}/tile.tif", ["--stride"]),
    ("stride-nan", "predict --run {run} --out {d}/p.geojson --stride nan {d}/tile.tif", ["--stride", "nan"]),
    ("batch-zero", "predict --run {run} --out {d}/p.geojson --batch-size 0 {d}/tile.tif", ["--batch-size"]),
    ("batch-frac", "predict --run {run} --out {d}/p.geojson --batch-size 2.5 {d}/tile.tif", ["--batch-size"]),
    ("local-crs", "predict --run {run} --out {d}/p.geojson {d}/local.tif", ["local.tif", "WGS84"]),
    ("huge-raster", "predict --run {run} --out {d}/p.geojson {d}/huge.tif", ["huge.tif", "TLGEO_MAX_PIXELS"]),
    ("input-missing", "predict --run {run} --out {d}/p.geojson {d}/nope.tif", ["nope.tif"]),
    ("input-not-raster", "predict --run {run} --out {d}/p.geojson {d}/notes.txt", ["notes.txt"]),
]
OTHER = [
    ("imagenet-top-zero", "imagenet --top 0 {d}/photo.png", ["--top"]),
    ("imagenet-top-big", "imagenet --top 1001 {d}/photo.png", ["--top", "1001"]),
    ("imagenet-top-nan", "imagenet --top nan {d}/photo.png", ["--top"]),
    ("imagenet-missing", "imagenet {d}/nope.jpg", ["nope.jpg"]),
    ("imagenet-folder", "imagenet {d}/outdir", ["outdir", "folder"]),
    ("imagenet-not-image", "imagenet {d}/notes.txt", ["notes.txt"]),
    ("runs-file", "runs --runs {d}/notes.txt", ["notes.txt", "--runs"]),
    ("runs-in-file", "runs --runs {d}/file.txt/runs", ["file.txt"]),
    ("sample-seed-neg", "sample --out {d}/s --seed -1", ["--seed"]),
    ("sample-task", "sample --out {d}/s --task forest", ["--task", "forest"]),
    ("unknown-command", "frobnicate", ["frobnicate"]),
    ("train-no-data", "train --backbone tiny_cnn", ["--data"]),
]


def _argv(template: str, d: Path, run: Path | None = None) -> list[str]:
    import shlex

    return shlex.split(template.replace("{d}", str(d)).replace("{run}", str(run)))


@pytest.mark.parametrize("case", LABELS, ids=[c[0] for c in LABELS])
def test_labels(case, world, capsys, monkeypatch):
    _, template, expect = case
    monkeypatch.setenv("TLGEO_MAX_DECOMPRESSED_MB", "1")  # the 3 MiB of bomb.csv.gz (a few KB on disk) is over it
    check_cli(_argv(template, world), capsys, world, expect)


@pytest.mark.parametrize("case", TRAIN, ids=[c[0] for c in TRAIN])
def test_train(case, world, capsys):
    _, extra, expect = case
    check_cli(
        _argv(f"train --data {{d}}/vtask --backbone tiny_cnn --runs {{d}}/runs {extra}", world), capsys, world, expect
    )


@pytest.mark.parametrize("case", COMPARE, ids=[c[0] for c in COMPARE])
def test_compare(case, world, capsys):
    _, extra, expect = case
    check_cli(_argv(f"compare --data {{d}}/vtask --backbone tiny_cnn {extra}", world), capsys, world, expect)


@pytest.mark.parametrize("case", PREDICT, ids=[c[0] for c in PREDICT])
def test_predict(case, world, run_dir, capsys):
    _, template, expect = case
    check_cli(_argv(template, world, run_dir), capsys, world, expect)


@pytest.mark.parametrize("case", OTHER, ids=[c[0] for c in OTHER])
def test_other_commands(case, world, capsys, monkeypatch):
    _, template, expect = case
    check_cli(_argv(template, world), capsys, world, expect)


def test_train_refuses_a_local_crs(world, capsys):
    check_cli(_argv("train --data {d}/ltask --backbone tiny_cnn --runs {d}/runs", world), capsys, world,
              ["local.tif", "WGS84", "gdal_edit.py"])  # fmt: skip


def test_tiles_smaller_than_the_run_tile_are_predicted_with_a_warning(world, run_dir, tmp_path, capsys):
    write_geotiff(tmp_path / "small.tif", np.full((3, 12, 12), 128, np.uint8))
    code = main(["predict", "--run", str(run_dir), "--out", str(tmp_path / "p.geojson"), str(tmp_path / "small.tif")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "warning:" in out and "small.tif: 12 × 12 px is smaller than the run's tile (32 px)" in out
    assert (tmp_path / "p.geojson").is_file() and "Traceback" not in err and "error" not in err


def test_predict_window_limit(world, run_dir, capsys, monkeypatch):
    monkeypatch.setenv("TLGEO_MAX_WINDOWS", "3")
    check_cli(_argv("predict --run {run} --out {d}/p.geojson {d}/scene.tif", world, run_dir), capsys, world,
              ["windows", "--stride", "TLGEO_MAX_WINDOWS"])  # fmt: skip


def test_imagenet_pillow_pixel_limit(world, capsys, monkeypatch):
    monkeypatch.setenv("TLGEO_MAX_PIXELS", "1000")  # the 64 × 64 photo is then a "decompression bomb"
    before = Image.MAX_IMAGE_PIXELS
    check_cli(_argv("imagenet {d}/photo.png", world), capsys, world, ["photo.png", "TLGEO_MAX_PIXELS"])
    assert before == Image.MAX_IMAGE_PIXELS  # Pillow's process-wide limit is only changed while reading


def test_a_bad_limit_setting_is_one_line(world, capsys, monkeypatch):
    monkeypatch.setenv("TLGEO_MAX_PIXELS", "lots")
    check_cli(_argv("imagenet {d}/photo.png", world), capsys, world, ["TLGEO_MAX_PIXELS", "lots"])


def test_train_refuses_all_nan_imagery(tmp_path, capsys):
    """A villages task whose only scene is NaN everywhere: refused before training, naming the file."""
    vt = tmp_path / "task"
    (vt / "imagery").mkdir(parents=True)
    write_geotiff(vt / "imagery" / "scene.tif", np.full((3, 128, 128), np.nan, np.float32))
    (vt / "tlgeo.toml").write_text(
        'task = "villages"\n[tiles]\nsize = 32\n[tiles.bands]\nscaling = "fixed"\nvalue_range = [0, 1]\n'
    )
    rows = []
    rng = np.random.default_rng(0)
    for i in range(16):
        x, y = 257016 + 32 * (i % 4), 9858000 - 16 - 32 * (i // 4)
        rows.append((i, x, y, *(rng.integers(0, 3, 7))))
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame(
        {"village_id": [f"v{r[0]}" for r in rows], **{k: [int(r[3 + j]) for r in rows] for j, k in enumerate(
            ("ASSET", "BF", "CHH", "FC", "MSL", "MSW", "LIT"))}},
        geometry=shapely.points([r[1] for r in rows], [r[2] for r in rows]), crs="EPSG:32737",
    ).to_crs(4326)  # fmt: skip
    gdf.to_file(vt / "villages.geojson", driver="GeoJSON")
    line = check_cli(
        ["train", "--data", str(vt), "--backbone", "tiny_cnn", "--runs", str(tmp_path / "runs")],
        capsys,
        tmp_path,
        ["scene.tif", "nodata or NaN"],
    )
    assert "Check the imagery" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_features_linear_one_class_fold_is_one_line():
    from tlgeo.errors import TrainingError
    from tlgeo.transfer import build_model, fit_linear_head

    tm = build_model("tiny_cnn", "features_linear", {"quality": ["good", "fair", "poor"]}, img_size=32)
    feats = np.random.default_rng(0).normal(size=(10, tm.head.input_shape[-1])).astype("float32")
    with pytest.raises(TrainingError, match="only class 1") as info:
        fit_linear_head(tm, feats, {"quality": np.ones(10, dtype=int)}, "logistic")
    assert "\n" not in str(info.value) and "--folds" in str(info.value)


# --------------------------------------------------------------------------------------------- outputs survive
@pytest.mark.parametrize(
    "template",
    [
        "labels roads --log {d}/notes.txt --out {d}/outdir --overwrite",
        "labels roads --log {d}/notes.txt --data {d}/vtask --out {d}/x.geojson --tiles-out {d}/outdir --overwrite",
        "labels villages --indicators {d}/text_cells.csv --data {d}/vtask --out {d}/outdir --overwrite",
        "compare --data {d}/vtask --backbone tiny_cnn --strategies scratch --json {d}/outdir --overwrite",
        "predict --run {run} --out {d}/outdir --overwrite {d}/tile.tif",
        "predict --run {run} --out {d}/p.geojson --csv {d}/outdir --overwrite {d}/tile.tif",
        "predict --run {run} --out {d}/p.geojson --geotiff {d}/outdir --overwrite {d}/scene.tif",
        "predict --run {run} --out {d}/p.geojson --roads {d}/notes.txt --roads-out {d}/outdir --overwrite {d}/tile.tif",
    ],
)
def test_a_directory_given_as_any_output_survives_byte_for_byte(template, world, run_dir, capsys):
    before = {p: (p.read_bytes() if p.is_file() else None) for p in sorted((world / "outdir").rglob("*"))}
    check_cli(_argv(template, world, run_dir), capsys, world, ["outdir"])
    after = {p: (p.read_bytes() if p.is_file() else None) for p in sorted((world / "outdir").rglob("*"))}
    assert after == before and (world / "outdir" / "keep.txt").read_text() == "precious\n"


def test_atomic_path_never_replaces_a_folder(tmp_path):
    from tlgeo._utils import atomic_write_text
    from tlgeo.errors import OutputExistsError

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    with pytest.raises(OutputExistsError, match="never replaces a folder"):
        atomic_write_text(tmp_path / "d", "y", overwrite=True)
    assert (tmp_path / "d" / "f").read_text() == "x"


# --------------------------------------------------------------------------------------------- run registry
def test_malformed_runs_are_listed_as_broken_and_valid_ones_stay_usable(world, run_dir, capsys):
    from tlgeo.runs import scan_runs

    runs, broken = scan_runs(world / "runs")
    assert [r.path for r in runs] == [run_dir]
    reasons = {b.run_id: b.reason for b in broken}
    assert set(reasons) == {
        "20250101-000000-bad-config-list",
        "20250101-000001-bad-mean-list",
        "20250101-000002-bad-train-empty",
    }
    assert "not an object" in reasons["20250101-000000-bad-config-list"]
    assert "mean" in reasons["20250101-000001-bad-mean-list"]
    assert "train.backbone" in reasons["20250101-000002-bad-train-empty"]
    assert main(["runs", "--runs", str(world / "runs")]) == 0
    out, err = capsys.readouterr()
    assert run_dir.name in out and out.count("BROKEN") == 3 and "3 broken run folder(s)" in out
    assert "Traceback" not in out + err


def test_stale_temp_run_folders_are_removed_with_a_report_line(tmp_path, capsys):
    runs = tmp_path / "runs"
    stale = runs / ".20240101-000000-roads-tiny_cnn-frozen_head-abcd.x1y2.tmp"
    fresh = runs / ".20240101-000001-roads-tiny_cnn-frozen_head-abcd.z9.tmp"
    other = runs / ".my-own-hidden-folder.tmp"
    for p in (stale, fresh, other):
        p.mkdir(parents=True)
        (p / "model.keras").write_bytes(b"x" * 10)
    old = 3 * 24 * 3600
    os.utime(stale, (os.path.getatime(stale) - old, os.path.getmtime(stale) - old))
    os.utime(other, (os.path.getatime(other) - old, os.path.getmtime(other) - old))
    assert main(["runs", "--runs", str(runs)]) == 0
    out, _ = capsys.readouterr()
    assert f"removed {stale}" in out
    assert not stale.exists() and fresh.exists() and other.exists()


# --------------------------------------------------------------------------------------------- upload helpers
class Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


@pytest.mark.parametrize(
    ("name", "expect"),
    [("virus.exe", ".exe"), ("archive.tar.gz", "'.gz'"), ("noextension", "'none'"), ("../../etc/passwd", "passwd")],
)
def test_upload_names_refused(name, expect):
    from tlgeo.errors import DataFileError
    from tlgeo.ui.uploads import safe_filename

    with pytest.raises(DataFileError) as info:
        safe_filename(name, ["tif", "png"])
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_non_ascii_upload_names_keep_their_extension():
    from tlgeo.ui.uploads import safe_filename

    assert safe_filename("日本語.tif", ["tif"]) == "file.tif"
    assert safe_filename("café_scène.TIF", ["tif"]).lower().endswith(".tif")


def test_upload_empty_and_oversized(world, monkeypatch):
    from tlgeo.errors import DataFileError
    from tlgeo.ui.uploads import check_size

    with pytest.raises(DataFileError, match="empty"):
        check_size(Upload("a.tif", b""))
    with pytest.raises(DataFileError, match="MB limit"):
        check_size(Upload("a.tif", b"x" * 3 * 1024 * 1024), max_mb=1)
    # a small file declaring a huge raster is refused on its pixels, before anything is read
    huge = (world / "huge.tif").read_bytes()
    assert len(huge) < 2 * 1024 * 1024
    with pytest.raises(DataFileError, match="TLGEO_MAX_PIXELS") as info:
        check_size(Upload("huge.tif", huge))
    assert "huge.tif" in str(info.value)
    monkeypatch.setenv("TLGEO_MAX_PIXELS", str(50_000_000_000))
    check_size(Upload("huge.tif", huge))  # the limit is raised: accepted


# --------------------------------------------------------------------------------------------- hints name real flags
def _all_flags() -> set[str]:
    import argparse

    from tlgeo.cli import build_parser

    flags: set[str] = set()

    def walk(p: argparse.ArgumentParser) -> None:
        for a in p._actions:
            flags.update(s for s in a.option_strings if s.startswith("--"))
            if isinstance(a, argparse._SubParsersAction):
                for sub in a.choices.values():
                    walk(sub)

    walk(build_parser())
    return flags


def _string_constants() -> list[tuple[str, int, str]]:
    import ast

    root = Path(__file__).resolve().parent.parent / "tlgeo"
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append((str(path.relative_to(root)), node.lineno, node.value))
    return out


def test_every_flag_named_in_a_message_exists():
    import re

    flags = _all_flags()
    assert {"--overwrite", "--verbose", "--folds", "--stride", "--weights"} <= flags
    unknown = []
    for file, line, text in _string_constants():
        if file.startswith("sample") or file.startswith("_synth"):
            continue
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text):
            if flag not in flags and flag not in ("--help", "--force-reinstall"):  # pip's flag, in install hints
                unknown.append(f"{file}:{line} {flag}")
    assert not unknown, unknown


def test_no_hint_names_a_library_keyword_as_if_it_were_a_flag():
    bad = [
        f"{f}:{n}"
        for f, n, t in _string_constants()
        if any(k in t for k in ("pass crs=", "as weights=", "or --bands", 'Pass weights="imagenet"'))
    ]
    assert not bad, bad


# --------------------------------------------------------------------------------------------- the dashboard
@pytest.fixture(scope="module")
def ui_runs(tmp_path_factory) -> Path:
    """A runs folder: one tiny run on the sample roads plus three malformed copies of it."""
    from tests.test_ui_pages import ROADS, _need, make_tiny_run

    _need(ROADS)
    runs = tmp_path_factory.mktemp("ui-broken-runs")
    good = make_tiny_run(runs, tmp_path_factory.getbasetemp() / "tlgeo-cache")
    for name, what in (("20250101-000000-a", "config"), ("20250101-000001-b", "mean"), ("20250101-000002-c", "train")):
        bad = runs / name
        shutil.copytree(good, bad)
        c = json.loads((bad / "config.json").read_text())
        if what == "config":
            (bad / "config.json").write_text("[1, 2, 3]")
        elif what == "mean":
            (bad / "metrics.json").write_text('{"mean": []}')
        else:
            c["train"] = {}
            (bad / "config.json").write_text(json.dumps(c))
    return runs


@pytest.mark.parametrize("page", [None, "train", "compare", "evaluate", "predict"])
def test_malformed_run_folders_leave_every_page_usable(page, ui_runs, monkeypatch):
    from tests.test_ui_pages import ok, open_app
    from tlgeo.ui import state

    monkeypatch.setenv(state.SAMPLE_ENV, str(Path(__file__).resolve().parent.parent / "sample_data"))
    monkeypatch.setenv(state.RUNS_ENV, str(ui_runs))
    monkeypatch.setenv(state.TEST_BACKBONE_ENV, "1")
    with _legacy_pages_off(monkeypatch):
        at = ok(open_app(page))
    assert any("3 broken run folder(s)" in e.label for e in at.sidebar.expander)
    options = at.sidebar.selectbox(key=state.RUN).options
    assert len(options) == 1  # only the valid run can be chosen


def test_dashboard_refuses_an_upload_over_the_pixel_limit(ui_runs, world, monkeypatch):
    from tests.test_ui_pages import open_app
    from tlgeo.ui import state

    monkeypatch.setenv(state.SAMPLE_ENV, str(Path(__file__).resolve().parent.parent / "sample_data"))
    monkeypatch.setenv(state.RUNS_ENV, str(ui_runs))
    with _legacy_pages_off(monkeypatch):
        at = open_app("predict")
        at.file_uploader(key=state.PREDICT_UPLOAD).set_value(
            ("huge.tif", (world / "huge.tif").read_bytes(), "image/tiff")
        ).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("huge.tif" in e and "TLGEO_MAX_PIXELS" in e for e in errors), errors


def _legacy_pages_off(monkeypatch):
    """As in tests/test_ui_pages.py: AppTest runs in the multipage mode a real server uses after its first request."""
    import contextlib

    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.pages_manager import PagesManager

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)
    return contextlib.nullcontext()
