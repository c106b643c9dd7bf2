"""tlgeo — transfer learning on satellite imagery for road quality and village socioeconomic indicators.

The library is importable without streamlit (only :mod:`tlgeo.ui` imports it) and without loading TensorFlow until
a model is needed.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) drowns the CLI; real warnings still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
