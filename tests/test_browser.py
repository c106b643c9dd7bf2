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
