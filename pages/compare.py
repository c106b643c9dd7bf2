"""Compare: scratch vs frozen features vs fine-tuning on the same spatial folds — curves and metrics side by side."""

from dataclasses import replace

import pandas as pd
import streamlit as st

from tlgeo import viz
from tlgeo.train import comparison_table
from tlgeo.ui import actions, state, widgets
from tlgeo.ui.errors import ui_errors

ctx = widgets.context()
st.title("Compare strategies")
st.markdown(
    "Train several strategies on **the same tiles and the same spatial folds** and see what transfer learning buys: "
    "on small datasets ImageNet features (frozen, or fine-tuned gently) usually beat training from scratch, and the "
    "spread over folds tells whether a difference is real. Nothing is saved as a run (no refit)."
)
data = widgets.load_data_ui(ctx)
st.caption(f"{len(data.labelled()):,} labelled tiles · device: **{ctx.device}**")

submitted = widgets.compare_form_ui()
if submitted is not None:
    config, strategies = submitted
    widgets.estimate_ui(ctx, len(data.labelled()), [replace(config, strategy=s) for s in strategies])
    with ui_errors("comparing strategies"):
        results = actions.compare_live(data, config, strategies, device=ctx.device)
    state.put(
        state.COMPARE_RESULT,
        {
            "task": ctx.task,
            "source": ctx.source,
            "kind": widgets.data_kind(data),
            "img_size": config.img_size,
            "table": comparison_table(results),
            "histories": {s: r.history for s, r in results.items()},
        },
    )
    st.rerun()  # show the result without the live progress

done = state.get(state.COMPARE_RESULT)
if done and (done["task"], done["source"]) == (ctx.task, ctx.source):
    table = done["table"]
    st.subheader(f"Result — {table['backbone'].iloc[0]}, {done['img_size']} px, {table['folds'].iloc[0]} spatial folds")
    widgets.lesson_ui(table, kind=done["kind"])
    left, right = st.columns(2, gap="large")
    left.plotly_chart(viz.comparison_bars(table), key="compare_bars", config=widgets.CHART_CONFIG)
    with right:
        metric = (
            st.segmented_control(
                "Curve",
                ["val_loss", "loss"]
                if done["kind"] == "continuous"
                else ["val_loss", "val_accuracy", "loss", "accuracy"],
                default="val_loss",
                key="compare_curve_metric",
            )
            or "val_loss"
        )
        st.plotly_chart(
            viz.compare_curves(done["histories"], metric=metric), key="compare_curves", config=widgets.CHART_CONFIG
        )
    st.dataframe(widgets.metrics_table(table, done["kind"]), hide_index=True)
    tabs = st.tabs(list(done["histories"]))
    for tab, (strategy, hist) in zip(tabs, done["histories"].items(), strict=True):
        tab.plotly_chart(
            viz.learning_curves(hist, title=f"{strategy}: per fold"),
            key=f"compare_lc_{strategy}",
            config=widgets.CHART_CONFIG,
        )

if ctx.runs:
    st.subheader("Saved runs of this task")
    st.dataframe(pd.DataFrame([r.summary_row() for r in ctx.runs]), hide_index=True)
