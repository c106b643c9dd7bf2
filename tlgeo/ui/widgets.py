"""Widget groups (``*_ui()`` functions) that return values; pages compose them.

The sidebar is defined here once (:func:`sidebar_ui`, called by ``app.py``); pages read its choices with
:func:`context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from tlgeo.config import INDICATOR_NAMES, SPLITS, TrainConfig
from tlgeo.metrics import SUMMARY_METRICS, format_mean_sd
from tlgeo.tasks import get_task, list_tasks
from tlgeo.transfer import STRATEGY_DESCRIPTIONS, TRAINABLE, recommend_strategy
from tlgeo.ui import cache, state, uploads
from tlgeo.ui.downloads import prediction_downloads_ui
from tlgeo.ui.errors import ui_errors

if TYPE_CHECKING:
    from tlgeo.runs import Run
    from tlgeo.taskdata import TaskData
    from tlgeo.transfer import Recommendation

#: Every registered task, titled by the registry (roads, villages, classes, and any task registered later).
UI_TASKS = tuple(list_tasks())
TASK_NAMES = {name: get_task(name).title for name in UI_TASKS}
#: Metrics shown per kind of target (``Task.target_kind`` / the run's ``ordered``): see :func:`summary_metrics`.
_KIND_METRICS = {
    "ordered": ("accuracy", "balanced_accuracy", "macro_f1", "within_one"),
    "categorical": ("accuracy", "balanced_accuracy", "macro_f1"),
    "continuous": ("r2", "mae", "rmse", "spearman"),
}
IMG_SIZES = (64, 96, 128, 160, 224)
#: plotly config of charts (maps keep their toolbar for zooming).
CHART_CONFIG = {"displayModeBar": False}

#: Form defaults come from the settings dataclass (one place for every default: CLI, UI, library).
_D = TrainConfig()


@dataclass
class Context:
    """The sidebar's choices, shared by every page.

    Attributes:
        task: A registered task name (``tlgeo.tasks.list_tasks()``).
        source: ``state.SAMPLE`` or ``state.UPLOADED``.
        taskdir: The task folder those choices point at.
        run: The active run (``None`` when there is none for this task).
        runs: Runs of this task, newest first.
        basemap: ``"white-bg"`` or ``"open-street-map"``.
        runs_dir: Folder of runs.
    """

    task: str
    source: str
    taskdir: Path
    run: Run | None
    runs: list
    basemap: str
    runs_dir: Path

    @property
    def device(self) -> str:
        """What TensorFlow trains on (waits for TensorFlow to start)."""
        return cache.device_summary() or "?"


def target_kind(task: str, ordered: bool = True, classes: dict[str, list] | None = None) -> str:
    """``"continuous"`` for a regression task (or targets without classes, an empty class list), else
    ``"ordered"`` or ``"categorical"`` by ``ordered``."""
    if get_task(task).target_kind == "continuous" or (classes and all(len(c) == 0 for c in classes.values())):
        return "continuous"
    return "ordered" if ordered else "categorical"


def run_kind(run: Run) -> str:
    """The kind of a run's targets (:func:`target_kind`; a multi-task run is ordered when any target is)."""
    return target_kind(run.task, any(run.ordered.get(t, True) for t in run.targets), run.targets)


def data_kind(data: TaskData) -> str:
    """The kind of a dataset's targets (:func:`target_kind`)."""
    return target_kind(data.task, any(data.is_ordered(t) for t in data.targets), data.targets)


def summary_metrics(kind: str) -> tuple[str, ...]:
    """The metrics tables and headers show for a kind of target — the one place that branches on it.

    Ordered classes: accuracy, balanced accuracy, macro F1, within one class; unordered classes: the same without
    ``within_one``; continuous targets: R², MAE, RMSE, Spearman. The first is the headline metric.
    """
    return _KIND_METRICS.get(kind, SUMMARY_METRICS)


def _run_label(run: Run) -> str:
    headline = summary_metrics(run_kind(run))[0]
    value = format_mean_sd(run.metrics.get("mean", {}).get(headline))
    short = {"accuracy": "acc"}.get(headline, headline)
    return f"{run.strategy} · {run.backbone} · {run.img_size}px · {short} {value} · {run.run_id[:15]}"


def select_run_next(run_id: str) -> None:
    """Make ``run_id`` the active run from the next rerun on (a widget's value cannot change after it is drawn)."""
    state.put(state.SELECT_RUN_NEXT, run_id)


