"""tlgeo dashboard — ``streamlit run app.py``.

Page config, the one shared sidebar (task, data source, device, active run, basemap) and navigation. Pages live in
``pages/`` and stay thin: widgets → cached library calls → figures, tables and downloads.
"""

import streamlit as st

from tlgeo.ui.widgets import device_ui, sidebar_ui

st.set_page_config(
    page_title="tlgeo — transfer learning on satellite imagery", page_icon=":material/satellite_alt:", layout="wide"
)

pages = st.navigation(
    [
        st.Page("pages/data.py", title="Data", icon=":material/map:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/target:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/online_prediction:"),
        st.Page("pages/plan.py", title="Plan", icon=":material/route:"),
    ]
)
sidebar_ui()
pages.run()
device_ui()  # TensorFlow starts in the background: name the device once the page has rendered
