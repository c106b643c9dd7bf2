"""Private raster synthesis for :mod:`tlgeo.sample`: noise, road networks, land cover, buildings, trees, villages.

Everything is vectorised numpy on float32 RGB canvases (values 0–1, shape ``(H, W, 3)``) in *pixel* coordinates:
``x`` = column + 0.5, ``y`` = row + 0.5 (pixel centres), ``y`` grows downwards. Every random draw comes from a
:class:`numpy.random.Generator` passed in by the caller, so the same seed always paints the same pixels.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
from rasterio.features import rasterize
from scipy import ndimage
from shapely.geometry import LineString, Polygon

#: Sun for every scene: azimuth (degrees clockwise from north) and elevation (degrees). Shadows fall away from it.
SUN_AZIMUTH = 100.0
SUN_ELEVATION = 58.0

SURFACES = ("good", "fair", "poor")


# --------------------------------------------------------------------------------------------- platform-stable maths
# The sample data must regenerate byte for byte on any x86-64 machine. numpy picks SIMD kernels at run time, and
# float64 exp/log/power/tan/arctan2 (and float32 arctan2/power) give last-bit differences between AVX2 and AVX-512
# kernels; one such bit can flip a rejection test and change every object drawn after it. float32 exp/log/sin/cos,
# float64 sin/cos and sqrt/hypot are identical across kernels, so only those are used (through these helpers).
# Integer powers other than ** 2 also go through the unstable ``power`` kernel: write t * t * t.
def sexp(x: np.ndarray | float) -> np.ndarray:
    """``exp`` computed in float32 (identical on every SIMD level, unlike float64 ``exp``)."""
    return np.exp(np.asarray(x, dtype=np.float32))


def spow(x: np.ndarray | float, p: float) -> np.ndarray:
    """``x ** p`` for positive ``x`` through float32 ``exp``/``log`` (platform-stable)."""
    return np.exp(np.float32(p) * np.log(np.asarray(x, dtype=np.float32)))


def satan2(y: np.ndarray | float, x: np.ndarray | float) -> np.ndarray:
    """``arctan2`` from +, −, ×, ÷ and sqrt only (two half-angle reductions and a Taylor series), float64 accurate."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    ax, ay = np.abs(x), np.abs(y)
    big, small = np.maximum(ax, ay), np.minimum(ax, ay)
    z = np.divide(small, big, out=np.zeros(np.broadcast(big, small).shape), where=big > 0)
    for _ in range(2):
        z = z / (1.0 + np.sqrt(1.0 + z * z))
    z2 = z * z
    acc = np.zeros_like(z)
    for k in range(13, -1, -1):
        acc = acc * z2 + (-1.0) ** k / (2 * k + 1)
    a = 4.0 * z * acc
    a = np.where(ay > ax, np.pi / 2 - a, a)
    a = np.where(x < 0, np.pi - a, a)
    return np.where(y < 0, -a, a)


def gauss(a: np.ndarray, sigma: float, mode: str = "reflect") -> np.ndarray:
    """Separable Gaussian filter whose kernel comes from float32 ``exp`` (scipy's uses float64 ``exp``)."""
    r = max(int(4.0 * sigma + 0.5), 1)
    x = np.arange(-r, r + 1, dtype=np.float32)
    w = np.exp(np.float32(-0.5) * (x / np.float32(sigma)) ** 2)
    w = (w / w.sum()).astype(np.float64)
    out = ndimage.correlate1d(a, w, axis=0, mode=mode)
    return ndimage.correlate1d(out, w, axis=1, mode=mode)


# --------------------------------------------------------------------------------------------- randomness & noise
def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """An independent random stream for ``seed`` and a path of names (stable across Python runs).

    Args:
        seed: The user's seed.
        keys: Names of the component, e.g. ``("roads", "ngong", "trees")``.
    """
    return np.random.default_rng([int(seed), *(zlib.crc32(k.encode("utf-8")) for k in keys)])


def noise(
    rng: np.random.Generator, shape: tuple[int, int], cell: float, octaves: int = 1, gain: float = 0.5
) -> np.ndarray:
    """Smooth Gaussian noise, zero mean and unit standard deviation.

    Each octave is white noise on a coarse grid, smoothed with a Gaussian and upsampled bilinearly (cheap and
    free of grid artefacts because the coarse field is already smooth over several grid cells).

    Args:
        rng: Random stream.
        shape: ``(rows, cols)`` of the output.
        cell: Feature size of the first octave in pixels.
        octaves: Octaves summed, each half the size of the previous.
        gain: Amplitude factor from one octave to the next.
    """
    h, w = shape
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for o in range(octaves):
        sigma = max(cell / 2**o, 1.0) / 2.0
        f = max(int(sigma / 1.5), 1)
        gh, gw = h // f + 8, w // f + 8
        grid = gauss(rng.standard_normal((gh, gw)).astype(np.float32), sigma / f, mode="wrap")
        grid /= grid.std() + 1e-12
        up = grid if f == 1 else upsample(grid, f)
        out += amp * up[2 * f : 2 * f + h, 2 * f : 2 * f + w]
        amp *= gain
    out -= out.mean()
    out /= out.std() + 1e-6
    return out