def sidebar_ui() -> Context:
    """The one shared sidebar: task, data source, device, active run, basemap. Returns the choices."""
    sb = st.sidebar
    sb.markdown("### :material/satellite_alt: tlgeo")
    task = sb.selectbox("Task", list(TASK_NAMES), format_func=TASK_NAMES.get, key=state.TASK)
    source = sb.radio(
        "Data",
        list(state.SOURCES),
        format_func=state.SOURCES.get,
        key=state.SOURCE,
        horizontal=True,
        help="The bundled sample, or files you upload on the Data page (kept for this browser session only).",
    )
    taskdir = state.task_dir(task, source)
    runs_dir = state.runs_dir()
    for line in cache.clean_stale_temp(str(runs_dir)):
        sb.caption(line)
    runs = cache.runs(runs_dir, task)
    ids = [r.run_id for r in runs]
    pending = state.get(state.SELECT_RUN_NEXT)
    if pending in ids:
        state.put(state.RUN, pending)
        state.drop(state.SELECT_RUN_NEXT)
    if ids and state.get(state.RUN) not in ids:
        state.put(state.RUN, ids[0])
    by_id = {r.run_id: r for r in runs}
    if ids:
        run_id = sb.selectbox(
            "Active run",
            ids,
            format_func=lambda i: _run_label(by_id[i]),
            key=state.RUN,
            help="Used by Evaluate and Predict. Train a new one on the Train page.",
        )
        run = by_id[run_id]
    else:
        sb.caption("Active run: none yet for this task — train one on the Train page.")
        run = None
    broken = cache.broken_runs(runs_dir)
    if broken:
        with sb.expander(f"{len(broken)} broken run folder(s)", icon=":material/block:"):
            for b in broken:
                st.caption(f":gray[~~{b.run_id}~~ — {b.reason}]")
    osm = sb.toggle("OpenStreetMap basemap (online)", key=state.BASEMAP, help="Maps work offline without it.")
    st.session_state[state.DEVICE_SLOT] = sb.empty()
    device_ui(wait=False)
    sb.caption(f"Runs folder: `{runs_dir}`")
    ctx = Context(
        task=task,
        source=source,
        taskdir=taskdir,
        run=run,
        runs=runs,
        basemap="open-street-map" if osm else "white-bg",
        runs_dir=runs_dir,
    )
    st.session_state[state.SIDEBAR] = ctx
    return ctx


def device_ui(*, wait: bool = True) -> None:
    """Fill the sidebar's device line (``app.py`` calls this again after the page, when TensorFlow has started)."""
    slot = st.session_state.get(state.DEVICE_SLOT)
    if slot is None:
        return
    device = cache.device_summary(wait=wait)
    address = cache.cluster_address()
    cluster = f" · {cache.cluster_summary(address)}" if address else ""
    if device is None:
        slot.caption(f"Device: TensorFlow is starting…{cluster}")
    else:
        slot.caption(f"Device: **{device}** (as TensorFlow sees it){cluster}")


def _ensure_app_navigation() -> None:
    """Rerun through ``app.py`` when Streamlit ran a page file on its own.

    With a ``pages/`` folder beside ``app.py``, Streamlit starts every process in its legacy multipage mode until
    ``st.navigation`` has run once: a first request for ``/train`` (or ``AppTest.switch_page``) would execute
    ``pages/train.py`` alone, without the shared sidebar and navigation. ``st.navigation`` clears that flag, so when a
    page still sees it set, clear it and rerun: the rerun goes through ``app.py`` and lands on the same page.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without the legacy mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def context() -> Context:
    """The sidebar's choices for this run; every page starts with it."""
    _ensure_app_navigation()
    ctx = st.session_state.get(state.SIDEBAR)
    return ctx if ctx is not None else sidebar_ui()


