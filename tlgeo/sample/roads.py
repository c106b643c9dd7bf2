"""Sample task ``roads``: road scenes, phone drives (quarter-car vibration), RoadRunner logs, the road network."""

from __future__ import annotations

import csv
import heapq
import io
from dataclasses import dataclass
from itertools import combinations, pairwise
from pathlib import Path

import numpy as np
from scipy import signal
from shapely.geometry import LineString, Point, box

import tlgeo.sample._synth as _synth
from tlgeo._utils import atomic_write_text
from tlgeo.sample._common import SceneGeo, _fmt, _write_csv_lines, write_geotiff
from tlgeo.sample._synth import Road, RoadSpec, SceneStyle, rng_for

ROAD_CRS = "EPSG:32737"
ROAD_RES = 0.5
ROAD_SIZE = 2048
ROAD_TILE = 64

ROADRUNNER_COLUMNS = [
    "id",
    "line",
    "distance",
    "iriXp",
    "iriYp",
    "iriZp",
    "iriX",
    "iriY",
    "iriZ",
    "filename",
    "time",
    "phoneID",
]
G = 9.81


# --------------------------------------------------------------------------------------------- road scene layouts
@dataclass(frozen=True)
class RoadScene:
    """One road scene: where it lies (upper-left corner in UTM 37S), its land cover and its roads."""

    name: str
    origin: tuple[float, float]
    style: SceneStyle
    roads: tuple[RoadSpec, ...]


ROAD_SCENES = (
    RoadScene(
        "ngong",
        (252490.0, 9855610.0),
        SceneStyle(
            "ngong",
            0.7,
            {"grass": 0.3, "crop": 0.3, "ploughed": 0.15, "bare": 0.05, "settlement": 0.42, "woodland": 0.1},
        ),
        (
            RoadSpec(
                "r1",
                ((-0.03, 0.40), (0.26, 0.37), (0.53, 0.42), (0.78, 0.39), (1.03, 0.35)),
                9.0,
                ((0.62, "good"), (1.0, "fair")),
                True,
            ),
            RoadSpec(
                "r2",
                ((0.49, -0.03), (0.50, 0.26), (0.51, 0.52), (0.50, 0.78), (0.52, 1.03)),
                7.0,
                ((0.42, "good"), (0.7, "fair"), (1.0, "poor")),
                True,
            ),
            RoadSpec("r3", (("r1", 0.22), (0.16, 0.62), (0.07, 1.03)), 5.5, ((1.0, "poor"),), True, 1.0),
            RoadSpec("r4", (("r2", 0.70), (0.70, 0.73), (0.88, 0.80), (1.03, 0.77)), 6.0, ((1.0, "poor"),), False, 0.8),
            RoadSpec("r5", (("r1", 0.78), (0.83, 0.2), (0.87, -0.03)), 6.5, ((1.0, "fair"),), False),
            RoadSpec(
                "r6",
                (("r2", 0.18), (0.3, 0.15), (0.12, 0.13), (-0.03, 0.09)),
                7.5,
                ((0.55, "good"), (1.0, "fair")),
                True,
            ),
            RoadSpec("r7", (("r3", 0.55), (0.3, 0.77), ("r2", 0.82)), 6.0, ((1.0, "fair"),), True),
            RoadSpec("r8", (("r1", 0.6), (0.70, 0.55), (0.74, 0.68)), 7.0, ((1.0, "good"),), False),
            RoadSpec("r9", (("r6", 0.62), (0.2, 0.03), (0.22, -0.03)), 5.0, ((1.0, "poor"),), True, 0.8),
            RoadSpec(
                "r10",
                (("r1", 0.9), (0.92, 0.6), (0.95, 0.85), (0.97, 1.03)),
                7.5,
                ((0.45, "good"), (1.0, "poor")),
                True,
                0.3,
            ),
            RoadSpec("r11", (("r6", 0.3), (0.37, 0.27), ("r1", 0.42)), 6.0, ((1.0, "fair"),), True),
        ),
    ),
    RoadScene(
        "ruiru",
        (272480.0, 9873320.0),
        SceneStyle(
            "ruiru",
            0.35,
            {
                "grass": 0.2,
                "crop": 0.3,
                "ploughed": 0.15,
                "coffee": 0.3,
                "bare": 0.03,
                "settlement": 0.25,
                "woodland": 0.12,
            },
        ),
        (
            RoadSpec("q1", ((-0.03, 0.62), (0.4, 0.58), (1.03, 0.48)), 9.0, ((1.0, "good"),), True),
            RoadSpec("q2", ((0.30, -0.03), (0.31, 0.5), (0.31, 1.03)), 6.0, ((0.45, "poor"), (1.0, "fair")), True),
            RoadSpec("q3", ((-0.03, 0.24), (0.5, 0.26), (1.03, 0.27)), 5.5, ((0.55, "poor"), (1.0, "fair")), True, 0.6),
            RoadSpec("q4", (("q1", 0.7), (0.8, 0.78), (0.9, 1.03)), 6.5, ((0.5, "fair"), (1.0, "poor")), True),
            RoadSpec("q5", (("q3", 0.75), (0.76, 0.1), (0.78, -0.03)), 6.0, ((1.0, "fair"),), False),
            RoadSpec("q6", (("q1", 0.15), (0.14, 0.8), (0.12, 1.03)), 7.0, ((1.0, "good"),), False),
            RoadSpec("q7", (("q2", 0.78), (0.5, 0.8), ("q4", 0.45)), 5.0, ((1.0, "poor"),), True, 0.7),
            RoadSpec("q8", (("q3", 0.58), (0.6, 0.42), ("q1", 0.6)), 6.5, ((1.0, "fair"),), True),
            RoadSpec("q9", (("q2", 0.3), (0.15, 0.36), (-0.03, 0.42)), 7.5, ((1.0, "good"),), True),
            RoadSpec("q10", (("q1", 0.88), (0.88, 0.38), ("q3", 0.93)), 5.0, ((1.0, "poor"),), False, 0.6),
        ),
    ),
)


