"""The dashboard in a real browser (DESIGN §5): start ``streamlit run app.py`` on loopback, open Predict in headless
chromium, upload a GeoTIFF tile, predict it with a tiny run made in setup, download the GeoJSON and read it with
geopandas. Needs Debian ``chromium`` + ``chromium-driver`` and ``selenium`` (``.ci/run`` installs them)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.test_ui_pages import ROADS, SAMPLE_ROOT, _need, make_tiny_run, tile_bytes
from tlgeo.ui import state

sys.path.insert(0, str(ROOT / "scripts"))
import browser  # scripts/browser.py, shared with scripts/screenshots.py

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free loopback port, with one tiny run in its runs folder."""
    reason = browser.missing_browser()
    if reason:
        pytest.skip(f"no real browser here: {reason}")
    _need(ROADS)
    tmp = tmp_path_factory.mktemp("browser")
    cache = tmp_path_factory.getbasetemp() / "tlgeo-cache"
    run = make_tiny_run(tmp / "runs", cache)
    env = {
        state.RUNS_ENV: str(tmp / "runs"),
        state.SAMPLE_ENV: str(SAMPLE_ROOT),
        "TLGEO_CACHE": str(cache),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    with browser.streamlit_server(env, log=tmp / "streamlit.log") as url:
        yield url, run, tmp


def _click(driver, text: str, timeout: float = 60.0):
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for b in driver.find_elements(By.CSS_SELECTOR, "button"):
            if text in b.text and b.is_enabled():
                b.click()
                return
        time.sleep(0.25)
    raise TimeoutError(f"no enabled button {text!r}")


def test_predict_upload_and_download_geojson_in_chromium(server):
    from selenium.webdriver.common.by import By

    url, run, tmp = server
    tile = tmp / "upload" / "my tile.tif"
    tile.parent.mkdir()
    scene = sorted((ROADS / "imagery").glob("*.tif"))[0]
    tile.write_bytes(tile_bytes(scene, 640, 320))
    downloads = tmp / "downloads"
    downloads.mkdir()
    with browser.chromium(downloads) as driver:
        browser.open_page(driver, url, "predict")  # a first request for a sub-page still gets the app's navigation
        assert "Predict" in driver.find_element(By.CSS_SELECTOR, "h1").text
        sidebar = driver.find_element(By.CSS_SELECTOR, "[data-testid=stSidebar]").text
        assert "Active run" in sidebar and "Evaluate" in sidebar
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(tile))
        browser.wait_for(driver, "[data-testid=stFileChipName]")
        browser.wait_idle(driver)
        _click(driver, "Predict 1 uploaded")
        browser.wait_for(driver, "[data-testid=stDownloadButton] button", timeout=120, count=2)
        browser.wait_idle(driver)
        assert driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")  # the predictions map
        _click(driver, "Download GeoJSON")
        deadline = time.monotonic() + 30
        files: list[Path] = []
        while time.monotonic() < deadline:
            files = [p for p in downloads.iterdir() if p.suffix == ".geojson"]
            if files and not list(downloads.glob("*.crdownload")):
                break
            time.sleep(0.25)
    assert len(files) == 1 and files[0].name == f"predictions_{run.name}.geojson"
    gdf = gpd.read_file(files[0])
    assert len(gdf) == 1 and gdf.crs.to_epsg() == 4326
    assert gdf.loc[0, "tile_id"] == "my_tile" and gdf.loc[0, "label"] in ("good", "fair", "poor")
    np.testing.assert_allclose(gdf[["prob_good", "prob_fair", "prob_poor"]].sum(axis=1), 1.0, rtol=1e-4)
    west, south, east, north = gdf.total_bounds
    assert 36 < west < east < 38 and -2 < south < north < 0  # the tile near Nairobi, lon/lat order


def _dominant(scene: Path) -> np.ndarray:
    """The scene's most common colour (5-bit bins) on its overview, as RGB."""
    from PIL import Image

    from tlgeo.overview import render_overview

    rgb = np.asarray(Image.open(render_overview(scene).path).convert("RGB")).reshape(-1, 3) // 32
    values, counts = np.unique(rgb, axis=0, return_counts=True)
    return values[counts.argmax()] * 32 + 16


def _map_pixels(driver) -> np.ndarray:
    """A screenshot of the first map on the page (a plotly chart with a MapLibre canvas), RGB."""
    import io

    from PIL import Image
    from selenium.webdriver.common.by import By

    browser.wait_for(driver, ".js-plotly-plot .maplibregl-canvas", timeout=60)
    time.sleep(3)  # MapLibre draws its layers after the chart reports ready
    plot = next(
        p
        for p in driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        if p.find_elements(By.CSS_SELECTOR, ".maplibregl-canvas")
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", plot)
    time.sleep(1)
    return np.asarray(Image.open(io.BytesIO(plot.screenshot_as_png)).convert("RGB"))


def _assert_imagery(pixels: np.ndarray, dominant: np.ndarray, what: str) -> None:
    h, w = pixels.shape[:2]
    distinct = len(np.unique(pixels.reshape(-1, 3) // 8, axis=0))
    assert distinct >= 400, f"{what}: only {distinct} distinct colours — no imagery under the map?"
    centre = pixels[int(h * 0.35) : int(h * 0.65), int(w * 0.35) : int(w * 0.65)].reshape(-1, 3).astype(int)
    near = (np.abs(centre - dominant).max(axis=1) <= 24).mean()
    assert near >= 0.1, f"{what}: the scene's dominant colour {dominant.tolist()} covers {near:.0%} of the centre"


def test_data_and_predict_maps_show_the_imagery(server):
    """Imagery under the maps, offline: the Data map (first scene) and the Predict map of a predicted scene show the
    scene's pixels — many colours, and the scene's dominant colour where the scene lies (the map's centre)."""
    url, _run, _tmp = server
    scene = sorted((ROADS / "imagery").glob("*.tif"))[0]
    dominant = _dominant(scene)
    with browser.chromium() as driver:
        browser.open_page(driver, url, "data")
        data_map = _map_pixels(driver)
        _assert_imagery(data_map, dominant, "Data map")
        browser.open_page(driver, url, "predict")
        from selenium.webdriver.common.by import By

        for label in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stRadio] label"):
            if "A scene of the current data" in label.text:
                label.click()
        browser.wait_idle(driver)
        _click(driver, f"Predict {scene.name}")
        browser.wait_for(driver, "[data-testid=stDownloadButton] button", timeout=180, count=3)
        browser.wait_idle(driver)
        _assert_imagery(_map_pixels(driver), dominant, "Predict map")