# --------------------------------------------------------------------------------------------- data
def upload_ui(task: str, taskdir: Path) -> None:
    """Uploaders for imagery, labels and optional settings; files go into the session's task folder.

    The folder keeps its files when the uploaders come back empty (Streamlit forgets a file uploader's files when its
    page is left); a button removes them.
    """
    from tlgeo.labels.villages import VILLAGE_FILES

    st.markdown(
        "Upload GeoTIFF scenes or tiles (or PNG/JPEG **with** their world file `.pgw`/`.jgw` and `.prj`), the labels, "
        f"and optionally a `tlgeo.toml` with tile size and bands. Up to {uploads.MAX_UPLOAD_MB} MB per file."
    )
    generation = state.get(state.UPLOAD_GENERATION, 0)

    def key(base: str) -> str:
        return base if not generation else f"{base}-{generation}"

    c1, c2, c3 = st.columns([2, 2, 1])
    imagery = c1.file_uploader(
        "Imagery", type=list(uploads.TILE_TYPES), accept_multiple_files=True, key=key(state.UPLOAD_IMAGERY)
    )
    if task == "roads":
        labels = c2.file_uploader(
            "Phone logs / RoadRunner logs (.csv, .csv.gz)",
            type=list(uploads.ROAD_LOG_TYPES),
            accept_multiple_files=True,
            key=key(state.UPLOAD_LABELS),
        )
    elif task == "villages":
        labels = c2.file_uploader(
            "Village indicators (CSV with village_id, lat, lon; or GeoJSON/GPKG)",
            type=list(uploads.VILLAGE_TYPES),
            key=key(state.UPLOAD_LABELS),
        )
    else:  # every task reading a labels file ([labels] file): classes, values, …
        labels = c2.file_uploader(
            "Labels: GeoPackage, GeoJSON, FlatGeobuf, zipped Shapefile (or .shp + .shx + .dbf + .prj), or CSV with "
            "lat/lon",
            type=list(uploads.LABEL_TYPES),
            accept_multiple_files=True,
            key=key(state.UPLOAD_LABELS),
        )
    settings = c3.file_uploader("tlgeo.toml", type=list(uploads.SETTINGS_TYPES), key=key(state.UPLOAD_SETTINGS))
    with ui_errors("saving the uploads"):
        if imagery:
            uploads.sync_uploads(imagery, taskdir / "imagery", uploads.TILE_TYPES)
        if labels and task == "roads":
            uploads.sync_uploads(labels, taskdir / "vibration", uploads.ROAD_LOG_TYPES)
        elif labels and task == "villages":
            uploads.save_single(labels, taskdir, "villages", uploads.VILLAGE_TYPES, replaces=VILLAGE_FILES)
        elif labels:
            uploads.save_labels(labels, taskdir)
        if settings:
            uploads.save_single(settings, taskdir, "tlgeo", uploads.SETTINGS_TYPES, replaces=("tlgeo.toml",))
    kept = uploads.files_in(taskdir)
    if kept:
        c1, c2 = st.columns([4, 1])
        c1.caption("Kept for this session: " + ", ".join(f"`{name}`" for name in kept))
        if c2.button("Remove uploaded files", key="upload_clear"):
            uploads.remove_folder(taskdir)
            state.put(state.UPLOAD_GENERATION, generation + 1)  # fresh, empty uploaders
            st.rerun()
    if task == "roads":
        has_labels = any(n.startswith("vibration/") for n in kept)
    elif task == "villages":
        has_labels = any(n in VILLAGE_FILES for n in kept)
    else:
        has_labels = uploads.labels_file(taskdir) is not None
    if not any(n.startswith("imagery/") for n in kept) or not has_labels:
        st.info("Upload imagery and labels to continue (or pick the bundled sample in the sidebar).")
        st.stop()


def load_data_ui(ctx: Context) -> TaskData:
    """Load the sidebar's task (cached); errors are shown and stop the page."""
    if ctx.source == state.SAMPLE and not ctx.taskdir.is_dir():
        st.error(
            f"The bundled sample data is missing ({ctx.taskdir}). Generate it with "
            f"`python -m tlgeo sample --out {ctx.taskdir.parent}`, or switch the data source to uploaded files."
        )
        st.stop()
    if ctx.source == state.UPLOADED and not (ctx.taskdir / "imagery").is_dir():
        st.info("No uploaded data yet: upload imagery and labels on the **Data** page.")
        st.stop()
    with ui_errors("reading the imagery and labels"):
        return cache.task_data(ctx.taskdir, ctx.task)


def data_metrics_ui(data: TaskData) -> None:
    """One row of counts: scenes, tiles, labelled, to predict, field records."""
    tiles = data.tiles
    labelled = len(data.labelled())
    cols = st.columns(5)
    cols[0].metric("Scenes", tiles["source"].nunique())
    cols[1].metric("Tiles", f"{len(tiles):,}")
    cols[2].metric("Labelled tiles", f"{labelled:,}")
    cols[3].metric("Unlabelled (to predict)", f"{len(tiles) - labelled:,}")
    n_vec = 0 if data.vectors is None else len(data.vectors)
    cols[4].metric({"roads": "Road segments", "villages": "Villages"}.get(data.task, "Labels"), f"{n_vec:,}")