@dataclass(frozen=True)
class Phone:
    """A phone in a vehicle: how it samples and how it sees vibration."""

    device_id: str
    rate_hz: int
    three_axes: bool
    iso_time: bool
    speed_column: bool
    gain: float
    noise: float
    tilt_deg: tuple[float, float]
    vehicle: tuple[float, float, float, float]  # quarter car k1, k2, c, mu (per sprung mass)
    engine: float


PHONES = {
    "A12": Phone("A12", 100, True, True, False, 1.0, 0.025, (38.0, 11.0), (653.0, 63.3, 6.0, 0.15), 0.05),
    "B07": Phone("B07", 50, False, False, True, 1.7, 0.07, (0.0, 0.0), (560.0, 80.0, 5.0, 0.12), 0.09),
}

#: (phone, scene, date, UTC start, route start road, time budget in s or None for the whole covering walk)
DRIVES = (
    ("B07", "ngong", "20260314", "06:05:10", "r1", None),
    ("B07", "ruiru", "20260315", "05:48:30", "q1", None),
    ("A12", "ngong", "20260316", "07:21:02", "r2", 330.0),
    ("A12", "ruiru", "20260318", "12:34:40", "q2", 330.0),
)
ROADRUNNER = ("20260317", "7c2e91a4d05f3b68", (("ngong", "06:40:00", "r6", 420.0), ("ruiru", "08:02:15", "q3", 420.0)))

#: ISO 8608 roughness (displacement PSD at 0.1 cycles/m, m^3) per surface: classes A, C, E.
ROUGHNESS_G0 = {"good": 12e-6, "fair": 160e-6, "poor": 1000e-6}
TARGET_SPEED_KMH = {"good": (45.0, 60.0), "fair": (32.0, 45.0), "poor": (24.0, 32.0)}


# --------------------------------------------------------------------------------------------- road network graph
@dataclass
class Edge:
    """A piece of road between two nodes."""

    u: int
    v: int
    road: str
    s0: float
    s1: float

    @property
    def length(self) -> float:
        """Length in metres."""
        return abs(self.s1 - self.s0)


def _junctions(roads: list[Road]) -> list[tuple[str, float, str, float]]:
    """Where roads meet: branch starts/ends and crossings, as (road a, chainage a, road b, chainage b) in metres."""
    out = []
    related = set()
    for r in roads:
        for key in ("parent", "end_parent"):
            link = getattr(r, key)
            if link is not None:
                s_here = 0.0 if key == "parent" else r.length_m
                out.append((r.road_id, s_here, link[0], link[1]))
                related.add(frozenset((r.road_id, link[0])))
    lines = {r.road_id: LineString(r.pts * r.res) for r in roads}
    for a, b in combinations(roads, 2):
        if frozenset((a.road_id, b.road_id)) in related:
            continue
        inter = lines[a.road_id].intersection(lines[b.road_id])
        if inter.is_empty:
            continue
        pts = [inter] if isinstance(inter, Point) else list(getattr(inter, "geoms", []))
        for p in pts:
            if isinstance(p, Point):
                out.append((a.road_id, lines[a.road_id].project(p), b.road_id, lines[b.road_id].project(p)))
    return out


def road_graph(roads: list[Road]) -> tuple[list[Edge], dict[int, list[tuple[int, int, bool]]]]:
    """Nodes at junctions and road ends, edges along roads; returns ``(edges, adjacency)``.

    Adjacency maps a node to ``(edge index, other node, forward)`` tuples, sorted for determinism.
    """
    by_road: dict[str, list[tuple[float, int]]] = {r.road_id: [] for r in roads}
    for k, (a, sa, b, sb) in enumerate(_junctions(roads)):
        by_road[a].append((sa, k))
        by_road[b].append((sb, k))
    n_nodes = len(by_road) and max((k for v in by_road.values() for _, k in v), default=-1) + 1
    edges = []
    for r in roads:
        stops = sorted(by_road[r.road_id])
        if not stops or stops[0][0] > 1.0:
            stops.insert(0, (0.0, n_nodes))
            n_nodes += 1
        if stops[-1][0] < r.length_m - 1.0:
            stops.append((r.length_m, n_nodes))
            n_nodes += 1
        for (s0, n0), (s1, n1) in pairwise(stops):
            if s1 - s0 > 0.5:
                edges.append(Edge(n0, n1, r.road_id, s0, s1))
    adj: dict[int, list[tuple[int, int, bool]]] = {}
    for i, e in enumerate(edges):
        adj.setdefault(e.u, []).append((i, e.v, True))
        adj.setdefault(e.v, []).append((i, e.u, False))
    for k in adj:
        adj[k].sort()
    return edges, adj


