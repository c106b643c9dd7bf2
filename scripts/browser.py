"""Drive the dashboard in a real headless browser (Debian ``chromium`` + ``chromium-driver``, ``selenium``).

Used by ``scripts/screenshots.py`` and ``tests/test_browser.py`` (recipe of DESIGN §5): start ``streamlit run app.py``
on a free loopback port, poll ``/_stcore/health``, open pages in headless chromium and wait until the script has
finished running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("TLGEO_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TLGEO_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing_browser() -> str | None:
    """Why a browser session cannot start here (``None`` when chromium, chromedriver and selenium are present)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() or shutil.which(path)):
            return f"{path} not found (install Debian packages chromium and chromium-driver; .ci/run does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements.txt)"
    return None


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(
    env: dict[str, str] | None = None, *, timeout: float = 90.0, log: Path | None = None
) -> Iterator[str]:
    """Run ``streamlit run app.py`` on loopback; yields the base URL and stops the server afterwards."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {proc.returncode} (see {log or 'its output'})")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not become healthy on {url} within {timeout:.0f} s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


@contextlib.contextmanager
def chromium(download_dir: Path | None = None, *, width: int = 1400, height: int = 1000) -> Iterator[object]:
    """A headless chromium WebDriver (downloads allowed into ``download_dir``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tlgeo-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
    ):
        opts.add_argument(flag)
    if download_dir is not None:
        opts.add_experimental_option(
            "prefs", {"download.default_directory": str(download_dir), "download.prompt_for_download": False}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        if download_dir is not None:
            driver.execute_cdp_cmd(
                "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
            )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_idle(driver, timeout: float = 120.0, settle: float = 1.0) -> None:
    """Wait until the app has run its script and stayed idle for ``settle`` seconds.

    Streamlit marks ``[data-testid=stApp]`` with ``data-test-script-state`` (``initial``, ``running``,
    ``notRunning``, …); idle means ``notRunning`` with no status widget ("Running…") and no skeleton showing.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=stApp]")))
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        app = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stApp]")
        script = app[0].get_attribute("data-test-script-state") if app else None
        busy = driver.find_elements(
            By.CSS_SELECTOR, "[data-testid=stStatusWidget], [data-testid=stSkeleton], [data-testid=stAppSkeleton]"
        )
        if script != "notRunning" or busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the app was still running after {timeout:.0f} s")


def open_page(driver, base_url: str, page: str, timeout: float = 120.0) -> None:
    """Open a page by its URL path (``""`` for the default page) and wait for it to finish running."""
    driver.get(f"{base_url}/{page}")
    wait_idle(driver, timeout)


def wait_for(driver, css: str, timeout: float = 60.0, *, count: int = 1):
    """Wait until at least ``count`` elements match ``css``; returns them."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        if len(found) >= count:
            return found
        time.sleep(0.25)
    raise TimeoutError(f"no {css!r} after {timeout:.0f} s")
