"""Scene overviews under maps (tlgeo.overview): placed by their corners in any CRS, bands and scaling of the task,
rendered once and then served from the disk cache."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image
from rasterio.transform import Affine, from_origin

from tests.conftest import write_geotiff
from tlgeo import overview
from tlgeo.config import BandConfig


def _image(ov: overview.Overview) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(ov.path.read_bytes())))


def test_utm_scene_corners_follow_the_projection(tmp_path):
    from rasterio.warp import transform

    data = np.zeros((3, 300, 500), dtype=np.uint8)
    data[0], data[1], data[2] = 30, 140, 60  # one dominant green
    scene = write_geotiff(tmp_path / "utm.tif", data, crs="EPSG:32737", transform=from_origin(257000, 9858000, 10, 10))
    ov = overview.render_overview(scene, cache=tmp_path / "cache")
    xs, ys = [257000, 262000, 262000, 257000], [9858000, 9858000, 9855000, 9855000]
    lon, lat = transform("EPSG:32737", "EPSG:4326", xs, ys)
    np.testing.assert_allclose(np.asarray(ov.corners), np.c_[lon, lat], atol=1e-9)
    # a UTM rectangle is not a lon/lat rectangle: the left edge is not a meridian here (grid convergence)
    assert ov.corners[0][0] != pytest.approx(ov.corners[3][0], abs=1e-7)
    img = _image(ov)
    assert img.shape[:2] == (300, 500) and ov.path.suffix == ".jpg"
    assert np.abs(img.reshape(-1, 3).astype(int).mean(axis=0) - [30, 140, 60]).max() <= 3


def test_geographic_scene_is_decimated_to_max_px_and_keeps_nodata_transparent(tmp_path):
    data = np.full((3, 400, 1000), 200, dtype=np.uint8)
    data[:, :, :100] = 0  # nodata strip on the west
    tr = from_origin(36.5, -1.0, 0.001, 0.001)
    scene = write_geotiff(tmp_path / "geo.tif", data, crs="EPSG:4326", transform=tr, nodata=0)
    ov = overview.render_overview(scene, max_px=250, cache=tmp_path / "cache")
    assert ov.corners == [[36.5, -1.0], [37.5, -1.0], [37.5, -1.4], [36.5, -1.4]]
    img = _image(ov)
    assert img.shape == (100, 250, 4) and ov.path.suffix == ".png"
    assert (img[:, :20, 3] == 0).all() and (img[:, 30:, 3] == 255).all()
    assert (img[:, 30:, :3] == 200).all()


def test_rotated_scene_corners_go_through_the_affine(tmp_path):
    tr = Affine.translation(500000, 9900000) * Affine.rotation(20) * Affine.scale(5, -5)
    scene = write_geotiff(tmp_path / "rot.tif", np.full((3, 40, 60), 90, np.uint8), crs="EPSG:32737", transform=tr)
    ov = overview.render_overview(scene, cache=tmp_path / "cache")
    from rasterio.warp import transform

    px = [(0, 0), (60, 0), (60, 40), (0, 40)]
    xs, ys = zip(*[tr * p for p in px], strict=True)
    lon, lat = transform("EPSG:32737", "EPSG:4326", list(xs), list(ys))
    np.testing.assert_allclose(np.asarray(ov.corners), np.c_[lon, lat], atol=1e-9)


def test_six_band_16_bit_scene_uses_the_named_rgb_bands_and_percentile_scaling(tmp_path, rng):
    data = rng.integers(1000, 1100, size=(6, 60, 80)).astype(np.uint16)
    data[2] += 3000  # "red" (band 3) brightest
    scene = write_geotiff(tmp_path / "ms.tif", data)
    bands = BandConfig(
        bands=(1, 2, 3, 4, 5, 6), names=("blue", "green", "red", "nir", "swir1", "swir2"), scaling="percentile"
    )
    img = _image(overview.render_overview(scene, bands, cache=tmp_path / "cache"))
    assert img.shape == (60, 80, 3)
    assert 100 < img[..., 0].mean() < 160 and len(np.unique(img[..., 0])) > 50  # stretched per band, not clipped
    fixed = BandConfig(bands=(3, 2, 1), scaling="fixed", value_range=(0, 4100))
    img2 = _image(overview.render_overview(scene, fixed, cache=tmp_path / "cache"))
    assert img2[..., 0].mean() > 240 and img2[..., 1].mean() < 80  # band 3 shown red, bright on 0–4100


def test_overview_is_rendered_once_then_read_from_the_cache(tmp_path, rng):
    scene = write_geotiff(tmp_path / "s.tif", rng.integers(0, 256, size=(3, 64, 64), dtype=np.uint8))
    cache = tmp_path / "cache"
    before = overview.SCENE_READS
    first = overview.render_overview(scene, cache=cache)
    stamp = first.path.stat().st_mtime_ns
    again = overview.render_overview(scene, cache=cache)
    assert overview.SCENE_READS - before == 1  # the second load did not open the scene
    assert again == first and again.path.stat().st_mtime_ns == stamp
    other = overview.render_overview(scene, BandConfig(bands=(3, 2, 1)), cache=cache)
    assert overview.SCENE_READS - before == 2 and other.path != first.path  # other bands: another overview
    os.utime(scene, ns=(stamp + 10**9, stamp + 10**9))  # the scene changed: rendered again
    overview.render_overview(scene, cache=cache)
    assert overview.SCENE_READS - before == 3


def test_layers_go_under_the_traces_of_a_map(tmp_path, rng):
    import geopandas as gpd
    from shapely.geometry import box

    from tlgeo import viz

    scene = write_geotiff(tmp_path / "s.tif", rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8))
    tiles = gpd.GeoDataFrame({"tile_id": ["a"], "c": ["x"]}, geometry=[box(257000, 9857968, 257016, 9857984)])
    tiles = tiles.set_crs(32737)
    fig = viz.tiles_map(tiles, "c")
    pred = overview.array_layer(np.zeros((4, 4, 4), np.uint8), [[0, 1], [1, 1], [1, 0], [0, 0]], opacity=0.6)
    viz.add_map_layers(fig, [pred])
    viz.add_map_layers(fig, overview.imagery_layers([scene], opacity=0.8, cache=tmp_path / "c"), below=True)
    layers = fig.layout.map.layers
    assert [ly.opacity for ly in layers] == [0.8, 0.6]  # the scene below the prediction raster
    assert all(ly.below == "traces" and ly.sourcetype == "image" for ly in layers)
    assert layers[0].source.startswith("data:image/jpeg;base64,") and len(fig.data) == 1


def test_small_prediction_rasters_are_enlarged_cell_for_cell():
    """One cell per tile: enlarged by repetition so the map's linear resampling cannot smear cells together."""
    import base64

    rgba = np.zeros((32, 20, 4), np.uint8)
    rgba[:16, :, 0] = 255
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # an uncovered cell stays transparent
    layer = overview.array_layer(rgba, [[0, 1], [1, 1], [1, 0], [0, 0]])
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(layer["source"].split(",", 1)[1]))))
    assert img.shape == (512, 320, 4)  # factor 16 on both axes: the aspect ratio is kept
    assert np.array_equal(img[::16, ::16], rgba)  # each cell is a block of its own value
    assert set(np.unique(img[..., 0])) == {0, 255}  # no blended values


