"""Save a screenshot of every dashboard page into ``docs/screenshots/`` (headless chromium, selenium).

    python scripts/screenshots.py                   # trains a small real run first (EfficientNet-Lite0, ~30 s on CPU)
    python scripts/screenshots.py --out /tmp/shots --pages data evaluate

The app runs on a free loopback port with a temporary runs folder (``TLGEO_RUNS``) so your own runs are untouched.
For pages whose content comes from an action, the action is performed first: Train is captured while it fine-tunes a
run (live progress and curves), Compare runs three strategies at 64 px for 2 epochs, Predict predicts a scene of the
sample (drawn along the drive tracks, as tiles, and as an uncertainty raster); Evaluate adds its Calibration and
Hard-examples tabs. Maps show the imagery under their layers.
PNGs are palette-quantised to stay small (a few hundred KB at most).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser  # scripts/browser.py, shared with scripts/screenshots.py

ROOT = browser.ROOT
PAGES = ("data", "villages", "landcover", "train", "compare", "evaluate", "predict")
WIDTH = 1400


def train_run(runs: Path, sample: Path, cache: Path) -> Path:
    """A small real run for the Evaluate and Predict pages: frozen EfficientNet-Lite0 features at 128 px."""
    import os

    os.environ["TLGEO_CACHE"] = str(cache)
    sys.path.insert(0, str(ROOT))
    from tlgeo.config import TrainConfig
    from tlgeo.runs import save_run
    from tlgeo.tasks import load_task
    from tlgeo.train import train

    data = load_task(sample / "roads")
    result = train(data, TrainConfig(backbone="efficientnet_lite0", strategy="frozen_head", img_size=128))
    return save_run(
        result, data.settings, runs, extra={"data": str((sample / "roads").resolve()), "bins": data.bins}
    ).path


def save(driver, path: Path, *, max_height: int = 3200, idle: bool = True) -> None:
    """Resize the window to the page's content, screenshot it and quantise the PNG.

    With ``idle=False`` the page is captured while its script still runs (live training).
    """
    from PIL import Image
    from selenium.webdriver.common.by import By

    driver.set_window_size(WIDTH, 900)  # measure the content, not the previous window
    time.sleep(0.5)
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=stMain]'); return m ? m.scrollHeight : 1000;"
    )
    driver.set_window_size(WIDTH, min(max(int(height) + (40 if idle else 200), 900), max_height))
    time.sleep(1.5)  # maps re-layout after a resize
    if idle:
        browser.wait_idle(driver)
    for plot in driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"):
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", plot)
    driver.execute_script("document.querySelector('[data-testid=stMain]').scrollTo(0, 0);")
    time.sleep(1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_suffix(".raw.png")
    driver.save_screenshot(str(raw))
    Image.open(raw).convert("RGB").quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    raw.unlink()
    print(f"{path}  {path.stat().st_size / 1024:.0f} KB", flush=True)


def click(driver, text: str, timeout: float = 60.0) -> None:
    """Click the first enabled button whose text contains ``text``."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for b in driver.find_elements(By.CSS_SELECTOR, "button"):
            if text in b.text and b.is_enabled():
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", b)
                b.click()
                return
        time.sleep(0.25)
    raise TimeoutError(f"no enabled button {text!r}")


def set_number(driver, label: str, value: int) -> None:
    """Type a value into the number input labelled ``label``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for box in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stNumberInput]"):
        if label in box.text or box.find_elements(By.CSS_SELECTOR, f"input[aria-label='{label}']"):
            field = box.find_element(By.CSS_SELECTOR, "input")
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(str(value), Keys.TAB)
            return
    raise LookupError(f"no number input {label!r}")


def slider_left(driver, label: str, steps: int) -> None:
    """Move the select-slider labelled ``label`` ``steps`` options to the left."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for box in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stSlider]"):
        if label in box.text:
            thumb = box.find_element(By.CSS_SELECTOR, "input[type=range], [role=slider]")
            driver.execute_script("arguments[0].focus();", thumb)  # the range input is visually hidden
            for _ in range(steps):
                ActionChains(driver).send_keys(Keys.ARROW_LEFT).perform()
            return
    raise LookupError(f"no slider {label!r}")


def choose(driver, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.CSS_SELECTOR, f"input[aria-label='{label}']")
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(option)
    time.sleep(0.5)
    field.send_keys(Keys.ENTER)


