"""Train: backbone, strategy (with the advisor's recommendation), size, epochs, folds → live progress → a saved run."""

import streamlit as st

from tlgeo import viz
from tlgeo.ui import actions, cache, state, widgets
from tlgeo.ui.errors import ui_errors

ctx = widgets.context()
st.title("Train")
data = widgets.load_data_ui(ctx)
n_labelled = len(data.labelled())
counts = ", ".join(
    f"{t}: numbers" if not data.targets[t] else ", ".join(f"{c} {n}" for c, n in per.items())
    for t, per in data.class_counts().items()
)
st.caption(f"{widgets.TASK_NAMES[ctx.task]}: {n_labelled:,} labelled tiles ({counts}) · device: **{ctx.device}**")

rec = widgets.advisor_ui(ctx, data)
config = widgets.train_form_ui(rec, widgets.data_kind(data))
with st.expander("Backbones: offline weights, input size, parameters"):
    if st.toggle("Show details (builds each backbone once to count parameters)", key="train_backbone_details"):
        with ui_errors("listing backbones", stop=False):
            st.dataframe(cache.backbone_details(state.show_test_backbone()), hide_index=True)

if config is not None:
    widgets.estimate_ui(ctx, n_labelled, [config])
    with ui_errors("training"):
        run, _ = actions.train_and_save(data, config, runs_dir=ctx.runs_dir, data_dir=ctx.taskdir, device=ctx.device)
    cache.clear_runs()
    state.put(state.LAST_TRAINED, run.run_id)
    widgets.select_run_next(run.run_id)
    st.rerun()

last = state.get(state.LAST_TRAINED)
done = next((r for r in ctx.runs if r.run_id == last), None)
if done is not None:
    st.success(f"Saved run `{done.run_id}` — it is now the active run.", icon=":material/check_circle:")
    widgets.run_header_ui(done)
    widgets.advisor_result_ui(done)
    with ui_errors("drawing the learning curves", stop=False):
        st.plotly_chart(
            viz.learning_curves(cache.history(done), title="Learning curves"),
            key="train_curves",
            config=widgets.CHART_CONFIG,
        )
    c1, c2 = st.columns(2)
    c1.page_link("pages/evaluate.py", label="Evaluate this run", icon=":material/target:")
    c2.page_link("pages/predict.py", label="Predict with this run", icon=":material/online_prediction:")
