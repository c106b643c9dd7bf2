"""Widgets of the label-file tasks (``classes``, and any task reading ``[labels] file``): the class or value column,
the bands and their scaling, a composite preview, and the labels map.

Choices made for uploaded files are written into the session task folder's ``tlgeo.toml`` through the settings
dataclasses (:func:`tlgeo.config.save_settings`, the one place that serialises them); the bundled sample's settings
are shown, not changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from tlgeo.config import SCALINGS, BandConfig, TaskSettings, load_settings, save_settings
from tlgeo.errors import DataFileError
from tlgeo.tasks import get_task
from tlgeo.ui import cache, state, uploads
from tlgeo.ui.errors import ui_errors

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from tlgeo.taskdata import TaskData
    from tlgeo.ui.widgets import Context

#: Coordinate columns of a CSV: never offered as the class or value column.
_COORDINATES = {"lat", "latitude", "lon", "lng", "long", "longitude", "x", "y", "easting", "northing"}
_COLUMN_GUESSES = ("class", "label", "landcover", "land_cover", "crop", "value", "target")


def is_label_file_task(task: str) -> bool:
    """Whether a task reads a labels file named in ``[labels]`` (``classes``, ``values``, …)."""
    return get_task(task).section == "labels"


@dataclass(frozen=True)
class LabelChoices:
    """What :func:`label_settings_ui` settled on."""

    settings: TaskSettings
    labels_file: Path
    scene: Path
    column: str


def _labels_path(taskdir: Path, settings: TaskSettings, uploaded: bool) -> Path:
    if uploaded:
        path = uploads.labels_file(taskdir)
        if path is not None:
            return path
    name = (settings.labels or {}).get("file")
    path = uploads.labels_file(taskdir) if not name else (taskdir / name)
    if path is None or not Path(path).is_file():
        raise DataFileError(
            f"No labels file in {taskdir}", hint="Upload one (GeoPackage, GeoJSON, FlatGeobuf, zipped Shapefile, CSV)."
        )
    return Path(path)


def _keep_valid(key: str, ok) -> None:
    """Forget a widget's remembered value when it no longer fits its options (another file was uploaded)."""
    if key in st.session_state and not ok(st.session_state[key]):
        state.drop(key)


def label_settings_ui(ctx: Context) -> LabelChoices:
    """Column, chip size, bands and scaling of a label-file task; written to ``tlgeo.toml`` for uploads.

    Returns:
        The settings in force and the files they concern. Errors (an unreadable labels file, bad bands) are shown
        with ``st.error`` and stop the page.
    """
    uploaded = ctx.source == state.UPLOADED
    task = get_task(ctx.task)
    with ui_errors("reading the labels file and the imagery"):
        settings = load_settings(ctx.taskdir, task=ctx.task)
        path = _labels_path(ctx.taskdir, settings, uploaded)
        columns = cache.label_columns(path)
        scene = cache.scenes(ctx.taskdir)[0]
        dtype, descriptions = cache.raster_bands(scene)
    labels = dict(settings.labels or {})
    continuous = task.target_kind == "continuous"
    options = [c for c, numeric in columns.items() if c.lower() not in _COORDINATES and (numeric or not continuous)]
    if not options:
        st.error(
            f"{path.name} has no {'numeric ' if continuous else ''}column to use as "
            f"{'values' if continuous else 'classes'} (its columns: {', '.join(columns) or 'none'}). "
            "Add one and upload the file again."
        )
        st.stop()
    current = labels.get("column")
    guess = next((c for c in options if c.lower() in _COLUMN_GUESSES), options[0])
    default = current if current in options else guess
    n = len(descriptions)

    def band_label(b: int) -> str:
        return f"{b} · {descriptions[b - 1]}" if descriptions[b - 1] else f"band {b}"

    bands_now = settings.tiles.bands
    chosen_now = [b for b in (bands_now.bands or (range(1, 4) if n >= 3 else [1])) if b <= n] or list(range(1, n + 1))
    if bands_now.bands is None and n > 3:
        chosen_now = list(range(1, n + 1))
    scaling_now = bands_now.scaling if (bands_now.scaling != "none" or dtype == "uint8") else "percentile"
    suffix = f"_{ctx.source}_{ctx.task}"
    keys = {k: f"{k}{suffix}" for k in (state.LABEL_COLUMN, state.LABEL_BANDS, state.LABEL_SCALING, state.LABEL_CHIP)}
    _keep_valid(keys[state.LABEL_COLUMN], lambda v: v in options)
    _keep_valid(keys[state.LABEL_BANDS], lambda v: all(1 <= b <= n for b in v))

    st.markdown(
        f"**Labels and bands** — `{path.name}` over `{scene.name}` ({n} bands, {dtype})"
        + ("" if uploaded else " · the sample's `tlgeo.toml`, shown read-only (upload files to choose your own)")
    )
    c1, c2, c3, c4 = st.columns([2, 4, 2, 1])
    column = c1.selectbox(
        "Value column" if continuous else "Class column",
        options,
        index=options.index(default),
        key=keys[state.LABEL_COLUMN],
        disabled=not uploaded,
        help="Numbers, one per label." if continuous else "Text or integer classes, one per label.",
    )
    chosen = c2.multiselect(
        "Bands (one network input channel each)",
        list(range(1, n + 1)),
        default=chosen_now,
        format_func=band_label,
        key=keys[state.LABEL_BANDS],
        disabled=not uploaded,
        help="In this order. Band names from the file (roles red/green/blue/nir) are saved with them.",
    )
    scaling = c3.selectbox(
        "Scaling",
        list(SCALINGS),
        index=list(SCALINGS).index(scaling_now),
        key=keys[state.LABEL_SCALING],
        disabled=not uploaded,
        help="none: 8-bit data as is; percentile: 2–98 % per band and scene; fixed: a value range; "
        "standardize: mean/sd of the training chips.",
    )
    chip = c4.number_input(
        "Chip (px)",
        8,
        1024,
        int(settings.tiles.size),
        key=keys[state.LABEL_CHIP],
        disabled=not uploaded,
        help="Edge of the chip centred on each label.",
    )
    value_range = bands_now.value_range if scaling == "fixed" else None
    if scaling == "fixed":
        low_now, high_now = value_range if value_range and not isinstance(value_range[0], tuple) else (0.0, 10000.0)
        f1, f2, _ = st.columns([1, 1, 4])
        low = f1.number_input("Fixed range: low", value=float(low_now), key=f"tlgeo_label_low{suffix}")
        high = f2.number_input("high", value=float(high_now), key=f"tlgeo_label_high{suffix}")
        value_range = (float(low), float(high))
    with ui_errors("checking the band choice"):
        names = [descriptions[b - 1] for b in chosen]
        use_names = all(names) and len(set(names)) == len(names)
        bands = BandConfig(
            bands=tuple(chosen),
            names=tuple(names) if use_names else None,
            scaling=scaling,
            percentiles=bands_now.percentiles,
            value_range=value_range,
        )
        new = replace(
            settings,
            task=ctx.task,
            labels={**labels, "file": path.name, "column": column},
            tiles=replace(settings.tiles, size=int(chip), stride=None, bands=bands),
        )
        if uploaded and new != settings:
            save_settings(ctx.taskdir, new)
    return LabelChoices(settings=new if uploaded else settings, labels_file=path, scene=scene, column=column)


