"""Road quality from phone vibration: raw phone logs or RoadRunner segment logs → roughness segments → tile labels.

Two log formats are read, told apart by their header (``.csv`` or ``.csv.gz``):

* **Raw phone log** — ``time`` (seconds, epoch seconds/milliseconds, or ISO 8601), ``lat``, ``lon``, ``acc_z`` or
  ``acc_x, acc_y, acc_z`` (m/s², gravity present; values in g are detected and converted), optional ``speed``
  (m/s) and ``device_id``. The accelerometer runs at 20–200 Hz; GPS fixes (rows with ``lat``/``lon`` filled,
  typically 1 Hz) are interpolated linearly onto the accelerometer clock.
* **RoadRunner segment log** — ``id, line, distance, iriXp, iriYp, iriZp, iriX, iriY, iriZ, filename, time,
  phoneID``, one row per 10–70 m segment; ``line`` is a GeoJSON-like mapping in Python quoting (strict JSON and WKT
  are accepted too). The roughness is the app's own ``sqrt(iriXp² + iriYp² + iriZp²)`` (``iriXYZp``;
  ``RoadLabelConfig.roadrunner_column`` chooses ``iriZp``, ``iriXYZ`` — the unprimed magnitude — ``iriZ`` or any
  column). Real exports hold phones whose columns are dead (0 or one constant on ≥ 99 % of their rows): per device,
  a definition with a dead column gives way to the next of ``iriXYZp, iriZp, iriXYZ, iriZ`` (one report line per
  device). Rows without ``phoneID`` join the only phone of their recording (``filename``) when there is one.

Processing of a raw log (all vectorised with numpy/scipy; the only Python loops run over files, continuous
recording runs and devices, never over samples or segments):

1. **Vertical acceleration.** Gravity is estimated per axis by a zero-phase low-pass filter (Butterworth, 0.3 Hz);
   the linear acceleration ``a − g`` is projected onto the unit gravity vector ``g/|g|``. A phone lying in any
   orientation therefore gives the same vertical signal. With ``acc_z`` only, ``acc_z`` minus its low-pass is used
   (the phone is assumed roughly flat; a fixed tilt only scales the gain, which per-device calibration removes).
2. **Band-pass.** The vertical signal is band-passed between :data:`BAND_LOW_HZ` (0.5 Hz) and
   ``min(``:data:`BAND_HIGH_HZ` ``(20 Hz), 0.45 × sampling rate)`` (zero-phase Butterworth, order 4).
3. **Speed and distance.** Speed comes from the ``speed`` column (m/s) when present and consistent with the GPS
   track, otherwise from the distance between consecutive fixes. A lone fix implying more than
   ``max_gps_speed_kmh`` (there and back) is dropped; a lasting jump splits the drive. Samples slower than
   ``min_speed_kmh`` are dropped; the remaining stretches (also split at accelerometer gaps over
   :data:`ACC_GAP_S`) are cut every ``segment_length_m`` metres travelled (a last piece shorter than half a segment
   is dropped).
4. **Roughness per segment**, two indices:

   * ``rms_acc`` (m/s²) — root mean square of the band-passed vertical acceleration over the segment's samples.
   * ``iri_proxy`` (m/km) — the accumulated absolute vertical *displacement* of the phone per kilometre travelled:
     the band-passed vertical acceleration is integrated once to vertical velocity (drift removed by a 0.5 Hz
     zero-phase high-pass), and ``Σ|v|·dt`` over the segment (metres moved up and down) is divided by the segment
     length in km. Like the IRI it is a displacement per distance (m/km) and so is already speed-normalised, and
     it grows with roughness; unlike the IRI it measures the car body and phone mount, not a standard quarter-car
     suspension at 80 km/h, so it is **not a calibrated IRI**: values depend on the vehicle, the mount and (less
     than RMS does) the speed. For a vertical sine of amplitude ``A`` and frequency ``f`` driven at ``v`` m/s,
     ``rms_acc = A/√2`` and ``iri_proxy = 1000 · (2/π) · A / (2π f) / v``.

   ``RoadLabelConfig.roughness`` picks the index used for classes (default ``iri_proxy``).
5. **Geometry.** Each segment is a LineString (EPSG:4326) through its interpolated start, the GPS fixes inside it
   and its interpolated end.

**Classes.** With absolute ``thresholds`` the roughness is used as it is. Otherwise (default) each phone is
calibrated (:func:`device_gains`): where phones drove the same stretches (segments within ``shared_road_m`` metres
and ``shared_heading_deg`` of each other, found with a spatial index in the data's UTM zone), a phone's *gain* is
the median ratio of its roughness to an already calibrated phone's on those stretches, chained from the reference
phone (the one with the most shared stretches) — a robust estimate that does not care which roads each phone drove.
Phones without enough shared stretches fall back to their median roughness over the calibrated phones' (which
assumes a similar mix of roads: a phone that drove only poor roads would be scaled down); RoadRunner devices
without phoneID that are too small for either get the pooled (median) gain. The calibrated roughness is
``roughness_raw / gain`` and class boundaries are the ``quantiles`` (default equal shares) of the calibrated values
of all phones pooled. For one phone this is exactly per-device quantiles; two phones with different gain on the
same roads get the same classes. The boundaries in each phone's raw units (calibrated boundaries × gain) and the
method of each gain are returned in ``bins``. Other phones with fewer than ``min_device_segments`` usable segments
stay unclassified (the report gives their usable count).

**Tile labels.** The calibrated roughness of unflagged segments is averaged over each tile, weighted by the length
of segment inside the tile (a spatial-index join, :meth:`geopandas.GeoDataFrame.sindex`), then classified with the
same boundaries. Tiles crossed by less than ``min_tile_length_m`` of driving stay unlabelled (``-1``).

**Flags.** Segments stretched by GPS dropouts (longer than ``max_segment_factor × segment_length_m``, RoadRunner
``distance`` disagreeing with the geometry by more than that factor, or a raw-log GPS gap over
:data:`GPS_GAP_S` seconds) are kept in the output with ``flagged=True`` and a ``flag_reason``, but never used for
classes or tile labels. Everything dropped, flagged or guessed is counted in the report.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import signal

from tlgeo.config import RoadLabelConfig, TaskSettings
from tlgeo.errors import ConfigError, DataFileError, LabelError
from tlgeo.labels._common import (
    boxes_intersect,
    check_lat_lon,
    delimiter_note,
    find_columns,
    fmt_bounds,
    haversine_m,
    id_list,
    iso_utc,
    line_lengths_m,
    missing_columns_error,
    numeric_column,
    plural,
    read_table,
    swapped_bounds,
)
from tlgeo.schema import ROAD_TARGET
from tlgeo.taskdata import TaskData

#: Lower edge of the roughness band (Hz).
BAND_LOW_HZ = 0.5
#: Upper edge of the roughness band (Hz), capped at 0.45 × the sampling rate.
BAND_HIGH_HZ = 20.0
#: Cut-off of the low-pass filter estimating gravity (Hz).
GRAVITY_CUTOFF_HZ = 0.3
#: A raw-log segment spanning a GPS gap longer than this (s) is flagged.
GPS_GAP_S = 5.0
#: Gaps in the accelerometer clock longer than this (s) split a log into separately filtered runs.
ACC_GAP_S = 0.5
#: Lowest accepted accelerometer rate (Hz).
MIN_RATE_HZ = 15.0
STANDARD_GRAVITY = 9.80665

SEGMENT_COLUMNS = [
    "segment_id",
    "device_id",
    "source_file",
    "source_format",
    "index_name",
    "roughness_raw",
    "gain",
    "roughness",
    "rms_acc",
    "iri_proxy",
    "speed_kmh",
    "length_m",
    "distance_m",
    "duration_s",
    "n_samples",
    "start_time",
    "class_index",
    "label",
    "flagged",
    "flag_reason",
    "geometry",
]

PHONE_ALIASES = {
    "time": ("time", "timestamp", "datetime", "t"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "acc_x": ("acc_x", "accx", "ax", "accel_x"),
    "acc_y": ("acc_y", "accy", "ay", "accel_y"),
    "acc_z": ("acc_z", "accz", "az", "accel_z"),
    "speed": ("speed", "speed_mps", "speed_ms"),
    "device": ("device_id", "device", "phoneid", "phone_id"),
}
ROADRUNNER_ALIASES = {
    "id": ("id",),
    "line": ("line",),
    "distance": ("distance",),
    "filename": ("filename",),
    "time": ("time",),
    "phone": ("phoneid", "phone_id"),
}
PHONE_EXPECTED = ["time", "lat", "lon", "acc_z (or acc_x, acc_y, acc_z)", "optional speed, device_id"]
ROADRUNNER_EXPECTED = [
    "id",
    "line",
    "distance",
    "iriXp, iriYp, iriZp (or iriX, iriY, iriZ)",
    "filename",
    "time",
    "phoneID",
]
#: RoadRunner roughness definitions (``RoadLabelConfig.roadrunner_column``): name → columns; several columns give
#: their Euclidean magnitude. ``iriXYZp`` is the app's own (``Road_Qualification.py``). The order is the fallback
#: order when a device's columns are dead.
ROADRUNNER_DEFINITIONS = {
    "iriXYZp": ("iriXp", "iriYp", "iriZp"),
    "iriZp": ("iriZp",),
    "iriXYZ": ("iriX", "iriY", "iriZ"),
    "iriZ": ("iriZ",),
}
#: A RoadRunner column is dead for a device when one value (or emptiness) fills at least this share of its rows.
DEAD_COLUMN_SHARE = 0.99
#: Devices with fewer rows are not tested for dead columns (unless every value is empty).
DEAD_COLUMN_MIN_ROWS = 10
_DATE_SUFFIX = re.compile(r"[_-](?:\d{8}|\d{4}-\d{2}-\d{2})(?:[_-]?\d{4,6})?$")


# --------------------------------------------------------------------------------------------- signal processing
def _filter(kind: str, cutoff: float | tuple[float, float], fs: float, order: int) -> np.ndarray:
    return signal.butter(order, cutoff, btype=kind, fs=fs, output="sos")


def _filtfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    padlen = min(x.shape[0] - 1, 3 * (2 * len(sos) + 1) * 8)
    return signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)


def vertical_acceleration(acc: np.ndarray, fs: float, *, gravity_cutoff_hz: float = GRAVITY_CUTOFF_HZ) -> np.ndarray:
    """Gravity-free acceleration along the vertical, for a phone in any orientation.

    Args:
        acc: ``(n, 3)`` accelerations in m/s² with gravity present, or ``(n,)`` / ``(n, 1)`` vertical axis only.
        fs: Sampling rate (Hz).
        gravity_cutoff_hz: Cut-off of the low-pass gravity estimate.

    Returns:
        ``(n,)`` vertical acceleration in m/s² (gravity removed; slow trends below the cut-off removed too).
    """
    acc = np.asarray(acc, dtype="float64")
    if acc.ndim == 1:
        acc = acc[:, None]
    gravity = _filtfilt(_filter("lowpass", gravity_cutoff_hz, fs, 2), acc)
    linear = acc - gravity
    if acc.shape[1] == 1:
        return linear[:, 0]
    norm = np.linalg.norm(gravity, axis=1, keepdims=True)
    unit = gravity / np.where(norm > 0, norm, 1.0)
    return np.einsum("ij,ij->i", linear, unit)


def roughness_band(fs: float) -> tuple[float, float]:
    """The band (Hz) used for roughness at sampling rate ``fs``."""
    return BAND_LOW_HZ, min(BAND_HIGH_HZ, 0.45 * fs)


def _band_and_velocity(a_vert: np.ndarray, t: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Band-passed vertical acceleration and the vertical velocity obtained from it (drift removed)."""
    low, high = roughness_band(fs)
    a = _filtfilt(_filter("bandpass", (low, high), fs, 4), a_vert)
    dt = np.diff(t, append=t[-1] + 1.0 / fs)
    dt = np.clip(dt, 0.0, 2.0 / fs)
    vel = np.cumsum(a * dt)
    vel = _filtfilt(_filter("highpass", BAND_LOW_HZ, fs, 2), vel)
    return a, vel