def scene_view_ui(outlines, key: str) -> tuple[float, float, float, float] | None:
    """Which scene the map centres on (scenes may lie far apart); ``None`` fits every scene."""
    names = outlines["source"].astype(str).tolist()
    if len(names) < 2:
        return None
    choice = st.selectbox("Centre the map on", [*names, "all scenes"], key=key)
    if choice == "all scenes":
        return None
    return tuple(outlines.loc[outlines["source"].astype(str) == choice].total_bounds)


def target_ui(data: TaskData, key: str, label: str = "Indicator") -> str:
    """Pick one target of a multi-task dataset (the only one otherwise)."""
    targets = list(data.targets)
    if len(targets) == 1:
        return targets[0]
    return st.selectbox(label, targets, key=key, format_func=lambda t: f"{t} — {INDICATOR_NAMES.get(t, t)}")


def gallery_ui(ctx: Context, data: TaskData, target: str, per_class: int = 6) -> None:
    """A few labelled tiles of each class (evenly spread over the dataset); for a number, tiles from the lowest
    to the highest value (evenly spread over the sorted values)."""
    col = data.tiles[target]
    if data.is_continuous(target):
        labelled = data.tiles.loc[col.notna(), ["tile_id", target]].sort_values(target)
        if labelled.empty:
            st.caption("no labelled samples")
            return
        rows = labelled.iloc[np.linspace(0, len(labelled) - 1, min(2 * per_class, len(labelled))).astype(int)]
        thumbs = cache.thumbnails(ctx.taskdir, ctx.task, rows["tile_id"].tolist())
        st.markdown(f"**{target}**, lowest → highest of {len(labelled):,} labelled samples")
        st.image(list(thumbs), caption=[f"{v:.3g}" for v in rows[target]], width=110)
        return
    for i, name in enumerate(data.targets[target]):
        ids = data.tiles.loc[col == i, "tile_id"].tolist()
        if not ids:
            st.caption(f"**{name}**: no labelled tiles")
            continue
        pick = [ids[j] for j in np.linspace(0, len(ids) - 1, min(per_class, len(ids))).astype(int)]
        thumbs = cache.thumbnails(ctx.taskdir, ctx.task, pick)
        st.markdown(f"**{name}** — {len(ids):,} tiles")
        st.image(list(thumbs), caption=pick, width=110)


def tile_upload_ui(key: str) -> list[Path]:
    """Upload tiles to predict (GeoTIFF, or PNG/JPEG + world file + .prj); returns the saved image files."""
    files = st.file_uploader(
        "Tiles or scenes to predict: GeoTIFF, or PNG/JPEG with their world file (.pgw/.jgw/.wld) and .prj",
        type=list(uploads.TILE_TYPES),
        accept_multiple_files=True,
        key=key,
        help=f"Up to {uploads.MAX_UPLOAD_MB} MB per file. Files larger than 1.5 × the run's tile size are predicted "
        "as scenes with sliding windows.",
    )
    if not files:
        return []
    with ui_errors("checking the uploaded tiles"):
        saved = uploads.sync_uploads(files, state.session_dir() / "predict", uploads.TILE_TYPES)
        return uploads.rasters_with_world_files(saved)


