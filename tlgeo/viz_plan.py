"""Figures of an active-learning plan (:mod:`tlgeo.plan`): stretches to drive or sites to survey, on an offline map.

Data in, ``go.Figure`` out; no Keras, no Streamlit. Maps use the same offline-safe layout as :mod:`tlgeo.viz`.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import plotly.graph_objects as go

from tlgeo.viz.base import _lines_trace, _map_layout, _outline_trace, bounds_of, to_lonlat

#: Picks are coloured from most useful (dark red) to least (yellow) by rank.
RANK_RAMP = ("#7f0000", "#b30000", "#d7301f", "#ef6548", "#fc8d59", "#fdbb84", "#fdd49e")
NETWORK_COLOR = "#bbbbbb"
DRIVEN_COLOR = "#222222"
GAP_COLOR = "#6a51a3"


def _rank_color(rank: int, n: int) -> str:
    k = 0 if n <= 1 else round((rank - 1) / (n - 1) * (len(RANK_RAMP) - 1))
    return RANK_RAMP[int(k)]


def plan_map(
    plan: gpd.GeoDataFrame,
    kind: str,
    *,
    network: gpd.GeoDataFrame | None = None,
    driven: gpd.GeoDataFrame | None = None,
    footprints: gpd.GeoDataFrame | None = None,
    start_lonlat: Sequence[float] | None = None,
    basemap: str = "white-bg",
    title: str | None = None,
) -> go.Figure:
    """Map of a plan.

    Args:
        plan: :attr:`tlgeo.plan.PlanResult.plan` (stretches in driving order, or sites by rank).
        kind: ``"roads"`` or ``"sites"``.
        network: Road lines drawn thin and grey under the plan.
        driven: Driven segments drawn dark.
        footprints: Scene outlines (EPSG:4326 or any CRS).
        start_lonlat: Where the route starts (a marker).
        basemap: ``white-bg`` (offline) or ``open-street-map``.
        title: Figure title.
    """
    fig = go.Figure()
    p = to_lonlat(plan).reset_index(drop=True)
    if footprints is not None and len(footprints):
        fig.add_trace(_outline_trace(to_lonlat(footprints)))
    if network is not None and len(network):
        fig.add_trace(
            _lines_trace(to_lonlat(network).geometry.values, None, name="road network", color=NETWORK_COLOR, width=2)
        )
    if driven is not None and len(driven):
        fig.add_trace(_lines_trace(to_lonlat(driven).geometry.values, None, name="driven", color=DRIVEN_COLOR, width=3))
    n = len(p)
    if kind == "roads":
        if start_lonlat is not None and n:
            lons, lats = [start_lonlat[0]], [start_lonlat[1]]
            for a, b in zip([None, *p.geometry.values[:-1]], p.geometry.values, strict=True):
                here = a.coords[-1] if a is not None else start_lonlat
                lons += [here[0], b.coords[0][0], None]
                lats += [here[1], b.coords[0][1], None]
            fig.add_trace(
                go.Scattermap(
                    lon=lons,
                    lat=lats,
                    mode="lines",
                    line={"width": 1.5, "color": GAP_COLOR},
                    name="route between stretches (straight)",
                    hoverinfo="skip",
                )
            )
            fig.add_trace(
                go.Scattermap(
                    lon=[start_lonlat[0]],
                    lat=[start_lonlat[1]],
                    mode="markers",
                    marker={"size": 12, "color": GAP_COLOR},
                    name="start",
                    hovertemplate="start<extra></extra>",
                )
            )
        for row, geom in zip(p.itertuples(index=False), p.geometry.values, strict=True):
            text = (
                f"<b>drive #{row.order}</b> — rank {row.rank}<br>{row.stretch_id}: {row.length_km:.2f} km<br>"
                f"score {row.score:.3f}, uncertainty {row.uncertainty:.3f}"
            )
            fig.add_trace(
                _lines_trace(
                    [geom],
                    [text],
                    name=f"{row.order}. {row.stretch_id} ({row.length_km:.2f} km)",
                    color=_rank_color(int(row.rank), n),
                    width=6,
                )
            )
        legend = "next drives (in driving order)"
    else:
        text = [
            f"<b>#{r.rank}</b> {r.tile_id}<br>score {r.score:.3f}, uncertainty {r.uncertainty:.3f}"
            for r in p.itertuples(index=False)
        ]
        fig.add_trace(
            go.Scattermap(
                lon=p.geometry.x,
                lat=p.geometry.y,
                mode="markers+text",
                marker={"size": 13, "color": [_rank_color(int(r), n) for r in p["rank"]]},
                text=[str(int(r)) for r in p["rank"]],
                textposition="top right",
                name="sites to survey (rank)",
                customdata=np.asarray(text, dtype=object)[:, None] if n else None,
                hovertemplate="%{customdata[0]}<extra></extra>",
            )
        )
        legend = "next sites"
    frames = [f for f in (p, footprints) if f is not None and len(f)]
    return _map_layout(fig, bounds_of(*frames), basemap, title=title, legend_title=legend)
