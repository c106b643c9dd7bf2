"""Live training feedback: a :class:`~tlgeo.train.TrainCallback` that drives ``st.progress``, a status line with
elapsed time and ETA, and a plotly learning-curve placeholder redrawn while Keras trains.

Training runs inside the script run (no thread): every callback call sends a small delta to the browser, so the bar
and the curves move while the page waits for the result.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from tlgeo import viz
from tlgeo.train import TrainCallback

if TYPE_CHECKING:
    pass

_STRATEGY_STAGE = re.compile(r"^=== (\w+) ===$")


def format_seconds(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class StreamlitTrainCallback(TrainCallback):
    """Progress bar, stage log, elapsed/ETA and live learning curves in a container.

    Args:
        container: Where to draw (default: the main area).
        device: Device description shown with the progress (``tlgeo.devices.device_report().summary``).
        label: Heading of the status box.
        redraw_s: Minimum seconds between curve redraws (fold ends always redraw).
    """

    def __init__(self, container=None, *, device: str = "", label: str = "Training", redraw_s: float = 0.6):
        box = container or st.container()
        self.device = device
        self.status = box.status(f"{label} on {device}" if device else label, expanded=True)
        self.bar = box.progress(0.0, text="Starting…")
        self.chart = box.empty()
        self.fold_table = box.empty()
        self.records: list[dict] = []
        self.fold_rows: list[dict] = []
        self.strategy: str | None = None
        self.start = time.perf_counter()
        self.redraw_s = redraw_s
        self._last_bar = 0.0
        self._last_chart = 0.0
        self._draws = 0
        self._key = f"live-{id(self)}"

    # -- TrainCallback
    def on_stage(self, message: str) -> None:
        match = _STRATEGY_STAGE.match(message)
        if match:
            self.strategy = match.group(1)
        self.status.write(message)

    def on_progress(self, fraction: float, message: str) -> None:
        now = time.perf_counter()
        if now - self._last_bar < 0.2 and fraction < 1.0:
            return
        self._last_bar = now
        elapsed = now - self.start
        text = message if "elapsed" in message else f"{message} — {format_seconds(elapsed)} elapsed"
        where = f" · {self.device}" if self.device else ""
        self.bar.progress(min(max(fraction, 0.0), 1.0), text=f"{fraction:.0%} · {text}{where}")

    def on_epoch_end(self, record: dict) -> None:
        self.records.append({**record, "strategy": self.strategy} if self.strategy else dict(record))
        if time.perf_counter() - self._last_chart >= self.redraw_s:
            self.draw()

    def on_fold_end(self, fold: int, metrics: dict) -> None:
        mean = metrics.get("mean", {})
        row = {"fold": fold, **{m: round(v, 3) for m, v in mean.items()}}
        if self.strategy:
            row = {"strategy": self.strategy, **row}
        self.fold_rows.append(row)
        self.fold_table.dataframe(pd.DataFrame(self.fold_rows), hide_index=True)
        self.draw()

    # -- drawing
    def history(self) -> pd.DataFrame:
        """Epoch records so far (of the current strategy when comparing)."""
        frame = pd.DataFrame(self.records)
        if self.strategy and "strategy" in frame:
            frame = frame[frame["strategy"] == self.strategy]
        return frame

    def draw(self) -> None:
        """Redraw the learning curves now."""
        self._last_chart = time.perf_counter()
        hist = self.history()
        if hist.empty:
            return
        self._draws += 1
        title = f"Learning curves — {self.strategy}" if self.strategy else "Learning curves (live)"
        self.chart.plotly_chart(
            viz.learning_curves(hist, title=title), key=f"{self._key}-{self._draws}", config={"displayModeBar": False}
        )

    def done(self, message: str) -> None:
        """Mark the work complete."""
        self.draw()
        elapsed = format_seconds(time.perf_counter() - self.start)
        self.bar.progress(1.0, text=f"100% · done in {elapsed}")
        self.status.update(label=f"{message} ({elapsed})", state="complete", expanded=False)

    def failed(self) -> None:
        """Mark the work failed (the error itself is shown by ``tlgeo.ui.errors``)."""
        self.status.update(label="Stopped by an error", state="error", expanded=True)
