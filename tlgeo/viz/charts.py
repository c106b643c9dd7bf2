"""Charts: class balance, learning curves, strategy comparisons, confusion matrices, reliability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tlgeo.viz.base import CORRECT_COLOR, QUALITATIVE, WRONG_COLOR, class_colors


def class_balance(
    counts: Mapping[str, Mapping[str, int]], *, title: str | None = None, ordered: bool = True
) -> go.Figure:
    """Labelled tiles per class, one bar group per target (``TaskData.class_counts()``); unordered classes get
    categorical colours (``ordered=False``)."""
    fig = go.Figure()
    targets = list(counts)
    classes: list[str] = []
    for per in counts.values():
        classes += [c for c in per if c not in classes]
    colors = class_colors(classes, ordered=ordered)
    for c in classes:
        fig.add_trace(
            go.Bar(
                x=targets,
                y=[counts[t].get(c, 0) for t in targets],
                name=str(c),
                marker_color=colors[c],
                text=[counts[t].get(c, 0) for t in targets],
                textposition="auto",
            )
        )
    fig.update_layout(
        barmode="group",
        height=320,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        title={"text": title} if title else None,
        yaxis_title="labelled tiles",
        legend_title_text="class",
    )
    return fig


def _history_steps(history: pd.DataFrame) -> pd.DataFrame:
    h = history.copy()
    h["fold"] = h["fold"].astype(str)
    h["step"] = h.groupby("fold").cumcount() + 1
    return h


def learning_curves(history: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Loss and accuracy per epoch: one colour per fold (``all`` = the refit), solid = training, dashed = validation.

    Epochs count on through the phases of a fold (head epochs, then fine-tuning); hover names the phase.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"), horizontal_spacing=0.08)
    if history is None or history.empty:
        fig.add_annotation(
            text="No epochs: this strategy fits its classifier in one step (features_linear)",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
        )
        fig.update_layout(height=320, title={"text": title} if title else None)
        return fig
    h = _history_steps(history)
    for i, (fold, part) in enumerate(h.groupby("fold", sort=False)):
        color = QUALITATIVE[i % len(QUALITATIVE)]
        name = "refit (all tiles)" if fold == "all" else f"fold {fold}"
        for col, metric in ((1, "loss"), (2, "accuracy")):
            for prefix, dash in (("", "solid"), ("val_", "dash")):
                key = f"{prefix}{metric}"
                if key not in part or part[key].isna().all():
                    continue
                fig.add_trace(
                    go.Scatter(
                        x=part["step"],
                        y=part[key],
                        mode="lines+markers" if len(part) < 15 else "lines",
                        line={"color": color, "dash": dash},
                        marker={"size": 5},
                        name=f"{name} · {'validation' if prefix else 'training'}",
                        legendgroup=name,
                        showlegend=col == 1,
                        customdata=part[["phase", "epoch"]].to_numpy(dtype=object),
                        hovertemplate=f"{name} {key}: %{{y:.3f}}<br>%{{customdata[0]}} epoch %{{customdata[1]}}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch (head, then fine-tuning)")
    if h["step"].max() <= 12:
        fig.update_xaxes(dtick=1)
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        title={"text": title} if title else None,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def compare_curves(
    histories: Mapping[str, pd.DataFrame], *, metric: str = "val_loss", title: str | None = None
) -> go.Figure:
    """One line per strategy: ``metric`` per epoch, averaged over cross-validation folds (band = min–max)."""
    fig = go.Figure()
    for i, (strategy, hist) in enumerate(histories.items()):
        if hist is None or hist.empty or metric not in hist:
            continue
        h = _history_steps(hist)
        h = h[h["fold"] != "all"]
        g = h.groupby("step")[metric].agg(["mean", "min", "max"]).reset_index()
        color = QUALITATIVE[i % len(QUALITATIVE)]
        fig.add_trace(
            go.Scatter(
                x=list(g["step"]) + list(g["step"][::-1]),
                y=list(g["max"]) + list(g["min"][::-1]),
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=strategy,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=g["step"],
                y=g["mean"],
                mode="lines+markers" if len(g) < 15 else "lines",
                name=strategy,
                line={"color": color, "width": 2},
                legendgroup=strategy,
                hovertemplate=f"{strategy} {metric}: %{{y:.3f}} (epoch %{{x}})<extra></extra>",
            )
        )
    if 0 < max((max(t.x) for t in fig.data if t.x is not None and len(t.x)), default=0) <= 12:
        fig.update_xaxes(dtick=1)
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or f"{metric} per epoch (mean over folds)"},
        xaxis_title="epoch (head, then fine-tuning)",
        yaxis_title=metric,
        legend_title_text="strategy",
    )
    return fig


def comparison_bars(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1", "within_one"),
    *,
    title: str | None = None,
) -> go.Figure:
    """Mean ± sd over folds of each metric, one bar per strategy (``tlgeo.train.comparison_table``)."""
    fig = go.Figure()
    metrics = [m for m in metrics if m in table]
    for i, row in enumerate(table.itertuples(index=False)):
        r = row._asdict()
        fig.add_trace(
            go.Bar(
                x=list(metrics),
                y=[r[m] for m in metrics],
                error_y={"type": "data", "array": [r.get(f"{m}_sd", 0) or 0 for m in metrics], "visible": True},
                name=str(r["strategy"]),
                marker_color=QUALITATIVE[i % len(QUALITATIVE)],
                hovertemplate=f"{r['strategy']}<br>%{{x}}: %{{y:.3f}} ± %{{error_y.array:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=360,
        yaxis={"range": [0, 1.05], "title": "mean over folds (± sd)"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or "Held-out metrics on the same spatial folds"},
        legend_title_text="strategy",
    )
    return fig


def confusion_figure(
    confusion: Sequence[Sequence[int]], classes: Sequence[str], *, normalize: bool = True, title: str | None = None
) -> go.Figure:
    """Confusion matrix heatmap (rows = truth, columns = prediction); cells show counts and row shares."""
    cm = np.asarray(confusion, dtype="float64")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    z = share if normalize else cm
    text = [[f"{int(cm[i, j])}<br>{share[i, j]:.0%}" for j in range(cm.shape[1])] for i in range(cm.shape[0])]
    labels = [str(c) for c in classes]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else None,
            colorbar={"title": {"text": "share of row" if normalize else "tiles"}},
            hovertemplate="truth %{y} → predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or "Confusion matrix (out-of-fold)"},
        xaxis={"title": "predicted", "side": "bottom"},
        yaxis={"title": "truth", "autorange": "reversed"},
    )
    return fig


def reliability_figure(
    before: pd.DataFrame,
    after: pd.DataFrame,
    ece_before: float,
    ece_after: float,
    temperature: float,
    *,
    title: str | None = None,
) -> go.Figure:
    """Reliability diagram: accuracy against confidence per bin (``tlgeo.calibration.reliability``), before and
    after temperature scaling; marker size follows the tiles in the bin; the diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#888"}, name="perfect", hoverinfo="skip"
        )
    )
    for table, name, color in (
        (before, f"model (ECE {ece_before:.3f})", WRONG_COLOR),
        (after, f"temperature {temperature:.2f} (ECE {ece_after:.3f})", CORRECT_COLOR),
    ):
        if table is None or table.empty:
            continue
        size = 6 + 18 * np.sqrt(table["n"] / max(table["n"].max(), 1))
        fig.add_trace(
            go.Scatter(
                x=table["confidence"],
                y=table["accuracy"],
                mode="lines+markers",
                marker={"size": size, "color": color},
                line={"color": color},
                name=name,
                customdata=table[["n"]].to_numpy(),
                hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata[0]} tiles<extra></extra>",
            )
        )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or "Reliability (out-of-fold)"},
        xaxis={"title": "confidence (top probability)", "range": [0, 1.02]},
        yaxis={"title": "accuracy", "range": [0, 1.02]},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"},
    )
    return fig