def _dijkstra(
    adj, edges: list[Edge], allowed: set[int], start: int
) -> tuple[dict[int, float], dict[int, tuple[int, int, bool]]]:
    dist = {start: 0.0}
    prev: dict[int, tuple[int, int, bool]] = {}
    heap = [(0.0, start)]
    while heap:
        d, n = heapq.heappop(heap)
        if d > dist.get(n, np.inf):
            continue
        for ei, other, fwd in adj.get(n, []):
            if ei not in allowed:
                continue
            nd = d + edges[ei].length
            if nd < dist.get(other, np.inf) - 1e-9:
                dist[other] = nd
                prev[other] = (n, ei, fwd)
                heapq.heappush(heap, (nd, other))
    return dist, prev


def covering_walk(
    edges: list[Edge], adj, allowed: set[int], start: int, max_len: float | None = None
) -> list[tuple[int, bool]]:
    """A walk from ``start`` that drives every allowed edge at least once (greedy: nearest undriven edge next).

    Returns:
        ``(edge index, forward)`` in driving order.
    """
    todo = set(allowed)
    walk: list[tuple[int, bool]] = []
    cur = start
    total = 0.0
    while todo:
        dist, prev = _dijkstra(adj, edges, allowed, cur)
        best = None
        for ei in sorted(todo):
            e = edges[ei]
            for end, fwd in ((e.u, True), (e.v, False)):
                if end in dist:
                    cand = (dist[end], ei, end, fwd)
                    best = cand if best is None or cand < best else best
        if best is None:
            break
        _, ei, end, fwd = best
        path = []
        n = end
        while n != cur:
            p, pe, pf = prev[n]
            path.append((pe, pf))
            n = p
        path.reverse()
        path.append((ei, fwd))
        for pe, pf in path:
            walk.append((pe, pf))
            todo.discard(pe)
            total += edges[pe].length
            cur = edges[pe].v if pf else edges[pe].u
        if max_len is not None and total >= max_len:
            break
    return walk


# --------------------------------------------------------------------------------------------- routes and profiles
@dataclass
class Leg:
    """A stretch driven along one road in one direction."""

    road: Road
    s0: float
    s1: float
    lane_m: float

    @property
    def length(self) -> float:
        """Length in metres."""
        return abs(self.s1 - self.s0)

    @property
    def forward(self) -> bool:
        """Driven in the direction of the road's chainage."""
        return self.s1 >= self.s0


