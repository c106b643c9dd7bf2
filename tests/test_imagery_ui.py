"""Dashboard side of issue 15 (AppTest): imagery layers under the Data and Evaluate maps, the Evaluate calibration
and hard-examples tabs, and reading a clicked tile from a plotly selection event."""

from __future__ import annotations

import json

import plotly.graph_objects as go

from tests.test_ui_pages import _no_legacy_pages_mode, env, ok, open_app, tiny_run  # noqa: F401
from tlgeo.ui import imagery_ui, state


def _maps(at) -> list[dict]:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [c for c in charts if "map" in c["layout"]]


def test_data_map_has_the_scene_under_its_traces(env):  # noqa: F811
    at = ok(open_app("data"))
    layers = _maps(at)[0]["layout"]["map"]["layers"]
    assert len(layers) == 2  # the two sample scenes
    assert all(ly["sourcetype"] == "image" and ly["below"] == "traces" for ly in layers)
    assert all(ly["source"].startswith("data:image/jpeg;base64,") for ly in layers)
    at.toggle(key="data_imagery").set_value(False).run()
    assert "layers" not in _maps(ok(at))[0]["layout"]["map"]


def test_evaluate_shows_imagery_reliability_and_hard_examples(env, tiny_run):  # noqa: F811
    env.setenv(state.RUNS_ENV, str(tiny_run))
    at = ok(open_app("evaluate"))
    maps = _maps(at)
    assert len(maps) == 2 and all(m["layout"]["map"]["layers"] for m in maps)  # errors and folds maps
    at.slider(key="evaluate_opacity").set_value(0.4).run()
    assert {ly["opacity"] for m in _maps(ok(at)) for ly in m["layout"]["map"]["layers"]} == {0.4}
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [t.get("name", "") for c in charts for t in c["data"]]
    assert any(n.startswith("model (ECE ") for n in names) and any(n.startswith("temperature ") for n in names)
    assert any("ECE" in c.value and "saved in the run" in c.value for c in at.caption)
    assert at.get("imgs") or at.get("image"), "no hard examples shown"


def test_selected_tile_reads_the_clicked_feature():
    fig = go.Figure(go.Scattermap(lon=[1, 2], lat=[1, 2], customdata=[["a", 0.1], ["b", 0.2]]))
    assert imagery_ui.selected_tile({"selection": {"points": [{"curve_number": 0, "point_index": 0}]}}, fig) == "a"
    event = type("Event", (), {"selection": {"points": [{"curve_number": 0, "point_index": 1}]}})()
    assert imagery_ui.selected_tile(event, fig) == "b"
    event.selection = {"points": [{"customdata": ["tile_7", 0.3]}]}
    assert imagery_ui.selected_tile(event, fig) == "tile_7"
    event.selection = {"points": []}
    assert imagery_ui.selected_tile(event, fig) is None
