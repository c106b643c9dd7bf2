"""tlgeo.tiles: CRS, windows reaching edges, 16-bit scaling, nodata, world-file PNG, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from tests.conftest import write_geotiff
from tlgeo.config import BandConfig
from tlgeo.errors import BandError, DataFileError, GeoreferenceError, RasterError, TlgeoError
from tlgeo.tiles import footprints_4326, raster_info, read_tile, scene_windows, tile_index, window_offsets


def test_window_offsets_reach_the_edge():
    assert window_offsets(130, 64, 64) == [0, 64, 66]
    assert window_offsets(128, 64, 64) == [0, 64]
    assert window_offsets(100, 64, 32) == [0, 32, 36]
    assert window_offsets(50, 64, 64) == []


def test_scene_index_covers_scene_to_edges(rgb_scene):
    index = tile_index(rgb_scene, size=64)
    info = raster_info(rgb_scene)
    assert index.crs.to_epsg() == 32737
    assert len(index) == 2 * 3  # rows 0, 36 × cols 0, 64, 66
    right = max(w[0] + w[2] for w in index["window"])
    bottom = max(w[1] + w[3] for w in index["window"])
    assert (right, bottom) == (info.width, info.height)
    # footprints match pixel windows (1 m/px)
    first = index.iloc[0]
    assert first.geometry.bounds == pytest.approx((257000.0, 9858000.0 - 64, 257064.0, 9858000.0))
    assert index["tile_id"].is_unique
    assert set(index.columns) >= {"tile_id", "path", "window", "geometry"}


def test_read_window_matches_pixels(rgb_scene):
    tile = read_tile(rgb_scene, (66, 36, 64, 64))
    with rasterio.open(rgb_scene) as ds:
        expected = ds.read(window=((36, 100), (66, 130))).transpose(1, 2, 0)
    assert tile.image.shape == (64, 64, 3)
    assert tile.image.dtype == np.float32
    np.testing.assert_array_equal(tile.image, expected.astype("float32"))
    assert tile.valid.all()
    assert tile.transform.c == pytest.approx(257000.0 + 66)
    assert tile.transform.f == pytest.approx(9858000.0 - 36)


def test_footprints_4326_are_near_nairobi(rgb_scene):
    fp = footprints_4326(tile_index(rgb_scene, size=64))
    assert fp.crs.to_epsg() == 4326
    lon, lat = fp.geometry.iloc[0].centroid.coords[0]
    assert 36.0 < lon < 38.0 and -2.0 < lat < -0.5


def test_uint16_percentile_and_fixed_scaling(tmp_path, rng):
    data = rng.integers(200, 4000, size=(4, 40, 40), dtype=np.uint16)
    path = write_geotiff(tmp_path / "s2.tif", data)
    with pytest.raises(RasterError, match="uint16"):
        read_tile(path, bands=BandConfig(bands=(3, 2, 1)))
    with pytest.raises(BandError, match="4 bands"):
        read_tile(path, bands=BandConfig(scaling="percentile"))
    tile = read_tile(path, bands=BandConfig(bands=(3, 2, 1), scaling="percentile"))
    assert tile.image.min() == 0.0 and tile.image.max() == 255.0
    # ~2 % of pixels are clipped at each end
    assert 0.005 < (tile.image[..., 0] == 0).mean() < 0.05
    fixed = read_tile(path, bands=BandConfig(bands=(1, 1, 1), scaling="fixed", value_range=(0, 4000)))
    np.testing.assert_allclose(fixed.image[..., 0], data[0] * 255.0 / 4000, rtol=1e-5)
    # band 3 → channel R
    np.testing.assert_allclose(
        read_tile(path, bands=BandConfig(bands=(3, 2, 1), scaling="fixed", value_range=(0, 4000))).image[..., 0],
        data[2] * 255.0 / 4000,
        rtol=1e-5,
    )


def test_band_out_of_range(tmp_path, rng):
    path = write_geotiff(tmp_path / "rgb.tif", rng.integers(0, 255, size=(3, 32, 32), dtype=np.uint8))
    with pytest.raises(BandError, match=r"Band 5 requested .*rgb.tif has only 3"):
        read_tile(path, bands=BandConfig(bands=(5, 2, 1)))


def test_nodata_is_masked_and_percentiles_ignore_it(tmp_path, rng):
    data = rng.integers(1000, 2000, size=(1, 32, 32), dtype=np.uint16)
    data[:, :8, :] = 0
    path = write_geotiff(tmp_path / "nd.tif", data, nodata=0)
    tile = read_tile(path, bands=BandConfig(scaling="percentile"))
    assert tile.image.shape == (32, 32, 3)  # 1 band replicated
    assert not tile.valid[:8].any() and tile.valid[8:].all()
    assert (tile.image[:8] == 0).all()
    assert tile.valid_fraction == pytest.approx(0.75)
    # stats come from valid pixels: the valid range spans 0..255
    assert tile.image[8:].max() == 255.0 and tile.image[8:].min() == 0.0


def test_float_raster_with_nan_nodata(tmp_path, rng):
    data = rng.random((3, 20, 20)).astype("float32")
    data[0, 0, 0] = np.nan
    path = write_geotiff(tmp_path / "f.tif", data, nodata=np.nan)
    tile = read_tile(path, bands=BandConfig(scaling="fixed", value_range=(0.0, 1.0)))
    assert not tile.valid[0, 0] and tile.valid.sum() == 399
    assert np.isfinite(tile.image).all()


def test_png_with_world_file_and_prj(tmp_path, rng):
    img = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    png = tmp_path / "chip.png"
    Image.fromarray(img).save(png)
    (tmp_path / "chip.pgw").write_text("0.5\n0\n0\n-0.5\n257000.25\n9857999.75\n")
    (tmp_path / "chip.prj").write_text(rasterio.crs.CRS.from_epsg(32737).to_wkt())
    info = raster_info(png)
    assert info.crs.to_epsg() == 32737
    assert info.bounds == pytest.approx((257000.0, 9858000.0 - 24, 257032.0, 9858000.0))
    tile = read_tile(png)
    np.testing.assert_array_equal(tile.image, img.astype("float32"))
    index = tile_index([png])
    assert len(index) == 1 and index.iloc[0]["tile_id"] == "chip"


def test_png_without_world_file_needs_bounds(tmp_path, rng):
    png = tmp_path / "bare.png"
    Image.fromarray(rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)).save(png)
    with pytest.raises(GeoreferenceError, match=r"bare.png has no georeference.*world file"):
        raster_info(png)
    info = raster_info(png, bounds=(36.8, -1.3, 36.801, -1.299), crs="EPSG:4326")
    assert info.crs.to_epsg() == 4326
    tile = read_tile(png, bounds=(36.8, -1.3, 36.801, -1.299), crs=4326)
    assert tile.image.shape == (32, 32, 3)


def test_bad_files_raise_clear_errors(tmp_path, rng):
    with pytest.raises(DataFileError, match="does not exist"):
        raster_info(tmp_path / "missing.tif")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(DataFileError, match="empty"):
        raster_info(empty)
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster")
    with pytest.raises(RasterError, match="not a readable raster"):
        raster_info(text)
    good = write_geotiff(tmp_path / "good.tif", rng.integers(0, 255, size=(3, 64, 64), dtype=np.uint8))
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(TlgeoError):
        read_tile(truncated)
    nocrs = write_geotiff(tmp_path / "nocrs.tif", rng.integers(0, 255, size=(3, 16, 16), dtype=np.uint8), crs=None)
    with pytest.raises(GeoreferenceError, match=r"nocrs\.tif has no CRS"):
        raster_info(nocrs)
    with pytest.raises(RasterError, match=r"Tile size 128 px is larger than .*good\.tif"):
        scene_windows(raster_info(good), 128)


def test_index_of_folder_and_mixed_crs(tmp_path, rng):
    a = write_geotiff(tmp_path / "a.tif", rng.integers(0, 255, size=(3, 64, 64), dtype=np.uint8))
    write_geotiff(
        tmp_path / "b.tif",
        rng.integers(0, 255, size=(3, 64, 64), dtype=np.uint8),
        crs="EPSG:4326",
        transform=from_origin(36.85, -1.25, 1e-5, 1e-5),
    )
    index = tile_index(tmp_path)
    assert list(index["tile_id"]) == ["a", "b"]
    assert index.crs == raster_info(a).crs
    assert index.iloc[1]["crs"] == "EPSG:4326"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match=r"No raster files in .*empty"):
        tile_index(tmp_path / "empty")


def test_skip_empty_windows(tmp_path, rng):
    data = rng.integers(1, 255, size=(3, 64, 128), dtype=np.uint8)
    data[:, :, 64:] = 0
    path = write_geotiff(tmp_path / "half.tif", data, nodata=0)
    assert len(tile_index(path, size=64)) == 2
    assert len(tile_index(path, size=64, skip_empty=True)) == 1


def _old_skip_empty(path, size, stride):
    """The per-window rule tile_index used before the mask was read once per file (reference for parity)."""
    from tlgeo.tiles.index import _window_valid_fraction

    info = raster_info(path)
    wins = [(co, ro, w, h) for _, _, co, ro, w, h in scene_windows(info, size, stride)] if size else []
    wins = wins or [(0, 0, info.width, info.height)]
    return [w for w in wins if _window_valid_fraction(info.path, w) > 0.0]


def _rgba(path, data):
    from rasterio.enums import ColorInterp

    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=4, dtype="uint8")
    profile.update(crs="EPSG:32737", transform=from_origin(257000.0, 9858000.0, 1.0, 1.0), photometric="RGB")
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return path


def test_skip_empty_parity_with_per_window_rule(tmp_path):
    """The once-per-file mask read keeps exactly the windows the per-window rule kept (odd sizes, overlap, ...)."""
    rng = np.random.default_rng(7)
    # uint8, nodata 0: sparse lone valid pixels (some fall between the rule's 1/4 samples) and solid blocks
    sparse = np.zeros((3, 157, 203), dtype=np.uint8)
    sparse[:, rng.random((157, 203)) < 0.004] = 200
    sparse[:, 90:130, 10:70] = 50
    a = write_geotiff(tmp_path / "sparse.tif", sparse, nodata=0)
    # float32 with NaN nodata: NaN holes, a NaN-free band of rows
    flt = rng.normal(size=(1, 143, 171)).astype("float32")
    flt[:, rng.random((143, 171)) < 0.995] = np.nan
    flt[:, 60:64, :] = 1.0
    b = write_geotiff(tmp_path / "float.tif", flt, nodata=float("nan"))
    # float32 with a numeric nodata, tiled in 16-px blocks
    tiled = np.full((2, 101, 99), -9999.0, dtype="float32")
    tiled[:, rng.random((101, 99)) < 0.01] = 3.0
    c = tmp_path / "tiled.tif"
    profile = dict(driver="GTiff", width=99, height=101, count=2, dtype="float32", nodata=-9999.0, tiled=True)
    profile.update(blockxsize=16, blockysize=16, crs="EPSG:32737", transform=from_origin(257000.0, 9858000.0, 1, 1))
    with rasterio.open(c, "w", **profile) as ds:
        ds.write(tiled)
    # RGBA: validity from the alpha band only
    rgba = rng.integers(1, 255, size=(4, 97, 131), dtype=np.uint8)
    rgba[3] = np.where(rng.random((97, 131)) < 0.003, 255, 0)
    rgba[3, :20, :20] = 255
    d = _rgba(tmp_path / "rgba.tif", rgba)
    # float32 without nodata: NaN pixels count as data under the dataset mask (unchanged behaviour)
    e = write_geotiff(tmp_path / "nan_no_nodata.tif", np.full((1, 40, 52), np.nan, dtype="float32"), nodata=None)

    differs_from_any_pixel = 0
    for path, size, stride in [
        (a, 30, 17),
        (a, 16, 16),
        (a, 64, None),
        (a, 9, 5),
        (b, 20, 20),
        (b, 33, 11),
        (c, 17, 13),
        (c, None, None),
        (d, 24, 10),
        (d, 31, 31),
        (e, 16, 8),
    ]:
        expected = _old_skip_empty(path, size, stride)
        got = list(tile_index(path, size=size, stride=stride, skip_empty=True)["window"])
        assert [tuple(w) for w in got] == expected, (path.name, size, stride)
        full = tile_index(path, size=size, stride=stride)
        assert len(full) >= len(got)
        with rasterio.open(path) as ds:
            mask = ds.dataset_mask() > 0
        differs_from_any_pixel += sum(
            1 for co, ro, w, h in full["window"] if mask[ro : ro + h, co : co + w].any() and (co, ro, w, h) not in got
        )
    assert differs_from_any_pixel > 0  # the fixtures exercise the rule's sampling, not just "any valid pixel"
    assert len(tile_index(e, size=16, skip_empty=True)) == len(tile_index(e, size=16))
    assert len(tile_index(a, size=30, stride=17, skip_empty=True)) < len(tile_index(a, size=30, stride=17))


def test_window_footprints_are_the_four_transformed_corners():
    """One footprint rule (tlgeo.schema): north-up windows are their boxes; rotated ones their true parallelograms."""
    from rasterio.transform import Affine
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform
    from shapely.geometry import box

    from tlgeo.tiles import window_footprints

    wins = [(0, 0, 64, 64), (37, 11, 30, 30), (1000, 2003, 17, 9)]
    north_up, rotated = from_origin(257000.3, 9858000.7, 0.3, 0.3), Affine(10.0, 0.5, 300.25, 0.25, -10.0, 5000.5)
    for t in (north_up, rotated):
        got = window_footprints(t, wins)
        for g, (co, ro, w, h) in zip(got, wins, strict=True):
            wt = window_transform(Window(co, ro, w, h), t)
            corners = np.array([wt @ xy for xy in ((0, 0), (w, 0), (w, h), (0, h))])
            np.testing.assert_allclose(np.asarray(g.exterior.coords)[:4], corners, rtol=0, atol=1e-6)
            if t is north_up:
                x0, y0 = corners.min(axis=0)
                x1, y1 = corners.max(axis=0)
                assert g.symmetric_difference(box(x0, y0, x1, y1)).area < 1e-9
            else:  # a sheared window is no box: the two-corner box would be off by whole pixels
                assert not g.equals(box(*g.bounds)) and g.area == pytest.approx(abs(t.determinant) * w * h)