def _grid(y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of a window as broadcastable column and row vectors."""
    return np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5, np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5


def upsample(grid: np.ndarray, f: int) -> np.ndarray:
    """Bilinear upsampling by an integer factor (sample ``k`` lies ``k/f`` of the way to the next grid value)."""
    t = (np.arange(f, dtype=np.float32) / f)[None, :, None]
    rows = (grid[:-1, None, :] * (1 - t) + grid[1:, None, :] * t).reshape(-1, grid.shape[1])
    t = t.reshape(1, 1, f)
    return (rows[:, :-1, None] * (1 - t) + rows[:, 1:, None] * t).reshape(rows.shape[0], -1)


def noise1d(rng: np.random.Generator, n: int, cell: float) -> np.ndarray:
    """Smooth 1-D noise of length ``n`` with feature size ``cell`` samples (zero mean, unit std)."""
    k = int(np.ceil(n / max(cell, 1.0))) + 4
    grid = rng.standard_normal(k)
    x = np.arange(n) / max(cell, 1.0) + 1.5
    out = ndimage.map_coordinates(grid, [x], order=3, mode="nearest", prefilter=False)
    out -= out.mean()
    return out / (out.std() + 1e-9)


def blend(img: np.ndarray, color: np.ndarray, alpha: np.ndarray, sl: tuple[slice, slice] | None = None) -> None:
    """Paint ``color`` (broadcastable to ``(h, w, 3)``) onto ``img`` with per-pixel ``alpha`` (in place)."""
    target = img if sl is None else img[sl]
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    target *= 1.0 - a
    target += a * color


def rgb(*values: float) -> np.ndarray:
    """An RGB colour given as 0–255 values."""
    return np.array(values, np.float32) / 255.0


# --------------------------------------------------------------------------------------------- polylines
def catmull_rom(ctrl: np.ndarray, step: float) -> np.ndarray:
    """A smooth curve through control points, resampled every ``step`` (same units as the points)."""
    ctrl = np.asarray(ctrl, float)
    if len(ctrl) == 2:
        return resample(ctrl, step)
    p = np.vstack([2 * ctrl[0] - ctrl[1], ctrl, 2 * ctrl[-1] - ctrl[-2]])
    parts = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        n = max(int(np.hypot(*(p2 - p1)) / max(step / 4, 1e-3)), 2)
        t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
        parts.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * (t * t)
                + (-p0 + 3 * p1 - 3 * p2 + p3) * (t * t * t)
            )
        )
    parts.append(ctrl[-1:])
    return resample(np.vstack(parts), step)


def resample(pts: np.ndarray, step: float) -> np.ndarray:
    """Points spaced ``step`` apart along a polyline (the last point kept)."""
    pts = np.asarray(pts, float)
    d = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    s = np.arange(0.0, d[-1], step)
    if d[-1] - s[-1] > 1e-9:
        s = np.r_[s, d[-1]]
    return np.c_[np.interp(s, d, pts[:, 0]), np.interp(s, d, pts[:, 1])]


def chainage(pts: np.ndarray) -> np.ndarray:
    """Cumulative length along a polyline."""
    return np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]


def tangents(pts: np.ndarray) -> np.ndarray:
    """Unit tangent at every point of a polyline."""
    t = np.gradient(pts, axis=0)
    return t / (np.hypot(t[:, 0], t[:, 1])[:, None] + 1e-12)


def left_normals(tang: np.ndarray) -> np.ndarray:
    """Unit normals pointing to the left of travel on a map (image ``y`` grows downwards)."""
    return np.c_[tang[:, 1], -tang[:, 0]]


# --------------------------------------------------------------------------------------------- roads
@dataclass
class Road:
    """A road centreline in pixel coordinates and everything drawn on it.

    Attributes:
        road_id: Identifier, unique in the scene.
        pts: Dense centreline points ``(N, 2)`` (x, y) in pixels, ``step`` apart.
        width_m: Carriageway width.
        sections: ``(end_m, surface)`` pairs: the surface up to ``end_m`` metres of chainage.
        driven: Whether phones drive this road.
        res: Pixel size in metres.
        potholes: ``(K, 4)`` array: chainage m, offset m (+ = left), radius m, depth m.
        patches: ``(K, 5)`` array: chainage start m, chainage end m, offset low m, offset high m, tone.
        parent: ``(road_id, chainage m)`` where this road branches off, or ``None``.
        end_parent: ``(road_id, chainage m)`` where this road ends on another road, or ``None``.
    """

    road_id: str
    pts: np.ndarray
    width_m: float
    sections: list[tuple[float, str]]
    driven: bool
    res: float
    potholes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    patches: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    parent: tuple[str, float] | None = None
    end_parent: tuple[str, float] | None = None

    @property
    def s_m(self) -> np.ndarray:
        """Chainage of every point in metres."""
        return chainage(self.pts) * self.res

    @property
    def length_m(self) -> float:
        """Length in metres."""
        return float(self.s_m[-1])

    def surface_at(self, s_m: np.ndarray) -> np.ndarray:
        """Surface class index (0 good, 1 fair, 2 poor) at chainages ``s_m``."""
        ends = np.array([e for e, _ in self.sections])
        codes = np.array([SURFACES.index(c) for _, c in self.sections])
        return codes[np.clip(np.searchsorted(ends, s_m, side="right"), 0, len(codes) - 1)]

    def point_at(self, s_m: float | np.ndarray) -> np.ndarray:
        """Pixel coordinates at chainage ``s_m``."""
        s = self.s_m
        return np.c_[np.interp(s_m, s, self.pts[:, 0]), np.interp(s_m, s, self.pts[:, 1])]


@dataclass
class RoadField:
    """Per-pixel road coordinates in a window: signed offset and chainage (metres), plus the window."""

    rows: slice
    cols: slice
    off: np.ndarray
    ch: np.ndarray
    dist: np.ndarray


def road_field(shape: tuple[int, int], road: Road, reach_m: float) -> RoadField | None:
    """Signed offset from the centreline and chainage for every pixel within ``reach_m`` of a road.

    Each pixel near the road finds its nearest centreline sample (KD-tree) and is projected onto that sample's
    tangent, so offsets are exact to a fraction of a pixel. Beyond the ends the offset is radial. Pixels farther
    than ``reach_m`` get an offset of 10 km.
    """
    from scipy.spatial import cKDTree

    res = road.res
    reach = reach_m / res
    pts = road.pts
    x0 = max(int(np.floor(pts[:, 0].min() - reach)) - 1, 0)
    x1 = min(int(np.ceil(pts[:, 0].max() + reach)) + 1, shape[1])
    y0 = max(int(np.floor(pts[:, 1].min() - reach)) - 1, 0)
    y1 = min(int(np.ceil(pts[:, 1].max() + reach)) + 1, shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    h, w = y1 - y0, x1 - x0
    from rasterio.transform import Affine

    near_mask = rasterize(
        [(LineString(pts).buffer(reach + 1.0), 1)],
        out_shape=(h, w),
        transform=Affine.translation(x0, y0),
        fill=0,
        dtype="uint8",
    ).astype(bool)
    if not near_mask.any():
        return None
    dense = resample(pts, 0.5)
    tang_d = tangents(dense)
    s_d = chainage(dense) * res
    rr, cc = np.nonzero(near_mask)
    px = np.c_[cc + x0 + 0.5, rr + y0 + 0.5]
    _, near = cKDTree(dense).query(px)
    dx = px[:, 0] - dense[near, 0]
    dy = px[:, 1] - dense[near, 1]
    along = (dx * tang_d[near, 0] + dy * tang_d[near, 1]) * res
    o = (dx * tang_d[near, 1] - dy * tang_d[near, 0]) * res
    c = s_d[near] + along
    length = s_d[-1]
    beyond = np.where(c < 0, -c, np.where(c > length, c - length, 0.0))
    o = np.where(beyond > 0, np.sign(o + 1e-9) * np.hypot(o, beyond), o)
    off = np.full((h, w), 1e4, np.float32)
    ch = np.zeros((h, w), np.float32)
    off[rr, cc] = o
    ch[rr, cc] = np.clip(c, 0.0, length)
    return RoadField(slice(y0, y1), slice(x0, x1), off, ch, np.abs(off))


def _scattered_holes(
    rng: np.random.Generator,
    along: tuple[float, float],
    k: int,
    across: tuple[float, float],
    radius: tuple[float, float],
    depth: tuple[float, float],
) -> np.ndarray:
    """``k`` potholes (along, across, radius, depth), each uniform in its range (drawn in that order)."""
    return np.c_[
        rng.uniform(*along, k),
        rng.uniform(*across, k),
        rng.uniform(*radius, k),
        rng.uniform(*depth, k),
    ]


def add_potholes_and_patches(road: Road, rng: np.random.Generator) -> None:
    """Scatter potholes (fair: few, poor: many, clustered) and patches (fair) along a road's sections."""
    holes, patches = [], []
    hw = road.width_m / 2
    start = 0.0
    for end, surf in road.sections:
        length = end - start
        if surf == "poor":
            n_clusters = max(1, int(length / 45))
            for cs in rng.uniform(start, end, n_clusters):
                k = rng.integers(4, 12)
                s = cs + rng.normal(0, 7, k)
                o = np.clip(rng.normal(0, hw * 0.45, k), -hw + 0.5, hw - 0.5)
                rad = rng.uniform(0.4, 1.4, k)
                depth = rng.uniform(0.04, 0.12, k)
                holes.append(np.c_[s, o, rad, depth])
            holes.append(
                _scattered_holes(rng, (start, end), int(length / 8), (-hw + 0.6, hw - 0.6), (0.25, 0.6), (0.02, 0.06))
            )
        elif surf == "fair":
            holes.append(
                _scattered_holes(rng, (start, end), int(length / 110), (-hw + 0.8, hw - 0.8), (0.2, 0.45), (0.02, 0.05))
            )
            k = int(length / 16)
            s0 = rng.uniform(start, end - 3, k)
            ln = rng.uniform(1.5, 9.0, k)
            wid = rng.uniform(1.0, min(3.5, hw), k)
            o0 = rng.uniform(-hw, hw - 1.0, k)
            tone = rng.uniform(0.0, 1.0, k)
            patches.append(np.c_[s0, np.minimum(s0 + ln, end), o0, np.minimum(o0 + wid, hw), tone])
        start = end
    road.potholes = np.vstack(holes) if holes else np.zeros((0, 4))
    road.patches = np.vstack(patches) if patches else np.zeros((0, 5))


def _line_alpha(off: np.ndarray, centre: float, width_m: float, res: float) -> np.ndarray:
    """Anti-aliased coverage of a line ``width_m`` wide at offset ``centre`` (metres) in pixels of ``res``."""
    d = np.abs(off - centre)
    cover = np.clip((width_m / 2 + res / 2 - d) / res, 0.0, 1.0)
    return cover * min(1.0, width_m / res + 0.25)


@dataclass
class SceneNoise:
    """Scene-wide noise fields shared by all painters (zero mean, unit std)."""

    fine: np.ndarray
    grain: np.ndarray
    med: np.ndarray
    large: np.ndarray
    crack: np.ndarray
    crack2: np.ndarray

    @classmethod
    def make(cls, rng: np.random.Generator, shape: tuple[int, int]) -> SceneNoise:
        """Draw all fields for a scene."""
        return cls(
            fine=rng.standard_normal(shape).astype(np.float32),
            grain=noise(rng, shape, 2.0, 2),
            med=noise(rng, shape, 10.0, 3),
            large=noise(rng, shape, 90.0, 3),
            crack=noise(rng, shape, 9.0, 2, 0.45),
            crack2=noise(rng, shape, 4.0, 1),
        )


def paint_road(
    img: np.ndarray, road: Road, fld: RoadField, nz: SceneNoise, rng: np.random.Generator, urban: float
) -> np.ndarray:
    """Paint one road (verge, carriageway by surface, markings, patches, cracks; potholes separately).

    Returns:
        The footprint (bool, window shape) of the carriageway plus verge, for keeping trees and houses off it.
    """
    res = road.res
    sl = (fld.rows, fld.cols)
    off, ch = fld.off, fld.ch
    surf = road.surface_at(ch)
    fine, grain, med = nz.fine[sl], nz.grain[sl], nz.med[sl]
    # ragged edges: per-side 1-D noise along chainage, amplitude by surface
    n = int(road.length_m / 0.5) + 2
    amp = np.array([0.04, 0.22, 0.5], np.float32)
    e_left = noise1d(rng, n, 8.0) * 0.6 + noise1d(rng, n, 2.0) * 0.4
    e_right = noise1d(rng, n, 8.0) * 0.6 + noise1d(rng, n, 2.0) * 0.4
    idx = np.clip((ch / 0.5).astype(int), 0, n - 1)
    edge = np.where(off > 0, e_left[idx], e_right[idx]) * amp[surf]
    hw = road.width_m / 2 + edge
    a = np.abs(off)
    inside = np.clip((hw - a) / res + 0.5, 0.0, 1.0)
    # ---- verge / shoulder (drawn first, under the carriageway)
    verge_w = np.array([0.9, 1.3, 1.6], np.float32)[surf] + 0.6 * urban
    verge = np.clip((hw + verge_w - a) / res + 0.5, 0, 1) * np.clip(0.9 - 0.25 * med, 0.0, 1.0)
    verge_col = np.where(
        (surf == 0)[..., None],
        rgb(128, 112, 96) * (1 + 0.10 * grain[..., None]),
        rgb(150, 115, 88) * (1 + 0.12 * grain[..., None]),
    )
    blend(img, verge_col, verge * (1.0 - inside), sl)
    # unpaved roads: shallow drainage ditches with darker, damp soil and weeds
    ditch = sexp(-(((a - hw - 1.0) / 0.45) ** 2)) * (surf == 2) * np.clip(0.7 + 0.3 * med, 0, 1)
    blend(img, rgb(84, 70, 50), ditch * 0.75, sl)
    # ---- carriageway colours
    col = np.empty((*off.shape, 3), np.float32)
    # good: dark, smooth asphalt, faint oil strip in lane centres
    g = surf == 0
    if g.any():
        base = rgb(52, 54, 57) * (1 + 0.05 * grain[g][:, None] + 0.03 * med[g][:, None] + 0.02 * fine[g][:, None])
        lane = sexp(-(((a[g] - road.width_m / 4) / 0.5) ** 2))
        base *= (1 - 0.07 * lane)[:, None]
        col[g] = base
    f = surf == 1
    if f.any():
        weather = 0.09 * med[f] + 0.05 * grain[f] + 0.04 * fine[f]
        base = rgb(122, 120, 116) * (1 + weather[:, None])
        # sand and soil creeping in from the edges
        edge_mix = np.clip((a[f] - (hw[f] - 1.0)) / 1.0, 0, 1) * np.clip(0.55 + 0.35 * med[f], 0, 1)
        base = base * (1 - edge_mix[:, None] * 0.65) + rgb(150, 118, 92) * (edge_mix[:, None] * 0.65)
        # cracks: thin zero-crossings of noise fields, a dense (alligator) net in the wheel paths
        wheel = sexp(-(((a[f] - road.width_m / 4) / 1.0) ** 2))
        crack = np.clip(1 - np.abs(nz.crack[sl][f]) / (0.11 + 0.08 * wheel), 0, 1) * 0.7
        crack2 = np.clip(1 - np.abs(nz.crack2[sl][f]) / 0.18, 0, 1) * 0.6 * np.clip(wheel * (0.6 + 0.6 * med[f]), 0, 1)
        dark = np.maximum(crack, crack2)
        base = base * (1 - dark)[:, None] + rgb(40, 40, 40) * (0.3 * dark)[:, None]
        col[f] = base
    p = surf == 2
    if p.any():
        # laterite / murram: orange-brown gravel, lighter compacted wheel tracks, darker loose gravel at the crown
        # and edges, a grassy ragged edge and a shallow ditch beyond it
        tone = 0.10 * med[p] + 0.08 * grain[p] + 0.07 * fine[p]
        base = rgb(176, 116, 78) * (1 + tone[:, None])
        ruts = sexp(-(((a[p] - 0.9) / 0.4) ** 2))
        base = base * (1 - 0.35 * ruts[:, None]) + rgb(204, 156, 116) * (0.35 * ruts[:, None])
        loose = sexp(-((a[p] / 0.4) ** 2)) * np.clip(0.45 + 0.4 * nz.large[sl][p], 0, 0.8)
        base = base * (1 - 0.35 * loose[:, None])
        grass = np.clip((a[p] - (hw[p] - 0.8)) / 0.8, 0, 1) * np.clip(0.5 + 0.5 * med[p], 0, 1)
        base = base * (1 - 0.55 * grass[:, None]) + rgb(104, 100, 62) * (0.55 * grass[:, None])
        col[p] = base
    # ---- patches (fair): rectangles in road coordinates, freshly dark or grey
    for s0, s1, o0, o1, tone in road.patches:
        m = (ch >= s0) & (ch <= s1) & (off >= o0) & (off <= o1)
        if m.any():
            c = rgb(44, 45, 47) if tone < 0.55 else rgb(82, 82, 82)
            col[m] = c * (1 + 0.04 * grain[m][:, None])
    # ---- markings
    if g.any():
        hw0 = road.width_m / 2
        edge_a = np.maximum(_line_alpha(off, hw0 - 0.35, 0.25, res), _line_alpha(off, -(hw0 - 0.35), 0.25, res))
        dash = ((ch % 12.0) < 4.0).astype(np.float32)
        centre_a = _line_alpha(off, 0.0, 0.22, res) * dash
        mark = np.where(g, np.maximum(edge_a * 0.95, centre_a * 0.95), 0.0)
        col = col * (1 - mark[..., None]) + rgb(232, 226, 200) * mark[..., None]
    if f.any():
        worn = np.clip(0.35 + 0.4 * nz.large[sl], 0, 0.6)
        dash = ((ch % 12.0) < 3.0).astype(np.float32)
        mark = np.where(f, _line_alpha(off, 0.0, 0.15, res) * dash * worn, 0.0)
        col = col * (1 - mark[..., None]) + rgb(205, 200, 185) * mark[..., None]
    blend(img, col, inside, sl)
    return (verge > 0.3) | (inside > 0.2)


def paint_potholes(img: np.ndarray, road: Road, nz: SceneNoise, rng: np.random.Generator) -> None:
    """Dark, irregular pothole blobs with a lit far rim; some hold water."""
    res = road.res
    if not len(road.potholes):
        return
    s = road.s_m
    tang = tangents(road.pts)
    nrm = left_normals(tang)
    h, w = img.shape[:2]
    for s_c, o_c, rad, depth in road.potholes:
        i = int(np.clip(np.searchsorted(s, s_c), 0, len(s) - 1))
        cx, cy = road.pts[i] + nrm[i] * (o_c / res)
        rp = rad / res * 1.2
        x0, x1 = max(int(cx - rp - 2), 0), min(int(cx + rp + 3), w)
        y0, y1 = max(int(cy - rp - 2), 0), min(int(cy + rp + 3), h)
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = _grid(y0, y1, x0, x1)
        u = ((xx - cx) * tang[i, 0] + (yy - cy) * tang[i, 1]) / 1.25
        v = (xx - cx) * nrm[i, 0] + (yy - cy) * nrm[i, 1]
        d = np.hypot(u, v) / (rad / res)
        d = d * (1 + 0.22 * nz.grain[y0:y1, x0:x1])
        a = np.clip((1.0 - d) * 3.0, 0, 1)
        if not a.any():
            continue
        wet = rng.random() < 0.3
        sun, _ = sun_vector()
        toward = ((xx - cx) * sun[0] + (yy - cy) * sun[1]) / max(rad / res, 0.5)
        dark = (0.42 + 0.25 * np.clip(depth / 0.1, 0, 1) + 0.12 * np.clip(toward, -1, 1))[..., None]
        base = img[y0:y1, x0:x1]
        if wet:
            col = rgb(62, 60, 54) * (1 + 0.05 * nz.fine[y0:y1, x0:x1, None])
        else:
            col = base * (1 - dark) + rgb(60, 40, 30) * (0.2 * dark)
        blend(img, col, a, (slice(y0, y1), slice(x0, x1)))
        # lit rim on the side away from the sun: a thin brighter ring
        ring = np.clip(1 - np.abs(d - 1.05) / 0.18, 0, 1) * 0.25
        blend(img, rgb(200, 160, 125), ring, (slice(y0, y1), slice(x0, x1)))


# --------------------------------------------------------------------------------------------- objects: heights, shading, shadows
def sun_vector() -> tuple[np.ndarray, float]:
    """Unit vector towards the sun in image coordinates (x right, y down) and tan(elevation)."""
    az = np.deg2rad(SUN_AZIMUTH)
    el = np.deg2rad(SUN_ELEVATION)
    return np.array([np.sin(az), -np.cos(az)]), float(np.sin(el) / np.cos(el))


def cast_shadows(height_m: np.ndarray, res: float, max_px: int = 24) -> np.ndarray:
    """Shadow strength (0–1) from a height field: a pixel is shaded if something towards the sun rises above the
    sun ray through it (ray marching, one pixel per step)."""
    d, tan_el = sun_vector()
    h, w = height_m.shape
    shade = np.zeros((h, w), bool)
    for k in range(1, max_px + 1):
        dx, dy = round(d[0] * k), round(d[1] * k)
        rise = k * res * tan_el
        src = np.zeros_like(height_m)
        ys = slice(max(dy, 0), h + min(dy, 0))
        yd = slice(max(-dy, 0), h + min(-dy, 0))
        xs = slice(max(dx, 0), w + min(dx, 0))
        xd = slice(max(-dx, 0), w + min(-dx, 0))
        src[yd, xd] = height_m[ys, xs]
        shade |= src > height_m + rise + 0.3
    soft = ndimage.uniform_filter(shade.astype(np.float32), 3)
    return soft


def hillshade(height_m: np.ndarray, res: float) -> np.ndarray:
    """Lambertian shading (about 1 on flat ground) of a height field lit by the scene's sun."""
    gy, gx = np.gradient(height_m, res)
    gx = np.clip(gx, -1.2, 1.2)
    gy = np.clip(gy, -1.2, 1.2)
    d, _ = sun_vector()
    el = np.deg2rad(SUN_ELEVATION)
    # image y grows downwards: a surface rising towards the sun (positive slope along d) faces it
    lx, ly, lz = d[0] * np.cos(el), d[1] * np.cos(el), np.sin(el)
    nx, ny, nz = -gx, -gy, np.ones_like(gx)
    norm = np.sqrt(nx**2 + ny**2 + 1.0)
    lam = (nx * lx + ny * ly + nz * lz) / norm
    return (lam / np.sin(el)).astype(np.float32)


@dataclass
class Objects:
    """Raised objects painted after the ground: one height field, colours and a coverage mask."""

    height: np.ndarray
    color: np.ndarray
    cover: np.ndarray
    kind: np.ndarray  # 0 ground, 1 roof, 2 canopy

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Objects:
        """Nothing raised yet."""
        return cls(
            np.zeros(shape, np.float32),
            np.zeros((*shape, 3), np.float32),
            np.zeros(shape, np.float32),
            np.zeros(shape, np.uint8),
        )


def add_building(
    obj: Objects,
    cx: float,
    cy: float,
    length: float,
    width: float,
    angle: float,
    eave_m: float,
    roof: np.ndarray,
    res: float,
    *,
    gable: bool = True,
    rise_m: float = 1.2,
    texture: np.ndarray | None = None,
) -> None:
    """Add a rectangular building (pixel units for position and size) with a gable or flat roof."""
    h, w = obj.height.shape
    r = 0.5 * np.hypot(length, width) + 2
    x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
    y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = _grid(y0, y1, x0, x1)
    ca, sa = np.cos(angle), np.sin(angle)
    u = (xx - cx) * ca + (yy - cy) * sa
    v = -(xx - cx) * sa + (yy - cy) * ca
    cu = np.clip(length / 2 - np.abs(u) + 0.5, 0, 1)
    cv = np.clip(width / 2 - np.abs(v) + 0.5, 0, 1)
    cover = cu * cv
    m = cover > 0
    if not m.any():
        return
    if gable:
        z = eave_m + rise_m * np.clip(1 - np.abs(v) / (width / 2), 0, 1)
    else:
        z = np.full_like(u, eave_m + 0.3)
        z = np.where((np.abs(u) > length / 2 - 0.7) | (np.abs(v) > width / 2 - 0.7), z + 0.4, z)  # parapet
    sl = (slice(y0, y1), slice(x0, x1))
    col = np.broadcast_to(roof, (*u.shape, 3)).copy()
    if texture is not None:
        col *= (1 + texture[sl])[..., None]
    upd = m & (z >= obj.height[sl])
    obj.height[sl] = np.where(upd, z, obj.height[sl])
    obj.color[sl] = np.where(upd[..., None], col, obj.color[sl])
    obj.cover[sl] = np.maximum(obj.cover[sl], cover)
    obj.kind[sl] = np.where(upd, 1, obj.kind[sl])


def add_tree(
    obj: Objects,
    cx: float,
    cy: float,
    radius: float,
    top_m: float,
    leaf: np.ndarray,
    lump: np.ndarray | None,
    res: float,
    kind: int = 2,
) -> None:
    """Add a tree crown: a lumpy dome ``radius`` pixels wide, ``top_m`` metres high.

    With ``lump=None`` and ``kind=1`` the same shape serves for round man-made things (tanks, stacks).
    """
    h, w = obj.height.shape
    r = radius * 1.3 + 2
    x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
    y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    sl = (slice(y0, y1), slice(x0, x1))
    yy, xx = _grid(y0, y1, x0, x1)
    d = np.hypot(xx - cx, yy - cy) / radius
    bump = lump[sl] if lump is not None else np.zeros_like(d)
    d = d * (1 + 0.18 * bump)
    inside = d < 1.0
    if not inside.any():
        return
    crown = np.sqrt(np.clip(1 - d**2, 0, 1))
    z = np.where(inside, top_m * (0.55 + 0.45 * crown) + 0.5 * bump * crown, 0.0).astype(np.float32)
    upd = inside & (z > obj.height[sl])
    obj.height[sl] = np.where(upd, z, obj.height[sl])
    obj.color[sl] = np.where(upd[..., None], leaf, obj.color[sl])
    cov = np.clip((1.0 - d) * radius + 0.5, 0, 1)
    obj.cover[sl] = np.maximum(obj.cover[sl], cov)
    obj.kind[sl] = np.where(upd, kind, obj.kind[sl])


def composite_objects(
    img: np.ndarray, obj: Objects, nz_fine: np.ndarray, nz_grain: np.ndarray, res: float, shadow_strength: float = 0.62
) -> None:
    """Shadows on the ground, then roofs and crowns shaded by the sun (in place)."""
    shadow = cast_shadows(obj.height, res)
    tint = rgb(60, 70, 95)
    img *= (1 - shadow_strength * shadow)[..., None]
    img += (shadow * shadow_strength * 0.18)[..., None] * tint
    shade = hillshade(obj.height, res)
    lit = np.clip(shade, 0.35, 1.35)
    canopy = obj.kind == 2
    # leaves: clumpy texture and self shadowing in the crowns
    leafy = np.where(canopy, 1 + 0.16 * nz_grain + 0.08 * nz_fine, 1.0)
    roof_tex = np.where(obj.kind == 1, 1 + 0.025 * nz_fine, 1.0)
    col = obj.color * (lit * leafy * roof_tex * (1 - 0.45 * shadow * (obj.kind > 0)))[..., None]
    blend(img, col, obj.cover)


# --------------------------------------------------------------------------------------------- generic helpers
def voronoi_cells(shape: tuple[int, int], seeds: np.ndarray, step: int = 2) -> np.ndarray:
    """Index of the nearest seed (x, y in pixels) for every pixel (computed on a grid ``step`` pixels apart)."""
    if step > 1:
        small = voronoi_cells((-(-shape[0] // step), -(-shape[1] // step)), seeds / step, 1)
        return np.repeat(np.repeat(small, step, 0), step, 1)[: shape[0], : shape[1]]
    h, w = shape
    free = np.ones(shape, bool)
    lab = np.full(shape, -1, np.int32)
    c = np.clip(seeds[:, 0].astype(int), 0, w - 1)
    r = np.clip(seeds[:, 1].astype(int), 0, h - 1)
    free[r, c] = False
    lab[r, c] = np.arange(len(seeds))
    _, (ri, ci) = ndimage.distance_transform_edt(free, return_indices=True)
    return lab[ri, ci]


def cell_edges(lab: np.ndarray) -> np.ndarray:
    """True on pixels whose right or lower neighbour lies in another cell."""
    e = np.zeros(lab.shape, bool)
    e[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    e[:-1, :] |= lab[:-1, :] != lab[1:, :]
    return e


def polygon_mask(
    shape: tuple[int, int], polys: list[Polygon], all_touched: bool = False, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Rasterise polygons given in pixel coordinates to a bool mask of a window starting at ``origin`` (x, y)."""
    from rasterio.transform import Affine

    if not polys:
        return np.zeros(shape, bool)
    return rasterize(
        ((p, 1) for p in polys),
        out_shape=shape,
        fill=0,
        all_touched=all_touched,
        dtype="uint8",
        transform=Affine.translation(*origin),
    ).astype(bool)


def line_mask(
    shape: tuple[int, int], lines: list[np.ndarray], width_px: float, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Soft mask (0–1) of polylines (pixel coordinates) buffered to ``width_px``, in a window at ``origin``."""
    polys = [LineString(p).buffer(width_px / 2, cap_style="round") for p in lines if len(p) > 1]
    m = polygon_mask(shape, polys, origin=origin).astype(np.float32)
    return gauss(m, 0.5)


def finish(
    img: np.ndarray, rng: np.random.Generator, blur: float = 0.55, haze: np.ndarray | None = None, noise_dn: float = 1.6
) -> np.ndarray:
    """Sensor look: slight blur (optics), haze, noise; returns ``(3, H, W)`` uint8."""
    out = np.empty_like(img)
    for b in range(3):
        out[..., b] = gauss(img[..., b], blur)
    if haze is not None:
        out = out * (1 - 0.08) + haze * 0.08
    out = out * 255.0 + rng.normal(0, noise_dn, out.shape).astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8).transpose(2, 0, 1)


# --------------------------------------------------------------------------------------------- road scenes
@dataclass(frozen=True)
class RoadSpec:
    """A road in a scene layout.

    Attributes:
        road_id: Identifier.
        ctrl: Control points as fractions of the scene (x, y in 0–1; outside 0–1 leaves the scene). A first point
            given as ``(parent_id, t)`` starts the road on that road at fraction ``t`` of its length.
        width_m: Carriageway width.
        sections: ``(t_end, surface)`` pairs along the road (fractions of its length).
        driven: Whether the phones drive it.
        wiggle_m: Amplitude of small lateral meanders (unpaved roads wander).
    """

    road_id: str
    ctrl: tuple
    width_m: float
    sections: tuple[tuple[float, str], ...]
    driven: bool
    wiggle_m: float = 0.0


def build_roads(specs: list[RoadSpec], size: int, res: float, rng: np.random.Generator) -> list[Road]:
    """Turn layout specs into dense centrelines (pixels) with surfaces, potholes and patches."""
    roads: dict[str, Road] = {}
    for spec in specs:
        ctrl = []
        parent = end_parent = None
        for k, c in enumerate(spec.ctrl):
            if isinstance(c[0], str):
                base = roads[c[0]]
                s_par = base.length_m * float(c[1])
                ctrl.append(base.point_at(s_par)[0])
                if k == 0:
                    parent = (c[0], s_par)
                else:
                    end_parent = (c[0], s_par)
            else:
                p = np.array(c, float) * size
                if 0 < k < len(spec.ctrl) - 1:
                    p = p + rng.normal(0.0, 0.008 * size, 2)
                ctrl.append(p)
        pts = catmull_rom(np.array(ctrl), 0.5)
        if spec.wiggle_m > 0:
            nrm = left_normals(tangents(pts))
            wig = noise1d(rng, len(pts), 60.0) * spec.wiggle_m / res
            taper = np.clip(np.minimum(np.arange(len(pts)), np.arange(len(pts))[::-1]) / 40.0, 0, 1)
            pts = resample(pts + nrm * (wig * taper)[:, None], 0.5)
        road = Road(spec.road_id, pts, spec.width_m, [], spec.driven, res, parent=parent, end_parent=end_parent)
        length = road.length_m
        road.sections = [(length * t if t < 1 else length + 1e-6, surf) for t, surf in spec.sections]
        add_potholes_and_patches(road, rng)
        roads[spec.road_id] = road
    return list(roads.values())


@dataclass
class SceneStyle:
    """Land-cover mix of a road scene."""

    name: str
    urban: float  # 0 rural … 1 dense
    cover_probs: dict[str, float]
    cell_px: float = 80.0
    soil: tuple[float, float, float] = (146, 104, 80)


COVER_TYPES = ("grass", "crop", "ploughed", "coffee", "settlement", "woodland", "bare")


def hash01(key: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random numbers in [0, 1) from integer keys (splitmix64)."""
    with np.errstate(over="ignore"):
        z = key.astype(np.uint64) + np.uint64(salt % (2**63)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) / 2.0**53).astype(np.float32)


@dataclass
class Parcels:
    """Rectangular field parcels in road-aligned blocks: per-pixel parcel key, block, orientation, anchor point."""

    key: np.ndarray
    block: np.ndarray
    theta: np.ndarray  # block orientation per block
    anchor: np.ndarray  # (2, H, W) parcel centre (x, y) for each pixel
    u: np.ndarray
    v: np.ndarray


def make_parcels(
    shape: tuple[int, int],
    rng: np.random.Generator,
    block_px: float,
    width_px: tuple[float, float],
    length_px: tuple[float, float],
    road_ang: np.ndarray | None = None,
) -> Parcels:
    """Blocks (a coarse Voronoi partition, each with its own orientation, often that of the nearest road) cut into
    columns of random width and those into plots of random length: the strip fields of smallholder farmland."""
    h, w = shape
    ny, nx = int(h / block_px) + 2, int(w / block_px) + 2
    gy, gx = np.mgrid[0:ny, 0:nx].astype(float)
    seeds = np.c_[
        (gx.ravel() + rng.uniform(-0.3, 0.3, gx.size) - 0.3) * block_px,
        (gy.ravel() + rng.uniform(-0.3, 0.3, gy.size) - 0.3) * block_px,
    ]
    blk = voronoi_cells(shape, seeds, step=4)
    nb = len(seeds)
    theta = rng.uniform(0, np.pi, nb)
    if road_ang is not None:
        sx = np.clip(seeds[:, 0].astype(int), 0, w - 1)
        sy = np.clip(seeds[:, 1].astype(int), 0, h - 1)
        aligned = rng.random(nb) < 0.75
        theta = np.where(aligned, road_ang[sy, sx] + rng.choice([0.0, np.pi / 2], nb) + rng.normal(0, 0.05, nb), theta)
    ct, st = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    yy, xx = np.ogrid[0:h, 0:w]
    xf, yf = xx.astype(np.float32), yy.astype(np.float32)
    u = xf * ct[blk] + yf * st[blk]
    v = yf * ct[blk] - xf * st[blk]
    span = 2.0 * (h + w)
    edges_u = np.cumsum(rng.uniform(*width_px, int(2 * span / width_px[0]) + 2)) - span
    edges_v = np.cumsum(rng.uniform(*length_px, int(2 * span / length_px[0]) + 2)) - span
    off_u = rng.uniform(0, width_px[1], nb).astype(np.float32)
    shift_v = rng.uniform(0, length_px[1], 4096).astype(np.float32)
    i = np.searchsorted(edges_u, u + off_u[blk])
    vv = v + shift_v[i % 4096]
    j = np.searchsorted(edges_v, vv)
    key = (blk.astype(np.int64) * 100003 + i) * 100003 + j
    # parcel centres (for zone look-ups), back in x/y
    uc = (edges_u[np.clip(i - 1, 0, None)] + edges_u[i]) / 2 - off_u[blk]
    vc = (edges_v[np.clip(j - 1, 0, None)] + edges_v[j]) / 2 - shift_v[i % 4096]
    ax = uc * ct[blk] - vc * st[blk]
    ay = uc * st[blk] + vc * ct[blk]
    return Parcels(key, blk, theta, np.stack([ax, ay]).astype(np.float32), u, v)


def _landcover(
    shape: tuple[int, int],
    style: SceneStyle,
    nz: SceneNoise,
    road_dist: np.ndarray,
    road_ang: np.ndarray,
    rng: np.random.Generator,
):
    """Paint the ground: strip parcels of grass, crops, ploughed soil and coffee; yards; woodland; bare soil.

    Settlement and woodland follow smooth zone fields (settlement near roads), looked up at each parcel's centre,
    so land use comes in coherent areas; farmland parcels vary one by one.

    Returns:
        ``(image, cover type per pixel, parcel key per pixel)``.
    """
    h, w = shape
    par = make_parcels(
        shape,
        rng,
        style.cell_px * 6,
        (style.cell_px * 0.35, style.cell_px * 1.0),
        (style.cell_px * 0.6, style.cell_px * 2.2),
        road_ang,
    )
    salt = int(rng.integers(2**62))
    ax = np.clip(par.anchor[0].astype(np.int64), 0, w - 1)
    ay = np.clip(par.anchor[1].astype(np.int64), 0, h - 1)
    settle_field = nz.large + 1.3 * sexp(-road_dist / 50.0) * style.urban
    wood_field = noise(rng, shape, style.cell_px * 4, 2)
    sub = (slice(None, None, 7), slice(None, None, 7))
    s_thr = np.quantile(settle_field[sub], 1 - style.cover_probs.get("settlement", 0.0))
    w_thr = np.quantile(wood_field[sub], 1 - style.cover_probs.get("woodland", 0.0))
    farm = [t for t in ("grass", "crop", "ploughed", "coffee", "bare") if style.cover_probs.get(t, 0) > 0]
    p_farm = np.cumsum([style.cover_probs[t] for t in farm])
    p_farm /= p_farm[-1]
    u1 = hash01(par.key, salt)
    farm_t = np.array([COVER_TYPES.index(f) for f in farm])[np.minimum(np.searchsorted(p_farm, u1), len(farm) - 1)]
    # coffee estates: whole blocks
    est_p = style.cover_probs.get("coffee", 0.0)
    estate_blk = hash01(np.arange(len(par.theta)), salt + 7) < est_p * 0.8
    farm_t = np.where(
        estate_blk[par.block],
        COVER_TYPES.index("coffee"),
        np.where(farm_t == COVER_TYPES.index("coffee"), COVER_TYPES.index("crop"), farm_t),
    )
    t = np.where(
        settle_field[ay, ax] >= s_thr,
        COVER_TYPES.index("settlement"),
        np.where(wood_field[ay, ax] >= w_thr, COVER_TYPES.index("woodland"), farm_t),
    )
    estate = estate_blk[par.block] & (t == COVER_TYPES.index("coffee"))
    # rows run along or across the parcel
    across = hash01(par.key, salt + 1) < 0.5
    period = (3.2 + 2.8 * hash01(par.key, salt + 2)).astype(np.float32)
    period = np.where(estate, np.float32(5.5), period)
    coord = np.where(across & ~estate, par.u, par.v)
    stripes = np.sin(coord * (2 * np.pi) / period)
    stripes *= 0.5
    stripes += 0.5
    green = hash01(par.key, salt + 3)
    tone = hash01(par.key, salt + 4) * 2 - 1
    img = np.empty((*shape, 3), np.float32)
    large, med, grain, fine = nz.large, nz.med, nz.grain, nz.fine
    soil = rgb(*style.soil)
    dry = np.clip(0.5 + 0.3 * large + 0.35 * (green - 0.5) + 0.12 * med, 0, 1)[..., None]
    img[:] = (rgb(98, 112, 66) * (1 - dry) + rgb(146, 136, 98) * dry) * (1 + 0.06 * med + 0.05 * grain + 0.02 * fine)[
        ..., None
    ]
    m = t == COVER_TYPES.index("crop")
    if m.any():
        g = green[m][:, None]
        row = rgb(72, 100, 50) * (1 - g) + rgb(118, 126, 70) * g
        cover = np.clip(0.45 + 0.5 * g[:, 0] + 0.12 * med[m], 0, 1)
        mix = np.clip(cover - 0.25 + 0.25 * stripes[m] + 0.08 * grain[m], 0, 1)[:, None]
        img[m] = (row * mix + soil * 0.9 * (1 - mix)) * (1 + 0.06 * tone[m] + 0.04 * grain[m])[:, None]
    m = t == COVER_TYPES.index("ploughed")
    if m.any():
        img[m] = soil * (0.8 + 0.08 * tone[m] + 0.06 * stripes[m] + 0.05 * med[m] + 0.04 * grain[m])[:, None]
    m = t == COVER_TYPES.index("coffee")
    if m.any():
        bush = np.clip((stripes[m] - 0.35) * 2.0 + 0.35 * grain[m], 0, 1)[:, None]
        img[m] = rgb(46, 72, 40) * bush * (1 + 0.1 * med[m])[:, None] + soil * 0.85 * (1 - bush)
    m = t == COVER_TYPES.index("settlement")
    if m.any():
        yard = np.clip(0.45 + 0.4 * med[m] + 0.15 * tone[m], 0, 0.9)[:, None]
        img[m] = (soil * 1.08 * yard + img[m] * (1 - yard)) * (1 + 0.04 * grain[m])[:, None]
    m = t == COVER_TYPES.index("bare")
    if m.any():
        img[m] = soil * (1.1 + 0.07 * med[m] + 0.04 * grain[m])[:, None]
    m = t == COVER_TYPES.index("woodland")
    if m.any():
        img[m] = img[m] * 0.88
    # field margins: narrow grassy strips where fields meet; estate tracks between coffee blocks
    edges = cell_edges(par.key)
    field = np.isin(t, [COVER_TYPES.index(k) for k in ("crop", "ploughed", "coffee")])
    margin = ndimage.binary_dilation(edges, iterations=1) & field
    blend(img, rgb(96, 106, 64) * (1 + 0.1 * grain[..., None]), (margin & ~estate).astype(np.float32) * 0.7)
    blend(img, soil * 1.15, (margin & estate).astype(np.float32) * 0.85)
    return img, t, par.key


def _footpaths(shape, roads: list[Road], rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Wandering foot paths from random points towards a road."""
    h, w = shape
    out = []
    for _ in range(n):
        road = roads[int(rng.integers(len(roads)))]
        s = rng.uniform(0.1, 0.9) * road.length_m
        end = road.point_at(s)[0]
        start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        d = np.hypot(*(end - start))
        if d > 500:
            start = end + (start - end) / d * 500
        k = max(int(np.hypot(*(end - start)) / 25), 2)
        ctrl = np.linspace(start, end, k + 1)
        ctrl[1:-1] += rng.normal(0, 12, (k - 1, 2))
        out.append(catmull_rom(ctrl, 2.0))
    return out


ROOFS_KE = (
    ((186, 190, 194), 0.22),  # new galvanised iron
    ((142, 143, 142), 0.24),  # old iron
    ((128, 88, 66), 0.16),  # rusty iron
    ((70, 104, 150), 0.08),  # blue painted iron
    ((142, 58, 48), 0.10),  # maroon iron sheets
    ((66, 112, 92), 0.06),  # green iron sheets
    ((170, 96, 70), 0.08),  # clay tiles
    ((176, 172, 164), 0.06),  # concrete slab
)


def _pick_roof(rng: np.random.Generator, table) -> tuple[np.ndarray, bool]:
    cols = [c for c, _ in table]
    p = np.array([q for _, q in table], float)
    i = int(rng.choice(len(cols), p=p / p.sum()))
    col = rgb(*cols[i]) * (1 + rng.normal(0, 0.06))
    return col.astype(np.float32), i != len(cols) - 1


def _rect_free(occ: np.ndarray, cx: float, cy: float, length: float, width: float, angle: float, margin: float) -> bool:
    """Whether a rotated rectangle (pixels) plus ``margin`` touches no occupied pixel."""
    h, w = occ.shape
    r = 0.5 * np.hypot(length, width) + margin + 1
    x0, x1 = int(cx - r), int(cx + r) + 1
    y0, y1 = int(cy - r), int(cy + r) + 1
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return False
    win = occ[y0:y1, x0:x1]
    if not win.any():
        return True
    yy, xx = np.ogrid[y0:y1, x0:x1]
    yy, xx = yy + 0.5, xx + 0.5
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    inside = (np.abs(u) < length / 2 + margin) & (np.abs(v) < width / 2 + margin)
    return not (win & inside).any()


def _mark_rect(occ: np.ndarray, cx, cy, length, width, angle) -> None:
    h, w = occ.shape
    r = 0.5 * np.hypot(length, width) + 1
    x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
    y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
    yy, xx = _grid(y0, y1, x0, x1)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    occ[y0:y1, x0:x1] |= (np.abs(u) < length / 2) & (np.abs(v) < width / 2)


VEHICLE_COLOURS = (
    ((226, 228, 230), 0.42),  # white
    ((170, 172, 176), 0.2),  # silver
    ((40, 42, 46), 0.12),  # black
    ((150, 40, 36), 0.08),  # red
    ((48, 72, 130), 0.08),  # blue
    ((210, 180, 60), 0.05),  # yellow (matatu livery, school bus)
    ((60, 110, 70), 0.05),  # green
)


def _add_vehicles(obj: Objects, roads: list[Road], rng: np.random.Generator, res: float) -> None:
    """Parked and moving vehicles in the lanes: busier on good roads, rare on poor ones."""
    rate = np.array([1 / 70, 1 / 150, 1 / 320])
    cols = [c for c, _ in VEHICLE_COLOURS]
    p = np.array([q for _, q in VEHICLE_COLOURS])
    for road in roads:
        n = int(rng.poisson(road.length_m * rate[0]))
        s = np.sort(rng.uniform(0, road.length_m, n))
        keep = rng.random(n) < rate[road.surface_at(s)] / rate[0]
        tg = tangents(road.pts)
        for sc in s[keep]:
            i = int(np.clip(np.searchsorted(road.s_m, sc), 0, len(road.pts) - 1))
            side = 1.0 if rng.random() < 0.5 else -1.0
            nrm = np.array([tg[i, 1], -tg[i, 0]]) * side
            kind = rng.random()
            ln, wd = (4.4, 1.8) if kind < 0.7 else ((6.0, 2.2) if kind < 0.9 else (9.0, 2.5))
            off = road.width_m / 4 if road.width_m >= 6.5 else road.width_m / 8 + 0.6
            cx, cy = road.pts[i] + nrm * (off / res)
            col = rgb(*cols[int(rng.choice(len(cols), p=p / p.sum()))]) * (1 + rng.normal(0, 0.04))
            ang = float(satan2(tg[i, 1], tg[i, 0]))
            add_building(
                obj,
                cx,
                cy,
                ln / res,
                wd / res,
                ang,
                1.3 if kind < 0.7 else 2.4,
                col.astype(np.float32),
                res,
                gable=True,
                rise_m=0.25,
            )


def render_roads_scene(
    specs: list[RoadSpec], style: SceneStyle, size: int, res: float, seed: int
) -> tuple[np.ndarray, list[Road]]:
    """Paint a road scene: land cover, foot paths, roads by surface, potholes, houses and trees.

    Args:
        specs: Road layout.
        style: Land-cover mix.
        size: Scene edge in pixels.
        res: Pixel size in metres.
        seed: User seed.

    Returns:
        ``(image (3, H, W) uint8, roads)``.
    """
    shape = (size, size)
    roads = build_roads(specs, size, res, rng_for(seed, "roads", style.name, "network"))
    nz = SceneNoise.make(rng_for(seed, "roads", style.name, "noise"), shape)
    # distance to the nearest road centreline (m), that road's half width and direction
    free = np.ones(shape, bool)
    hw_at = np.zeros(shape, np.float32)
    ang_at = np.zeros(shape, np.float32)
    for road in roads:
        dense = resample(road.pts, 0.35)
        tg = tangents(dense)
        c = np.floor(dense[:, 0]).astype(int)
        r = np.floor(dense[:, 1]).astype(int)
        ok = (c >= 0) & (c < size) & (r >= 0) & (r < size)
        free[r[ok], c[ok]] = False
        hw_at[r[ok], c[ok]] = road.width_m / 2
        ang_at[r[ok], c[ok]] = satan2(tg[ok, 1], tg[ok, 0])
    dist_px, (ri, ci) = ndimage.distance_transform_edt(free, return_indices=True)
    road_dist = (dist_px * res).astype(np.float32)
    road_hw = hw_at[ri, ci]
    road_ang = ang_at[ri, ci]
    del ri, ci
    rng = rng_for(seed, "roads", style.name, "cover")
    img, cover_t, lab = _landcover(shape, style, nz, road_dist, road_ang, rng)
    # foot paths
    paths = _footpaths(shape, roads, rng, int(14 + 16 * style.urban))
    pm = line_mask(shape, paths, 2.2)
    blend(img, rgb(176, 140, 110) * (1 + 0.08 * nz.grain[..., None]), pm * 0.8)
    # roads, minor first so that main roads lie on top at junctions
    rng_r = rng_for(seed, "roads", style.name, "paint")
    occupied = np.zeros(shape, bool)
    for road in sorted(roads, key=lambda r: r.width_m):
        fld = road_field(shape, road, road.width_m / 2 + 4.0)
        if fld is None:
            continue
        foot = paint_road(img, road, fld, nz, rng_r, style.urban)
        occupied[fld.rows, fld.cols] |= foot
    for road in roads:
        paint_potholes(img, road, nz, rng_r)
    # houses
    rng_b = rng_for(seed, "roads", style.name, "buildings")
    obj = Objects.empty(shape)
    occ = ndimage.binary_dilation(occupied, iterations=int(1.5 / res))
    settle = cover_t == COVER_TYPES.index("settlement")
    dens = np.where(settle, 1.0, 0.0) + np.where((road_dist > 6) & (road_dist < 22), 0.35 * style.urban, 0.0)
    dens = dens * (road_dist > road_hw + 2.0)
    roof_tex = 0.05 * nz.med + 0.03 * nz.grain
    n_try = int(size * size * res * res / 90 * (0.6 + style.urban))
    cand = rng_b.uniform(0, size, (n_try, 2))
    keep = rng_b.random(n_try) < dens[cand[:, 1].astype(int), cand[:, 0].astype(int)]
    n_built = 0
    for cx, cy in cand[keep]:
        iy, ix = int(cy), int(cx)
        near = road_dist[iy, ix] < 40
        kind = rng_b.random()
        if kind < 0.45:  # small house / shop
            ln, wd = rng_b.uniform(5, 9), rng_b.uniform(3.5, 6)
        elif kind < 0.8:
            ln, wd = rng_b.uniform(8, 14), rng_b.uniform(6, 9)
        else:  # row of rooms ("plots")
            ln, wd = rng_b.uniform(14, 26), rng_b.uniform(5, 7.5)
        ang = road_ang[iy, ix] + (rng_b.normal(0, 0.06) if near else rng_b.uniform(0, np.pi))
        if rng_b.random() < 0.3:
            ang += np.pi / 2
        L, W = ln / res, wd / res
        if not _rect_free(occ, cx, cy, L, W, ang, 1.2 / res):
            continue
        col, gable = _pick_roof(rng_b, ROOFS_KE)
        eave = rng_b.uniform(2.4, 3.2) if gable else rng_b.choice([3.0, 6.0, 9.0])
        add_building(
            obj,
            cx,
            cy,
            L,
            W,
            ang,
            eave,
            col,
            res,
            gable=gable,
            rise_m=wd / 2 * rng_b.uniform(0.3, 0.5),
            texture=roof_tex,
        )
        _mark_rect(occ, cx, cy, L, W, ang)
        n_built += 1
    _add_vehicles(obj, roads, rng_for(seed, "roads", style.name, "vehicles"), res)
    # trees: woodland dense, settlements and margins scattered, roadside rows on some good roads
    rng_t = rng_for(seed, "roads", style.name, "trees")
    lump = noise(rng_t, shape, 3.0, 2)
    wood = cover_t == COVER_TYPES.index("woodland")
    edges = cell_edges(lab)
    tdens = (
        0.9 * wood
        + 0.10 * settle
        + 0.5 * edges
        + 0.03 * (cover_t == COVER_TYPES.index("grass"))
        + 0.05 * np.clip(nz.large - 0.8, 0, 1)
    )
    n_try = int(size * size * res * res / 25)
    cand = rng_t.uniform(0, size, (n_try, 2))
    keep = rng_t.random(n_try) < tdens[cand[:, 1].astype(int), cand[:, 0].astype(int)]
    for cx, cy in cand[keep]:
        iy, ix = int(cy), int(cx)
        rad_m = rng_t.uniform(1.5, 5.5) if not wood[iy, ix] else rng_t.uniform(2.0, 4.5)
        if road_dist[iy, ix] < road_hw[iy, ix] + 1.0 + rad_m or occ[iy, ix]:
            continue
        leaf = rgb(46, 70, 34) if rng_t.random() < 0.6 else rgb(72, 88, 56)
        leaf = leaf * (1 + rng_t.normal(0, 0.1))
        add_tree(obj, cx, cy, rad_m / res, rng_t.uniform(4, 14), leaf.astype(np.float32), lump, res)
    composite_objects(img, obj, nz.fine, nz.grain, res)
    haze = rgb(150, 160, 175)
    out = finish(img, rng_for(seed, "roads", style.name, "sensor"), haze=haze)
    return out, roads


# --------------------------------------------------------------------------------------------- village scenes
@dataclass
class VillageLook:
    """How one village is drawn (all driven by its latent indicator levels in :mod:`tlgeo.sample`).

    Attributes:
        cx: Centre column (pixels).
        cy: Centre row (pixels).
        radius_m: Radius of the built-up area.
        n_houses: Houses to place (fewer if space runs out).
        house_size_m: Typical house edge (m); wealthier villages build larger houses.
        roof_p: Probabilities of roof materials: thatch, clay tile, tin/asbestos, concrete.
        storeys_p: Probability that a concrete house has two or three storeys.
        tree_density: Trees inside and around the village (0–1).
        pond_m: Pond diameter (0 for none).
        water_tank: An overhead water tank.
        school: A school building with a playground.
        paved: Paved access road (else an earth track).
        haystacks: Straw and dung-cake stacks to draw.
        toilet_frac: Share of houses with a small annex (latrine block).
        wealth: Latent wealth score (for small touches such as black roof tanks on concrete houses).
    """

    cx: float
    cy: float
    radius_m: float
    n_houses: int
    house_size_m: float
    roof_p: tuple[float, float, float, float]
    storeys_p: float
    tree_density: float
    pond_m: float
    water_tank: bool
    school: bool
    paved: bool
    haystacks: int
    toilet_frac: float
    wealth: float


ROOFS_IN = {
    "thatch": ((118, 102, 76), (96, 86, 66), (136, 118, 88)),
    "tile": ((146, 88, 66), (128, 82, 66), (156, 104, 80)),
    "tin": ((168, 172, 176), (148, 150, 152), (120, 126, 134)),
    "concrete": ((206, 204, 196), (214, 184, 176), (208, 200, 162), (186, 188, 186), (196, 206, 214)),
}


@dataclass(frozen=True)
class VillageScene:
    """A village scene: name, UTM 45N upper-left corner, river or stream, main road."""

    name: str
    origin: tuple[float, float]
    river_ctrl: tuple[tuple[float, float], ...]
    river_width_m: float
    road_ctrl: tuple[tuple[float, float], ...]


def river_mask(shape: tuple[int, int], ctrl: np.ndarray, width_m: float, res: float, rng: np.random.Generator):
    """Water, sand and floodplain weights (0–1) for a meandering river along ``ctrl`` (pixels)."""
    pts = catmull_rom(ctrl, 1.0)
    road = Road("river", pts, width_m, [(1e9, "good")], False, res)
    fld = road_field(shape, road, width_m * 2.5 + 40)
    water = np.zeros(shape, np.float32)
    sand = np.zeros(shape, np.float32)
    plain = np.zeros(shape, np.float32)
    if fld is None:
        return water, sand, plain
    n = int(road.length_m / 2) + 2
    wmod = width_m / 2 * (1 + 0.25 * noise1d(rng, n, 40))
    side = noise1d(rng, n, 60)
    idx = np.clip((fld.ch / 2).astype(int), 0, n - 1)
    hw = wmod[idx]
    a = np.abs(fld.off)
    sl = (fld.rows, fld.cols)
    water[sl] = np.clip((hw - a) / res + 0.5, 0, 1)
    # sand bars on the inner bank (side chosen by a slow noise), floodplain grass beyond
    bar = np.clip(side[idx] * np.sign(fld.off), 0, 1) * width_m * 0.8
    sand[sl] = np.clip((hw + bar + 4 - a) / res + 0.5, 0, 1) * (1 - water[sl])
    plain[sl] = np.clip((hw + width_m * 1.5 + 30 - a) / 15, 0, 1)
    return water, sand, plain


def render_villages_scene(
    scene: VillageScene, looks: list[VillageLook], size: int, res: float, seed: int
) -> np.ndarray:
    """Paint a Bihar scene: strip fields of wheat and mustard, a river or stream, roads, villages and orchards.

    Returns:
        The image ``(3, H, W)`` uint8.
    """
    shape = (size, size)
    nz = SceneNoise.make(rng_for(seed, "villages", scene.name, "noise"), shape)
    rng = rng_for(seed, "villages", scene.name, "cover")
    # ---- fields
    par = make_parcels(shape, rng, 260.0, (7.0, 22.0), (14.0, 50.0))
    salt = int(rng.integers(2**62))
    u1 = hash01(par.key, salt)
    crops = (
        np.array(
            [
                (98, 124, 60),  # wheat
                (116, 138, 66),  # wheat, lusher
                (84, 110, 56),  # wheat, dark
                (166, 160, 84),  # mustard in flower
                (130, 130, 82),  # lentil / gram
                (160, 148, 118),  # fallow / harvested
                (132, 118, 94),  # ploughed
                (108, 120, 74),  # maize / fodder
            ],
            np.float32,
        )
        / 255.0
    )
    p = np.cumsum([0.24, 0.17, 0.13, 0.06, 0.1, 0.12, 0.08, 0.1])
    kind = np.minimum(np.searchsorted(p / p[-1], u1), len(crops) - 1)
    tone = hash01(par.key, salt + 1) * 2 - 1
    img = crops[kind] * (1 + 0.05 * tone + 0.05 * nz.med + 0.04 * nz.grain + 0.02 * nz.fine)[..., None]
    stripes = 0.5 + 0.5 * np.sin(par.v * (2 * np.pi / 2.6))
    img *= (1 + 0.03 * (stripes - 0.5) * (kind != 5))[..., None]
    # lighter bunds between plots
    edges = cell_edges(par.key)
    blend(img, rgb(168, 158, 128) * (1 + 0.05 * nz.grain[..., None]), edges.astype(np.float32) * 0.55)
    # large-scale tone (soil moisture, haze) and wet depressions (chaur)
    img *= (1 + 0.05 * nz.large)[..., None]
    wet = np.clip((noise(rng, shape, 400.0, 2) - 1.3) * 1.5, 0, 1)
    blend(img, rgb(76, 100, 66) * (1 + 0.12 * nz.med[..., None] + 0.06 * nz.grain[..., None]), wet * 0.35)
    # ---- river / stream
    water, sand, plain = river_mask(shape, np.array(scene.river_ctrl) * size, scene.river_width_m, res, rng)
    blend(img, rgb(122, 134, 90) * (1 + 0.08 * nz.med[..., None]), plain * 0.6)
    blend(img, rgb(206, 196, 170) * (1 + 0.04 * nz.grain[..., None]), sand)
    water_col = rgb(62, 84, 88) * (1 + 0.05 * nz.large[..., None] + 0.03 * nz.med[..., None])
    blend(img, water_col, water)
    # ---- objects
    obj = Objects.empty(shape)
    occ = (water > 0.2) | (sand > 0.5)
    rng_v = rng_for(seed, "villages", scene.name, "villages")
    lump = noise(rng_v, shape, 2.0, 1)
    # main road: tarmac with trees along it
    road_pts = catmull_rom(np.array(scene.road_ctrl) * size, 0.5)
    main = Road("main", road_pts, 7.0, [(1e9, "good")], True, res)
    fld = road_field(shape, main, 12.0)
    if fld is not None:
        a = np.abs(fld.off)
        sl = (fld.rows, fld.cols)
        blend(img, rgb(150, 138, 112), np.clip((6.0 - a) / res + 0.5, 0, 1) * 0.8, sl)
        blend(img, rgb(74, 76, 80) * (1 + 0.04 * nz.grain[sl][..., None]), np.clip((3.5 - a) / res + 0.5, 0, 1), sl)
        occ[sl] |= a < 7.0
    tang = tangents(road_pts)
    nrm = left_normals(tang)
    for k in range(0, len(road_pts), int(rng_v.integers(14, 22))):
        if rng_v.random() < 0.55:
            side = 1 if rng_v.random() < 0.5 else -1
            cx, cy = road_pts[k] + nrm[k] * side * (8.5 / res)
            if 0 <= cx < size and 0 <= cy < size and not occ[int(cy), int(cx)]:
                add_tree(obj, cx, cy, rng_v.uniform(2.5, 4.5) / res, rng_v.uniform(8, 14), rgb(50, 74, 40), lump, res)
    # access roads: each village to the nearest point of the network (main road or an earlier village)
    order = sorted(range(len(looks)), key=lambda i: _dist_to(road_pts, looks[i].cx, looks[i].cy))
    network = [road_pts]
    tracks: list[tuple[np.ndarray, bool]] = []
    for i in order:
        lk = looks[i]
        best, best_d = None, np.inf
        for line in network:
            d = np.hypot(line[:, 0] - lk.cx, line[:, 1] - lk.cy)
            j = int(np.argmin(d))
            if d[j] < best_d:
                best, best_d = line[j], d[j]
        if best is None or best_d < 5:
            continue
        start = np.array([lk.cx, lk.cy])
        k = max(int(best_d / 40), 1)
        ctrl = np.linspace(start, best, k + 1)
        if k > 1:
            ctrl[1:-1] += rng_v.normal(0, 6, (k - 1, 2))
        line = catmull_rom(ctrl, 1.0)
        tracks.append((line, lk.paved))
        network.append(line)
    m_dirt = line_mask(shape, [ln for ln, paved in tracks if not paved], 3.0 / res)
    m_paved = line_mask(shape, [ln for ln, paved in tracks if paved], 4.0 / res)
    blend(img, rgb(176, 164, 134) * (1 + 0.05 * nz.grain[..., None]), m_dirt * 0.9)
    blend(img, rgb(96, 96, 98) * (1 + 0.04 * nz.grain[..., None]), m_paved)
    occ |= (m_dirt > 0.3) | (m_paved > 0.3)
    # ---- villages
    for lk in looks:
        _paint_village(img, obj, occ, lk, nz, rng_v, res, lump)
    # ---- orchards (mango / litchi) in a few field blocks, scattered trees and bamboo clumps
    n_orch = int(rng_v.integers(5, 9))
    for _ in range(n_orch):
        cx, cy = rng_v.uniform(60, size - 60, 2)
        if occ[int(cy), int(cx)]:
            continue
        ang = rng_v.uniform(0, np.pi)
        nr, nc = int(rng_v.integers(5, 10)), int(rng_v.integers(5, 12))
        sp = rng_v.uniform(9, 12) / res
        for r_ in range(nr):
            for c_ in range(nc):
                u, v = (c_ - nc / 2) * sp, (r_ - nr / 2) * sp
                x = cx + u * np.cos(ang) - v * np.sin(ang)
                y = cy + u * np.sin(ang) + v * np.cos(ang)
                if 0 <= x < size and 0 <= y < size and not occ[int(y), int(x)] and rng_v.random() < 0.93:
                    add_tree(obj, x, y, rng_v.uniform(3.0, 4.2) / res, rng_v.uniform(6, 9), rgb(44, 68, 36), lump, res)
    n_scatter = int(size * size * res * res / 9000)
    for x, y in rng_v.uniform(0, size, (n_scatter, 2)):
        if not occ[int(y), int(x)] and water[int(y), int(x)] < 0.1:
            add_tree(
                obj,
                x,
                y,
                rng_v.uniform(2.0, 5.0) / res,
                rng_v.uniform(6, 13),
                rgb(54, 76, 42) * rng_v.uniform(0.85, 1.15),
                lump,
                res,
            )
    composite_objects(img, obj, nz.fine, nz.grain, res, shadow_strength=0.55)
    haze = rgb(178, 182, 186)
    img = img * 0.9 + haze * 0.1
    return finish(img, rng_for(seed, "villages", scene.name, "sensor"), blur=0.5, haze=haze, noise_dn=1.4)


def _dist_to(line: np.ndarray, x: float, y: float) -> float:
    return float(np.min(np.hypot(line[:, 0] - x, line[:, 1] - y)))


def _paint_village(
    img: np.ndarray,
    obj: Objects,
    occ: np.ndarray,
    lk: VillageLook,
    nz: SceneNoise,
    rng: np.random.Generator,
    res: float,
    lump: np.ndarray,
) -> None:
    """Village ground, lanes, pond, school, houses, trees, stacks and water tank."""
    h, w = occ.shape
    R = lk.radius_m / res
    r = int(R * 1.6) + 4
    x0, x1 = max(int(lk.cx - r), 0), min(int(lk.cx + r), w)
    y0, y1 = max(int(lk.cy - r), 0), min(int(lk.cy + r), h)
    sl = (slice(y0, y1), slice(x0, x1))
    yy, xx = _grid(y0, y1, x0, x1)
    axis = rng.uniform(0, np.pi)
    dx, dy = xx - lk.cx, yy - lk.cy
    u = dx * np.cos(axis) + dy * np.sin(axis)
    v = -dx * np.sin(axis) + dy * np.cos(axis)
    elong = rng.uniform(1.0, 1.6)
    d = np.hypot(u / elong, v * np.sqrt(np.sqrt(elong))) / R
    d = d * (1 + 0.3 * nz.med[sl] + 0.1 * nz.grain[sl])
    ground = np.clip((1.1 - d) * 4, 0, 1)
    blend(img, rgb(150, 138, 112) * (1 + 0.06 * nz.grain[sl][..., None]), ground * 0.85, sl)
    # lanes: a few lines through the centre
    lanes = []
    for k in range(int(rng.integers(2, 4))):
        ang = axis + k * np.pi / 2 + rng.normal(0, 0.15)
        p0 = np.array([lk.cx, lk.cy]) - np.array([np.cos(ang), np.sin(ang)]) * R * 0.9
        p1 = np.array([lk.cx, lk.cy]) + np.array([np.cos(ang), np.sin(ang)]) * R * 0.9
        lanes.append(np.linspace(p0, p1, 20))
    lane_m = line_mask((y1 - y0, x1 - x0), lanes, 2.5 / res, origin=(x0, y0))
    lane_col = rgb(112, 108, 104) if lk.paved else rgb(172, 160, 132)
    blend(img, lane_col, lane_m * 0.8, sl)
    occ_v = occ[sl]
    occ_v |= lane_m > 0.4
    # pond (pokhar) at the edge of the village
    if lk.pond_m > 0:
        ang = rng.uniform(0, 2 * np.pi)
        pc = np.array([lk.cx, lk.cy]) + np.array([np.cos(ang), np.sin(ang)]) * (R * 0.85 + lk.pond_m / res / 2)
        pr = lk.pond_m / res / 2
        dd = np.hypot((xx - pc[0]) / 1.2, yy - pc[1]) / pr * (1 + 0.12 * nz.med[sl])
        bank = np.clip((1.35 - dd) * 4, 0, 1)
        blend(img, rgb(132, 124, 98), bank * 0.8, sl)
        water = np.clip((1.0 - dd) * 5, 0, 1)
        scum = np.clip(0.4 + 0.5 * nz.med[sl], 0, 1)[..., None]
        col = rgb(52, 74, 62) * (1 - scum) + rgb(72, 98, 60) * scum
        blend(img, col, water, sl)
        occ_v |= bank > 0.3
    # school with playground
    if lk.school:
        ang = axis + rng.choice([0.0, np.pi / 2])
        off = rng.uniform(0.4, 0.8) * R
        sc = np.array([lk.cx, lk.cy]) + np.array([np.cos(ang + 1.2), np.sin(ang + 1.2)]) * off
        pu = (xx - sc[0]) * np.cos(ang) + (yy - sc[1]) * np.sin(ang)
        pv = -(xx - sc[0]) * np.sin(ang) + (yy - sc[1]) * np.cos(ang)
        ground_m = (np.abs(pu) < 22 / res) & (np.abs(pv) < 16 / res)
        blend(img, rgb(186, 170, 136), ground_m.astype(np.float32) * 0.9, sl)
        occ_v |= ground_m
        bx = sc + np.array([-np.sin(ang), np.cos(ang)]) * (-16 / res - 4 / res)
        add_building(obj, bx[0], bx[1], 34 / res, 8 / res, ang, 3.5, rgb(206, 168, 150), res, gable=False)
        _mark_rect(occ, bx[0], bx[1], 34 / res, 8 / res, ang)
    # houses
    sizes = lk.house_size_m
    mats = ("thatch", "tile", "tin", "concrete")
    placed = 0
    tries = 0
    n_tola = int(rng.integers(2, 5))
    tola = np.array([lk.cx, lk.cy]) + rng.normal(0, R * 0.35, (n_tola, 2))
    tola[0] = (lk.cx, lk.cy)
    while placed < lk.n_houses and tries < lk.n_houses * 5:
        tries += 1
        k = int(rng.integers(n_tola))
        rr = R * 0.55 * np.sqrt(rng.random()) * (1.0 if k else 1.5)
        th = rng.uniform(0, 2 * np.pi)
        cx = tola[k, 0] + rr * np.cos(th) * np.sqrt(elong)
        cy = tola[k, 1] + rr * np.sin(th)
        if np.hypot(cx - lk.cx, cy - lk.cy) > R * 1.1:
            continue
        mat = mats[int(rng.choice(4, p=np.array(lk.roof_p) / sum(lk.roof_p)))]
        ln = sizes * rng.uniform(0.8, 1.4) * (1.15 if mat == "concrete" else 1.0)
        wd = sizes * rng.uniform(0.55, 0.85)
        ang = axis + rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.08)
        L, W = ln / res, wd / res
        if not (0 <= cx < w and 0 <= cy < h) or not _rect_free(occ, cx, cy, L, W, ang, 0.45):
            continue
        palette = ROOFS_IN[mat]
        col = rgb(*palette[int(rng.integers(len(palette)))]) * (1 + rng.normal(0, 0.05))
        if mat == "concrete":
            storeys = 1 + int(rng.random() < lk.storeys_p) + int(rng.random() < lk.storeys_p * 0.3)
            add_building(obj, cx, cy, L, W, ang, 3.0 * storeys, col.astype(np.float32), res, gable=False)
            if rng.random() < 0.35 + 0.3 * np.tanh(lk.wealth):  # black plastic water tank on the roof
                add_tree(
                    obj,
                    cx + rng.uniform(-L / 4, L / 4),
                    cy + rng.uniform(-W / 4, W / 4),
                    0.8 / res,
                    3.0 * storeys + 1.2,
                    rgb(30, 30, 32),
                    None,
                    res,
                    kind=1,
                )
        else:
            add_building(
                obj,
                cx,
                cy,
                L,
                W,
                ang,
                2.4,
                col.astype(np.float32),
                res,
                gable=True,
                rise_m=wd / 2 * (0.6 if mat == "thatch" else 0.35),
            )
        _mark_rect(occ, cx, cy, L, W, ang)
        if rng.random() < lk.toilet_frac:
            tx = cx + np.cos(ang) * (L / 2 + 1.2 / res)
            ty = cy + np.sin(ang) * (L / 2 + 1.2 / res)
            if _rect_free(occ, tx, ty, 2.0 / res, 1.6 / res, ang, 0.2):
                add_building(obj, tx, ty, 2.2 / res, 1.8 / res, ang, 2.2, rgb(190, 190, 186), res, gable=False)
                _mark_rect(occ, tx, ty, 2.2 / res, 1.8 / res, ang)
        placed += 1
    # trees (bamboo clumps, mango, neem) inside and around
    n_trees = int(lk.tree_density * (R * res) ** 2 / 26)
    for _ in range(n_trees):
        rr = R * (0.2 + 1.2 * np.sqrt(rng.random()))
        th = rng.uniform(0, 2 * np.pi)
        cx, cy = lk.cx + rr * np.cos(th), lk.cy + rr * np.sin(th)
        if not (0 <= cx < w and 0 <= cy < h) or occ[int(cy), int(cx)]:
            continue
        leaf = rgb(44, 70, 36) if rng.random() < 0.6 else rgb(70, 92, 48)
        add_tree(obj, cx, cy, rng.uniform(2.5, 5.5) / res, rng.uniform(6, 12), leaf * rng.uniform(0.9, 1.1), lump, res)
    # straw and dung-cake stacks
    for _ in range(lk.haystacks):
        rr = R * (0.5 + 0.6 * np.sqrt(rng.random()))
        th = rng.uniform(0, 2 * np.pi)
        cx, cy = lk.cx + rr * np.cos(th), lk.cy + rr * np.sin(th)
        if 0 <= cx < w and 0 <= cy < h and not occ[int(cy), int(cx)]:
            add_tree(
                obj, cx, cy, rng.uniform(1.2, 2.0) / res, rng.uniform(2.0, 3.5), rgb(206, 186, 128), None, res, kind=1
            )
    # overhead water tank
    if lk.water_tank:
        ang = rng.uniform(0, 2 * np.pi)
        cx, cy = lk.cx + np.cos(ang) * R * 0.3, lk.cy + np.sin(ang) * R * 0.3
        add_tree(obj, cx, cy, 4.0 / res, 16.0, rgb(210, 210, 204), None, res, kind=1)