def _prediction_tif(path):
    import rasterio

    probs = np.zeros((3, 4, 6), dtype="float32")
    probs[0, :, :2], probs[1, :, 2:4], probs[2, :, 4:] = 1.0, 0.5, 1.0
    probs[2, :, 2:4] = 0.5  # two classes tied: most uncertain
    index = probs.argmax(axis=0).astype("float32")
    index[0, 0] = probs[:, 0, 0] = -1  # not covered
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=6,
        height=4,
        count=4,
        dtype="float32",
        nodata=-1.0,
        crs="EPSG:32737",
        transform=from_origin(257000, 9858000, 16, 16),
    ) as ds:
        ds.write(np.concatenate([index[None], probs]))
        for i, name in enumerate(["class_index", "prob_good", "prob_fair", "prob_poor"], start=1):
            ds.set_band_description(i, name)
        ds.update_tags(1, classes="0=good,1=fair,2=poor")
    return path


@pytest.mark.parametrize("mode", ["class", "probability", "uncertainty"])
def test_prediction_geotiff_as_a_raster_layer(tmp_path, mode):
    import base64

    from tlgeo.viz_raster import prediction_classes, prediction_layer

    tif = _prediction_tif(tmp_path / "p.tif")
    assert prediction_classes(tif) == ["good", "fair", "poor"]
    layer = prediction_layer(tif.read_bytes(), mode=mode, class_name="poor", opacity=0.5)
    assert layer["opacity"] == 0.5 and len(layer["coordinates"]) == 4
    big = np.asarray(Image.open(io.BytesIO(base64.b64decode(layer["source"].split(",", 1)[1]))))
    assert big.shape == (4 * 86, 6 * 86, 4)  # one block per cell (enlarged for the map)
    img = big[::86, ::86]
    assert np.array_equal(big, np.repeat(np.repeat(img, 86, axis=0), 86, axis=1))
    assert img.shape == (4, 6, 4) and img[0, 0, 3] == 0 and (img[1:, :, 3] == 255).all()
    if mode == "class":
        assert tuple(img[2, 0, :3]) == (0x1A, 0x98, 0x50) and tuple(img[2, 5, :3]) == (0xD7, 0x30, 0x27)
    else:  # light where the value is low, dark where high
        low, high = img[2, 0, :3].astype(int).sum(), img[2, 5 if mode == "probability" else 3, :3].astype(int).sum()
        assert high < low


def test_prediction_layer_refuses_unknown_mode_and_class(tmp_path):
    from tlgeo.errors import ConfigError
    from tlgeo.viz_raster import prediction_layer

    tif = _prediction_tif(tmp_path / "p.tif")
    with pytest.raises(ConfigError, match="mode"):
        prediction_layer(tif, mode="heat")
    with pytest.raises(ConfigError, match="Unknown class 'bad'"):
        prediction_layer(tif, mode="probability", class_name="bad")
