"""Roads to drive next: undriven stretches of a road network, a length budget, a route and its GPX.

1. :func:`undriven_stretches`: the network minus the driven segments (a buffer of ``driven_tolerance_m`` around
   them), merged into contiguous lines and cut into stretches of at most ``max_stretch_m``.
2. Scores per stretch come from the tiles it crosses (length-weighted; see :mod:`tlgeo.plan`), picks from
   :func:`tlgeo.active.select` with the stretch lengths as costs and the budget in km.
3. :func:`greedy_route`: a **greedy nearest-neighbour tour** — from the start point, drive to the nearest end of the
   nearest stretch not yet driven, drive it, repeat. It is not an optimal tour (no travelling-salesman solver, no
   routing along the network between stretches: the gaps are straight lines), but stretches that touch are driven
   one after the other, end to start.
4. :func:`route_gpx_bytes`: GPX 1.1 with one route (``rte``, the stretch ends in driving order) and one track
   (``trk``, one ``trkseg`` per stretch), which phone navigation apps (OsmAnd, Organic Maps, Locus) load.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring

from tlgeo.errors import ConfigError

#: Road within this distance of a driven segment counts as driven (GPS noise, carriageway width).
DRIVEN_TOLERANCE_M = 15.0
#: Stretches longer than this are cut into equal parts, so a budget can be filled with parts of long roads.
MAX_STRETCH_M = 500.0
#: Undriven leftovers shorter than this are not worth a trip (slivers at junctions and segment ends).
MIN_STRETCH_M = 40.0
GPX_NS = "http://www.topografix.com/GPX/1/1"


def metric_crs(frame: gpd.GeoDataFrame):
    """The frame's CRS if projected, else its UTM zone."""
    return frame.crs if frame.crs.is_projected else frame.estimate_utm_crs()


def undriven_stretches(
    network: gpd.GeoDataFrame,
    driven: gpd.GeoDataFrame | None,
    *,
    driven_tolerance_m: float = DRIVEN_TOLERANCE_M,
    max_stretch_m: float = MAX_STRETCH_M,
    min_stretch_m: float = MIN_STRETCH_M,
    crs=None,
) -> gpd.GeoDataFrame:
    """Contiguous undriven pieces of a road network, cut into stretches of at most ``max_stretch_m``.

    Args:
        network: Road lines (any CRS).
        driven: Driven segments (any CRS), or None when nothing was driven.
        driven_tolerance_m: Road within this distance of a driven segment counts as driven.
        max_stretch_m: Longer pieces are cut into equal parts no longer than this.
        min_stretch_m: Shorter pieces are left out.
        crs: Metric CRS to work in (default: the network's UTM zone).

    Returns:
        One LineString per stretch in the metric CRS: ``stretch_id`` (``s0001``…), ``piece`` (the contiguous
        undriven line it belongs to) and ``length_m``.
    """
    crs = crs or metric_crs(network)
    lines = network.to_crs(crs).geometry.values
    lines = lines[~shapely.is_empty(lines)]
    merged = shapely.line_merge(shapely.union_all(lines))
    if driven is not None and len(driven):
        cover = shapely.union_all(driven.to_crs(crs).geometry.buffer(driven_tolerance_m).values)
        merged = shapely.difference(merged, cover)
    merged = shapely.line_merge(merged) if not merged.is_empty else merged
    pieces = [g for g in shapely.get_parts(merged) if shapely.get_type_id(g) == 1 and g.length >= min_stretch_m]
    rows = []
    for p_i, piece in enumerate(sorted(pieces, key=lambda g: (-g.length, g.coords[0]))):
        n = max(1, int(np.ceil(piece.length / max_stretch_m - 1e-9)))
        step = piece.length / n
        for k in range(n):
            part = substring(piece, k * step, (k + 1) * step) if n > 1 else piece
            rows.append({"piece": p_i, "geometry": part})
    out = gpd.GeoDataFrame(rows or None, columns=["piece", "geometry"], geometry="geometry", crs=crs)
    out["length_m"] = out.geometry.length
    out.insert(0, "stretch_id", [f"s{i + 1:04d}" for i in range(len(out))])
    return out


