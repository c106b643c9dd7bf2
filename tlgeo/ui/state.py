"""Session-state keys and the folders the dashboard works in — in one place.

Pages and widgets read and write ``st.session_state`` only through the names defined here, so a key is never spelled
two ways. Folders:

* runs: ``$TLGEO_RUNS`` or ``runs/`` beside ``app.py``;
* sample data: ``$TLGEO_SAMPLE_DATA`` or ``sample_data/`` beside ``app.py`` (``<task>/imagery``, labels, ``tlgeo.toml``;
  ``landcover/`` for the ``classes`` task);
* uploads: a temporary folder per browser session (``tlgeo-session-*``), holding one task folder per task.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import streamlit as st

# widget and session keys
TASK = "tlgeo_task"
SOURCE = "tlgeo_source"
RUN = "tlgeo_active_run"
BASEMAP = "tlgeo_basemap"
SESSION_DIR = "tlgeo_session_dir"
COMPARE_RESULT = "tlgeo_compare_result"
LAST_TRAINED = "tlgeo_last_trained"
PREDICTION = "tlgeo_prediction"
UPLOAD_IMAGERY = "tlgeo_upload_imagery"
UPLOAD_LABELS = "tlgeo_upload_labels"
UPLOAD_SETTINGS = "tlgeo_upload_settings"
UPLOAD_GENERATION = "tlgeo_upload_generation"
PREDICT_UPLOAD = "tlgeo_predict_upload"
PREDICT_MODE = "tlgeo_predict_mode"
PREDICT_SCENE = "tlgeo_predict_scene"
SIDEBAR = "tlgeo_sidebar_values"
SELECT_RUN_NEXT = "tlgeo_select_run_next"
DEVICE_SLOT = "tlgeo_device_slot"
PLAN_SCORED = "tlgeo_plan_scored"
LABEL_COLUMN = "tlgeo_label_column"
LABEL_BANDS = "tlgeo_label_bands"
LABEL_SCALING = "tlgeo_label_scaling"
LABEL_CHIP = "tlgeo_label_chip"
PREVIEW_RGB = "tlgeo_preview_rgb"

SAMPLE = "sample"
UPLOADED = "uploaded"
SOURCES = {SAMPLE: "bundled sample", UPLOADED: "uploaded files"}

RUNS_ENV = "TLGEO_RUNS"
SAMPLE_ENV = "TLGEO_SAMPLE_DATA"
TEST_BACKBONE_ENV = "TLGEO_SHOW_TEST_BACKBONE"


def app_root() -> Path:
    """The folder holding ``app.py`` (the running app's main script; else the checkout tlgeo lives in)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    main = getattr(ctx, "main_script_path", None) if ctx is not None else None
    return Path(main).resolve().parent if main else Path(__file__).resolve().parents[2]


def runs_dir() -> Path:
    """Where runs are saved and listed (``$TLGEO_RUNS`` or ``runs/`` beside ``app.py``)."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else app_root() / "runs"


def sample_root() -> Path:
    """The bundled sample data folder (``$TLGEO_SAMPLE_DATA`` or ``sample_data/`` beside ``app.py``)."""
    env = os.environ.get(SAMPLE_ENV)
    return Path(env).expanduser() if env else app_root() / "sample_data"


def show_test_backbone() -> bool:
    """Whether ``tiny_cnn`` (random weights, for tests) is offered (``TLGEO_SHOW_TEST_BACKBONE=1``)."""
    return os.environ.get(TEST_BACKBONE_ENV, "").strip().lower() in ("1", "true", "yes")


def session_dir() -> Path:
    """This browser session's private temporary folder (created on first use)."""
    path = st.session_state.get(SESSION_DIR)
    if not path or not Path(path).is_dir():
        path = tempfile.mkdtemp(prefix="tlgeo-session-")
        st.session_state[SESSION_DIR] = path
    return Path(path)


def upload_task_dir(task: str) -> Path:
    """Task folder that receives this session's uploads for ``task``."""
    path = session_dir() / "tasks" / task
    path.mkdir(parents=True, exist_ok=True)
    return path


#: Bundled sample folder of a task whose folder is not named after it (others: ``sample_data/<task>``).
SAMPLE_FOLDERS = {"classes": "landcover"}


def task_dir(task: str, source: str) -> Path:
    """The task folder the sidebar's choices point at (the ``classes`` sample is ``sample_data/landcover``)."""
    return sample_root() / SAMPLE_FOLDERS.get(task, task) if source == SAMPLE else upload_task_dir(task)


def similarity_key(task: str, source: str) -> str:
    """Where the measured similarity to ImageNet of a task's tiles is kept."""
    return f"tlgeo_similarity_{task}_{source}"


def get(key: str, default=None):
    """``st.session_state.get`` (a single place to read state from)."""
    return st.session_state.get(key, default)


def put(key: str, value) -> None:
    """Store a value in the session state."""
    st.session_state[key] = value


def drop(*keys: str) -> None:
    """Forget session values."""
    for key in keys:
        st.session_state.pop(key, None)