def composite_preview_ui(choices: LabelChoices) -> None:
    """Three of the bands as red, green and blue (:func:`tlgeo.tiles.rgb_composite`), over the first scene."""
    bands = choices.settings.tiles.bands
    _, descriptions = cache.raster_bands(choices.scene)
    n = len(descriptions)
    chosen = list(bands.bands or range(1, min(n, 3) + 1))
    roles = [d.lower() for d in descriptions]
    picks = [next((b for b in chosen if roles[b - 1] == r), None) for r in ("red", "green", "blue")]
    if any(p is None for p in picks):
        picks = [chosen[min(i, len(chosen) - 1)] for i in range(3)]
    options = list(range(1, n + 1))
    cols = st.columns(3)
    rgb = []
    for i, (col, role) in enumerate(zip(cols, ("Red", "Green", "Blue"), strict=True)):
        key = f"{state.PREVIEW_RGB}_{role.lower()}_{'-'.join(map(str, chosen))}"  # new bands: new defaults
        _keep_valid(key, lambda v: v in options)
        rgb.append(
            col.selectbox(
                f"Preview: {role}",
                options,
                index=options.index(picks[i]),
                key=key,
                format_func=lambda b: f"{b} · {descriptions[b - 1]}" if descriptions[b - 1] else f"band {b}",
            )
        )
    scaling = bands.scaling if bands.scaling in ("fixed", "none") else "percentile"
    value_range = bands.value_range if scaling == "fixed" else None
    if value_range is not None and isinstance(value_range[0], tuple):
        scaling, value_range = "percentile", None
    with ui_errors("drawing the composite", stop=False):
        image = cache.composite_preview(choices.scene, tuple(rgb), scaling, value_range)
        names = ", ".join(
            f"{r}={b}" + (f" ({descriptions[b - 1]})" if descriptions[b - 1] else "")
            for r, b in zip("RGB", rgb, strict=True)
        )
        st.image(image, caption=f"{choices.scene.name}: {names}, {scaling} scaling", width=420)


def labels_map_ui(ctx: Context, data: TaskData, outlines, view, where) -> go.Figure:
    """The labels coloured by class (categorical unless ordered) or value (continuous scale), or the chips."""
    from tlgeo import viz
    from tlgeo.ui.widgets import data_kind

    target = next(iter(data.targets))
    kind = data_kind(data)
    layer = where.radio("Show", ["Labels", "Chips"], horizontal=True, key="data_map_layer_l")
    if layer == "Labels" and data.vectors is not None and len(data.vectors):
        column = (data.settings.labels or {}).get("column", "class_name")
        column = column if kind == "continuous" and column in data.vectors else "class_name"
        return viz.labels_map(
            data.vectors,
            column,
            kind=kind,
            classes=None if kind == "continuous" else data.targets[target],
            footprints=outlines,
            basemap=ctx.basemap,
            view=view,
        )
    return viz.tiles_map(
        data.tiles,
        target,
        data.targets[target],
        hover=("tile_id", "label_id", "class_name"),
        footprints=outlines,
        basemap=ctx.basemap,
        legend_title=f"{target} (chip)",
        view=view,
        ordered=kind == "ordered",
    )
