"""Predict: the active run on uploaded tiles or a scene → map of predicted classes → GeoJSON, GeoTIFF, CSV."""

import streamlit as st

from tlgeo.ui import actions, cache, state, widgets
from tlgeo.ui.errors import ui_errors

ctx = widgets.context()
st.title("Predict")
run = widgets.no_run_ui(ctx)
tc = run.tile_config
st.caption(
    f"Run `{run.run_id}` — {run.strategy} on {run.backbone}: tiles of {tc.size} px (stride {tc.step}) resampled to "
    f"{run.img_size} px, bands {list(tc.bands.bands or (1, 2, 3))}, scaling '{tc.bands.scaling}'."
)

mode = st.radio("Predict", ["Uploaded tiles", "A scene of the current data"], horizontal=True, key=state.PREDICT_MODE)
scene, inputs = None, []
if mode == "Uploaded tiles":
    inputs = widgets.tile_upload_ui(state.PREDICT_UPLOAD)
    go = st.button(f"Predict {len(inputs)} uploaded file(s)", type="primary", disabled=not inputs, key="predict_go")
else:
    with ui_errors("listing the scenes"):
        scenes = cache.scenes(ctx.taskdir)
    scene = st.selectbox("Scene", scenes, format_func=lambda p: p.name, key=state.PREDICT_SCENE)
    go = st.button(f"Predict {scene.name} (sliding windows)", type="primary", key="predict_scene_go")

cluster = cache.cluster_address()
use_cluster = cluster and st.toggle(f"Send the job to cluster {cluster}", key="predict_cluster")
if go:
    with ui_errors("predicting"):
        predictor = cache.predictor(run)
        result = actions.predict_live(predictor, inputs, scene=scene, cluster=cluster if use_cluster else None)
        files = actions.prediction_files(result, inputs=inputs, scene=scene, workdir=state.session_dir())
    state.put(state.PREDICTION, {"run_id": run.run_id, "result": result, "files": files})

done = state.get(state.PREDICTION)
if done and done["run_id"] == run.run_id:
    widgets.prediction_ui(ctx, run, done)
