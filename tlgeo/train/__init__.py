"""Training: spatial cross-validation, two-phase fine-tuning, embeddings cache, metrics, callbacks.

:func:`train` runs K-fold cross-validation of one strategy on a :class:`~tlgeo.labels.TaskData` and, unless told
otherwise, refits the saved model on all labelled tiles. :func:`compare` runs several strategies on the *same*
folds, so their metrics can be set side by side. Progress goes to a :class:`TrainCallback` — the CLI prints it, the
dashboard draws a progress bar and live curves from it; this module never imports streamlit.

Frozen-feature strategies compute pooled backbone features once per dataset (cached on disk, keyed by tiles,
backbone, weights, input size, bands and stage) and train only the head; fine-tuning strategies train the head
on those features first (phase 1) and then unfreeze backbone stages with a lower learning rate (phase 2).
"""

from __future__ import annotations

from tlgeo.config import TrainConfig  # re-exported: `from tlgeo.train import train, TrainConfig`
from tlgeo.train.auto import resolve_strategy
from tlgeo.train.callbacks import (
    CPU_INFER_224,
    CPU_TRAIN_224,
    RELATIVE_COST,
    PrintCallback,
    TrainCallback,
    estimate_seconds,
)
from tlgeo.train.experiment import Experiment, FoldOutcome, TrainResult, prepare_experiment
from tlgeo.train.heads import chip_features_of
from tlgeo.train.run import compare, comparison_table, train

__all__ = [
    "CPU_INFER_224",
    "CPU_TRAIN_224",
    "RELATIVE_COST",
    "Experiment",
    "FoldOutcome",
    "PrintCallback",
    "TrainCallback",
    "TrainConfig",
    "TrainResult",
    "chip_features_of",
    "compare",
    "comparison_table",
    "estimate_seconds",
    "prepare_experiment",
    "resolve_strategy",
    "train",
]