def wait_progress(driver, fraction: float, timeout: float = 600.0) -> None:
    """Wait until the page's progress bar reaches ``fraction`` (its text starts with a percentage)."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for bar in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stProgress]"):
            head = bar.text.split("%")[0].strip()
            if head.isdigit() and int(head) >= fraction * 100:
                return
        time.sleep(0.3)
    raise TimeoutError(f"progress did not reach {fraction:.0%}")


def shoot(url: str, out: Path, pages: list[str]) -> None:
    with browser.chromium(width=WIDTH, height=1000) as driver:
        for page in pages:
            browser.open_page(driver, url, "" if page in ("data", "villages", "landcover") else page, timeout=300)
            if page in ("villages", "landcover"):  # the Data page of the village-indicator or classes task
                choose(driver, "Task", "Village" if page == "villages" else "Your own classes")
                time.sleep(1)
                browser.wait_idle(driver, timeout=300)
            elif page == "train":  # captured live, while fine-tuning at 64 px
                choose(driver, "Strategy", "fine_tune_top")
                slider_left(driver, "Image size", 2)
                set_number(driver, "Fine-tuning / scratch epochs", 3)
                click(driver, "Train and save a run")
                wait_progress(driver, 0.6)
                save(driver, out / "train.png", idle=False)
                browser.wait_idle(driver, timeout=900)
                continue
            elif page == "compare":
                slider_left(driver, "Image size", 2)  # 128 → 64 px
                set_number(driver, "Fine-tuning / scratch epochs", 2)
                click(driver, "Compare")
                time.sleep(2)
                browser.wait_idle(driver, timeout=900, settle=2.0)
            elif page == "predict":
                from selenium.webdriver.common.by import By

                for option in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stRadio] label"):
                    if "A scene of the current data" in option.text:
                        option.click()
                browser.wait_idle(driver)
                click(driver, "sliding windows")
                time.sleep(2)
                browser.wait_idle(driver, timeout=600)
            save(driver, out / f"{page}.png")
            if page in ("villages", "landcover"):
                choose(driver, "Task", "Road")
                time.sleep(1)
                browser.wait_idle(driver, timeout=300)
            if page == "predict":
                from selenium.webdriver.common.by import By

                for toggle in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stCheckbox] label"):
                    if "Draw along the roads" in toggle.text:  # on by default for roads
                        toggle.click()
                browser.wait_idle(driver)
                save(driver, out / "predict_tiles.png")  # the same prediction as tiles
                pick(driver, "[data-testid=stRadio] label", "raster")  # the prediction GeoTIFF over the imagery
                pick(driver, "[data-testid=stRadio] label", "uncertainty")
                save(driver, out / "predict_raster.png")
            if page == "evaluate":
                pick(driver, "[data-testid=stTab], button[role=tab]", "Calibration")
                save(driver, out / "evaluate_calibration.png")
                pick(driver, "[data-testid=stTab], button[role=tab]", "Hard examples")
                time.sleep(2)
                save(driver, out / "evaluate_hard.png")


def pick(driver, css: str, text: str) -> None:
    """Click the first element matching ``css`` whose visible text starts with ``text`` and wait for the app."""
    driver.execute_script(
        "for (const el of document.querySelectorAll(arguments[0])) {"
        "  if (el.innerText.trim().startsWith(arguments[1])) { el.scrollIntoView({block: 'center'}); el.click(); return; }"
        "}",
        css,
        text,
    )
    time.sleep(1)
    browser.wait_idle(driver, timeout=300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--sample", type=Path, default=ROOT / "sample_data", help="sample data folder")
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES))
    args = parser.parse_args(argv)
    reason = browser.missing_browser()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    if not (args.sample / "roads" / "imagery").is_dir():
        print(
            f"error: no sample data in {args.sample}; run `python -m tlgeo sample --out {args.sample}`", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="tlgeo-shots-") as tmp:
        tmp = Path(tmp)
        cache = Path(tempfile.gettempdir()) / "tlgeo-screenshots-cache"
        if {"evaluate", "predict"} & set(args.pages):
            print("training a small run for Evaluate and Predict …", flush=True)
            train_run(tmp / "runs", args.sample, cache)
        env = {"TLGEO_RUNS": str(tmp / "runs"), "TLGEO_SAMPLE_DATA": str(args.sample), "TLGEO_CACHE": str(cache)}
        with browser.streamlit_server(env, log=tmp / "streamlit.log") as url:
            shoot(url, args.out, args.pages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
