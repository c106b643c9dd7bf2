"""Raw phone logs (time, lat, lon, acceleration at 20–200 Hz) → roughness segments of ``segment_length_m``."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from tlgeo.config import RoadLabelConfig
from tlgeo.errors import LabelError
from tlgeo.labels._common import (
    check_lat_lon,
    find_columns,
    haversine_m,
    id_list,
    iso_utc,
    missing_columns_error,
    numeric_column,
    plural,
    read_table,
)
from tlgeo.labels.roads.segments import GPS_GAP_S, _device_from_name, _empty_segments, _parse_time, _segment_frame
from tlgeo.labels.roads.signal import _band_and_velocity, vertical_acceleration

#: Gaps in the accelerometer clock longer than this (s) split a log into separately filtered runs.
ACC_GAP_S = 0.5


#: Lowest accepted accelerometer rate (Hz).
MIN_RATE_HZ = 15.0


STANDARD_GRAVITY = 9.80665


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


PHONE_EXPECTED = ["time", "lat", "lon", "acc_z (or acc_x, acc_y, acc_z)", "optional speed, device_id"]


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