# --------------------------------------------------------------------------------------------- reading logs
def detect_log_format(columns: Iterable[str]) -> str | None:
    """``"roadrunner"`` or ``"phone"`` from a header's column names, ``None`` if it is neither."""
    cols = {str(c).strip().lower() for c in columns}
    if "line" in cols and ({"iriz", "irizp", "distance"} & cols):
        return "roadrunner"
    found = find_columns(cols, PHONE_ALIASES)
    if found["acc_z"] and found["time"]:
        return "phone"
    return None


def _device_from_name(name: str) -> str:
    stem = name
    for suffix in (".gz", ".csv"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return _DATE_SUFFIX.sub("", stem) or stem


def _parse_time(series: pd.Series, where: str, path: Path | None) -> tuple[np.ndarray, bool, list[str]]:
    """Seconds (float, NaN where unreadable), whether they are epoch seconds, and report lines."""
    notes: list[str] = []
    if pd.api.types.is_numeric_dtype(series.dtype):
        t = series.to_numpy(dtype="float64", na_value=np.nan)
    else:
        num = pd.to_numeric(series, errors="coerce")
        if num.notna().sum() >= 0.5 * series.notna().sum() and num.notna().any():
            t = num.to_numpy(dtype="float64", na_value=np.nan)
        else:
            dt = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
            if dt.notna().sum() < 0.5 * max(1, int(series.notna().sum())):
                example = series.dropna().astype(str).iloc[0] if series.notna().any() else ""
                raise LabelError(
                    f"{where}: time values such as {example!r} are neither seconds nor ISO 8601 times",
                    hint="Write time as seconds (e.g. 1718000000.25) or ISO 8601 (2024-06-10T08:30:00.250Z).",
                    path=path,
                )
            t = ((dt - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(
                dtype="float64", na_value=np.nan
            )
            return t, True, notes
    t = t.astype("float64", copy=True)
    t[~np.isfinite(t)] = np.nan
    med = np.nanmedian(t) if np.isfinite(t).any() else np.nan
    if med > 1e11:  # epoch milliseconds (seconds this large would be after the year 5000)
        t = t / 1000.0
        notes.append("time read as epoch milliseconds")
        med /= 1000.0
    return t, bool(med > 1e8), notes


def _empty_segments() -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SEGMENT_COLUMNS if c != "geometry"})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def _segment_frame(data: dict, geoms: np.ndarray) -> gpd.GeoDataFrame:
    n = len(geoms)
    base: dict = {c: np.full(n, np.nan) for c in SEGMENT_COLUMNS if c != "geometry"}
    base.update(
        {
            "gain": np.ones(n),
            "class_index": np.full(n, -1, dtype="int64"),
            "label": np.full(n, None, dtype=object),
            "flagged": np.zeros(n, dtype=bool),
            "flag_reason": np.full(n, "", dtype=object),
            "start_time": np.full(n, None, dtype=object),
            "n_samples": np.zeros(n, dtype="int64"),
        }
    )
    base.update(data)
    frame = pd.DataFrame({c: base[c] for c in SEGMENT_COLUMNS if c != "geometry"})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def phone_log_segments(
    data: str | Path | pd.DataFrame,
    config: RoadLabelConfig | None = None,
    *,
    device_id: str | None = None,
    source: str | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Cut one raw phone log into road segments with their roughness (not yet classified).

    Args:
        data: CSV/``.csv.gz`` path, or a DataFrame with the raw-log columns.
        config: Road label settings (minimum speed, segment length, roughness index, GPS jump speed).
        device_id: Device to use when the log has no ``device_id`` column (default: the file name without a trailing
            date).
        source: Name recorded in ``source_file`` (default: the file name).

    Returns:
        ``(segments, report)``: segments in EPSG:4326 with :data:`SEGMENT_COLUMNS` (``class_index`` still -1), and
        report lines with counts of everything dropped or flagged.

    Raises:
        LabelError: Missing columns, unreadable times, lat/lon out of range or swapped, no acceleration, too coarse a
            clock, a single device id per file violated, too few GPS fixes.
        DataFileError: Missing, empty or unreadable file.
    """
    cfg = config or RoadLabelConfig()
    path: Path | None = None
    report: list[str] = []
    if isinstance(data, (str, Path)):
        path = Path(data)
        df = read_table(path, what="Phone log", str_columns=("device_id", "device", "phoneid"), report=report)
        source = source or path.name
    else:
        df = data
        source = source or "<table>"
    where = source
    cols = find_columns(df.columns, PHONE_ALIASES)
    missing = [k for k in ("time", "lat", "lon", "acc_z") if cols[k] is None]
    if missing:
        raise missing_columns_error(path or source, "Phone log", missing, PHONE_EXPECTED, list(df.columns))
    three = cols["acc_x"] is not None and cols["acc_y"] is not None
    n_rows = len(df)

    t, absolute, notes = _parse_time(df[cols["time"]], where, path)
    report += [f"{where}: {n}" for n in notes]
    axes = ("acc_x", "acc_y", "acc_z") if three else ("acc_z",)
    acc = np.column_stack([numeric_column(df[cols[a]], cols[a], where, path=path) for a in axes])
    lat = numeric_column(df[cols["lat"]], cols["lat"], where, path=path)
    lon = numeric_column(df[cols["lon"]], cols["lon"], where, path=path)
    speed_col = numeric_column(df[cols["speed"]], cols["speed"], where, path=path) if cols["speed"] else None

    # device
    if cols["device"] is not None:
        dev = df[cols["device"]].astype("string").str.strip()
        ids = dev[dev.notna() & (dev != "")].unique()
        if len(ids) > 1:
            raise LabelError(
                f"{where}: column {cols['device']!r} holds {len(ids)} device ids ({id_list(ids, 4)}); one phone per "
                "log file is expected",
                hint="Split the log into one file per device.",
                path=path,
            )
        if len(ids) == 1:
            device_id = str(ids[0])
    if device_id is None:
        device_id = _device_from_name(source)
        report.append(f"{where}: no device_id column; device taken from the file name: {device_id!r}")

    # time: unreadable, out of order
    ok = np.isfinite(t)
    if not ok.any():
        raise LabelError(f"{where}: no readable time value", hint="Fill the time column.", path=path)
    if (~ok).any():
        report.append(f"{where}: {plural(int((~ok).sum()), 'row')} with no readable time dropped")
    rows = np.flatnonzero(ok)
    back = int((np.diff(t[rows]) < 0).sum())
    if back:
        rows = rows[np.argsort(t[rows], kind="stable")]
        report.append(f"{where}: {plural(back, 'sample')} out of time order; log sorted by time")
    t0 = float(t[rows[0]])
    t = t - t0

    # accelerometer clock
    acc_ok = np.isfinite(acc).all(axis=1)
    gps_ok = np.isfinite(lat) & np.isfinite(lon)
    n_nan = int((~acc_ok[rows] & ~gps_ok[rows]).sum())
    arows = rows[acc_ok[rows]]
    if arows.size == 0:
        raise LabelError(
            f"{where}: no row has a valid acceleration in {', '.join(cols[a] for a in axes)}",
            hint="Check that the accelerometer columns are filled with numbers.",
            path=path,
        )
    if n_nan:
        report.append(f"{where}: {plural(n_nan, 'sample')} with missing or NaN acceleration dropped")
    ta = t[arows]
    dup = np.r_[False, np.diff(ta) == 0]
    if dup.sum() > 0.5 * ta.size:
        raise LabelError(
            f"{where}: {dup.sum():,} of {ta.size:,} accelerometer samples repeat the previous time stamp; the time "
            "column is too coarse to resolve the accelerometer",
            hint="Export time with at least millisecond resolution.",
            path=path,
        )
    if dup.any():
        report.append(f"{where}: {plural(int(dup.sum()), 'sample')} with a duplicate time stamp dropped")
        arows, ta = arows[~dup], ta[~dup]
    if ta.size < 4:
        raise LabelError(f"{where}: only {ta.size} accelerometer samples", hint="Use a longer log.", path=path)
    fs = 1.0 / float(np.median(np.diff(ta)))
    if fs < MIN_RATE_HZ:
        raise LabelError(
            f"{where}: the accelerometer is sampled at {fs:.3g} Hz; roughness needs 20–200 Hz",
            hint="Log the accelerometer at 20 Hz or more (if time is in milliseconds since the start, convert it "
            "to seconds).",
            path=path,
        )
    A = acc[arows]
    if three:
        g_med = float(np.median(np.linalg.norm(A, axis=1)))
        if 0.5 < g_med < 1.5:
            A = A * STANDARD_GRAVITY
            report.append(f"{where}: acceleration looks like units of g (|a| ≈ {g_med:.2f}); converted to m/s²")
        elif g_med < 3.0:
            raise LabelError(
                f"{where}: the three-axis acceleration has no gravity in it (median |a| = {g_med:.2f} m/s²), so the "
                "vertical cannot be found",
                hint="Log the raw accelerometer (gravity included), or give only acc_z of a phone lying flat.",
                path=path,
            )
    else:
        z_med = float(np.median(A[:, 0]))
        if 0.7 < abs(z_med) < 1.3:
            A = A * STANDARD_GRAVITY
            report.append(f"{where}: acc_z looks like units of g (median {z_med:.2f}); converted to m/s²")

    # GPS fixes
    grows = rows[gps_ok[rows]]
    zero = (lat[grows] == 0) & (lon[grows] == 0)
    if zero.any():
        report.append(f"{where}: {plural(int(zero.sum()), 'GPS fix', 'GPS fixes')} at (0, 0) dropped")
        grows = grows[~zero]
    check_lat_lon(lat[grows], lon[grows], where, path=path)
    tg, la, lo = t[grows], lat[grows], lon[grows]
    sp = speed_col[grows] if speed_col is not None else None
    gdup = np.r_[False, np.diff(tg) == 0]
    if tg.size > 2 and np.median(np.diff(tg)) < 0.5:
        # lat/lon written on every accelerometer row: a fix is where the position changes
        gdup |= np.r_[False, (np.diff(la) == 0) & (np.diff(lo) == 0)]
        report.append(
            f"{where}: lat/lon repeated on accelerometer rows; "
            f"{plural(int((~gdup).sum()), 'distinct GPS fix', 'distinct GPS fixes')} used"
        )
    if gdup.any():
        tg, la, lo = tg[~gdup], la[~gdup], lo[~gdup]
        sp = sp[~gdup] if sp is not None else None
    if tg.size < 2:
        raise LabelError(
            f"{where}: {plural(int(tg.size), 'GPS fix', 'GPS fixes')} with lat/lon; at least 2 are needed to place "
            "the drive",
            hint="Check that lat and lon are filled on the GPS rows.",
            path=path,
        )
    vmax = cfg.max_gps_speed_kmh / 3.6
    d = haversine_m(la[:-1], lo[:-1], la[1:], lo[1:])
    fast = d / np.diff(tg) > vmax
    spike = np.r_[False, fast[:-1] & fast[1:], False]
    if spike.any():
        report.append(
            f"{where}: {plural(int(spike.sum()), 'GPS fix', 'GPS fixes')} jumping faster than "
            f"{cfg.max_gps_speed_kmh:g} km/h and back dropped"
        )
        tg, la, lo = tg[~spike], la[~spike], lo[~spike]
        sp = sp[~spike] if sp is not None else None
        d = haversine_m(la[:-1], lo[:-1], la[1:], lo[1:])
    dtg = np.diff(tg)
    jump = d / dtg > vmax
    d_fix = np.r_[0.0, np.cumsum(np.where(jump, 0.0, d))]
    v_edge = np.where(jump, np.nan, d / dtg)

    # samples on the GPS track
    k = np.searchsorted(tg, ta, side="right") - 1
    k = np.where(ta == tg[-1], tg.size - 2, k)
    inside = (k >= 0) & (k <= tg.size - 2)
    n_outside = int((~inside).sum())
    kc = np.clip(k, 0, tg.size - 2)
    on_jump = inside & jump[kc]
    if jump.any():
        report.append(
            f"{where}: {plural(int(jump.sum()), 'GPS jump')} faster than {cfg.max_gps_speed_kmh:g} km/h; drive split "
            f"there ({plural(int(on_jump.sum()), 'sample')} dropped)"
        )
    if n_outside:
        report.append(f"{where}: {plural(n_outside, 'sample')} before the first or after the last GPS fix dropped")
    dist = np.interp(ta, tg, d_fix)
    gap = dtg[kc]

    # speed
    speed = v_edge[kc]
    if sp is not None:
        have = np.isfinite(sp)
        if have.sum() >= 2:
            col_speed = np.interp(ta, tg[have], sp[have])
            moving_fix = np.isfinite(v_edge) & (v_edge > 2.0)
            sp_edge = 0.5 * (sp[:-1] + sp[1:])
            both = moving_fix & np.isfinite(sp_edge)
            ratio = float(np.median(sp_edge[both] / v_edge[both])) if both.sum() >= 5 else 1.0
            if 0.5 <= ratio <= 2.0:
                speed = col_speed
            else:
                report.append(
                    f"{where}: the speed column is {ratio:.2f}× the speed between GPS fixes (km/h instead of m/s?); "
                    "speed derived from GPS used instead"
                )
        else:
            report.append(f"{where}: speed column empty; speed derived from GPS")

    # continuous runs of the accelerometer, filtered separately
    dta = np.diff(ta)
    breaks = np.flatnonzero(dta > max(ACC_GAP_S, 10.0 / fs)) + 1
    bounds = np.r_[0, breaks, ta.size]
    if breaks.size:
        report.append(f"{where}: {plural(int(breaks.size), 'gap')} in the accelerometer clock; filtered in parts")
    a_band = np.zeros(ta.size)
    vel = np.zeros(ta.size)
    usable = np.zeros(ta.size, dtype=bool)
    short = 0
    for s, e in itertools.pairwise(bounds):
        if (e - s) < max(2.0 * fs, 64):
            short += e - s
            continue
        a_v = vertical_acceleration(A[s:e], fs)
        a_band[s:e], vel[s:e] = _band_and_velocity(a_v, ta[s:e], fs)
        usable[s:e] = True
    if short:
        report.append(f"{where}: {plural(int(short), 'sample')} in runs shorter than 2 s dropped")
    run_id = np.searchsorted(bounds, np.arange(ta.size), side="right") - 1

    min_speed = cfg.min_speed_kmh / 3.6
    slow = usable & inside & ~on_jump & ~(np.nan_to_num(speed, nan=-1.0) >= min_speed)
    keep = usable & inside & ~on_jump & ~slow
    if slow.any():
        report.append(f"{where}: {plural(int(slow.sum()), 'sample')} dropped: speed < {cfg.min_speed_kmh:g} km/h")
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        report.append(
            f"{where}: no moving segment (no sample at {cfg.min_speed_kmh:g} km/h or more on the GPS track); "
            "log not used"
        )
        return _empty_segments(), report

    # stretches of consecutive kept samples → segments every L metres
    L = cfg.segment_length_m
    jump_count = np.r_[0, np.cumsum(jump)]
    cj = jump_count[kc]
    new_stretch = np.r_[True, (np.diff(idx) != 1) | (np.diff(run_id[idx]) != 0) | (np.diff(cj[idx]) != 0)]
    stretch = np.cumsum(new_stretch) - 1
    dk = dist[idx]
    d0 = dk[new_stretch][stretch]
    seg_in = np.floor((dk - d0) / L).astype("int64")
    new_seg = new_stretch | np.r_[False, np.diff(seg_in) != 0]
    seg = np.cumsum(new_seg) - 1
    starts = np.flatnonzero(new_seg)
    lasts = np.r_[starts[1:] - 1, idx.size - 1]
    nseg = starts.size

    dt = np.clip(np.diff(ta, append=ta[-1] + 1.0 / fs), 0.0, 2.0 / fs)[idx]
    dur = np.bincount(seg, weights=dt, minlength=nseg)
    rms = np.sqrt(np.bincount(seg, weights=a_band[idx] ** 2 * dt, minlength=nseg) / np.maximum(dur, 1e-12))
    absv = np.bincount(seg, weights=np.abs(vel[idx]) * dt, minlength=nseg)
    n_samp = np.bincount(seg, minlength=nseg)
    mean_speed = np.bincount(seg, weights=speed[idx], minlength=nseg) / np.maximum(n_samp, 1)
    t_start = ta[idx[starts]]
    t_end = np.minimum(ta[idx[lasts]] + dt[lasts], tg[kc[idx[lasts]] + 1])
    length = np.interp(t_end, tg, d_fix) - np.interp(t_start, tg, d_fix)
    max_gap = np.maximum.reduceat(gap[idx], starts)

    short_seg = length < 0.5 * L
    if short_seg.any():
        report.append(
            f"{where}: {plural(int(short_seg.sum()), 'segment')} shorter than {0.5 * L:g} m (ends of moving stretches) "
            "dropped"
        )
    sel = np.flatnonzero(~short_seg)
    if sel.size == 0:
        report.append(f"{where}: no moving stretch as long as half a segment ({0.5 * L:g} m); log not used")
        return _empty_segments(), report

    # geometry: start, GPS fixes inside, end — interpolated on time
    ts, te = t_start[sel], t_end[sel]
    lo_i = np.searchsorted(tg, ts, side="right")
    hi_i = np.searchsorted(tg, te, side="left")
    nv = np.maximum(hi_i - lo_i, 0) + 2
    offsets = np.cumsum(nv) - nv
    owner = np.repeat(np.arange(sel.size), nv)
    pos = np.arange(int(nv.sum())) - offsets[owner]
    tv = np.empty(int(nv.sum()))
    inner = (pos > 0) & (pos < nv[owner] - 1)
    tv[inner] = tg[lo_i[owner[inner]] + pos[inner] - 1]
    tv[offsets] = ts
    tv[offsets + nv - 1] = te
    xy = np.column_stack([np.interp(tv, tg, lo), np.interp(tv, tg, la)])
    geoms = shapely.linestrings(xy, indices=owner)

    seg_len = length[sel]
    rms_s = rms[sel]
    iri = absv[sel] / np.maximum(seg_len / 1000.0, 1e-9)
    flags = np.full(sel.size, "", dtype=object)
    too_long = seg_len > cfg.max_segment_factor * L
    gps_gap = max_gap[sel] > GPS_GAP_S
    flags[gps_gap] = f"gps_gap>{GPS_GAP_S:g}s"
    flags[too_long] = "gps_dropout"
    flagged = too_long | gps_gap
    if flagged.any():
        report.append(
            f"{where}: {plural(int(flagged.sum()), 'segment')} flagged (GPS gap over {GPS_GAP_S:g} s or longer than "
            f"{cfg.max_segment_factor:g} × {L:g} m): kept but not used for labels"
        )
    stem = source
    start_time = iso_utc(ts + t0) if absolute else np.full(sel.size, None, dtype=object)
    data = {
        "segment_id": np.array([f"{stem}:{i}" for i in range(sel.size)], dtype=object),
        "device_id": np.full(sel.size, device_id, dtype=object),
        "source_file": np.full(sel.size, source, dtype=object),
        "source_format": np.full(sel.size, "phone", dtype=object),
        "index_name": np.full(sel.size, cfg.roughness, dtype=object),
        "roughness_raw": iri if cfg.roughness == "iri_proxy" else rms_s,
        "rms_acc": rms_s,
        "iri_proxy": iri,
        "speed_kmh": mean_speed[sel] * 3.6,
        "length_m": seg_len,
        "duration_s": dur[sel],
        "n_samples": n_samp[sel].astype("int64"),
        "start_time": start_time,
        "flagged": flagged,
        "flag_reason": flags,
    }
    report.append(
        f"{where}: {plural(n_rows, 'row')}, {fs:.0f} Hz {'3-axis' if three else 'acc_z'}, "
        f"{plural(int(tg.size), 'GPS fix', 'GPS fixes')} → {plural(sel.size, 'segment')} (device {device_id})"
    )
    return _segment_frame(data, geoms), report


def _parse_lines(text: pd.Series) -> np.ndarray:
    """Geometries from WKT, GeoJSON or Python-quoted GeoJSON-like mappings (None where unreadable)."""
    s = text.astype("string").fillna("").str.strip()
    out = np.full(len(s), None, dtype=object)
    wkt = s.str.upper().str.startswith(("LINESTRING", "MULTILINESTRING")).to_numpy(dtype=bool, na_value=False)
    if wkt.any():
        out[wkt] = shapely.from_wkt(s[wkt].to_numpy(dtype=object), on_invalid="ignore")
    js = ~wkt & s.str.startswith("{").to_numpy(dtype=bool, na_value=False)
    if js.any():
        fixed = (
            s[js]
            .str.replace("'", '"', regex=False)
            .str.replace("(", "[", regex=False)
            .str.replace(")", "]", regex=False)
            .str.replace("None", "null", regex=False)
        )
        out[js] = shapely.from_geojson(fixed.to_numpy(dtype=object), on_invalid="ignore")
    ok = ~shapely.is_missing(out)
    types = shapely.get_type_id(out)
    bad = ok & ~np.isin(types, (1, 5))  # LineString, MultiLineString
    out[bad] = None
    return out


def roadrunner_candidates(choice: str) -> dict[str, tuple[str, ...]]:
    """RoadRunner roughness definitions to try, in order: ``choice`` first, then :data:`ROADRUNNER_DEFINITIONS`.

    ``choice`` is a definition name (``iriXYZp``, ``iriZp``, ``iriXYZ``, ``iriZ``) or any other column name.
    """
    first = {choice: ROADRUNNER_DEFINITIONS.get(choice, (choice,))}
    return first | {k: v for k, v in ROADRUNNER_DEFINITIONS.items() if k != choice}


def _definition_text(columns: Sequence[str]) -> str:
    return f"sqrt({' + '.join(f'{c}²' for c in columns)})" if len(columns) > 1 else columns[0]


def dead_column(values: np.ndarray) -> bool:
    """Whether a sensor column is dead: one value (0, or any constant) or emptiness on ≥ 99 % of the rows.

    With fewer than :data:`DEAD_COLUMN_MIN_ROWS` rows only an entirely empty column counts as dead.
    """
    v = np.asarray(values, dtype="float64")
    if v.size == 0:
        return True
    finite = np.isfinite(v)
    if not finite.any():
        return True
    if v.size < DEAD_COLUMN_MIN_ROWS:
        return False
    _, counts = np.unique(v[finite], return_counts=True)
    return (counts.max() + int((~finite).sum())) >= DEAD_COLUMN_SHARE * v.size


def read_roadrunner_log(
    path: str | Path | pd.DataFrame,
    config: RoadLabelConfig | None = None,
    *,
    source: str | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read a RoadRunner segment log into segments (not yet classified).

    Args:
        path: CSV/``.csv.gz`` path, or a DataFrame with the RoadRunner columns.
        config: Road label settings (``roadrunner_column``, ``segment_length_m``, ``max_segment_factor``).
        source: Name recorded in ``source_file`` (default: the file name).

    Returns:
        ``(segments, report)`` like :func:`phone_log_segments`. ``roughness_raw`` follows ``roadrunner_column``
        (default ``iriXYZp`` = sqrt(iriXp² + iriYp² + iriZp²), the app's own definition); per device, a definition
        with a dead column (:func:`dead_column`) gives way to the next of :data:`ROADRUNNER_DEFINITIONS`, and
        ``index_name`` records the one used (one report line per device). The device is ``phoneID``; a row
        without one joins the only phone of its recording (same ``filename``) when there is exactly one, else
        takes the ``filename`` prefix (before its last ``_``) as device ``file:<prefix>``. Rows repeating an
        earlier row exactly are dropped (counted); a reused ``id`` with different content is kept as ``id~2``.

    Raises:
        LabelError: Missing columns, no readable geometry, coordinates out of range or swapped.
        DataFileError: Missing, empty or unreadable file.
    """
    cfg = config or RoadLabelConfig()
    report: list[str] = []
    p: Path | None = None
    if isinstance(path, pd.DataFrame):
        df = path
        source = source or "<table>"
    else:
        p = Path(path)
        df = read_table(p, what="RoadRunner log", str_columns=("phoneID", "filename", "id"), report=report)
        source = source or p.name
    where = source
    cols = find_columns(df.columns, ROADRUNNER_ALIASES)
    candidates = roadrunner_candidates(cfg.roadrunner_column)
    needed = sorted({c for names in candidates.values() for c in names})
    found = find_columns(df.columns, {c: (c,) for c in needed})
    available = {d: names for d, names in candidates.items() if all(found[c] for c in names)}
    chosen_cols = candidates[cfg.roadrunner_column]
    if cols["line"] is None or not available:
        names = (["line"] if cols["line"] is None else []) + [c for c in chosen_cols if not found[c]]
        raise missing_columns_error(
            p or source,
            "RoadRunner log",
            names,
            ROADRUNNER_EXPECTED,
            list(df.columns),
            hint="Export the log from RoadRunner again, or set roads.roadrunner_column to the roughness column "
            f"({', '.join(ROADRUNNER_DEFINITIONS)} or a column name).",
        )
    if cfg.roadrunner_column not in available:
        report.append(
            f"{where}: no column {id_list([c for c in chosen_cols if not found[c]], 3)} for roughness "
            f"{cfg.roadrunner_column}; using {next(iter(available))}"
        )
    n = len(df)
    geoms = _parse_lines(df[cols["line"]])
    bad_geom = shapely.is_missing(geoms)
    if bad_geom.all():
        example = str(df[cols["line"]].iloc[0])[:80]
        raise LabelError(
            f"{where}: no readable LineString in column {cols['line']!r} (e.g. {example!r})",
            hint="Expected {'type': 'LineString', 'coordinates': [[lon, lat], ...]}, GeoJSON or WKT.",
            path=p,
        )
    if bad_geom.any():
        report.append(f"{where}: {plural(int(bad_geom.sum()), 'row')} with an unreadable line geometry dropped")
    keep = ~bad_geom
    coords = shapely.get_coordinates(geoms[keep])
    check_lat_lon(coords[:, 1], coords[:, 0], f"{where} (line coordinates, lon/lat)", path=p)

    values = {
        c: numeric_column(df[found[c]], found[c], where, path=p)
        for c in sorted({c for names in available.values() for c in names})
    }
    length = line_lengths_m(geoms)
    distance = numeric_column(df[cols["distance"]], cols["distance"], where, path=p) if cols["distance"] else None

    # ids and duplicates: identical rows are dropped; a reused id with different content is kept under a new id
    ids = (
        df[cols["id"]].astype("string").fillna("").str.strip().to_numpy(dtype=object)
        if cols["id"]
        else np.arange(n).astype(str).astype(object)
    )
    if cols["id"]:
        same_row = df.astype("string").duplicated().to_numpy() & keep
        if same_row.any():
            report.append(
                f"{where}: {plural(int(same_row.sum()), 'row')} repeating an earlier row exactly (same id, line "
                "and values) dropped"
            )
            keep &= ~same_row
        reused = pd.Series(np.where(keep, ids, None)).dropna()
        rank = reused.groupby(reused).cumcount()
        again = rank[rank > 0]
        if len(again):
            ids = ids.copy()
            ids[again.index.to_numpy()] = [f"{ids[i]}~{k + 1}" for i, k in zip(again.index, again, strict=True)]
            report.append(
                f"{where}: {plural(len(again), 'row')} reuse the id of an earlier row with different content "
                f"({id_list(sorted(set(reused[again.index].astype(str))), 4)}); kept as id~2, id~3, …"
            )

    # device: phoneID; empty → the only phone of the same recording (filename), else the filename prefix
    dev = (
        df[cols["phone"]].astype("string").fillna("").str.strip()
        if cols["phone"]
        else pd.Series([""] * n, dtype="string")
    )
    empty_dev = (dev == "").to_numpy(dtype=bool)
    if empty_dev.any():
        fname = (
            df[cols["filename"]].astype("string").fillna("").str.strip()
            if cols["filename"]
            else pd.Series([""] * n, dtype="string")
        )
        phones = pd.DataFrame({"f": fname, "d": dev})[~empty_dev & (fname != "").to_numpy(dtype=bool)]
        per_file = phones.drop_duplicates().groupby("f")["d"].agg(["first", "size"])
        only = per_file.loc[per_file["size"] == 1, "first"]
        joined = empty_dev & fname.isin(only.index).to_numpy(dtype=bool)
        if joined.any():
            dev = dev.where(~pd.Series(joined), fname.map(only))
            report.append(
                f"{where}: {plural(int((joined & keep).sum()), 'segment')} without phoneID joined to the only "
                "phone of their recording (same filename)"
            )
        rest = empty_dev & ~joined
        if rest.any():
            codes, names = pd.factorize(fname)
            prefixes = np.asarray([str(v).rsplit("_", 1)[0] for v in names] + [""], dtype=object)  # per file
            prefix = prefixes[codes]  # code -1 (missing) picks the trailing ""
            fallback = np.where(prefix != "", "file:" + prefix.astype(str), f"file:{_device_from_name(source)}")
            dev = dev.where(~pd.Series(rest), pd.Series(fallback, dtype="string"))
            report.append(
                f"{where}: {plural(int((rest & keep).sum()), 'segment')} without phoneID and no single phone in "
                "their recording; device taken from the filename prefix (calibrated with the pooled gain if too few "
                "for their own)"
            )
    devices = dev.to_numpy(dtype=object)

    # roughness per device: the first definition whose columns are all alive on that device
    rough = np.full(n, np.nan)
    index_name = np.full(n, cfg.roadrunner_column, dtype=object)
    for d in sorted(set(devices[keep])):
        rows = np.flatnonzero(keep & (devices == d))
        dead = [c for c in values if dead_column(values[c][rows])]
        usable = [name for name, cs in available.items() if not set(cs) & set(dead)]
        if not usable:
            index_name[rows] = "none"
            report.append(
                f"{where}: device {d}: every roughness column is dead ({', '.join(dead)} constant or empty on "
                f"≥ {DEAD_COLUMN_SHARE:.0%} of its {plural(rows.size, 'row')}); its segments are not used"
            )
            continue
        name = usable[0]
        index_name[rows] = name
        stack = np.column_stack([values[c][rows] for c in available[name]])
        rough[rows] = np.sqrt((stack**2).sum(axis=1)) if stack.shape[1] > 1 else stack[:, 0]
        line = f"{where}: device {d}: roughness {name} = {_definition_text(available[name])}"
        dead_here = [c for c in dead if c in set(candidates.get(cfg.roadrunner_column, ()))]
        if name != cfg.roadrunner_column and dead_here:
            line += (
                f" ({', '.join(dead_here)} dead: one value on ≥ {DEAD_COLUMN_SHARE:.0%} of its "
                f"{plural(rows.size, 'row')}; fallback from {cfg.roadrunner_column})"
            )
        report.append(line)

    # flags
    L = cfg.segment_length_m
    factor = cfg.max_segment_factor
    flags = np.full(n, "", dtype=object)
    flags[~np.isfinite(rough)] = "no_roughness"
    flags[rough < 0] = "negative_roughness"
    zero_len = ~(length > 0)
    flags[zero_len] = "zero_length"
    if distance is not None:
        bad_dist = ~np.isfinite(distance) | (distance <= 0)
        ratio = length / np.where(distance > 0, distance, np.nan)
        mismatch = ~bad_dist & ((ratio > factor) | (ratio < 1.0 / factor))
        flags[bad_dist] = "bad_distance"
        flags[mismatch] = "distance_mismatch"
        long_ = (length > factor * L) | (np.nan_to_num(distance, nan=0.0) > factor * L)
    else:
        long_ = length > factor * L
    flags[long_] = "gps_dropout"
    flagged = flags != ""
    counts = pd.Series(flags[keep & flagged]).value_counts()
    if len(counts):
        why = {
            "gps_dropout": f"longer than {factor:g} × {L:g} m",
            "distance_mismatch": f"distance and line length differ more than {factor:g}×",
            "bad_distance": "distance empty or ≤ 0",
            "zero_length": "line of zero length",
        }
        detail = ", ".join(f"{v:,} {k}" + (f" ({why[k]})" if k in why else "") for k, v in counts.items())
        report.append(
            f"{where}: {plural(int((keep & flagged).sum()), 'segment')} flagged ({detail}): kept but not used for "
            "labels"
        )

    start_time = np.full(n, None, dtype=object)
    if cols["time"]:
        tt, absolute, _ = _parse_time(df[cols["time"]], where, p)
        if absolute:
            start_time = iso_utc(tt)

    sel = np.flatnonzero(keep)
    data = {
        "segment_id": np.asarray([f"{source}:{i}" for i in ids[sel]], dtype=object),
        "device_id": devices[sel],
        "source_file": np.full(sel.size, source, dtype=object),
        "source_format": np.full(sel.size, "roadrunner", dtype=object),
        "index_name": index_name[sel],
        "roughness_raw": rough[sel],
        "length_m": length[sel],
        "distance_m": distance[sel] if distance is not None else np.full(sel.size, np.nan),
        "start_time": start_time[sel],
        "flagged": flagged[sel],
        "flag_reason": flags[sel],
    }
    report.append(
        f"{where}: {plural(n, 'RoadRunner row')} → {plural(sel.size, 'segment')} from "
        f"{plural(len(set(devices[sel])), 'device')}"
    )
    return _segment_frame(data, geoms[sel]), report


def read_vibration_logs(
    paths: Sequence[str | Path], config: RoadLabelConfig | None = None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read raw phone logs and RoadRunner logs (format detected from each header) into one table of segments.

    Args:
        paths: ``.csv`` / ``.csv.gz`` files.
        config: Road label settings.

    Returns:
        ``(segments, report)`` — segments not yet classified (see :func:`classify_segments`).

    Raises:
        LabelError: A file is neither format (the message lists both sets of expected columns), or is malformed.
        DataFileError: A file is missing, empty or unreadable.
    """
    cfg = config or RoadLabelConfig()
    if not paths:
        raise DataFileError("No vibration log given", hint="Pass phone logs or RoadRunner logs (.csv, .csv.gz).")
    frames, report = [], []
    for path in paths:
        path = Path(path)
        head: list[str] = []
        df = read_table(path, what="Vibration log", str_columns=("phoneID", "filename", "id", "device_id"), report=head)
        kind = detect_log_format(df.columns)
        if kind is None:
            raise LabelError(
                f"{path} is neither a raw phone log (expected {', '.join(PHONE_EXPECTED)}) nor a RoadRunner segment "
                f"log (expected {', '.join(ROADRUNNER_EXPECTED)}); found {id_list(df.columns, 20)}"
                f"{delimiter_note(df.columns)}",
                hint="Rename the columns to one of these formats.",
                path=path,
            )
        if kind == "phone":
            seg, rep = phone_log_segments(df, cfg, source=path.name)
        else:
            seg, rep = read_roadrunner_log(df, cfg, source=path.name)
        frames.append(seg)
        report += head + rep
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_segments(), report
    segments = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    return segments, report


# --------------------------------------------------------------------------------------------- classes
_METHOD_TEXT = {
    "absolute": "absolute thresholds",
    "per_device_quantiles": "per-device gain (shared roads or median), quantiles of all phones pooled",
}
_GAIN_TEXT = {
    "reference": "reference phone of the shared-road calibration",
    "shared_roads": "shared roads",
    "median": "median",
    "pooled": "pooled",
}


def shared_road_pairs(
    geoms: np.ndarray, device: np.ndarray, idx: np.ndarray, cfg: RoadLabelConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of segments of different devices on the same stretch of road (indices into ``geoms``).

    Same stretch: the midpoint of one lies within ``cfg.shared_road_m`` metres of the other's line (a spatial-index
    query in the UTM zone of the data) and their directions differ by at most ``cfg.shared_heading_deg``, either
    way along the road. Every pair is returned once per direction of matching (``i``'s midpoint near ``j``).

    Args:
        geoms: Segment lines in EPSG:4326.
        device: Device of each segment.
        idx: Segments to consider (usable ones).
        cfg: Road label settings.
    """
    empty = np.zeros(0, dtype="int64")
    lines = geoms[idx]
    ok = ~shapely.is_missing(lines) & ~shapely.is_empty(lines)
    idx, lines = idx[ok], lines[ok]
    if idx.size < 2 or len(set(device[idx])) < 2:
        return empty, empty
    series = gpd.GeoSeries(lines, crs=4326)
    metric = series.to_crs(series.estimate_utm_crs()).to_numpy()
    mid = shapely.line_interpolate_point(metric, 0.5, normalized=True)
    start = shapely.get_coordinates(shapely.line_interpolate_point(metric, 0.0, normalized=True))
    end = shapely.get_coordinates(shapely.line_interpolate_point(metric, 1.0, normalized=True))
    heading = np.mod(np.arctan2(end[:, 1] - start[:, 1], end[:, 0] - start[:, 0]), np.pi)
    tree = shapely.STRtree(metric)
    a, b = tree.query(mid, predicate="dwithin", distance=cfg.shared_road_m)
    dev = device[idx]
    turn = np.abs(heading[a] - heading[b])
    turn = np.minimum(turn, np.pi - turn)
    keep = (dev[a] != dev[b]) & (turn <= np.radians(cfg.shared_heading_deg))
    return idx[a[keep]], idx[b[keep]]


def device_gains(
    geoms: np.ndarray, device: np.ndarray, raw: np.ndarray, usable: np.ndarray, cfg: RoadLabelConfig
) -> tuple[dict[str, float], dict[str, dict], list[str]]:
    """Each device's gain (its roughness scale) for per-device calibration, with the method used for each.

    1. **Shared roads** (``cfg.calibration == "shared_roads"``): for every pair of segments of two phones on the
       same stretch (:func:`shared_road_pairs`) the log-ratio of their roughness is a noisy measure of the ratio
       of their gains, whatever the road. The phone with the most pairs is the reference (gain 1); a phone with at
       least ``cfg.min_shared_segments`` pairs with an already calibrated phone gets that phone's gain times the
       median ratio (a robust, Theil–Sen-like estimate through the origin), chaining outwards by pair count.
    2. **Median**: other phones with ``cfg.min_device_segments`` usable segments get their median roughness over
       the median roughness of the calibrated phones (divided by their gains) — which assumes a similar mix of
       roads. Without any shared stretch this is each phone's median over the median of all phones' medians.
    3. **Pooled**: RoadRunner devices without phoneID (``file:…``) with too few segments of their own get the
       median gain of the calibrated phones.

    Any other device stays uncalibrated (its segments unclassified); the report says how many usable segments it
    has and why. One report line per calibrated device gives its gain and method.

    Returns:
        ``(gains, info, report)``: gain per calibrated device; per device ``{"method", "median", "segments",
        "shared_pairs", "partner"}``; report lines.
    """
    report: list[str] = []
    frame = pd.DataFrame({"device": device[usable], "raw": raw[usable]})
    stats = frame.groupby("device")["raw"].agg(["median", "size"])
    info: dict[str, dict] = {
        str(d): {"method": None, "median": float(r["median"]), "segments": int(r["size"]), "shared_pairs": 0}
        for d, r in stats.iterrows()
    }
    log_gain: dict[str, float] = {}
    if cfg.calibration == "shared_roads":
        pos = usable & (raw > 0)
        i, j = shared_road_pairs(geoms, device, np.flatnonzero(pos), cfg)
        if i.size:
            lr = np.log(raw[i]) - np.log(raw[j])
            pairs = pd.DataFrame({"a": device[i].astype(str), "b": device[j].astype(str), "lr": lr})
            both = pd.concat([pairs, pairs.rename(columns={"a": "b", "b": "a"}).assign(lr=-pairs["lr"])])
            # pairs found from either side are the same evidence: one median over both directions
            by_pair = both.groupby(["a", "b"])["lr"].agg(["median", "size"])
            total = by_pair["size"].groupby(level="a").sum()
            enough = by_pair[by_pair["size"] >= 2 * cfg.min_shared_segments]
            if len(enough):
                ref = str(total.loc[enough.index.get_level_values("a").unique()].sort_values().index[-1])
                log_gain[ref] = 0.0
                info[ref].update(method="reference", shared_pairs=int(total[ref] // 2))
                grown = True
                while grown:
                    grown = False
                    cand = enough[
                        enough.index.get_level_values("b").isin(list(log_gain))
                        & ~enough.index.get_level_values("a").isin(list(log_gain))
                    ]
                    if len(cand):
                        (a, b), row = next(iter(cand.sort_values("size", ascending=False).iterrows()))
                        log_gain[str(a)] = log_gain[str(b)] + float(row["median"])
                        info[str(a)].update(method="shared_roads", shared_pairs=int(row["size"] // 2), partner=str(b))
                        grown = True
    gains = {d: float(np.exp(v)) for d, v in log_gain.items()}
    good = stats[(stats["size"] >= cfg.min_device_segments) & (stats["median"] > 0)]
    if gains:
        level = float(np.median([info[d]["median"] / gains[d] for d in gains if info[d]["median"] > 0] or [1.0]))
    else:
        level = float(np.median(good["median"])) if len(good) else np.nan
    for d, row in good.iterrows():
        d = str(d)
        if d not in gains:
            gains[d] = float(row["median"]) / level
            info[d]["method"] = "median"
    pooled = float(np.median(list(gains.values()))) if gains else np.nan
    few = []
    for d in map(str, stats.index):
        if d in gains:
            continue
        if d.startswith("file:") and np.isfinite(pooled):
            gains[d] = pooled
            info[d]["method"] = "pooled"
        else:
            few.append(d)
    for d in sorted(gains):
        m = info[d]
        how = _GAIN_TEXT[m["method"]]
        if m["method"] == "shared_roads":
            how += f": median ratio over {plural(m['shared_pairs'], 'segment pair')} with {m['partner']}"
        elif m["method"] == "reference":
            how += f", {plural(m['shared_pairs'], 'segment pair')} with other phones"
        elif m["method"] == "median":
            how += " (no or too few shared stretches; assumes a mix of roads like the others')"
        elif m["method"] == "pooled":
            how += f" (no phoneID; {plural(m['segments'], 'usable segment')}, median gain of the calibrated phones)"
        report.append(f"device {d}: gain {gains[d]:.3g} ({how})")
    if few:
        zero = [d for d in few if info[d]["segments"] >= cfg.min_device_segments]
        small = [d for d in few if d not in zero]
        if small:
            report.append(
                f"{plural(len(small), 'device')} with fewer than {cfg.min_device_segments} usable segments and no "
                "shared stretches left unclassified: "
                + ", ".join(f"{d} ({plural(info[d]['segments'], 'usable segment')})" for d in small[:8])
                + (", …" if len(small) > 8 else "")
                + "; lower min_device_segments or give absolute thresholds"
            )
        if zero:
            report.append(
                f"{plural(len(zero), 'device')} with median roughness 0 left unclassified: "
                + ", ".join(f"{d} ({plural(info[d]['segments'], 'usable segment')})" for d in zero[:8])
                + "; check its roughness columns or give absolute thresholds"
            )
    return gains, info, report


def classify_segments(
    segments: gpd.GeoDataFrame, config: RoadLabelConfig | None = None
) -> tuple[gpd.GeoDataFrame, dict, list[str]]:
    """Calibrate each device and give every usable segment a class.

    With ``config.thresholds`` the raw roughness is classified directly. Otherwise each device's gain (its median
    roughness over the median of all devices' medians) is divided out and the class boundaries are the
    ``config.quantiles`` of the calibrated roughness of all devices pooled (see the module docstring).

    Args:
        segments: Output of :func:`read_vibration_logs` (or the two single-file readers).
        config: Road label settings.

    Returns:
        ``(segments, bins, report)``: a copy with ``gain``, ``roughness`` (calibrated), ``class_index`` (-1 for
        flagged or uncalibrated segments) and ``label``; ``bins`` = ``{"method", "classes", "thresholds" (calibrated
        units), "devices": {device: {"gain", "median", "segments", "thresholds" (raw units)}}}``.
    """
    cfg = config or RoadLabelConfig()
    seg = segments.copy()
    report: list[str] = []
    classes = list(cfg.classes)
    k = len(classes)
    raw = seg["roughness_raw"].to_numpy(dtype="float64", na_value=np.nan)
    usable = ~seg["flagged"].to_numpy(dtype=bool) & np.isfinite(raw) & (raw >= 0)
    device = seg["device_id"].astype(str).to_numpy(dtype=object)
    gain = np.full(len(seg), np.nan)
    bins: dict = {"classes": classes, "index": cfg.roughness, "devices": {}}
    kinds = set(seg.loc[usable, "index_name"].astype(str))
    if cfg.thresholds is not None:
        thresholds = np.asarray(cfg.thresholds, dtype="float64")
        gain[:] = 1.0
        calibrated = usable.copy()
        bins.update(method="absolute", thresholds=thresholds.tolist())
        if len(kinds) > 1:
            report.append(
                f"warning: absolute thresholds applied to different roughness indices ({', '.join(sorted(kinds))}); "
                "their units differ"
            )
        for d in sorted(set(device[usable])):
            m = usable & (device == d)
            bins["devices"][d] = {
                "gain": 1.0,
                "median": float(np.median(raw[m])),
                "segments": int(m.sum()),
                "thresholds": thresholds.tolist(),
            }
    else:
        q = np.asarray(cfg.quantiles if cfg.quantiles is not None else np.arange(1, k) / k, dtype="float64")
        g, dev_info, rep = device_gains(seg.geometry.to_numpy(), device, raw, usable, cfg)
        report += rep
        gain = pd.Series(device).map(g).to_numpy(dtype="float64", na_value=np.nan)
        calibrated = usable & np.isfinite(gain)
        if not calibrated.any():
            thresholds = np.full(k - 1, np.nan)
        else:
            cal = raw / np.where(np.isfinite(gain), gain, 1.0)
            thresholds = np.quantile(cal[calibrated], q)
            for d, info in dev_info.items():
                if d in g:
                    bins["devices"][d] = {**info, "gain": float(g[d]), "thresholds": (thresholds * g[d]).tolist()}
            if len(kinds) > 1:
                report.append(
                    f"roughness indices {', '.join(sorted(kinds))} mixed; per-device calibration puts them on one "
                    "relative scale"
                )
        bins.update(method="per_device_quantiles", quantiles=q.tolist(), thresholds=thresholds.tolist())
    rough = np.where(calibrated, raw / np.where(np.isfinite(gain), gain, 1.0), np.nan)
    cls = np.full(len(seg), -1, dtype="int64")
    cls[calibrated] = np.searchsorted(thresholds, rough[calibrated], side="right")
    names = np.asarray(classes, dtype=object)
    seg["gain"] = gain
    seg["roughness"] = rough
    seg["class_index"] = cls
    seg["label"] = np.where(cls >= 0, names[np.clip(cls, 0, k - 1)], None)
    counts = np.bincount(cls[cls >= 0], minlength=k)
    n_flag = int(seg["flagged"].sum())
    per_class = ", ".join(f"{c}: {n:,}" for c, n in zip(classes, counts, strict=True))
    report.append(
        f"{plural(int(calibrated.sum()), 'segment')} classified ({per_class}); boundaries "
        f"{', '.join(f'{v:.3g}' for v in thresholds)} ({_METHOD_TEXT[bins['method']]})"
        + (f"; {plural(n_flag, 'flagged segment')} not used" if n_flag else "")
    )
    return seg, bins, report


def road_segments(
    paths: Sequence[str | Path], config: RoadLabelConfig | None = None
) -> tuple[gpd.GeoDataFrame, dict, list[str]]:
    """Read logs, segment them and classify the segments: :func:`read_vibration_logs` + :func:`classify_segments`.

    Raises:
        LabelError: No usable segment in any log, or none could be classified (with the reasons counted).
    """
    cfg = config or RoadLabelConfig()
    segments, report = read_vibration_logs(paths, cfg)
    if len(segments) == 0 or not (~segments["flagged"].astype(bool)).any():
        raise LabelError(
            f"No usable road segment in {plural(len(paths), 'log')} ({id_list([Path(p).name for p in paths], 4)}): "
            + "; ".join(r for r in report if "dropped" in r or "no moving" in r or "flagged" in r)[:600],
            hint=f"Check the logs; drives must move at {cfg.min_speed_kmh:g} km/h or more (roads.min_speed_kmh).",
        )
    segments, bins, rep = classify_segments(segments, cfg)
    if not (segments["class_index"] >= 0).any():
        raise LabelError(
            f"No road segment could be classified ({plural(len(segments), 'segment')} from "
            f"{plural(segments['device_id'].nunique(), 'device')}): "
            + "; ".join([r for r in report if "dropped" in r] + rep)[:600],  # e.g. duplicate ids dropped before
            hint="Per-device calibration needs roads.min_device_segments usable segments per phone: drive longer, "
            "lower min_device_segments, or give absolute roads.thresholds.",
        )
    return segments, bins, report + rep


# --------------------------------------------------------------------------------------------- tiles
def _clip_lengths(x0, y0, x1, y1, bounds: np.ndarray) -> np.ndarray:
    """Lengths of straight edges (x0, y0)→(x1, y1) inside boxes ``(xmin, ymin, xmax, ymax)`` (Liang–Barsky)."""
    dx, dy = x1 - x0, y1 - y0
    t0 = np.zeros(dx.shape)
    t1 = np.ones(dx.shape)
    inside = np.ones(dx.shape, dtype=bool)
    for p, q in (
        (-dx, x0 - bounds[:, 0]),
        (dx, bounds[:, 2] - x0),
        (-dy, y0 - bounds[:, 1]),
        (dy, bounds[:, 3] - y0),
    ):
        zero = p == 0
        inside &= ~(zero & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = q / np.where(zero, 1.0, p)
        t0 = np.where(~zero & (p < 0), np.maximum(t0, r), t0)
        t1 = np.where(~zero & (p > 0), np.minimum(t1, r), t1)
    return np.where(inside, np.clip(t1 - t0, 0.0, None), 0.0) * np.hypot(dx, dy)


def pair_lengths(lines: np.ndarray, polygons: np.ndarray, li: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """Length of ``lines[li[k]]`` inside ``polygons[pi[k]]`` for every pair ``k``, in CRS units.

    Axis-aligned rectangles (the usual tile footprints) are clipped edge by edge in numpy (Liang–Barsky), which is
    several times faster than a GEOS intersection per pair; other polygons and MultiLineStrings fall back to
    :func:`shapely.intersection`.
    """
    out = np.zeros(li.size)
    if li.size == 0:
        return out
    bounds = shapely.bounds(polygons)
    box_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    rect = (shapely.get_num_coordinates(polygons) == 5) & np.isclose(shapely.area(polygons), box_area, rtol=1e-9)
    simple = shapely.get_type_id(lines) == 1
    fast = rect[pi] & simple[li]
    if (~fast).any():
        out[~fast] = shapely.length(shapely.intersection(lines[li[~fast]], polygons[pi[~fast]]))
    if fast.any():
        fl, fp = li[fast], pi[fast]
        coords, owner = shapely.get_coordinates(lines, return_index=True)
        n_coords = np.bincount(owner, minlength=lines.size)
        first = np.cumsum(n_coords) - n_coords
        n_edges = np.maximum(n_coords[fl] - 1, 0)
        pair = np.repeat(np.arange(fl.size), n_edges)
        edge = first[fl][pair] + (np.arange(pair.size) - np.repeat(np.cumsum(n_edges) - n_edges, n_edges))
        a, b = coords[edge], coords[edge + 1]
        lengths = _clip_lengths(a[:, 0], a[:, 1], b[:, 0], b[:, 1], bounds[fp][pair])
        out[fast] = np.bincount(pair, weights=lengths, minlength=fl.size)
    return out


def tile_road_labels(
    segments: gpd.GeoDataFrame,
    tiles: gpd.GeoDataFrame,
    config: RoadLabelConfig | None = None,
    thresholds: Sequence[float] | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Label tiles by the length-weighted mean calibrated roughness of the classified segments crossing them.

    Args:
        segments: Output of :func:`classify_segments` (``roughness``, ``class_index``, ``flagged``).
        tiles: Tile index (:func:`tlgeo.tiles.tile_index`) in a projected or geographic CRS.
        config: Road label settings (``classes``, ``min_tile_length_m``).
        thresholds: Class boundaries in calibrated units (``bins["thresholds"]``); default ``config.thresholds``.

    Returns:
        ``(tiles, report)``: a copy with ``quality`` (int, -1 = no label), ``quality_label`` (class name), ``roughness`` (NaN where
        unlabelled), ``driven_length_m`` and ``n_segments``.
    """
    cfg = config or RoadLabelConfig()
    if thresholds is None:
        thresholds = cfg.thresholds
    if thresholds is None or len(thresholds) != len(cfg.classes) - 1:
        raise ConfigError(
            f"tile_road_labels needs {len(cfg.classes) - 1} class boundaries, received {thresholds!r}",
            hint="Pass bins['thresholds'] from classify_segments.",
        )
    th = np.asarray(thresholds, dtype="float64")
    out = tiles.copy()
    n = len(out)
    report: list[str] = []
    use = segments[(segments["class_index"].to_numpy() >= 0) & ~segments["flagged"].to_numpy(dtype=bool)]
    use = use[np.isfinite(use["roughness"].to_numpy(dtype="float64", na_value=np.nan))]
    metric = out
    if out.crs is not None and out.crs.is_geographic:
        utm = out.estimate_utm_crs()
        metric = out.to_crs(utm)
    seg_m = use.to_crs(metric.crs)
    si, ti = metric.sindex.query(seg_m.geometry.values, predicate="intersects")
    part = pair_lengths(seg_m.geometry.to_numpy(), metric.geometry.to_numpy(), si, ti)
    rough = use["roughness"].to_numpy(dtype="float64")[si]
    driven = np.bincount(ti, weights=part, minlength=n)
    wsum = np.bincount(ti, weights=part * rough, minlength=n)
    nseg = np.bincount(ti, weights=(part > 0).astype(float), minlength=n).astype("int64")
    labelled = driven >= cfg.min_tile_length_m
    mean = np.where(labelled, wsum / np.where(driven > 0, driven, 1.0), np.nan)
    cls = np.full(n, -1, dtype="int64")
    if np.isfinite(th).all():
        cls[labelled] = np.searchsorted(th, mean[labelled], side="right")
    else:
        labelled[:] = False
        mean[:] = np.nan
    names = np.asarray(cfg.classes, dtype=object)
    out[ROAD_TARGET] = cls
    out[f"{ROAD_TARGET}_label"] = np.where(cls >= 0, names[np.clip(cls, 0, len(names) - 1)], None)
    out["roughness"] = mean
    out["driven_length_m"] = driven
    out["n_segments"] = nseg
    grazing = int(((driven > 0) & ~labelled).sum())
    outside = len(use) - len(np.unique(si))
    counts = np.bincount(cls[cls >= 0], minlength=len(names))
    per_class = ", ".join(f"{c}: {k:,}" for c, k in zip(names, counts, strict=True))
    report.append(
        f"{plural(int(labelled.sum()), 'tile')} of {n:,} labelled ({per_class}); "
        f"{plural(n - int(labelled.sum()), 'tile')} left unlabelled (to predict)"
    )
    if grazing:
        report.append(
            f"{plural(grazing, 'tile')} crossed by less than {cfg.min_tile_length_m:g} m of driving left unlabelled"
        )
    if outside:
        report.append(f"{plural(outside, 'classified segment')} outside all tiles")
    return out, report


def no_overlap_error(segments: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame, imagery: Path) -> LabelError:
    """The error for segments that cross no tile (says so when swapping lat/lon would make them overlap)."""
    seg_b = tuple(segments.total_bounds)
    tile_b = tuple(tiles.to_crs(4326).total_bounds)
    swapped = boxes_intersect(swapped_bounds(seg_b), tile_b)
    return LabelError(
        f"No driven segment crosses the imagery in {imagery}: segments span {fmt_bounds(seg_b)}, imagery spans "
        f"{fmt_bounds(tile_b)}" + ("; with lat and lon swapped they would overlap" if swapped else ""),
        hint="Swap the lat/lon columns of the logs."
        if swapped
        else "Check that the logs and imagery cover the same area.",
        path=imagery,
    )


# --------------------------------------------------------------------------------------------- task folder and CLI
def find_vibration_logs(folder: str | Path) -> list[Path]:
    """``.csv`` and ``.csv.gz`` files in ``folder`` (sorted).

    Raises:
        DataFileError: The folder is missing or holds no log.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(
            f"Vibration folder {folder} does not exist", hint="Put phone or RoadRunner logs in vibration/.", path=folder
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
    if not files:
        raise DataFileError(f"No .csv or .csv.gz log in {folder}", hint="Add phone or RoadRunner logs.", path=folder)
    return files


#: File names of a task's road network (road lines, driven or not — e.g. an OpenStreetMap extract).
NETWORK_FILES = ("roads.geojson", "roads.gpkg", "roads.json")


def find_road_network(taskdir: str | Path) -> Path | None:
    """``TASKDIR/roads.geojson`` (or ``.gpkg``/``.json``) if the task has a road network file."""
    for name in NETWORK_FILES:
        path = Path(taskdir) / name
        if path.is_file():
            return path
    return None


def read_road_network(path: str | Path) -> gpd.GeoDataFrame:
    """Road lines (LineString/MultiLineString, any CRS) as EPSG:4326, e.g. OpenStreetMap roads of the imagery.

    Predictions are drawn along these lines (:func:`tlgeo.predict.predictions_along_roads`), so roads nobody drove
    get a predicted quality too. Columns are kept.

    Raises:
        DataFileError: Missing, empty or unreadable file.
        GeoreferenceError: The file has no CRS.
        LabelError: No line geometries.
    """
    from tlgeo._utils import check_file
    from tlgeo.errors import DataFileError, GeoreferenceError

    path = check_file(path, "Road network file")
    try:
        roads = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own error types for unreadable files
        raise DataFileError(
            f"{path} is not a readable vector file ({exc})", hint="Export the road lines as GeoJSON or GPKG.", path=path
        ) from exc
    if roads.crs is None:
        raise GeoreferenceError(
            f"{path} has no CRS", hint="Save it with a CRS (GeoJSON is EPSG:4326 by definition).", path=path
        )
    lines = roads[roads.geometry.notna() & roads.geom_type.isin(["LineString", "MultiLineString"])]
    if lines.empty:
        raise LabelError(
            f"{path} holds no LineString geometries ({', '.join(sorted(set(roads.geom_type.dropna())) or ['none'])})",
            hint="Give road centrelines as lines.",
            path=path,
        )
    return lines.to_crs(4326).reset_index(drop=True)


def load_roads_task(taskdir: str | Path, settings: TaskSettings) -> TaskData:
    """Read ``TASKDIR/imagery`` and ``TASKDIR/vibration`` into labelled tiles (``truth/`` is ignored).

    Args:
        taskdir: Task folder.
        settings: Settings (``tiles`` for the tile index, ``roads`` for the labels).

    Returns:
        :class:`~tlgeo.labels.TaskData` with ``tiles[quality]`` (-1 = unlabelled), ``roughness``,
        ``driven_length_m``; ``vectors`` = classified segments; ``bins`` = class boundaries per device;
        ``network`` = the task's road lines (``roads.geojson``/``.gpkg``) if it has them.

    Raises:
        DataFileError: No imagery or no logs.
        LabelError: Malformed logs, or no segment crossing the imagery.
    """
    from tlgeo.tiles import tile_index

    taskdir = Path(taskdir)
    cfg = settings.roads
    tiles = tile_index(taskdir / "imagery", size=settings.tiles.size, stride=settings.tiles.step)
    logs = find_vibration_logs(taskdir / "vibration")
    segments, bins, report = road_segments(logs, cfg)
    labelled, rep = tile_road_labels(segments, tiles, cfg, bins["thresholds"])
    if (labelled[ROAD_TARGET] < 0).all():
        raise no_overlap_error(segments, tiles, taskdir / "imagery")
    network_file = find_road_network(taskdir)
    network = read_road_network(network_file) if network_file else None
    if network is not None:
        report.append(f"{network_file.name}: {len(network):,} road lines to map predictions along (driven or not)")
    return TaskData(
        task="roads",
        settings=settings,
        tiles=labelled,
        targets={ROAD_TARGET: list(cfg.classes)},
        report=report + rep,
        vectors=segments,
        bins=bins,
        network=network,
    )