def prediction_ui(ctx: Context, run: Run, done: dict) -> None:
    """A prediction's warnings, class counts, map (tiles, or roads drawn by predicted quality) and downloads."""
    from tlgeo import viz
    from tlgeo.ui import actions

    result = done["result"]
    for warning in result.warnings:
        st.warning(warning, icon=":material/warning:")
    target = run_target_ui(run, "predict_target")
    classes = result.targets[target]
    if not classes:  # a number (regression): values on a continuous scale
        from tlgeo.ui import values_ui

        values_ui.prediction_values_ui(ctx, run, done, target)
        return
    counts = result.class_counts()[target]
    st.markdown(
        f"**{len(result.predictions):,} tiles predicted** — " + ", ".join(f"{c}: {n:,}" for c, n in counts.items())
    )
    as_roads = ctx.task == "roads" and st.toggle(
        "Draw along the roads of the current data (its roads.geojson network, driven or not; else its drive "
        "tracks) — a road-quality model means most on roads",
        value=True,
        key="predict_roads",
    )
    with ui_errors("drawing the predictions", stop=False):
        roads = actions.roads_for(result, load_data_ui(ctx)) if as_roads else None
        if roads is not None and len(roads):
            fig = viz.road_predictions_map(roads, classes, basemap=ctx.basemap, title="Predicted road quality")
        else:
            if roads is not None:
                st.caption("No road of the current data crosses these tiles: showing the tiles.")
            fig = viz.predictions_map(
                result.predictions,
                classes,
                target=None if len(result.targets) == 1 else target,
                basemap=ctx.basemap,
                title="Predicted class per tile (hover for probabilities)",
                ordered=run.ordered.get(target, True),
            )
        from tlgeo.ui import imagery_ui

        scenes = [str(p) for p in result.scenes] or imagery_ui.prediction_sources(result, ctx)
        imagery_ui.prediction_overlay_ui(fig, run, done, target, scenes)
        event = st.plotly_chart(fig, key="predict_map", on_select="rerun", selection_mode="points")
        imagery_ui.predict_inspect_ui(event, fig, ctx, run, result, target, scenes)
    labels = {"geojson": "GeoJSON (EPSG:4326)", "csv": "CSV table", "geotiff": "GeoTIFF (class + probabilities)"}
    prediction_downloads_ui(done["files"], labels)


# --------------------------------------------------------------------------------------------- training
def _backbone_label(row: dict) -> str:
    if not row["pretrained"]:
        return f"{row['name']} — random weights (test backbone)"
    if row["offline"]:
        return f"{row['name']} — ImageNet weights offline ✓"
    return f"{row['name']} — ImageNet weights not available offline (scratch only)"


def backbone_ui(key: str) -> str:
    """Backbone picker that says which ones have ImageNet weights offline."""
    rows = cache.backbone_choices(state.show_test_backbone())
    by_name = {r["name"]: r for r in rows}
    return st.selectbox("Backbone", list(by_name), format_func=lambda n: _backbone_label(by_name[n]), key=key)


def img_size_ui(key: str) -> int:
    """Input size in pixels (default :attr:`TrainConfig.img_size`, 128: a good CPU compromise)."""
    sizes = ((32,) if state.show_test_backbone() else ()) + IMG_SIZES
    return int(
        st.select_slider(
            "Image size (px)",
            sizes,
            value=_D.img_size,
            key=key,
            help="Tiles are resampled to this size. 128 px is ~3× faster than 224 px on a CPU.",
        )
    )


def advisor_ui(ctx: Context, data: TaskData) -> Recommendation:
    """The strategy advisor's recommendation and reason; similarity can be measured with a button."""
    counts = [n for per in data.class_counts().values() for n in per.values()]
    key = state.similarity_key(ctx.task, ctx.source)
    sim = state.get(key)
    rec = recommend_strategy(min(counts) if counts else 0, sim)
    st.info(f"**Advisor:** {rec.reason}  \nWorth comparing: {', '.join(rec.alternatives)}.", icon=":material/explore:")
    if sim is None and st.button("Measure similarity to ImageNet (EfficientNet-Lite0, ~10 s)", key=f"{key}_btn"):
        with ui_errors("measuring similarity", stop=False):
            state.put(key, cache.similarity(ctx.taskdir, ctx.task, "efficientnet_lite0", 128))
            st.rerun()
    return rec


