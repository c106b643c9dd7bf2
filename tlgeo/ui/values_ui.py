"""Widget groups of continuous targets (task ``values``, continuous village fractions): Evaluate and Predict panels.

Evaluate: R², MAE, RMSE, Spearman and bias per fold with mean ± sd, predicted against observed, maps of the
predicted and observed values and the residuals on continuous colour scales, the largest errors. Predict: the
predicted values on a continuous scale (tiles, or the prediction GeoTIFF's ``value`` band as a raster layer) and the
downloads. Class-only panels (confusion matrix, calibration, hard examples by class) are replaced by a short note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from tlgeo.metrics import REGRESSION_METRICS, format_mean_sd
from tlgeo.ui import cache, imagery_ui
from tlgeo.ui.downloads import prediction_downloads_ui
from tlgeo.ui.errors import ui_errors

if TYPE_CHECKING:
    from tlgeo.runs import Run

#: Metrics of a continuous target shown per fold (``bias``: mean of prediction − truth).
FOLD_METRICS = (*REGRESSION_METRICS, "bias")
#: Maps of the Evaluate page for a continuous target: label → (column, diverging scale).
EVALUATE_LAYERS = {
    "predicted (out of fold)": ("predicted", False),
    "observed": ("observed", False),
    "residual (predicted − observed)": ("residual", True),
}
#: Note shown where a panel exists for classes only.
CLASS_ONLY = (
    "{panel} is for class probabilities: a regression run predicts numbers, so there is nothing to calibrate "
    "(metrics.json records calibration as skipped). Predicted against observed, above, shows how far off it is."
)


def fold_table(run: Run, target: str) -> pd.DataFrame:
    """One row per fold (``n`` and :data:`FOLD_METRICS` of ``target``) and a last row of mean ± sd (as text)."""
    rows = []
    for k, fold in enumerate(run.metrics.get("per_fold", [])):
        m = (fold.get("targets") or {}).get(target, {})
        rows.append({"fold": str(k), "n": str(m.get("n", "")), **{x: _num(m.get(x)) for x in FOLD_METRICS}})
    summary = (run.metrics.get("targets") or {}).get(target, {})
    rows.append({"fold": "mean ± sd", "n": "", **{x: format_mean_sd(summary.get(x)) for x in FOLD_METRICS}})
    return pd.DataFrame(rows)


def _num(v) -> str:
    try:
        return f"{float(v):.3f}" if np.isfinite(float(v)) else "–"
    except (TypeError, ValueError):
        return "–"


def evaluate_values_ui(ctx, run: Run, target: str) -> None:
    """The Evaluate page for a continuous target: metrics per fold, predicted vs observed, maps, largest errors."""
    from tlgeo import viz
    from tlgeo.viz import values as viz_values

    with ui_errors("reading the run's predictions"):
        pooled, tiles = cache.value_evaluation(run, target)
    left, right = st.columns([1, 1], gap="large")
    with left:
        fig = viz_values.observed_predicted_figure(
            tiles["observed"], tiles["predicted"], fold=tiles.get("fold"), target=target, title="Predicted vs observed"
        )
        st.plotly_chart(fig, key="evaluate_scatter")
    with right:
        st.markdown(f"**Per fold** — {target} (held-out tiles of each fold)")
        st.dataframe(fold_table(run, target), hide_index=True)
        st.caption(
            f"Pooled over {pooled.get('n', 0):,} out-of-fold tiles: R² {_num(pooled.get('r2'))}, MAE "
            f"{_num(pooled.get('mae'))}, RMSE {_num(pooled.get('rmse'))}, Spearman {_num(pooled.get('spearman'))}, "
            f"bias {_num(pooled.get('bias'))} (in the units of {target})."
        )
    maps, calibration, worst, curves = st.tabs(
        ["Maps: values, residuals and spatial folds", "Calibration", "Largest errors", "Learning curves"]
    )
    with maps, ui_errors("drawing the maps", stop=False):
        view = widgets_view(tiles)
        opacity = imagery_ui.imagery_ui("evaluate")
        layer = st.radio("Colour the tiles by", list(EVALUATE_LAYERS), horizontal=True, key="evaluate_value_layer")
        column, diverging = EVALUATE_LAYERS[layer]
        shared = viz_values.value_range(np.r_[tiles["observed"].to_numpy(), tiles["predicted"].to_numpy()])
        values_fig = viz_values.values_map(
            tiles,
            column,
            hover=[c for c in ("tile_id", "observed", "predicted", "residual", "fold") if c in tiles],
            colorscale=viz_values.RESIDUAL_SCALE if diverging else viz.VALUE_SCALE,
            zrange=None if diverging else shared,
            diverging=diverging,
            basemap=ctx.basemap,
            view=view,
            title=f"{target}: {layer}",
            colorbar_title=target if not diverging else "residual",
        )
        imagery_ui.beside_folds_ui(values_fig, "evaluate_values_map", tiles, run, ctx.basemap, view, opacity)
    with calibration:
        st.info(CLASS_ONLY.format(panel="Calibration (reliability, temperature)"), icon=":material/info:")
    with worst:
        st.caption(
            "The tiles the fold models missed by most (hard examples by class do not apply to numbers). Grad-CAM of "
            "the predicted value: click a tile on the Predict map, or `python -m tlgeo explain TILE --run RUN`."
        )
        cols = [c for c in ("tile_id", "fold", "observed", "predicted", "residual") if c in tiles]
        top = tiles.assign(abs_error=tiles["residual"].abs()).nlargest(10, "abs_error")[cols]
        st.dataframe(pd.DataFrame(top).round(4), hide_index=True)
    with curves, ui_errors("drawing the learning curves", stop=False):
        st.plotly_chart(
            viz.learning_curves(cache.history(run)), key="evaluate_curves", config={"displayModeBar": False}
        )


def widgets_view(tiles) -> tuple[float, float, float, float] | None:
    """Which scene the Evaluate maps centre on (scenes may lie far apart); ``None`` fits every tile."""
    from tlgeo import viz

    if "source" not in tiles or "geometry" not in tiles:
        return None
    outlines = viz.scene_outlines(tiles)
    names = outlines["source"].astype(str).tolist()
    if len(names) < 2:
        return None
    choice = st.selectbox("Centre the map on", [*names, "all scenes"], key="evaluate_scene")
    return (
        None if choice == "all scenes" else tuple(outlines.loc[outlines["source"].astype(str) == choice].total_bounds)
    )


def prediction_values_ui(ctx, run: Run, done: dict, target: str) -> None:
    """A prediction of a continuous target: its range, a map on a continuous scale (tiles, or the GeoTIFF's value
    band as a raster), the clicked tile's panel and the downloads."""
    from tlgeo.predict import label_column
    from tlgeo.viz import add_map_layers
    from tlgeo.viz import values as viz_values
    from tlgeo.viz_raster import hide_traces

    result = done["result"]
    preds = result.predictions
    column = label_column(result.targets, target, "value")
    values = pd.to_numeric(preds[column], errors="coerce")
    if values.notna().any():
        st.markdown(
            f"**{len(preds):,} tiles predicted** — {target} from {values.min():.4g} to {values.max():.4g} "
            f"(median {values.median():.4g})"
        )
    else:
        st.markdown(f"**{len(preds):,} tiles predicted** — no value")
    with ui_errors("drawing the predictions", stop=False):
        zrange = viz_values.value_range(values)
        fig = viz_values.values_map(
            preds,
            column,
            hover=[c for c in ("tile_id", "source") if c in preds],
            zrange=zrange,
            basemap=ctx.basemap,
            title=f"Predicted {target} per tile (click a tile to inspect it)",
            colorbar_title=target,
        )
        scenes = [str(p) for p in result.scenes] or imagery_ui.prediction_sources(result, ctx)
        imagery_ui.add_imagery(fig, scenes, run.bands, imagery_ui.imagery_ui("predict"))
        tif = done.get("files", {}).get("geotiff")
        if tif is not None:
            view = st.radio("View", ["vector", "raster"], horizontal=True, key="predict_view")
            if view == "raster":
                layer, (lo, hi) = viz_values.value_layer(
                    tif[1], target=target if len(result.targets) > 1 else None, zrange=zrange
                )
                add_map_layers(fig, [layer])
                hide_traces(fig)
                st.caption(
                    f"The GeoTIFF's `{viz_values.value_band_name(target if len(result.targets) > 1 else None)}` band: "
                    f"{lo:.4g} (dark purple) → {hi:.4g} (yellow), as the colour bar of the tiles."
                )
        event = st.plotly_chart(fig, key="predict_map", on_select="rerun", selection_mode="points")
        imagery_ui.predict_inspect_ui(event, fig, ctx, run, result, target, scenes)
    labels = {"geojson": "GeoJSON (EPSG:4326)", "csv": "CSV table", "geotiff": f"GeoTIFF ({column}, float32)"}
    prediction_downloads_ui(done["files"], labels)
