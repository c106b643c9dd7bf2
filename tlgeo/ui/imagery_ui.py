"""Imagery under the maps, prediction rasters, tile inspection with Grad-CAM, calibration: widget groups.

Overviews come from :mod:`tlgeo.overview` (rendered once per scene, cached on disk); prediction rasters from
:mod:`tlgeo.viz_raster`; heat maps from :mod:`tlgeo.explain`; reliability from :mod:`tlgeo.calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from tlgeo.config import BandConfig


@st.cache_data(show_spinner="Drawing the imagery…", max_entries=16)
def _layers(scenes: tuple[str, ...], bands_json: str, stamps: tuple[int, ...]) -> list[dict]:
    import json

    from tlgeo._utils import from_dict
    from tlgeo.config import BandConfig
    from tlgeo.overview import imagery_layers

    bands = from_dict(BandConfig, json.loads(bands_json), where="bands") if bands_json else None
    return imagery_layers(scenes, bands)


def imagery_layers(scenes: Sequence[str | Path], bands: BandConfig | None, opacity: float) -> list[dict]:
    """Cached overview layers of scenes (see :func:`tlgeo.overview.imagery_layers`) at ``opacity``."""
    import json

    from tlgeo._utils import to_dict

    paths = tuple(sorted({str(p) for p in scenes}))
    stamps = tuple(Path(p).stat().st_mtime_ns if Path(p).exists() else 0 for p in paths)
    layers = _layers(paths, json.dumps(to_dict(bands), default=str) if bands else "", stamps)
    return [{**layer, "opacity": opacity} for layer in layers]


def imagery_ui(key: str, *, default: bool = True) -> float | None:
    """Toggle and opacity slider of the imagery under a map; returns the opacity, or ``None`` when off."""
    c1, c2 = st.columns([1, 2])
    on = c1.toggle("Imagery under the map", value=default, key=f"{key}_imagery")
    if not on:
        return None
    return c2.slider("Imagery opacity", 0.0, 1.0, 1.0, 0.05, key=f"{key}_opacity", label_visibility="collapsed")


def add_imagery(fig: go.Figure, scenes: Sequence[str | Path], bands: BandConfig | None, opacity: float | None) -> None:
    """Put the scenes' overviews under the figure's traces (nothing when ``opacity`` is ``None``)."""
    from tlgeo.viz import add_map_layers

    if opacity is None or not len(scenes):
        return
    from tlgeo.errors import TlgeoError

    try:
        add_map_layers(fig, imagery_layers(scenes, bands, opacity), below=True)
    except TlgeoError as exc:
        st.caption(f"No imagery under the map: {exc}")


def task_scenes(tiles) -> list[str]:
    """The scene files of a tile index (its ``path`` column)."""
    return sorted({str(p) for p in tiles["path"]}) if tiles is not None and "path" in tiles else []
