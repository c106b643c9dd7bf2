"""Plan page widgets: score a run's tiles once (cached), budget controls, the plan's map, table and downloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from tlgeo.active import UNCERTAINTY_KINDS, ActiveSettings
from tlgeo.ui import cache, imagery_ui

if TYPE_CHECKING:
    from tlgeo.plan import PlanResult
    from tlgeo.runs import Run
    from tlgeo.taskdata import TaskData


BUDGET_KM = "tlgeo_plan_budget_km"
BUDGET_N = "tlgeo_plan_budget_n"
WEIGHT = "tlgeo_plan_weight"
KIND = "tlgeo_plan_uncertainty"
MIN_DIST = "tlgeo_plan_min_distance"
START = "tlgeo_plan_start"


@dataclass
class Scored:
    """A run's task folder with the calibrated probabilities and embeddings of every tile."""

    task: TaskData
    probs: dict[str, np.ndarray]
    embeddings: np.ndarray


@st.cache_resource(show_spinner="Scoring every tile of the run's task folder…", max_entries=2)
def _scored(run_path: str, created: str) -> Scored:
    from tlgeo.plan import run_task, tile_outputs
    from tlgeo.runs import load_run

    run = load_run(run_path)
    task = run_task(run)
    probs, emb = tile_outputs(cache.predictor(run), task.tiles)
    return Scored(task, probs, emb)


def scored(run: Run) -> Scored:
    """:func:`tlgeo.plan.tile_outputs` of the run's task folder, computed once per run."""
    return _scored(str(run.path), str(run.config.get("created", "")))


def controls_ui(run: Run, scored: Scored) -> tuple[str, float, ActiveSettings, str | None]:
    """Budget and scoring settings. Returns ``(kind, budget, settings, start)``; ``kind`` is roads or sites."""
    roads = run.task == "roads" and scored.task.network is not None
    c1, c2, c3, c4 = st.columns(4)
    if roads:
        kind = c1.radio("Plan", ["roads", "sites"], horizontal=True, format_func=lambda k: k.title(), key="plan_kind")
    else:
        kind = "sites"
        c1.caption("Sites to survey: unlabelled tiles (this task has no road network to drive).")
    if kind == "roads":
        budget = c2.number_input("Budget (km of undriven road)", 0.1, 500.0, 5.0, 0.5, key=BUDGET_KM)
    else:
        budget = c2.number_input("Sites to visit", 1, 500, 20, 1, key=BUDGET_N)
    weight = c3.slider(
        "Weight of uncertainty (w)",
        0.0,
        1.0,
        ActiveSettings().weight,
        0.05,
        key=WEIGHT,
        help="score = w · uncertainty + (1 − w) · representativeness (distance in the run's embedding space to "
        "labelled tiles and earlier picks). 1 = uncertainty alone, 0 = diversity alone.",
    )
    unc = c4.selectbox("Uncertainty", list(UNCERTAINTY_KINDS), key=KIND)
    d1, d2 = st.columns(2)
    min_distance = d1.number_input(
        "Minimum distance between picks (m)", 0.0, 100000.0, ActiveSettings().min_distance_m, 50.0, key=MIN_DIST
    )
    start = None
    if kind == "roads":
        start = d2.text_input("Start at LON,LAT (empty: the nearest driven road)", "", key=START).strip() or None
    return kind, float(budget), ActiveSettings(uncertainty=unc, weight=weight, min_distance_m=min_distance), start


def make_plan(run: Run, scored: Scored, kind: str, budget: float, settings: ActiveSettings, start) -> PlanResult:
    """Plan drives or sites from the cached scores (fast: no model call)."""
    from tlgeo.plan import parse_start, plan_drives, plan_sites

    if kind == "roads":
        return plan_drives(
            scored.task,
            scored.probs,
            scored.embeddings,
            budget,
            start=parse_start(start),
            settings=settings,
            run_id=run.run_id,
        )
    return plan_sites(scored.task, scored.probs, scored.embeddings, int(budget), settings=settings, run_id=run.run_id)


def result_ui(result: PlanResult, scored: Scored, basemap: str) -> None:
    """Map, ranked table and downloads (GeoJSON, CSV, GPX for drives)."""
    import geopandas as gpd

    from tlgeo import viz
    from tlgeo.export import geojson_bytes
    from tlgeo.plan import plan_csv_bytes
    from tlgeo.plan_roads import route_gpx_bytes

    task = scored.task
    for note in result.notes:
        st.caption(note)
    m1, m2, m3 = st.columns(3)
    m1.metric("candidates scored", result.candidates)
    m2.metric("picked", len(result.plan))
    if result.kind == "roads":
        m3.metric("km to drive", f"{result.total_km:.2f} / {result.budget:g}")
    else:
        m3.metric("mean score", f"{result.plan['score'].mean():.3f}" if len(result.plan) else "–")
    start = None
    if result.start_xy is not None:
        pt = gpd.GeoSeries(gpd.points_from_xy([result.start_xy[0]], [result.start_xy[1]]), crs=result.plan.crs)
        start = tuple(pt.to_crs(4326).iloc[0].coords[0])
    from tlgeo.viz_plan import plan_map

    fig = plan_map(
        result.plan,
        result.kind,
        network=task.network if result.kind == "roads" else None,
        driven=task.vectors if result.kind == "roads" else None,
        footprints=viz.scene_outlines(task.tiles),
        start_lonlat=start,
        basemap=basemap,
        title="Next drives" if result.kind == "roads" else "Next sites to survey",
    )
    opacity = imagery_ui.imagery_ui("plan")
    imagery_ui.add_imagery(fig, imagery_ui.task_scenes(task.tiles), task.settings.tiles.bands, opacity)
    st.plotly_chart(fig, use_container_width=True)
    st.dataframe(result.table(), hide_index=True, use_container_width=True)
    stem = "next_drives" if result.kind == "roads" else "next_sites"
    cols = st.columns(3)
    cols[0].download_button(
        "GeoJSON", geojson_bytes(result.plan), f"{stem}.geojson", "application/geo+json", key="plan_dl_geojson"
    )
    cols[1].download_button("CSV", plan_csv_bytes(result), f"{stem}.csv", "text/csv", key="plan_dl_csv")
    if result.kind == "roads":
        cols[2].download_button(
            "GPX (phone navigation)",
            route_gpx_bytes(result.plan),
            f"{stem}.gpx",
            "application/gpx+xml",
            key="plan_dl_gpx",
        )
