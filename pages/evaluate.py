"""Evaluate: the active run's cross-validated metrics, confusion matrix, per-class table, folds and errors maps
(a numeric target: metrics per fold, predicted vs observed, maps on a continuous scale)."""

import pandas as pd
import streamlit as st

from tlgeo import viz
from tlgeo.ui import cache, imagery_ui, values_ui, widgets
from tlgeo.ui.errors import ui_errors

ctx = widgets.context()
st.title("Evaluate")
run = widgets.no_run_ui(ctx)
widgets.run_header_ui(run)
st.caption(
    "Every number comes from out-of-fold predictions: each tile was predicted by the model of the fold that held it "
    "out, so neighbouring tiles never leak between training and test (spatial blocks)."
)

target = widgets.run_target_ui(run, "evaluate_target")
if not run.targets[target]:  # a number (regression): metrics per fold, predicted vs observed, continuous maps
    values_ui.evaluate_values_ui(ctx, run, target)
    st.stop()
with ui_errors("reading the run's predictions"):
    metrics, tiles = cache.evaluation(run, target)
classes = run.targets[target]

left, right = st.columns([1, 1], gap="large")
with left:
    normalize = st.toggle("Show shares of each true class", value=True, key="evaluate_normalize")
    st.plotly_chart(
        viz.confusion_figure(metrics["confusion"], classes, normalize=normalize),
        key="evaluate_cm",
        config=widgets.CHART_CONFIG,
    )
with right:
    st.markdown(f"**Per class** — {metrics['n']:,} scored tiles (all folds pooled)")
    per_class = pd.DataFrame(metrics["per_class"]).T.rename_axis("class").reset_index()
    st.dataframe(per_class.round(3), hide_index=True)
    per_fold = pd.DataFrame(
        [
            {"fold": k, **{m: round(v, 3) for m, v in f["mean"].items()}}
            for k, f in enumerate(run.metrics.get("per_fold", []))
        ]
    )
    st.markdown("**Per fold** (mean over targets)")
    st.dataframe(per_fold, hide_index=True)

maps, calibration, hard, curves = st.tabs(
    ["Maps: errors and spatial folds", "Calibration", "Hard examples", "Learning curves"]
)
with maps, ui_errors("drawing the maps", stop=False):
    view = widgets.scene_view_ui(viz.scene_outlines(tiles), "evaluate_scene") if "source" in tiles else None
    opacity = imagery_ui.imagery_ui("evaluate")
    errors_fig = viz.errors_map(tiles, basemap=ctx.basemap, view=view, title="Out-of-fold errors")
    imagery_ui.beside_folds_ui(errors_fig, "evaluate_errors", tiles, run, ctx.basemap, view, opacity)
with curves, ui_errors("drawing the learning curves", stop=False):
    st.plotly_chart(viz.learning_curves(cache.history(run)), key="evaluate_curves", config=widgets.CHART_CONFIG)
with calibration, ui_errors("drawing the reliability diagram", stop=False):
    imagery_ui.reliability_ui(run, target, tiles)
with hard, ui_errors("finding the hard examples", stop=False):
    imagery_ui.hard_examples_ui(ctx, run, target, tiles)
