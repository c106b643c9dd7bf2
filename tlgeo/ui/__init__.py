"""The dashboard's building blocks — the only part of tlgeo that imports streamlit.

* :mod:`tlgeo.ui.state` — session keys and the folders the app works in;
* :mod:`tlgeo.ui.cache` — ``st.cache_data`` / ``st.cache_resource`` wrappers around library calls;
* :mod:`tlgeo.ui.widgets` — ``*_ui()`` widget groups, the shared sidebar among them;
* :mod:`tlgeo.ui.progress` — a ``TrainCallback`` that drives a progress bar and live learning curves;
* :mod:`tlgeo.ui.actions` — training, comparing and predicting with live feedback, and the download files;
* :mod:`tlgeo.ui.errors` — tlgeo errors as ``st.error``, never a traceback;
* :mod:`tlgeo.ui.uploads` — uploads saved under safe names into a per-session task folder.

Figures come from :mod:`tlgeo.viz` (plotly, no streamlit).
"""
