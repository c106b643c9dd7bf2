"""Data: the sample task or uploads → counts, a map of scenes and field data, class balance, a tile gallery."""

import streamlit as st

from tlgeo import viz
from tlgeo.ui import cache, imagery_ui, labels_ui, state, widgets
from tlgeo.ui.errors import ui_errors

ctx = widgets.context()
st.title("Data")
st.caption(f"{widgets.TASK_NAMES[ctx.task]} · {state.SOURCES[ctx.source]} · `{ctx.taskdir}`")

if ctx.source == state.UPLOADED:
    with st.expander("Upload files", expanded=True):
        widgets.upload_ui(ctx.task, ctx.taskdir)
if labels_ui.is_label_file_task(ctx.task):  # classes, values, …: column, bands, scaling, composite preview
    with st.container(border=True):
        labels_ui.composite_preview_ui(labels_ui.label_settings_ui(ctx))

data = widgets.load_data_ui(ctx)
widgets.data_metrics_ui(data)

left, right = st.columns([3, 2], gap="large")
with left, ui_errors("drawing the map", stop=False):
    outlines = cache.outlines(ctx.taskdir, ctx.task)
    c1, c2 = st.columns([3, 2])
    with c2:
        view = widgets.scene_view_ui(outlines, key="data_scene")
    if data.task == "roads":
        layer = c1.radio(
            "Show",
            ["Drive tracks by class", "Drive tracks by roughness", "Labelled tiles"],
            horizontal=True,
            key="data_map_layer",
        )
        if layer.startswith("Drive") and data.vectors is not None:
            color = "label" if layer.endswith("class") else "roughness"
            fig = viz.segments_map(
                data.vectors,
                color=color,
                classes=data.targets["quality"],
                footprints=outlines,
                basemap=ctx.basemap,
                view=view,
                network=data.network,
            )
        else:
            fig = viz.tiles_map(
                data.tiles,
                "quality",
                data.targets["quality"],
                hover=("tile_id", "roughness"),
                footprints=outlines,
                basemap=ctx.basemap,
                legend_title="tile label",
                view=view,
            )
    elif data.task == "villages":
        target = widgets.target_ui(data, "data_indicator")
        layer = c1.radio("Show", ["Villages", "Labelled tiles"], horizontal=True, key="data_map_layer_v")
        if layer == "Villages" and data.vectors is not None:
            fig = viz.villages_map(
                data.vectors, target, data.targets[target], footprints=outlines, basemap=ctx.basemap, view=view
            )
        else:
            fig = viz.tiles_map(
                data.tiles,
                target,
                data.targets[target],
                hover=("tile_id", "village_id"),
                footprints=outlines,
                basemap=ctx.basemap,
                legend_title=f"{target} level",
                view=view,
            )
    else:
        fig = labels_ui.labels_map_ui(ctx, data, outlines, view, c1)
    opacity = imagery_ui.imagery_ui("data")
    imagery_ui.add_imagery(fig, imagery_ui.task_scenes(data.tiles), data.settings.tiles.bands, opacity)
    event = st.plotly_chart(fig, key="data_map", on_select="rerun", selection_mode="points")
    clicked = imagery_ui.selected_tile(event, fig)
    if clicked is not None:
        with st.container(border=True):
            imagery_ui.inspect_ui(clicked, data.tiles, ctx.run if ctx.run is not None else None)

numbers = [t for t in data.targets if data.is_continuous(t)]
with right:
    if numbers:  # a values task (or numeric indicators): the distribution, not a class balance
        from tlgeo.viz.values import value_histogram

        st.markdown("**Value distribution** (labelled samples)")
        fig = value_histogram({t: data.tiles[t].to_numpy(dtype="float64") for t in numbers})
        st.plotly_chart(fig, key="data_values", config=widgets.CHART_CONFIG)
    if len(numbers) < len(data.targets):
        st.markdown("**Class balance** (labelled tiles)")
        counts = {t: n for t, n in data.class_counts().items() if t not in numbers}
        st.plotly_chart(
            viz.class_balance(counts, ordered=widgets.data_kind(data) == "ordered"),
            key="data_balance",
            config=widgets.CHART_CONFIG,
        )
    st.markdown("**What was dropped, flagged or masked — and why**")
    with st.container(height=330):
        st.markdown("\n".join(f"- {line}" for line in data.report) or "Nothing was dropped.")

st.subheader("Tiles by value" if len(numbers) == len(data.targets) else "Tiles by class")
gallery_target = widgets.target_ui(data, "data_gallery_target") if data.multi_task else next(iter(data.targets))
with ui_errors("reading tiles for the gallery", stop=False):
    widgets.gallery_ui(ctx, data, gallery_target)
