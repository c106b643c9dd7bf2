"""Download buttons of a prediction's files, one per column (the Predict page's classes and values views)."""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st


def prediction_downloads_ui(files: Mapping[str, tuple[str, bytes, str]], labels: Mapping[str, str]) -> None:
    """One download button per written file, side by side.

    Args:
        files: Kind (``geojson``, ``csv``, ``geotiff``) → (file name, bytes, MIME type).
        labels: Kind → what the button says after "Download".
    """
    for col, (kind, (name, payload, mime)) in zip(st.columns(len(files)), files.items(), strict=True):
        col.download_button(
            f"Download {labels[kind]}",
            payload,
            file_name=name,
            mime=mime,
            key=f"predict_dl_{kind}",
            icon=":material/download:",
            on_click="ignore",
        )
