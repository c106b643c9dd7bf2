"""Imagery under the maps, prediction rasters, tile inspection with Grad-CAM, calibration: widget groups.

Overviews come from :mod:`tlgeo.overview` (rendered once per scene, cached on disk); prediction rasters from
:mod:`tlgeo.viz_raster`; heat maps from :mod:`tlgeo.explain`; reliability from :mod:`tlgeo.calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from tlgeo.schema import prob_column, prob_columns

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from tlgeo.config import BandConfig
    from tlgeo.runs import Run


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
    on = c1.toggle(
        "Imagery",
        value=default,
        key=f"{key}_imagery",
        help="The scenes under the map (rendered once per scene and cached; works offline).",
    )
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


def beside_folds_ui(fig: go.Figure, key: str, tiles, run: Run, basemap: str, view, opacity: float | None) -> None:
    """The Evaluate page's maps: ``fig`` (keyed ``key``) beside the map of spatial folds, both over the scenes of
    the run's data folder (when it has ``imagery/``).

    Args:
        fig: The left map (errors, or values and residuals).
        key: Its widget key.
        tiles: The run's evaluated tiles (``fold`` and footprints).
        run: The run (its data folder and bands).
        basemap: The maps' style.
        view: Bounds to frame, or None.
        opacity: The imagery's opacity, or None for no imagery.
    """
    from tlgeo import viz
    from tlgeo.ui import cache

    data_dir = run.config.get("data")
    scenes = [str(p) for p in cache.scenes(data_dir)] if data_dir and (Path(data_dir) / "imagery").is_dir() else []
    folds_fig = viz.folds_map(tiles, basemap=basemap, view=view, title="Spatial folds (test fold of each tile)")
    for f in (fig, folds_fig):
        add_imagery(f, scenes, run.bands, opacity)
    c1, c2 = st.columns(2)
    c1.plotly_chart(fig, key=key)
    c2.plotly_chart(folds_fig, key="evaluate_folds")


def task_scenes(tiles) -> list[str]:
    """The scene files of a tile index (its ``path`` column)."""
    return sorted({str(p) for p in tiles["path"]}) if tiles is not None and "path" in tiles else []


# --------------------------------------------------------------------------------------------- chips and Grad-CAM
def _read_chip(row, bands: BandConfig, out_size: int | None) -> np.ndarray:
    from tlgeo.tiles import read_tile

    window = row.get("window") if hasattr(row, "get") else None
    window = tuple(int(v) for v in window) if window is not None and len(window) == 4 else None
    return read_tile(row["path"], window, bands, out_size=out_size).image


def heat_maps(run: Run, rows: list, target: str | None, class_index: list[int] | None = None) -> list[np.ndarray]:
    """Grad-CAM overlays (RGB uint8, the run's input size) of tiles given as rows with ``path`` and ``window``."""
    from tlgeo.explain import grad_cam, overlay
    from tlgeo.ui import cache

    if not rows:
        return []
    predictor = cache.predictor(run)
    chips = np.stack([_read_chip(r, predictor.bands, run.img_size) for r in rows])
    heat, _ = grad_cam(predictor.model, chips, target=target, class_index=class_index)
    return [overlay(c, h, predictor.bands) for c, h in zip(chips, heat, strict=True)]


def selected_tile(event, fig: go.Figure) -> str | None:
    """The tile id of the clicked map feature (its trace's first customdata column), or ``None``."""
    selection = event.get("selection") if isinstance(event, dict) else getattr(event, "selection", None)
    points = (selection or {}).get("points") or []
    for point in points:
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and custom:
            return str(custom[0])
        curve, idx = point.get("curve_number"), point.get("point_index")
        if curve is None or idx is None or curve >= len(fig.data):
            continue
        data = fig.data[curve].customdata
        if data is not None and idx < len(data):
            return str(data[idx][0])
    return None


def inspect_ui(tile_id: str, tiles, run: Run | None, *, label: str | None = None, probs: dict | None = None) -> None:
    """The panel of a clicked tile: the chip at full resolution, its label, probabilities and Grad-CAM."""
    from tlgeo.tiles import rgb_composite
    from tlgeo.ui.errors import ui_errors

    match = tiles[tiles["tile_id"].astype(str) == str(tile_id)] if tiles is not None else None
    st.markdown(f"**Tile `{tile_id}`**" + (f" — label **{label}**" if label else ""))
    if match is None or match.empty or "path" not in match:
        st.caption("This tile's imagery is not part of the current data.")
        return
    row = match.iloc[0]
    bands = run.bands if run is not None else None
    c1, c2, c3 = st.columns([2, 2, 2])
    with ui_errors("reading the tile", stop=False):
        from tlgeo.config import BandConfig

        cfg = bands or BandConfig()
        chip = _read_chip(row, cfg, None)
        c1.image(rgb_composite(chip[None], cfg)[0], caption=f"{chip.shape[1]} × {chip.shape[0]} px", width=220)
    if probs:
        c2.dataframe({"class": list(probs), "probability": [round(float(v), 3) for v in probs.values()]})
    if run is not None:
        with ui_errors("computing Grad-CAM", stop=False):
            target = next(iter(run.targets)) if len(run.targets) == 1 else None
            what = "value" if not run.targets[target or next(iter(run.targets))] else "class"
            c3.image(heat_maps(run, [row], target)[0], caption=f"Grad-CAM of the predicted {what}", width=220)


def hard_examples_ui(ctx, run: Run, target: str, tiles, n: int = 8) -> None:
    """The most confident wrong out-of-fold tiles of a run, each with the Grad-CAM of the class it was given."""
    from tlgeo.ui import cache
    from tlgeo.ui.errors import ui_errors

    classes = run.targets[target]
    probs = tiles[prob_columns(run.targets, target)].to_numpy(dtype="float64")
    wrong = tiles[tiles["true_label"].astype(str) != tiles["pred_label"].astype(str)].copy()
    if wrong.empty:
        st.caption("No out-of-fold mistakes.")
        return
    wrong["confidence"] = probs[(tiles["true_label"].astype(str) != tiles["pred_label"].astype(str)).to_numpy()].max(
        axis=1
    )
    wrong = wrong.sort_values("confidence", ascending=False).head(n)
    st.caption(
        "The most confident wrong out-of-fold predictions: the heat map (Grad-CAM of the saved model, last "
        "convolutional stage) shows where it looks for the class the fold model gave."
    )
    data_dir = run.config.get("data")
    if not data_dir:
        st.caption("The run does not name its data folder: no chips to show.")
        return
    with ui_errors("reading the run's tiles", stop=False):
        index = cache.task_data(data_dir, run.task).tiles.set_index("tile_id")
        rows = [index.loc[t].to_dict() for t in wrong["tile_id"] if t in index.index]
        ids = [t for t in wrong["tile_id"] if t in index.index]
        pred_idx = [
            classes.index(str(p)) for p, t in zip(wrong["pred_label"], wrong["tile_id"], strict=True) if t in ids
        ]
        images = heat_maps(run, rows, target if len(run.targets) > 1 else None, class_index=pred_idx)
        part = wrong.set_index("tile_id").loc[ids]
        captions = [
            f"{t}: {r.true_label} → {r.pred_label} ({r.confidence:.0%})"
            for t, r in zip(ids, part.itertuples(index=False), strict=True)
        ]
        st.image(images, caption=captions, width=150)


def reliability_ui(run: Run, target: str, tiles) -> None:
    """Reliability diagram and ECE of the out-of-fold probabilities, before and after the run's temperature."""
    from tlgeo import viz
    from tlgeo.calibration import apply_temperature, expected_calibration_error, fit_temperature, reliability

    classes = run.targets[target]
    probs = tiles[prob_columns(run.targets, target)].to_numpy(dtype="float64")
    y = np.asarray([classes.index(str(v)) for v in tiles["true_label"]])
    saved = (run.config.get("temperature") or {}).get(target)
    temp = float(saved) if saved is not None else fit_temperature(probs, y)
    after = apply_temperature(probs, temp)
    e0, e1 = expected_calibration_error(probs, y), expected_calibration_error(after, y)
    st.plotly_chart(
        viz.reliability_figure(reliability(probs, y), reliability(after, y), e0, e1, temp),
        key="evaluate_reliability",
    )
    note = "saved in the run and applied at prediction" if saved is not None else "not saved: run trained before"
    st.caption(f"Temperature {temp:.2f} ({note}). ECE {e0:.3f} → {e1:.3f} on {len(y):,} out-of-fold tiles.")


# --------------------------------------------------------------------------------------------- predictions
def prediction_overlay_ui(fig: go.Figure, run: Run, done: dict, target: str, scenes: Sequence[str | Path]) -> None:
    """Imagery under the Predict map, and the prediction GeoTIFF as a raster layer (class / probability /
    uncertainty) with a raster/vector toggle."""
    from tlgeo.errors import TlgeoError
    from tlgeo.viz import add_map_layers
    from tlgeo.viz_raster import hide_traces, prediction_layer

    opacity = imagery_ui("predict")
    add_imagery(fig, scenes, run.bands, opacity)
    tif = done.get("files", {}).get("geotiff")
    if tif is None:
        return
    c1, c2, c3 = st.columns([1, 2, 1])
    view = c1.radio("View", ["vector", "raster"], horizontal=True, key="predict_view")
    if view != "raster":
        return
    mode = c2.radio("Raster", ["class", "probability", "uncertainty"], horizontal=True, key="predict_raster_mode")
    classes = run.targets[target]
    name = c3.selectbox("Class", classes, key="predict_raster_class") if mode == "probability" else None
    try:
        layer = prediction_layer(
            tif[1],
            mode=mode,
            target=target if len(run.targets) > 1 else None,
            class_name=name,
            ordered=run.ordered.get(target, True),
            opacity=0.65,
        )
    except TlgeoError as exc:
        st.error(f"{exc}")
        return
    add_map_layers(fig, [layer])
    hide_traces(fig)
    if mode == "probability":
        st.caption(
            f"Raster: probability of **{name}**, light yellow = 0 → dark purple = 1 (the legend lists the vector layers, hidden)."
        )
    elif mode == "uncertainty":
        st.caption(
            "Raster: uncertainty = entropy of the class probabilities ÷ log(classes), light yellow = certain (0) → "
            "dark purple = all classes equally likely (1) (the legend lists the vector layers, hidden)."
        )


def prediction_sources(result, ctx) -> list[str]:
    """Files the predicted tiles came from: scenes of the current data or uploaded files named in ``source``."""
    from tlgeo.ui import cache, state

    names = set(result.predictions["source"].astype(str)) if "source" in result.predictions else set()
    found = []
    try:
        found = [str(p) for p in cache.scenes(ctx.taskdir) if p.name in names or p.stem in names]
        uploads = state.session_dir() / "predict"
        if uploads.is_dir():
            found += [str(p) for p in sorted(uploads.iterdir()) if p.is_file() and (p.name in names or p.stem in names)]
    except OSError:
        pass
    return found


def predict_inspect_ui(event, fig: go.Figure, ctx, run: Run, result, target: str, scenes: Sequence[str]) -> None:
    """The inspect panel of a clicked predicted tile: its window of the current data's scene (or the uploaded file),
    the predicted class and probabilities, and Grad-CAM."""
    import pandas as pd

    from tlgeo.predict import label_column

    tile_id = selected_tile(event, fig)
    if tile_id is None:
        return
    preds = result.predictions
    row = preds[preds["tile_id"].astype(str) == tile_id]
    if row.empty:
        return
    probs = {c: row.iloc[0].get(prob_column(result.targets, target, c)) for c in result.targets[target]}
    if result.targets[target]:
        label = str(row.iloc[0].get(label_column(result.targets, target), ""))
    else:  # a continuous target: its predicted value
        label = f"{float(row.iloc[0].get(label_column(result.targets, target, 'value'), np.nan)):.4g}"
    tiles = None
    source = str(row.iloc[0].get("source", ""))
    uploaded = [p for p in scenes if Path(p).stem == source or Path(p).name == source]
    if uploaded and len(preds[preds["source"].astype(str) == source]) == 1:
        tiles = pd.DataFrame({"tile_id": [tile_id], "path": [uploaded[0]]})
    else:
        from tlgeo.ui import cache

        try:
            tiles = cache.task_data(ctx.taskdir, ctx.task).tiles
        except Exception:  # the current data may not load; the panel then says the imagery is missing
            tiles = None
    with st.container(border=True):
        inspect_ui(tile_id, tiles, run, label=f"predicted {label}", probs=probs)
