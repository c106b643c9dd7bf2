"""Plan: where a new label would teach the active run most — road stretches to drive or sites to survey."""

import streamlit as st

from tlgeo.ui import plan_ui, state, widgets
from tlgeo.ui.errors import ui_errors

ctx = widgets.context()
st.title("Plan")
run = widgets.no_run_ui(ctx)
st.caption(
    f"Run `{run.run_id}` ({run.strategy} on {run.backbone}) scores every unlabelled tile of its task folder: "
    "uncertainty of its calibrated probabilities and distance to what is already labelled in its embedding space. "
    "Drives are undriven road stretches within a length budget, ordered by a greedy nearest-neighbour tour."
)
if st.session_state.get(state.PLAN_SCORED) != run.run_id:
    if not st.button("Score the run's tiles", type="primary", key="plan_score"):
        st.stop()
    state.put(state.PLAN_SCORED, run.run_id)
with ui_errors("scoring the run's tiles"):
    scored = plan_ui.scored(run)
kind, budget, settings, start = plan_ui.controls_ui(run, scored)
with ui_errors("planning"):
    result = plan_ui.make_plan(run, scored, kind, budget, settings, start)
plan_ui.result_ui(result, scored, ctx.basemap)