class Route:
    """A continuous drive over the network, parameterised by distance travelled ``D`` (metres)."""

    def __init__(self, legs: list[Leg]):
        self.legs = legs
        self.starts = np.r_[0.0, np.cumsum([leg.length for leg in legs])]

    @property
    def length(self) -> float:
        """Total length in metres."""
        return float(self.starts[-1])

    def locate(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Leg index and road chainage at route distances ``d``."""
        k = np.clip(np.searchsorted(self.starts, d, side="right") - 1, 0, len(self.legs) - 1)
        s = np.empty_like(d, dtype=float)
        for i in np.unique(k):
            leg = self.legs[i]
            m = k == i
            sign = 1.0 if leg.forward else -1.0
            s[m] = leg.s0 + sign * (d[m] - self.starts[i])
        return k, s

    def position(self, d: np.ndarray) -> np.ndarray:
        """Pixel coordinates (x, y) of the vehicle (in its lane) at route distances ``d``."""
        k, s = self.locate(d)
        out = np.empty((len(d), 2))
        for i in np.unique(k):
            leg = self.legs[i]
            m = k == i
            road = leg.road
            p = road.point_at(s[m])
            tg = _synth.tangents(road.pts)
            t = np.c_[np.interp(s[m], road.s_m, tg[:, 0]), np.interp(s[m], road.s_m, tg[:, 1])]
            nrm = np.c_[t[:, 1], -t[:, 0]] * (1.0 if leg.forward else -1.0)
            out[m] = p + nrm * (leg.lane_m / road.res)
        return out

    def surface(self, d: np.ndarray) -> np.ndarray:
        """Surface index (0 good, 1 fair, 2 poor) under the vehicle."""
        k, s = self.locate(d)
        out = np.empty(len(d), int)
        for i in np.unique(k):
            m = k == i
            out[m] = self.legs[i].road.surface_at(s[m])
        return out


def lane_offset(road: Road) -> float:
    """Distance of the driving line left of the centreline (Kenya drives on the left; narrow roads near the crown)."""
    return road.width_m / 4 if road.width_m >= 6.5 else road.width_m / 8


def route_from_walk(walk: list[tuple[int, bool]], edges: list[Edge], roads: dict[str, Road]) -> Route:
    """Merge a walk's edges into legs (one per road and direction)."""
    legs: list[Leg] = []
    for ei, fwd in walk:
        e = edges[ei]
        road = roads[e.road]
        s0, s1 = (e.s0, e.s1) if fwd else (e.s1, e.s0)
        last = legs[-1] if legs else None
        if last is not None and last.road is road and last.forward == (s1 >= s0) and abs(last.s1 - s0) < 1e-6:
            last.s1 = s1
        else:
            legs.append(Leg(road, s0, s1, lane_offset(road)))
    return Route(legs)


def road_profiles(road: Road, rng: np.random.Generator, dx: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitudinal profiles (m) of a road in its two wheel paths: ``(s grid, forward lane, backward lane)``.

    A random walk with increment variance ``2π² G0 n0²`` (displacement PSD ``G0 (n/n0)^-2``, ISO 8608) with ``G0``
    by surface; drawn potholes become dips where a wheel passes over them, drawn patches small bumps.
    """
    s = np.arange(0.0, road.length_m + dx, dx)
    g0 = np.array([ROUGHNESS_G0[_synth.SURFACES[i]] for i in road.surface_at(s)])
    q = 2 * np.pi**2 * g0 * 0.1**2
    base = np.cumsum(rng.standard_normal(len(s)) * np.sqrt(q * dx))
    # remove the drift below ~0.02 cycles/m (hills are not vibration)
    k = int(50.0 / dx)
    kernel = np.ones(k) / k
    base = base - np.convolve(np.pad(base, (k // 2, k - k // 2 - 1), mode="edge"), kernel, mode="valid")
    out = []
    for sign in (1.0, -1.0):
        z = base.copy()
        lane = sign * lane_offset(road)
        wheels = (lane - 0.8, lane + 0.8)
        for s_c, o_c, rad, depth in road.potholes:
            if min(abs(o_c - w) for w in wheels) < rad + 0.15:
                m = np.abs(s - s_c) < rad
                z[m] -= depth * (1 - ((s[m] - s_c) / rad) ** 2)
        for s0, s1, o0, o1, _ in road.patches:
            if any(o0 - 0.1 <= w <= o1 + 0.1 for w in wheels):
                m = (s >= s0) & (s <= s1)
                z[m] += 0.008
        out.append(z)
    return s, out[0], out[1]


def route_profile(route: Route, profiles: dict[str, tuple], d: np.ndarray) -> np.ndarray:
    """Road elevation under the wheel at route distances ``d``."""
    k, s = route.locate(d)
    z = np.empty(len(d))
    for i in np.unique(k):
        m = k == i
        leg = route.legs[i]
        grid, zf, zb = profiles[leg.road.road_id]
        z[m] = np.interp(s[m], grid, zf if leg.forward else zb)
    return z


@dataclass
class Drive:
    """A drive in time: distance, speed and events sampled at ``fs`` Hz."""

    t: np.ndarray
    d: np.ndarray
    v: np.ndarray


def speed_profile(route: Route, rng: np.random.Generator, fs: float, dx: float = 0.5) -> Drive:
    """A plausible speed profile: target speeds by surface, slower in curves, stops at junctions and U-turns.

    Forward/backward passes cap acceleration (1.3 m/s²) and braking (2.2 m/s²); dwell times are added at stops.
    """
    n = int(route.length / dx) + 1
    d = np.linspace(0.0, route.length, n)
    surf = route.surface(d)
    leg_k, _ = route.locate(d)
    targets = np.array([[rng.uniform(*TARGET_SPEED_KMH[_synth.SURFACES[c]]) for c in range(3)] for _ in route.legs])
    vmax = targets[leg_k, surf] / 3.6 * (1 + 0.06 * _synth.noise1d(rng, n, 80.0))
    pos = route.position(d) * route.legs[0].road.res
    hd = np.unwrap(_synth.satan2(np.gradient(pos[:, 1]), np.gradient(pos[:, 0])))
    kappa = np.abs(np.gradient(hd, dx))
    kappa = np.convolve(kappa, np.ones(9) / 9, mode="same")
    vmax = np.minimum(vmax, np.sqrt(2.0 / np.maximum(kappa, 1e-6)))
    dwell = np.zeros(n)
    stops = [0, n - 1]
    for i, leg in enumerate(route.legs[1:], start=1):
        j = round(route.starts[i] / dx)
        prev = route.legs[i - 1]
        uturn = prev.road is leg.road
        if uturn or rng.random() < 0.65:
            stops.append(j)
            dwell[j] = rng.uniform(4.0, 9.0) if uturn else rng.uniform(2.0, 8.0)
        else:
            vmax[max(j - 6, 0) : j + 6] = np.minimum(vmax[max(j - 6, 0) : j + 6], 15 / 3.6)
    # a few slow-downs for pedestrians, bumps, matatus
    for _ in range(int(route.length / 900) + 1):
        j = int(rng.integers(0, n))
        vmax[max(j - 20, 0) : j + 20] = np.minimum(vmax[max(j - 20, 0) : j + 20], rng.uniform(3.0, 5.0))
    dwell[0] = rng.uniform(3, 6)
    dwell[-1] = rng.uniform(3, 6)
    for j in stops:
        vmax[j] = 0.0
    v = vmax.copy()
    for i in range(1, n):
        v[i] = min(v[i], np.sqrt(v[i - 1] ** 2 + 2 * 1.3 * dx))
    for i in range(n - 2, -1, -1):
        v[i] = min(v[i], np.sqrt(v[i + 1] ** 2 + 2 * 2.2 * dx))
    vv = np.maximum(v, 0.25)
    dt = 2 * dx / (vv[:-1] + vv[1:])
    t_move = np.r_[0.0, np.cumsum(dt)]
    # insert dwell: the vehicle stands at d[j] from t to t + dwell
    t_arr = t_move + np.cumsum(dwell) - dwell  # time of arrival at each point
    t_dep = t_arr + dwell
    tt = np.empty(2 * n)
    dd = np.empty(2 * n)
    tt[0::2], tt[1::2] = t_arr, t_dep
    dd[0::2], dd[1::2] = d, d
    total = tt[-1]
    t = np.arange(0.0, total, 1.0 / fs)
    dist = np.interp(t, tt, dd)
    speed = np.gradient(dist, 1.0 / fs)
    speed = np.convolve(speed, np.ones(int(fs // 4) or 1) / (int(fs // 4) or 1), mode="same")
    return Drive(t, dist, np.maximum(speed, 0.0))


def quarter_car(
    params: tuple[float, float, float, float], fs: float, output: str = "acc"
) -> tuple[np.ndarray, np.ndarray]:
    """Discrete filter (b, a) of a quarter car from road elevation to body acceleration or suspension velocity.

    Args:
        params: ``(k1, k2, c, mu)``: tyre and suspension stiffness, damping and unsprung mass per sprung mass.
        fs: Sampling rate in Hz.
        output: ``"acc"`` (body acceleration) or ``"relvel"`` (sprung minus unsprung velocity, used for IRI).
    """
    k1, k2, c, mu = params
    den = np.polysub(np.polymul([mu, c, k1 + k2], [1.0, c, k2]), np.polymul([c, k2], [c, k2]))
    num = np.polymul([k1], np.polymul([c, k2], [1.0, 0.0, 0.0])) if output == "acc" else [-k1, 0.0, 0.0, 0.0]
    return signal.bilinear(num, den, fs)


GOLDEN_CAR = (653.0, 63.3, 6.0, 0.15)


def iri_cumulative(route: Route, profiles: dict[str, tuple], dx: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """International Roughness Index accumulated along a route (Golden car at 80 km/h): ``(d, cumulative m)``.

    IRI over ``[d0, d1]`` is ``(C(d1) − C(d0)) / (d1 − d0) × 1000`` m/km.
    """
    d = np.arange(0.0, route.length, dx)
    z = route_profile(route, profiles, d)
    v = 80 / 3.6
    b, a = quarter_car(GOLDEN_CAR, v / dx, "relvel")
    rel = signal.lfilter(b, a, z - z[0])
    return d, np.cumsum(np.abs(rel) * dx / v)


def vibration(
    drive: Drive, route: Route, profiles: dict[str, tuple], phone: Phone, rng: np.random.Generator, fs_sim: float
) -> np.ndarray:
    """Phone accelerometer readings (m/s², gravity included) at ``fs_sim``: shape ``(n, 3)`` in the phone frame
    (x right, y forward, z out of the screen; the phone lies almost flat, so z ≈ up)."""
    z_road = route_profile(route, profiles, drive.d)
    b, a = quarter_car(phone.vehicle, fs_sim, "acc")
    body = signal.lfilter(b, a, z_road - z_road[0])
    n = len(drive.t)
    moving = np.clip(drive.v / 2.0, 0, 1)
    rpm = 800 + 2200 * np.clip(drive.v / 16.0, 0, 1) * (0.7 + 0.3 * np.abs(np.sin(drive.d / 150)))
    phase = 2 * np.pi * np.cumsum(2 * rpm / 60) / fs_sim
    engine = phone.engine * (0.6 + 0.4 * moving) * (np.sin(phase) + 0.4 * np.sin(2 * phase + 1.0))
    a_up = phone.gain * body + engine + rng.normal(0, phone.noise, n)
    a_long = np.gradient(drive.v, 1 / fs_sim) + 0.15 * phone.gain * body + rng.normal(0, phone.noise, n)
    pos = route.position(drive.d) * route.legs[0].road.res
    hd = np.unwrap(_synth.satan2(np.gradient(pos[:, 1]), np.gradient(pos[:, 0]) + 1e-12))
    yaw_rate = np.gradient(hd, 1 / fs_sim)
    yaw_rate = np.convolve(yaw_rate, np.ones(int(fs_sim)) / int(fs_sim), mode="same")
    a_lat = -drive.v * yaw_rate + 0.1 * phone.gain * body + rng.normal(0, phone.noise, n)
    vec = np.c_[a_lat, a_long, G + a_up]
    pitch, roll = np.deg2rad(phone.tilt_deg)
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    # rotation R = Ry(roll) · Rx(pitch), applied element by element (no BLAS: its kernels differ between CPUs)
    rot = ((cr, -sr * -sp, -sr * cp), (0.0, cp, sp), (sr, cr * -sp, cr * cp))
    return np.stack([r0 * vec[:, 0] + r1 * vec[:, 1] + r2 * vec[:, 2] for r0, r1, r2 in rot], axis=1)


def _gps_error(
    rng: np.random.Generator, n: int, sigma: float = 2.5, rho: float = 0.92, white: float = 0.8
) -> np.ndarray:
    """Correlated GPS position error (m) for ``n`` fixes at 1 Hz: AR(1) per axis plus white noise."""
    e = np.zeros((n, 2))
    e[0] = rng.normal(0, sigma, 2)
    inn = rng.normal(0, sigma * np.sqrt(1 - rho**2), (n, 2))
    for i in range(1, n):
        e[i] = rho * e[i - 1] + inn[i]
    return e + rng.normal(0, white, (n, 2))


def _epoch(date: str, hms: str) -> float:
    """Seconds since 1970 (UTC) of a fixed date and time."""
    day = np.datetime64(f"{date[:4]}-{date[4:6]}-{date[6:]}T{hms}", "s")
    return float(day.astype("int64"))


def write_phone_log(
    path: Path,
    phone: Phone,
    t0: float,
    t: np.ndarray,
    acc: np.ndarray,
    fix_idx: np.ndarray,
    lonlat: np.ndarray,
    speed: np.ndarray,
) -> Path:
    """Raw phone log: accelerometer rows, lat/lon (and speed) only on the rows where a GPS fix arrives."""
    n = len(t)
    cs = np.round(t * 100).astype(np.int64)
    if phone.iso_time:
        ms = (np.int64(round(t0)) * 1000 + cs * 10).astype("datetime64[ms]")
        times = list(np.datetime_as_string(ms, unit="ms", timezone="UTC"))
    else:
        tot = np.int64(round(t0)) * 100 + cs
        times = [f"{c // 100}.{c % 100:02d}" for c in tot.tolist()]
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    lat[fix_idx] = lonlat[:, 1]
    lon[fix_idx] = lonlat[:, 0]
    cols = [times, _fmt(lat, 7), _fmt(lon, 7)]
    header = ["time", "lat", "lon"]
    if phone.speed_column:
        sp = np.full(n, np.nan)
        sp[fix_idx] = speed
        cols.append(_fmt(sp, 2))
        header.append("speed")
    if phone.three_axes:
        cols += [_fmt(acc[:, 0], 3), _fmt(acc[:, 1], 3), _fmt(acc[:, 2], 3)]
        header += ["acc_x", "acc_y", "acc_z"]
    else:
        cols.append(_fmt(acc[:, 2], 3))
        header.append("acc_z")
    cols.append([phone.device_id] * n)
    header.append("device_id")
    return _write_csv_lines(path, header, cols)


# --------------------------------------------------------------------------------------------- roads task
@dataclass
class RoadSceneData:
    """A rendered road scene and its network."""

    scene: RoadScene
    geo: SceneGeo
    image: np.ndarray
    roads: list[Road]
    edges: list[Edge]
    adj: dict
    profiles: dict[str, tuple]

    @property
    def by_id(self) -> dict[str, Road]:
        """Roads by id."""
        return {r.road_id: r for r in self.roads}

    def start_node(self, road_id: str) -> int:
        """The node at the start of a road (chainage 0)."""
        cands = [e for e in self.edges if e.road == road_id]
        return min(cands, key=lambda e: e.s0).u

    def driven_edges(self) -> set[int]:
        """Edges of roads marked driven."""
        driven = {r.road_id for r in self.roads if r.driven}
        return {i for i, e in enumerate(self.edges) if e.road in driven}


def _build_road_scene(scene: RoadScene, seed: int) -> RoadSceneData:
    image, roads = _synth.render_roads_scene(list(scene.roads), scene.style, ROAD_SIZE, ROAD_RES, seed)
    geo = SceneGeo(scene.origin, ROAD_RES, ROAD_SIZE, ROAD_CRS)
    edges, adj = road_graph(roads)
    rng = rng_for(seed, "roads", scene.name, "profiles")
    profiles = {r.road_id: road_profiles(r, rng) for r in roads}
    return RoadSceneData(scene, geo, image, roads, edges, adj, profiles)


def _simulate_phone_drive(
    sd: RoadSceneData, phone: Phone, start_road: str, budget_s: float | None, seed: int, tag: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Route]:
    """Drive a covering walk with one phone; returns ``(t, acc, fix_idx, lonlat, gps speed, route)``."""
    rng = rng_for(seed, "roads", sd.scene.name, "drive", tag)
    allowed = sd.driven_edges()
    max_len = None if budget_s is None else budget_s * 10.0
    walk = covering_walk(sd.edges, sd.adj, allowed, sd.start_node(start_road), max_len)
    route = route_from_walk(walk, sd.edges, sd.by_id)
    fs_sim = 400.0
    drive = speed_profile(route, rng, fs_sim)
    if budget_s is not None:
        keep = drive.t <= budget_s
        # end the log with the vehicle slowing to a stop is not needed: phones stop logging mid-drive too
        drive = Drive(drive.t[keep], drive.d[keep], drive.v[keep])
    acc = vibration(drive, route, sd.profiles, phone, rng, fs_sim)
    q = int(fs_sim // phone.rate_hz)
    sos = signal.butter(6, 0.4 * phone.rate_hz, fs=fs_sim, output="sos")
    acc = signal.sosfiltfilt(sos, acc, axis=0)[::q]
    # phones quantise: A to ~0.0006 m/s² (16 bit), B to ~0.0096 m/s² (10 bit)
    step = 0.0006 if phone.three_axes else 0.0096
    acc = np.round(acc / step) * step
    t = drive.t[::q]
    d = drive.d[::q]
    v = drive.v[::q]
    # GPS at 1 Hz, first fix a little after logging starts; phone B loses GPS for a few seconds once
    first = int(rng.integers(1, phone.rate_hz))
    fix_idx = np.arange(first, len(t), phone.rate_hz)
    if not phone.three_axes:
        gap0 = int(len(fix_idx) * 0.55)
        fix_idx = np.r_[fix_idx[:gap0], fix_idx[gap0 + 6 :]]
    px = route.position(d[fix_idx])
    xy = sd.geo.utm(px) + _gps_error(rng, len(fix_idx))
    lonlat = sd.geo.lonlat(xy)
    gps_speed = np.maximum(v[fix_idx] + rng.normal(0, 0.15, len(fix_idx)), 0.0)
    gps_speed[v[fix_idx] < 0.05] = 0.0
    return t, acc, fix_idx, lonlat, gps_speed, route


def _roadrunner_rows(
    sd: RoadSceneData,
    start_road: str,
    budget_s: float,
    t0: float,
    filename: str,
    phone_id: str,
    seed: int,
    first_id: int,
) -> list[list[str]]:
    """Segments of a RoadRunner trip: ~10–70 m each (a few much longer across GPS dropouts)."""
    rng = rng_for(seed, "roads", sd.scene.name, "roadrunner")
    walk = covering_walk(sd.edges, sd.adj, sd.driven_edges(), sd.start_node(start_road), budget_s * 10.0)
    route = route_from_walk(walk, sd.edges, sd.by_id)
    drive = speed_profile(route, rng, 1.0)
    keep = drive.t <= budget_s
    t, d, v = drive.t[keep], drive.d[keep], drive.v[keep]
    dgrid, cum = iri_cumulative(route, sd.profiles)
    moving = v > 2.0  # the app pauses when the car stands
    idx = np.nonzero(moving)[0]
    # GPS dropouts: drop fixes in three windows
    for frac in (0.3, 0.62, 0.85):
        c = idx[int(len(idx) * frac)] if len(idx) else 0
        gap = int(rng.integers(20, 34))
        idx = idx[(idx < c) | (idx >= c + gap)]
    px = route.position(d[idx])
    xy = sd.geo.utm(px) + _gps_error(rng, len(idx))
    ll = sd.geo.lonlat(xy)
    rows = []
    i = 0
    rid = first_id
    while i < len(idx) - 1:
        target = rng.uniform(15.0, 60.0)
        j = i + 1
        while j < len(idx) - 1 and idx[j] == idx[j - 1] + 1 and np.hypot(*(xy[j] - xy[i])) < target:
            j += 1
        # a dropout between consecutive fixes ends the segment there (one long segment across the gap)
        if j > i + 1 and idx[j] != idx[j - 1] + 1:
            j -= 1
        coords = [[round(float(ll[k, 0]), 7), round(float(ll[k, 1]), 7)] for k in range(i, j + 1)]
        seg_xy = xy[i : j + 1]
        dist = float(np.sum(np.hypot(*np.diff(seg_xy, axis=0).T)))
        d0, d1 = d[idx[i]], d[idx[j]]
        if d1 - d0 < 8.0:  # the app drops stubs shorter than a car length or two
            i = j
            continue
        c0, c1 = np.interp([d0, d1], dgrid, cum)
        iri = (c1 - c0) / (d1 - d0) * 1000.0
        vmean = (d1 - d0) / max(t[idx[j]] - t[idx[i]], 1.0)
        sexp, spow = _synth.sexp, _synth.spow
        z = float(0.85 * spow(max(iri, 1e-3), 0.95) * spow(max(vmean, 0.1) / 12.0, 0.25) * sexp(rng.normal(0, 0.12)))
        x = float(0.32 * z * sexp(rng.normal(0, 0.15)))
        y = float(0.41 * z * sexp(rng.normal(0, 0.15)))
        vals = [
            x * 1.12 * float(sexp(rng.normal(0, 0.05))),
            y * 1.12 * float(sexp(rng.normal(0, 0.05))),
            z * 1.1 * float(sexp(rng.normal(0, 0.05))),
            x,
            y,
            z,
        ]
        line = str({"type": "LineString", "coordinates": coords})
        ms = round((t0 + t[idx[i]]) * 1000)
        pid = "" if rng.random() < 0.05 else phone_id
        rows.append([str(rid), line, f"{dist:.1f}", *(f"{val:.3f}" for val in vals), filename, str(ms), pid])
        rid += 1
        i = j
    return rows


def road_tile_stats(
    roads: list[Road], size: int = ROAD_SIZE, tile: int = ROAD_TILE, min_m: float = 10.0
) -> dict[str, np.ndarray]:
    """Per-tile road length (m) by surface, driven and undriven, from the drawn centrelines (ground truth).

    Returns:
        ``{"driven": (rows, cols, 3), "undriven": (rows, cols, 3)}`` lengths in metres, clipped to the scene.
    """
    nt = size // tile
    out = {"driven": np.zeros((nt, nt, 3)), "undriven": np.zeros((nt, nt, 3))}
    for road in roads:
        pts = _synth.resample(road.pts, 0.5)
        mid = (pts[1:] + pts[:-1]) / 2
        seg = np.hypot(*np.diff(pts, axis=0).T) * road.res
        ok = (mid[:, 0] >= 0) & (mid[:, 0] < size) & (mid[:, 1] >= 0) & (mid[:, 1] < size)
        s_mid = _synth.chainage(pts)[:-1] * road.res + seg / 2
        surf = road.surface_at(s_mid)
        r = (mid[ok, 1] // tile).astype(int)
        c = (mid[ok, 0] // tile).astype(int)
        np.add.at(out["driven" if road.driven else "undriven"], (r, c, surf[ok]), seg[ok])
    return out


def _tile_summary(stats: dict[str, np.ndarray], min_m: float = 10.0) -> dict[str, dict[str, int]]:
    """Road tiles per class (majority surface by length), driven (≥ ``min_m`` driven) and undriven only."""
    out = {}
    drv, und = stats["driven"], stats["undriven"]
    is_drv = drv.sum(-1) >= min_m
    is_und = (~is_drv) & (und.sum(-1) >= min_m)
    for name, m, arr in (("driven", is_drv, drv), ("undriven", is_und, und)):
        cls = arr.argmax(-1)
        out[name] = {s: int(((cls == i) & m).sum()) for i, s in enumerate(_synth.SURFACES)}
    return out


def _roads_truth(data: list[RoadSceneData]):
    import geopandas as gpd

    recs, geoms = [], []
    for sd in data:
        frame = box(0, 0, ROAD_SIZE * ROAD_RES, ROAD_SIZE * ROAD_RES)
        for road in sd.roads:
            start = 0.0
            for k, (end, surf) in enumerate(road.sections):
                s = road.s_m
                m = (s >= start - 1e-9) & (s <= min(end, road.length_m) + 1e-9)
                pts = road.pts[m]
                start = end
                if len(pts) < 2:
                    continue
                metric = LineString(np.c_[pts[:, 0] * ROAD_RES, pts[:, 1] * ROAD_RES]).intersection(frame)
                if metric.is_empty or metric.length < 1.0:
                    continue
                metric = metric.simplify(0.05)
                for part in getattr(metric, "geoms", [metric]):
                    xy = np.asarray(part.coords)
                    utm = np.c_[sd.geo.x0 + xy[:, 0], sd.geo.y0 - xy[:, 1]]
                    geoms.append(LineString(utm))
                    recs.append(
                        {
                            "road_id": f"{sd.scene.name}-{road.road_id}",
                            "scene": sd.scene.name,
                            "section": k,
                            "surface": surf,
                            "width_m": road.width_m,
                            "driven": bool(road.driven),
                        }
                    )
    return gpd.GeoDataFrame(recs, geometry=geoms, crs=ROAD_CRS)


def _road_network(truth):
    """The road lines a researcher would have from OpenStreetMap: one line per road, no surface, no drive flag."""
    import geopandas as gpd
    from shapely.ops import linemerge

    rows, geoms = [], []
    for road_id, group in truth.groupby("road_id", sort=True):
        merged = linemerge(list(group.geometry))
        geoms.append(merged)
        rows.append({"road_id": road_id, "scene": group["scene"].iloc[0], "highway": "unclassified"})
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=truth.crs)


ROADS_TOML = """\
# Sample road-quality task (synthetic data generated by `python -m tlgeo sample`).
task = "roads"

[tiles]
size = 64      # 32 m at 0.5 m/px
stride = 64

[tiles.bands]
scaling = "none"   # 8-bit RGB scenes

[roads]
min_speed_kmh = 20
segment_length_m = 50
"""


def generate_roads(out: Path, seed: int = 0) -> tuple[list[Path], dict]:
    """Write the roads task folder: scenes, phone logs, the RoadRunner log, ground truth and settings.

    Args:
        out: The ``roads`` folder to (re)write.
        seed: Seed of every random stream.

    Returns:
        ``(paths written, summary)``; the summary holds per-log durations and route lengths and the truth tile
        counts per scene (see :func:`road_summary`).
    """
    from tlgeo.export import write_geojson

    out = Path(out)
    written: list[Path] = []
    data = [_build_road_scene(scene, seed) for scene in ROAD_SCENES]
    by_name = {sd.scene.name: sd for sd in data}
    for sd in data:
        desc = (
            f"Synthetic 0.5 m RGB scene '{sd.scene.name}' near Nairobi (tlgeo sample data, seed {seed}); "
            "landscape and roads are invented."
        )
        written.append(write_geotiff(out / "imagery" / f"{sd.scene.name}.tif", sd.image, sd.geo, desc))
    summary: dict = {"logs": {}}
    for phone_id, scene, date, hms, start_road, budget in DRIVES:
        phone = PHONES[phone_id]
        sd = by_name[scene]
        t, acc, fix_idx, ll, gps_speed, route = _simulate_phone_drive(
            sd, phone, start_road, budget, seed, f"{phone_id}-{date}"
        )
        path = out / "vibration" / f"phone_{phone_id}_{date}.csv"
        written.append(write_phone_log(path, phone, _epoch(date, hms), t, acc, fix_idx, ll, gps_speed))
        summary["logs"][path.name] = {"seconds": float(t[-1]), "rows": len(t), "route_m": route.length}
    date, phone_hex, trips = ROADRUNNER
    rows: list[list[str]] = []
    for k, (scene, hms, start_road, budget) in enumerate(trips, start=1):
        rows += _roadrunner_rows(
            by_name[scene],
            start_road,
            budget,
            _epoch(date, hms),
            f"{date}_{k}",
            phone_hex,
            seed,
            first_id=len(rows) + 1,
        )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ROADRUNNER_COLUMNS)
    w.writerows(rows)
    written.append(atomic_write_text(out / "vibration" / f"roadrunner_{date}.csv", buf.getvalue()))
    truth = _roads_truth(data)
    written.append(write_geojson(truth, out / "truth" / "roads_truth.geojson", overwrite=True))
    written.append(write_geojson(_road_network(truth), out / "roads.geojson", overwrite=True))
    written.append(atomic_write_text(out / "tlgeo.toml", ROADS_TOML))
    summary["tiles"] = {sd.scene.name: _tile_summary(road_tile_stats(sd.roads)) for sd in data}
    return written, summary


def road_summary(seed: int = 0) -> dict[str, dict[str, dict[str, int]]]:
    """Road tiles per surface class from the drawn centrelines (driven / undriven), per scene, without rendering."""
    out = {}
    for scene in ROAD_SCENES:
        roads = _synth.build_roads(
            list(scene.roads), ROAD_SIZE, ROAD_RES, rng_for(seed, "roads", scene.name, "network")
        )
        out[scene.name] = _tile_summary(road_tile_stats(roads))
    return out