def train_form_ui(rec: Recommendation, kind: str = "ordered") -> TrainConfig | None:
    """The training form. Returns a validated :class:`TrainConfig` when submitted, else ``None``.

    ``kind`` (:func:`data_kind`) sets the metric choices: ``r2`` only for numbers (``"continuous"``, whose class
    weighting is ``none``), the class metrics for classes.
    """
    numbers = kind == "continuous"
    strategies = ["auto", *TRAINABLE]
    with st.form("train_form"):
        c1, c2 = st.columns(2)
        with c1:
            backbone = backbone_ui("train_backbone")
            strategy = st.selectbox(
                "Strategy",
                strategies,
                index=strategies.index(rec.strategy),
                key="train_strategy",
                format_func=lambda s: f"{s} (recommended)" if s == rec.strategy else s,
                help="\n\n".join(f"**{k}**: {v}" for k, v in STRATEGY_DESCRIPTIONS.items() if k in strategies),
            )
            img_size = img_size_ui("train_img_size")
        with c2:
            epochs = st.number_input("Fine-tuning / scratch epochs", 1, 100, _D.epochs, key="train_epochs")
            folds = st.number_input("Spatial cross-validation folds", 2, 10, _D.folds, key="train_folds")
            split = st.radio(
                "Split",
                list(SPLITS),
                horizontal=True,
                key="train_split",
                help="Random splits leak between neighbouring tiles: use them only as a baseline.",
            )
        with st.expander("More settings"):
            head_epochs = st.number_input(
                "Head epochs (frozen features)", 1, 500, _D.head_epochs, key="train_head_epochs"
            )
            batch = st.select_slider("Batch size", [8, 16, 32, 64, 128], value=_D.batch_size, key="train_batch")
            seed = st.number_input("Seed", 0, 10_000, _D.seed, key="train_seed")
            metric = st.selectbox(
                "Metric auto optimises",
                ["r2"] if numbers else ["balanced_accuracy", "accuracy", "macro_f1"],
                key="train_metric_values" if numbers else "train_metric",
                help="auto measures cheap probes on your folds and picks by this metric (with its class weighting)."
                + (" Numbers: R² (ridge probes on the backbone's features, chip_stats regressor)." if numbers else ""),
            )
            budget = st.number_input("auto's time budget (s)", 5, 36_000, int(_D.budget_s), key="train_budget")
            weighting = st.selectbox(
                "Class weighting (strategies other than auto)",
                ["none"] if numbers else ["balanced", "sqrt", "none"],
                key="train_class_weights_values" if numbers else "train_class_weights",
                help="Numbers have no classes to weight: every tile counts once."
                if numbers
                else "balanced: inverse class frequency (raises balanced accuracy, may lower accuracy); "
                "sqrt: halfway; none: every tile counts once.",
            )
        submitted = st.form_submit_button("Train and save a run", type="primary")
    if not submitted:
        return None
    with ui_errors("checking the settings"):
        return TrainConfig(
            backbone=backbone,
            strategy=strategy,
            img_size=img_size,
            epochs=int(epochs),
            head_epochs=int(head_epochs),
            folds=int(folds),
            split=split,
            batch_size=int(batch),
            seed=int(seed),
            metric=metric,
            budget_s=float(budget),
            class_weights=weighting,
        )


def advisor_result_ui(run: Run) -> None:
    """The measured advisor's probe table, pick and reason for a run trained with ``auto`` (nothing otherwise)."""
    rec = run.config.get("recommendation") or {}
    if not rec.get("probes"):
        return
    st.markdown(
        f"**Advisor picked `{rec['strategy']}`** (by {rec.get('metric')}, class weighting {rec.get('class_weights')})"
    )
    st.dataframe(pd.DataFrame(rec["probes"]), hide_index=True)
    (st.warning if rec.get("verdict") else st.info)(rec["reason"], icon=":material/explore:")


def estimate_ui(ctx: Context, n_images: int, configs: list[TrainConfig]) -> None:
    """An honest rough estimate of the training time here, before it starts."""
    from tlgeo.train import estimate_seconds
    from tlgeo.ui.progress import format_seconds

    seconds = sum(estimate_seconds(n_images, c, gpu="GPU" in ctx.device) for c in configs)
    st.caption(
        f"Rough estimate on {ctx.device}: **~{format_seconds(seconds)}** (the live ETA below is measured; "
        "fine-tuning on a CPU is slow). Stay on this page while it trains: changing a widget stops the training."
    )


def compare_form_ui() -> tuple[TrainConfig, list[str]] | None:
    """The comparison form: strategies on the same folds. Returns ``(config, strategies)`` when submitted."""
    with st.form("compare_form"):
        strategies = st.multiselect(
            "Strategies",
            list(TRAINABLE),
            default=["chip_stats", "scratch", "frozen_head", "fine_tune_all"],
            key="compare_strategies",
            help="\n\n".join(f"**{k}**: {v}" for k, v in STRATEGY_DESCRIPTIONS.items()),
        )
        c1, c2, c3 = st.columns(3)
        with c1:
            backbone = backbone_ui("compare_backbone")
        with c2:
            img_size = img_size_ui("compare_img_size")
        with c3:
            epochs = st.number_input("Fine-tuning / scratch epochs", 1, 100, _D.epochs, key="compare_epochs")
            folds = st.number_input("Spatial folds", 2, 10, _D.folds, key="compare_folds")
        submitted = st.form_submit_button("Compare", type="primary")
    if not submitted:
        return None
    if len(strategies) < 2:
        st.error("Pick at least two strategies to compare.")
        return None
    with ui_errors("checking the settings"):
        config = TrainConfig(
            backbone=backbone,
            strategy=strategies[0],
            img_size=img_size,
            epochs=int(epochs),
            folds=int(folds),
            refit=False,
        )
        return config, list(strategies)


