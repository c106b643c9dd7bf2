"""Concurrent dashboard sessions: N real browser sessions each upload a tile and predict on the Predict page.

One ``streamlit run app.py`` server on loopback; headless chromium sessions (selenium, real websocket sessions, not
plain GETs) drive the Predict page exactly as a user would: open it, upload a GeoTIFF tile, click "Predict 1
uploaded", wait for the download buttons. Measured in the same run:

1. **One session** alone (the baseline): peak RSS of the server process (psutil, sampled every 50 ms).
2. **N sessions at once** on the same server: all must succeed; peak RSS of the server against the baseline's
   (target ≤ 1.5 ×); the model must be loaded once per process (``st.cache_resource``), counted from the server
   log line ``tlgeo.ui: loading the model of …``.

Usage::

    python bench/bench_load.py [--sessions 8]     # about 2–4 minutes on 2 cores
    python bench/bench_load.py --smoke            # 2 concurrent sessions only, no baseline (CI, < 1 min)

Needs Debian ``chromium`` + ``chromium-driver`` and ``selenium`` (as tests/test_browser.py); without them it says so
and exits 0. Browser memory is not counted (the browsers stand in for users' machines).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


class RssSampler:
    """Peak RSS of a process tree, sampled every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.05):
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def server_pid(url: str) -> int:
    """The pid of the process listening on the URL's port."""
    import psutil

    port = int(url.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return conn.pid
    raise RuntimeError(f"no process listens on port {port}")


def one_session(url: str, tile: Path, index: int, timeout: float) -> dict:
    """Open Predict, upload ``tile``, predict, wait for the downloads; returns timings and success."""
    import browser
    from selenium.webdriver.common.by import By

    t0 = time.perf_counter()
    try:
        with browser.chromium(width=1200, height=900) as driver:
            browser.open_page(driver, url, "predict", timeout=timeout)
            driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(tile))
            browser.wait_for(driver, "[data-testid=stFileChipName]", timeout=timeout)
            browser.wait_idle(driver, timeout=timeout)
            deadline = time.monotonic() + timeout
            while True:
                buttons = [b for b in driver.find_elements(By.CSS_SELECTOR, "button") if "Predict 1 uploaded" in b.text]
                if buttons and buttons[0].is_enabled():
                    buttons[0].click()
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("no Predict button")
                time.sleep(0.25)
            browser.wait_for(driver, "[data-testid=stDownloadButton] button", timeout=timeout, count=2)
            errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stAlertContentError]")]
            ok = not errors
    except Exception as exc:  # a failed session is a result, not a crash of the bench
        return {"session": index, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300], "seconds": 0.0}
    return {"session": index, "ok": ok, "errors": errors, "seconds": time.perf_counter() - t0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=8, help="concurrent sessions (default 8)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per session step")
    p.add_argument("--smoke", action="store_true", help="2 concurrent sessions, no single-session baseline (CI)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args()
    if args.smoke:
        args.sessions = 2

    import browser

    reason = browser.missing_browser()
    if reason:
        print(f"skipped: no real browser here ({reason})")
        return 0
    from tests.test_ui_pages import ROADS, make_tiny_run, scene_path, tile_bytes
    from tlgeo.ui import state

    if not (ROADS / "imagery").is_dir():
        print(f"skipped: {ROADS} is missing (python -m tlgeo sample)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="tlgeo-bench-load-"))
    try:
        cache = tmp / "cache"
        t = time.perf_counter()
        os.environ["TLGEO_CACHE"] = str(cache)
        make_tiny_run(tmp / "runs", cache)
        tile = tmp / "tile.tif"
        tile.write_bytes(tile_bytes(scene_path(), 640, 320))
        print(f"tiny run ready in {time.perf_counter() - t:.0f} s; {args.sessions} concurrent sessions")
        env = {
            state.RUNS_ENV: str(tmp / "runs"),
            state.SAMPLE_ENV: str(ROADS.parent),
            "TLGEO_CACHE": str(cache),
        }
        log = tmp / "streamlit.log"
        report: dict = {"sessions": args.sessions}
        with browser.streamlit_server(env, log=log) as url:
            pid = server_pid(url)
            import psutil

            idle = psutil.Process(pid).memory_info().rss
            if args.smoke:  # no baseline session: the smoke run only checks that concurrent sessions work
                single, one = {"ok": True, "seconds": 0.0}, None
            else:
                with RssSampler(pid) as one:
                    single = one_session(url, tile, 0, args.timeout)
                print(
                    f"1 session: ok={single['ok']} in {single['seconds']:.1f} s; "
                    f"server peak RSS {one.peak / 2**20:.0f} MiB"
                )
            with RssSampler(pid) as many, ThreadPoolExecutor(args.sessions) as pool:
                t = time.perf_counter()
                results = list(pool.map(lambda i: one_session(url, tile, i, args.timeout), range(1, args.sessions + 1)))
                wall = time.perf_counter() - t
            time.sleep(0.5)
        loads = log.read_text(errors="replace").count("tlgeo.ui: loading the model of")
        ok = sum(r["ok"] for r in results)
        ratio = many.peak / one.peak if one else float("nan")
        print(
            f"{args.sessions} sessions at once: {ok}/{args.sessions} succeeded in {wall:.1f} s "
            f"(per session {min(r['seconds'] for r in results):.1f}–{max(r['seconds'] for r in results):.1f} s)"
        )
        if one is not None:
            print(
                f"server peak RSS: idle {idle / 2**20:.0f} MiB, one session {one.peak / 2**20:.0f} MiB, "
                f"{args.sessions} sessions {many.peak / 2**20:.0f} MiB → {ratio:.2f} × one session's (target ≤ 1.5)"
            )
        else:
            print(f"server peak RSS: idle {idle / 2**20:.0f} MiB, {args.sessions} sessions {many.peak / 2**20:.0f} MiB")
        print(f"model loads in the server process: {loads} (target: 1, st.cache_resource)")
        for r in results:
            if not r["ok"]:
                print(f"  session {r['session']} failed: {r.get('error') or r.get('errors')}")
        report.update(
            ok=ok,
            single_ok=single["ok"],
            wall_s=wall,
            idle_rss=idle,
            one_peak_rss=one.peak if one else None,
            many_peak_rss=many.peak,
            rss_ratio=ratio,
            model_loads=loads,
        )
        print("JSON " + json.dumps(report))
        return 0 if ok == args.sessions and single["ok"] and loads == 1 else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    from tlgeo.quiet import native_stderr_to_log

    with native_stderr_to_log():  # TensorFlow's start-up lines (the tiny run is trained here) go to the log
        status = main()
    raise SystemExit(status)