def greedy_route(stretches: gpd.GeoDataFrame, start_xy: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Greedy nearest-neighbour tour over stretches from a start point (see the module docstring).

    Args:
        stretches: LineStrings in a metric CRS.
        start_xy: Start point in the same CRS.

    Returns:
        ``(order, reversed)``: stretch positions in driving order, and whether each is driven end to start.
    """
    geoms = stretches.geometry.values
    n = len(geoms)
    if n == 0:
        return np.empty(0, dtype="int64"), np.empty(0, dtype=bool)
    starts = np.array([g.coords[0] for g in geoms])[:, :2]
    ends = np.array([g.coords[-1] for g in geoms])[:, :2]
    here = np.asarray(start_xy, dtype="float64")[:2]
    todo = np.ones(n, dtype=bool)
    order, flipped = [], []
    for _ in range(n):
        d_start = np.where(todo, np.hypot(*(starts - here).T), np.inf)
        d_end = np.where(todo, np.hypot(*(ends - here).T), np.inf)
        i, j = int(np.argmin(d_start)), int(np.argmin(d_end))
        if d_end[j] < d_start[i] - 1e-9:
            order.append(j)
            flipped.append(True)
            here = starts[j]
            todo[j] = False
        else:
            order.append(i)
            flipped.append(False)
            here = ends[i]
            todo[i] = False
    return np.asarray(order, dtype="int64"), np.asarray(flipped, dtype=bool)


def route_frame(
    chosen: gpd.GeoDataFrame, start_xy: Sequence[float], *, start_source: str = "given"
) -> gpd.GeoDataFrame:
    """Chosen stretches ordered into a greedy route; geometry oriented in driving direction.

    Adds ``order`` (1 = first driven), ``reversed``, ``gap_m`` (straight-line distance from the previous stretch's
    end, or from the start point), ``cum_km`` (route length so far, gaps included) and ``start`` (how the start
    point was chosen).
    """
    order, flipped = greedy_route(chosen, start_xy)
    out = chosen.iloc[order].copy()
    geoms = [shapely.reverse(g) if f else g for g, f in zip(out.geometry.values, flipped, strict=True)]
    out = out.set_geometry(gpd.GeoSeries(geoms, crs=chosen.crs, index=out.index))
    out["reversed"] = flipped
    here = np.asarray(start_xy, dtype="float64")[:2]
    gaps, cum, total = [], [], 0.0
    for g in geoms:
        gap = float(np.hypot(*(np.asarray(g.coords[0])[:2] - here)))
        total += gap + g.length
        gaps.append(gap)
        cum.append(total / 1000.0)
        here = np.asarray(g.coords[-1])[:2]
    out["order"] = np.arange(1, len(out) + 1)
    out["gap_m"] = np.round(gaps, 1)
    out["cum_km"] = np.round(cum, 3)
    out["start"] = start_source
    return out.reset_index(drop=True)


def nearest_driven_point(driven: gpd.GeoDataFrame | None, chosen: gpd.GeoDataFrame) -> np.ndarray | None:
    """The point of the driven roads nearest to any chosen stretch (in the chosen stretches' CRS), or None."""
    if driven is None or not len(driven) or not len(chosen):
        return None
    lines = shapely.union_all(driven.to_crs(chosen.crs).geometry.values)
    targets = shapely.union_all(chosen.geometry.values)
    p, _ = shapely.ops.nearest_points(lines, targets)
    return np.array([p.x, p.y])


def check_start(start_xy: Sequence[float], extent: gpd.GeoDataFrame, *, margin_m: float = 5000.0, text: str) -> None:
    """Refuse a start point farther than ``margin_m`` from the data (the network and the imagery).

    Raises:
        ConfigError: Naming the point, the distance and the fix.
    """
    point = shapely.Point(*start_xy[:2])
    dist = float(shapely.distance(point, shapely.box(*extent.total_bounds)))
    if dist > margin_m:
        bounds = extent.to_crs(4326).total_bounds
        raise ConfigError(
            f"--start {text} is {dist / 1000:.1f} km outside the data (roads and imagery span lon "
            f"{bounds[0]:.4f}…{bounds[2]:.4f}, lat {bounds[1]:.4f}…{bounds[3]:.4f})",
            hint="Give --start as LON,LAT inside or near that area, or leave it out to start from the nearest "
            "driven road.",
        )


def route_gpx_bytes(route: gpd.GeoDataFrame, *, name: str = "tlgeo next drives") -> bytes:
    """GPX 1.1 of a route frame (from :func:`route_frame`): ``rte`` of stretch ends, ``trk`` with one segment each.

    Written with the standard library (``xml.etree``): the format is small and fixed, so no GPX package is needed.
    """
    gdf = route.to_crs(4326)
    ET.register_namespace("", GPX_NS)
    root = ET.Element(f"{{{GPX_NS}}}gpx", {"version": "1.1", "creator": "tlgeo"})
    meta = ET.SubElement(root, f"{{{GPX_NS}}}metadata")
    ET.SubElement(meta, f"{{{GPX_NS}}}name").text = name
    rte = ET.SubElement(root, f"{{{GPX_NS}}}rte")
    ET.SubElement(rte, f"{{{GPX_NS}}}name").text = name
    trk = ET.SubElement(root, f"{{{GPX_NS}}}trk")
    ET.SubElement(trk, f"{{{GPX_NS}}}name").text = name
    for row, geom in zip(gdf.itertuples(index=False), gdf.geometry.values, strict=True):
        coords = np.asarray(geom.coords)[:, :2]
        label = f"{int(row.order)}. {row.stretch_id} ({row.length_km:.2f} km, score {row.score:.3f})"
        for which, (lon, lat) in (("start", coords[0]), ("end", coords[-1])):
            pt = ET.SubElement(rte, f"{{{GPX_NS}}}rtept", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
            ET.SubElement(pt, f"{{{GPX_NS}}}name").text = f"{label} {which}"
        seg = ET.SubElement(trk, f"{{{GPX_NS}}}trkseg")
        for lon, lat in coords:
            ET.SubElement(seg, f"{{{GPX_NS}}}trkpt", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def read_gpx(data: bytes) -> dict[str, list[list[tuple[float, float]]]]:
    """Parse a GPX back: ``{"rte": [[(lon, lat), …]], "trk": [[(lon, lat), …] per segment]}`` (for checks)."""
    root = ET.fromstring(data)
    ns = {"g": GPX_NS}

    def pts(el, tag):
        return [(float(p.get("lon")), float(p.get("lat"))) for p in el.findall(f"g:{tag}", ns)]

    return {
        "rte": [pts(r, "rtept") for r in root.findall("g:rte", ns)],
        "trk": [pts(s, "trkpt") for t in root.findall("g:trk", ns) for s in t.findall("g:trkseg", ns)],
    }
