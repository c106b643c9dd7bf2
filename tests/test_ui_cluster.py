"""The Predict page sends a job to the configured cluster (``TLGEO_CLUSTER``) and shows it next to the device."""

from __future__ import annotations

import json

import pytest

from tests.test_ui_pages import (  # noqa: F401 - fixtures
    _no_legacy_pages_mode,
    button,
    downloads,
    env,
    media,
    ok,
    open_app,
    tiny_run,
)
from tlgeo.distributed.cluster import CLUSTER_ENV
from tlgeo.ui import state

pytest.importorskip("distributed")


def test_predict_page_sends_a_scene_to_the_configured_cluster(env, tiny_run, media):  # noqa: F811
    env.setenv(state.RUNS_ENV, str(tiny_run))
    at = ok(open_app("predict"))
    assert "predict_cluster" not in [t.key for t in at.toggle]  # no cluster configured: no toggle
    env.setenv(CLUSTER_ENV, "local:1")
    at = ok(open_app("predict"))
    assert any("cluster local:1" in c.value for c in at.sidebar.caption)
    at.radio(key=state.PREDICT_MODE).set_value("A scene of the current data").run()
    at.toggle(key="predict_cluster").set_value(True).run()
    button(at, "Predict ").click().run(timeout=300)
    ok(at)
    files = downloads(at, media)
    assert set(files) == {"geojson", "csv", "tif"}
    assert len(json.loads(files["geojson"])["features"]) > 0