# --------------------------------------------------------------------------------------------- runs
def no_run_ui(ctx: Context) -> Run:
    """The active run, or a hint and a stop when there is none."""
    if ctx.run is None:
        st.info(f"No saved run for the {ctx.task} task yet. Train one on the **Train** page.")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    return ctx.run


def run_target_ui(run: Run, key: str) -> str:
    """Pick one of a run's targets (villages); the only one otherwise."""
    targets = list(run.targets)
    if len(targets) == 1:
        return targets[0]
    return st.selectbox("Indicator", targets, key=key, format_func=lambda t: f"{t} — {INDICATOR_NAMES.get(t, t)}")


def run_header_ui(run: Run) -> None:
    """Run identity and its cross-validated metrics (mean ± sd over folds)."""
    cfg = run.config
    st.markdown(
        f"**Run** `{run.run_id}` — {run.strategy} on {run.backbone}, {run.img_size} px, "
        f"{cfg['train'].get('folds')} {cfg['train'].get('split')} folds · trained on {cfg.get('device', '?')} "
        f"in {cfg.get('timings', {}).get('total_s', '?')} s"
    )
    train = cfg["train"]
    weighting = train.get("class_weights", "balanced")
    weighting = {True: "balanced", False: "none"}.get(weighting, weighting)
    rec = cfg.get("recommendation") or {}
    if rec.get("metric"):
        chosen = f"Optimised metric: **{rec['metric']}** (auto picked the strategy and its class weighting by it)"
    else:
        chosen = "Optimised metric: none (strategy chosen by hand)"
    st.caption(f"{chosen} · class weighting **{weighting}**")
    mean = run.metrics.get("mean", {})
    shown = summary_metrics(run_kind(run))
    cols = st.columns(len(shown))
    for col, m in zip(cols, shown, strict=True):
        col.metric(m.replace("_", " "), format_mean_sd(mean.get(m)))


def metrics_table(results_table: pd.DataFrame, kind: str = "ordered") -> pd.DataFrame:
    """``comparison_table`` with ``mean ± sd`` strings of the metrics of ``kind`` (:func:`summary_metrics`)."""
    out = results_table[["strategy", "backbone", "folds"]].copy()
    for m in summary_metrics(kind):
        if m in results_table:
            out[m] = [
                format_mean_sd({"mean": a, "sd": b})
                for a, b in zip(results_table[m], results_table.get(f"{m}_sd", 0), strict=True)
            ]
    if "seconds" in results_table:
        out["seconds"] = results_table["seconds"].round(1)
    return out


def lesson_ui(table: pd.DataFrame, metric: str | None = None, kind: str = "ordered") -> None:
    """One sentence on what the comparison shows: the best strategy and its margin over training from scratch.

    ``metric`` defaults to the headline metric of ``kind`` (:func:`summary_metrics`; higher is better for it).
    """
    metric = metric or summary_metrics(kind)[0]
    if metric not in table or table[metric].isna().all():
        return
    best = table.loc[table[metric].idxmax()]
    text = f"**{best['strategy']}** scores best ({metric} {format_mean_sd({'mean': best[metric], 'sd': best[f'{metric}_sd']})})."
    scratch = table[table["strategy"] == "scratch"]
    if len(scratch) and best["strategy"] != "scratch":
        s = scratch.iloc[0]
        gap = best[metric] - s[metric]
        noise = float(np.hypot(best[f"{metric}_sd"], s[f"{metric}_sd"]))
        verdict = "larger than" if gap > noise else "within"
        text += (
            f" It beats training from scratch by {gap:+.3f} — {verdict} the fold-to-fold spread (±{noise:.3f}),"
            f" on the same spatial folds."
        )
    elif len(scratch):
        text += (
            " Training from scratch wins here: the pretrained features do not fit this imagery, or data is plentiful."
        )
    st.info(text, icon=":material/lightbulb:")
