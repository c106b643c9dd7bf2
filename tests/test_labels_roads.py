"""tlgeo.labels.roads: raw phone logs and RoadRunner logs built in code → segments → classes → tile labels.

Logs are drives along a straight road in UTM 37S (near Nairobi): the vertical signal is a sine (or sine bursts) of
known amplitude, so segment roughness is known analytically: ``rms_acc = A/√2`` and
``iri_proxy = 1000 · (2/π) · A / (2π f) / v``.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from tests.conftest import ROOT, roadrunner_frame, write_geotiff
from tlgeo.config import RoadLabelConfig, TaskSettings, TileConfig
from tlgeo.errors import DataFileError, LabelError
from tlgeo.labels import ROAD_TARGET
from tlgeo.labels.roads import (
    SEGMENT_COLUMNS,
    classify_segments,
    detect_log_format,
    pair_lengths,
    phone_log_segments,
    read_roadrunner_log,
    read_vibration_logs,
    road_segments,
    tile_road_labels,
    vertical_acceleration,
)
from tlgeo.tasks import load_task

X0, Y0 = 257_000.0, 9_857_500.0  # drive start, EPSG:32737 (metres)
TO_LONLAT = Transformer.from_crs(32737, 4326, always_xy=True)
G = 9.81


def _iri(amp: float, freq: float, speed: float) -> float:
    return 1000.0 * (2.0 / np.pi) * amp / (2.0 * np.pi * freq) / speed


def make_phone_log(
    *,
    fs: float = 100.0,
    duration: float = 60.0,
    speed: float | np.ndarray = 15.0,
    amp=1.0,
    freq: float = 3.0,
    three: bool = False,
    tilt_deg: tuple[float, float] = (0.0, 0.0),
    gain: float = 1.0,
    horizontal: float = 0.0,
    time: str = "epoch",
    speed_col: bool = False,
    device: str | None = None,
    noise: float = 0.0,
    phase: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A raw phone log driving east from (X0, Y0).

    Args:
        speed: m/s, constant or one value per whole second of the drive.
        amp: Vertical sine amplitude (m/s²): a number, or a function of distance travelled (m) → amplitude.
        three: Three axes with gravity along a tilted direction (else acc_z only, gravity included).
        horizontal: Amplitude (m/s²) of slow braking/cornering and lateral sway added orthogonally to the vertical.
        time: "epoch" (seconds), "iso" (ISO 8601 strings) or "relative" (seconds from 0).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration * fs)) / fs
    per_second = np.broadcast_to(np.asarray(speed, dtype=float), (int(np.ceil(duration)) + 1,))
    sec = np.floor(t).astype(int)
    dist_at_sec = np.r_[0.0, np.cumsum(per_second)]
    s = dist_at_sec[sec] + per_second[sec] * (t - sec)
    x, y = X0 + s, np.full_like(s, Y0)
    lon, lat = TO_LONLAT.transform(x, y)
    a = amp(s) if callable(amp) else np.full_like(t, float(amp))
    av = a * np.sin(2 * np.pi * freq * t + phase) + noise * rng.standard_normal(t.size)
    df = pd.DataFrame({"time": t + (1.7e9 if time != "relative" else 0.0)})
    gps = (np.round(t * fs).astype(int) % int(fs)) == 0
    df["lat"] = np.where(gps, lat, np.nan)
    df["lon"] = np.where(gps, lon, np.nan)
    if speed_col:
        df["speed"] = np.where(gps, per_second[sec], np.nan)
    if three:
        ax, ay = np.radians(tilt_deg)
        up = np.array([np.sin(ay), -np.sin(ax) * np.cos(ay), np.cos(ax) * np.cos(ay)])
        h1 = np.cross(up, [1.0, 0.0, 0.0])
        h1 /= np.linalg.norm(h1)
        h2 = np.cross(up, h1)
        acc = np.outer(G + av, up)
        acc += np.outer(horizontal * np.sin(2 * np.pi * 0.1 * t), h1) + np.outer(
            0.5 * horizontal * np.sin(2 * np.pi * 1.3 * t), h2
        )
        acc *= gain
        df["acc_x"], df["acc_y"], df["acc_z"] = acc.T
    else:
        df["acc_z"] = gain * (G + av)
    if device:
        df["device_id"] = device
    if time == "iso":
        df["time"] = pd.to_datetime(df["time"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return df


def drive_lonlat(d0: float, d1: float, n: int = 3, dy: float = 0.0) -> list[list[float]]:
    """[[lon, lat], …] of the drive between distances d0 and d1 (m)."""
    xs = X0 + np.linspace(d0, d1, n)
    lon, lat = TO_LONLAT.transform(xs, np.full(n, Y0 + dy))
    return [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]


def make_roadrunner(
    n: int = 40, *, seg: float = 50.0, phone: str = "a1b2c3", rough=None, seed: int = 0
) -> pd.DataFrame:
    """A RoadRunner log of ``n`` consecutive segments along the drive, lines in Python quoting."""
    rng = np.random.default_rng(seed)
    rough = rng.uniform(1, 6, n) if rough is None else np.asarray(rough, dtype=float)
    lines = [str({"type": "LineString", "coordinates": drive_lonlat(i * seg, (i + 1) * seg)}) for i in range(n)]
    return roadrunner_frame(
        lines,
        distance=np.full(n, seg),
        rough=rough,
        filename=[f"20240610_{i // 20}" for i in range(n)],
        time=1718000000000 + np.arange(n) * 3000,
        phone=[phone] * n,
    )


def write_csv(df: pd.DataFrame, path: Path, **kw) -> Path:
    df.to_csv(path, index=False, **kw)
    return path


def one_message(exc_info) -> str:
    return str(exc_info.value)


# --------------------------------------------------------------------------------------------- roughness
def test_sine_gives_known_roughness():
    df = make_phone_log(amp=1.0, freq=3.0, speed=15.0)
    seg, report = phone_log_segments(df, device_id="a")
    assert len(seg) >= 15
    assert list(seg.columns) == SEGMENT_COLUMNS
    assert seg.crs.to_epsg() == 4326
    full = seg[seg["length_m"] > 45]
    np.testing.assert_allclose(full["rms_acc"], 1 / np.sqrt(2), rtol=0.01)
    np.testing.assert_allclose(full["iri_proxy"].iloc[1:-1], _iri(1.0, 3.0, 15.0), rtol=0.01)
    np.testing.assert_allclose(full["iri_proxy"], _iri(1.0, 3.0, 15.0), rtol=0.04)  # filter edges at both ends
    np.testing.assert_allclose(full["length_m"], 50.0, atol=0.5)
    np.testing.assert_allclose(full["speed_kmh"], 54.0, rtol=0.01)
    assert (seg.geom_type == "LineString").all()
    # geometry length (metres in UTM) agrees with length_m
    utm = seg.to_crs(32737)
    np.testing.assert_allclose(utm.length, seg["length_m"], rtol=0.002)
    assert not seg["flagged"].any()
    assert any("→ " in r for r in report)


def test_known_bumps_give_known_segment_roughness():
    # a smooth road with two bumps: 2-s bursts of 5 Hz vertical shaking under a sin² envelope (peak 3 m/s²),
    # centred at 75 m and 375 m, driven at 15 m/s → 50-m segments of 3.33 s; bumps lie inside segments 1 and 7
    amp, f, v, width = 3.0, 5.0, 15.0, 2.0

    def envelope(s):
        out = np.zeros_like(s)
        for centre in (75.0, 375.0):
            tau = (s - centre) / v + width / 2
            inside = (tau >= 0) & (tau <= width)
            out[inside] = amp * np.sin(np.pi * tau[inside] / width) ** 2
        return out

    df = make_phone_log(amp=envelope, freq=f, speed=v, duration=40)
    seg, _ = phone_log_segments(df, device_id="a")
    # expected values from the exact motion of one bump: a(τ) = A sin²(πτ/T) sin(2πfτ), v(τ) = ∫a
    tau = np.linspace(0, width, 200_001)
    a = amp * np.sin(np.pi * tau / width) ** 2 * np.sin(2 * np.pi * f * tau)
    vel = np.concatenate([[0.0], np.cumsum((a[1:] + a[:-1]) / 2 * np.diff(tau))])
    seg_dur = 50.0 / v
    rms_expected = np.sqrt(np.trapezoid(a**2, tau) / seg_dur)
    iri_expected = np.trapezoid(np.abs(vel), tau) / 0.050  # metres up and down per km
    bumpy = [1, 7]
    np.testing.assert_allclose(seg["rms_acc"].iloc[bumpy], rms_expected, rtol=0.02)
    np.testing.assert_allclose(seg["iri_proxy"].iloc[bumpy], iri_expected, rtol=0.05)
    smooth = seg.drop(index=seg.index[bumpy])
    assert smooth["rms_acc"].max() < 0.05 * rms_expected
    # with absolute thresholds the bumpy segments (and only they) are poor
    cfg = RoadLabelConfig(roughness="rms", thresholds=(0.3, 0.8))
    classed, bins, _ = classify_segments(seg, cfg)
    assert classed["label"].iloc[bumpy].tolist() == ["poor", "poor"]
    assert set(classed["label"].drop(index=seg.index[bumpy])) == {"good"}
    assert bins["method"] == "absolute"


def test_gravity_removal_for_tilted_phone():
    kw = dict(amp=1.0, freq=4.0, duration=30)
    flat = phone_log_segments(make_phone_log(**kw), device_id="flat")[0]
    tilted_df = make_phone_log(three=True, tilt_deg=(35.0, 20.0), horizontal=1.5, **kw)
    tilted = phone_log_segments(tilted_df, device_id="tilted")[0]
    np.testing.assert_allclose(tilted["rms_acc"], flat["rms_acc"], rtol=0.02)
    np.testing.assert_allclose(tilted["iri_proxy"], flat["iri_proxy"], rtol=0.03)
    # the projected signal itself follows the true vertical
    acc = tilted_df[["acc_x", "acc_y", "acc_z"]].to_numpy()
    av = vertical_acceleration(acc, 100.0)
    t = np.arange(len(acc)) / 100.0
    truth = np.sin(2 * np.pi * 4.0 * t)
    core = slice(500, -500)
    assert np.corrcoef(av[core], truth[core])[0, 1] > 0.99
    # reading acc_z alone from the tilted phone would under-estimate roughness by cos(tilt)
    z_only = phone_log_segments(tilted_df.drop(columns=["acc_x", "acc_y"]), device_id="z")[0]
    assert z_only["rms_acc"].median() < 0.85 * flat["rms_acc"].median()


def test_two_phones_with_different_gain_get_the_same_classes():
    rng = np.random.default_rng(3)
    levels = np.array([0.3, 1.0, 3.0])
    pattern = rng.permutation(np.repeat(np.arange(3), 10))  # 30 segments of 50 m, 10 of each class
    jitter = rng.uniform(0.9, 1.1, pattern.size)

    def amp(s):
        i = np.clip((s // 50).astype(int), 0, pattern.size - 1)
        return levels[pattern[i]] * jitter[i]

    kw = dict(amp=amp, freq=3.0, speed=15.0, duration=100.0)
    a = make_phone_log(three=True, tilt_deg=(25.0, -10.0), gain=1.0, device="phoneA", **kw)
    b = make_phone_log(fs=50.0, gain=2.5, speed_col=True, time="iso", device="phoneB", seed=1, **kw)
    seg_a, _ = phone_log_segments(a)
    seg_b, _ = phone_log_segments(b)
    both = pd.concat([seg_a, seg_b], ignore_index=True)
    both = gpd.GeoDataFrame(both, geometry="geometry", crs=4326)
    classed, bins, _ = classify_segments(both, RoadLabelConfig())
    ca = classed[classed["device_id"] == "phoneA"]["class_index"].to_numpy()
    cb = classed[classed["device_id"] == "phoneB"]["class_index"].to_numpy()
    n = min(ca.size, cb.size, pattern.size)
    assert n >= 29
    np.testing.assert_array_equal(ca[:n], cb[:n])
    np.testing.assert_array_equal(ca[:n], pattern[:n])
    assert bins["method"] == "per_device_quantiles"
    gains = {d: v["gain"] for d, v in bins["devices"].items()}
    assert gains["phoneB"] / gains["phoneA"] == pytest.approx(2.5, rel=0.03)
    # calibrated roughness agrees across phones, raw does not
    ra = classed[classed["device_id"] == "phoneA"]["roughness"].to_numpy()[:n]
    rb = classed[classed["device_id"] == "phoneB"]["roughness"].to_numpy()[:n]
    np.testing.assert_allclose(ra, rb, rtol=0.05)
    # absolute thresholds on uncalibrated data disagree between the phones
    th = tuple(bins["thresholds"])
    raw, _, _ = classify_segments(both, RoadLabelConfig(thresholds=th))
    ra_abs = raw[raw["device_id"] == "phoneA"]["class_index"].to_numpy()[:n]
    rb_abs = raw[raw["device_id"] == "phoneB"]["class_index"].to_numpy()[:n]
    assert (ra_abs != rb_abs).sum() >= 5


def test_too_few_segments_for_calibration_stay_unclassified():
    seg, _ = phone_log_segments(make_phone_log(duration=30), device_id="short")
    classed, _, report = classify_segments(seg, RoadLabelConfig())
    assert (classed["class_index"] == -1).all()
    assert any("fewer than 20 usable segments" in r for r in report)


# --------------------------------------------------------------------------------------------- raw log handling
def test_slow_samples_are_dropped_and_counted():
    speed = np.r_[np.full(30, 15.0), np.full(20, 2.0), np.full(31, 15.0)]
    df = make_phone_log(speed=speed, duration=80)
    seg, report = phone_log_segments(df, device_id="a")
    assert "a: 2,000 samples dropped: speed < 20 km/h" in [r.replace("<table>", "a") for r in report]
    assert (seg["speed_kmh"] > 20).all()
    # a lower minimum speed keeps them
    seg2, report2 = phone_log_segments(df, RoadLabelConfig(min_speed_kmh=5), device_id="a")
    assert not any("speed <" in r for r in report2)
    assert seg2["length_m"].sum() > seg["length_m"].sum()


def test_speed_column_used_and_km_per_hour_detected():
    df = make_phone_log(speed_col=True)
    seg, _ = phone_log_segments(df, device_id="a")
    np.testing.assert_allclose(seg["speed_kmh"], 54.0, rtol=1e-6)
    df["speed"] *= 3.6  # km/h written into an m/s column
    seg2, report2 = phone_log_segments(df, device_id="a")
    assert any("km/h instead of m/s" in r for r in report2)
    np.testing.assert_allclose(seg2["speed_kmh"], 54.0, rtol=0.01)


def test_iso_epoch_relative_and_millisecond_times_agree(tmp_path):
    ref = phone_log_segments(make_phone_log(duration=20), device_id="a")[0]
    for kind in ("iso", "relative"):
        seg = phone_log_segments(make_phone_log(duration=20, time=kind), device_id="a")[0]
        np.testing.assert_allclose(seg["rms_acc"], ref["rms_acc"], rtol=1e-6)
    ms = make_phone_log(duration=20)
    ms["time"] = (ms["time"] * 1000).round()
    seg, report = phone_log_segments(ms, device_id="a")
    np.testing.assert_allclose(seg["rms_acc"], ref["rms_acc"], rtol=1e-3)
    assert any("milliseconds" in r for r in report)
    assert ref["start_time"].iloc[0].startswith("2023-11-14T")


def test_lat_lon_repeated_on_every_row():
    df = make_phone_log(duration=30)
    ref = phone_log_segments(df, device_id="a")[0]
    filled = df.assign(lat=df["lat"].ffill(), lon=df["lon"].ffill())
    seg, report = phone_log_segments(filled, device_id="a")
    assert any("lat/lon repeated on accelerometer rows; 30 distinct GPS fixes used" in r for r in report)
    assert len(seg) == len(ref)
    np.testing.assert_allclose(seg["length_m"], ref["length_m"], atol=0.1)
    np.testing.assert_allclose(seg["rms_acc"], ref["rms_acc"], rtol=0.01)


def test_units_of_g_are_converted():
    df = make_phone_log(three=True, tilt_deg=(10, 10), duration=20)
    df[["acc_x", "acc_y", "acc_z"]] /= G
    seg, report = phone_log_segments(df, device_id="a")
    assert any("units of g" in r for r in report)
    np.testing.assert_allclose(seg["rms_acc"], 1 / np.sqrt(2) * 9.80665 / G, rtol=0.01)


def test_unsorted_and_duplicate_timestamps_are_counted():
    df = make_phone_log(duration=20)
    ref = phone_log_segments(df, device_id="a")[0]
    shuffled = df.sample(frac=1.0, random_state=0)
    seg, report = phone_log_segments(shuffled, device_id="a")
    assert any("out of time order; log sorted by time" in r for r in report)
    np.testing.assert_allclose(seg["rms_acc"], ref["rms_acc"], rtol=1e-9)
    dup = pd.concat([df, df.iloc[1000:1050]]).sort_values("time", kind="stable")
    seg, report = phone_log_segments(dup, device_id="a")
    assert any("50 samples with a duplicate time stamp dropped" in r for r in report)
    coarse = df.assign(time=np.floor(df["time"]))
    with pytest.raises(LabelError, match="too coarse"):
        phone_log_segments(coarse, device_id="a")


def test_nan_readings_are_dropped_and_counted():
    df = make_phone_log(duration=20)
    gps = df["lat"].notna()
    nan_rows = df.index[~gps][100:600]
    df.loc[nan_rows, "acc_z"] = np.nan
    seg, report = phone_log_segments(df, device_id="a")
    assert any("500 samples with missing or NaN acceleration dropped" in r for r in report)
    np.testing.assert_allclose(seg["rms_acc"].iloc[2:], 1 / np.sqrt(2), rtol=0.02)
    df["acc_z"] = np.nan
    with pytest.raises(LabelError, match="no row has a valid acceleration"):
        phone_log_segments(df, device_id="a")


def test_gps_jumps_are_dropped_or_split_the_drive():
    df = make_phone_log(duration=40)
    ref = phone_log_segments(df, device_id="a")[0]
    spike = df.copy()
    i = spike.index[spike["lat"].notna()][10]
    spike.loc[i, "lat"] += 0.05  # 5.5 km north for one fix and back
    seg, report = phone_log_segments(spike, device_id="a")
    assert any("1 GPS fix jumping faster than 200 km/h and back dropped" in r for r in report)
    assert len(seg) == len(ref)
    np.testing.assert_allclose(seg["length_m"], ref["length_m"], atol=0.5)
    teleport = df.copy()
    later = teleport.index[teleport["lat"].notna()][20:]
    teleport.loc[later, "lat"] += 0.05  # every fix from 20 s on is 5.5 km away
    seg, report = phone_log_segments(teleport, device_id="a")
    assert any("1 GPS jump faster than 200 km/h; drive split there" in r for r in report)
    assert seg["length_m"].max() < 60
    assert not seg.to_crs(32737).intersects(shapely.box(X0, Y0 + 100, X0 + 1000, Y0 + 5000)).any()


def test_gps_gap_flags_segments():
    df = make_phone_log(duration=40)
    gps_rows = df.index[df["lat"].notna()]
    df.loc[gps_rows[10:18], ["lat", "lon"]] = np.nan  # 9 s without a fix
    seg, report = phone_log_segments(df, device_id="a")
    assert seg["flagged"].sum() >= 2
    assert set(seg.loc[seg["flagged"], "flag_reason"]) == {"gps_gap>5s"}
    assert any("flagged" in r for r in report)


def test_log_with_no_moving_segment(tmp_path):
    df = make_phone_log(speed=3.0, duration=20)
    seg, report = phone_log_segments(df, device_id="a")
    assert len(seg) == 0
    assert any("no moving segment" in r for r in report)
    path = write_csv(df, tmp_path / "parked.csv")
    with pytest.raises(LabelError, match=r"No usable road segment in 1 log \(parked.csv\)"):
        road_segments([path])


def test_bad_columns_and_coordinates_are_refused(tmp_path):
    df = make_phone_log(duration=10)
    with pytest.raises(LabelError) as err:
        phone_log_segments(write_csv(df.rename(columns={"lat": "y"}), tmp_path / "a.csv"))
    msg = one_message(err)
    assert "lacks column(s) lat" in msg and "expected time, lat, lon" in msg and "found time, y, lon" in msg
    with pytest.raises(LabelError, match=r"neither a raw phone log .* nor a RoadRunner segment log"):
        read_vibration_logs([write_csv(df.rename(columns={"acc_z": "z"}), tmp_path / "b.csv")])
    far = df.assign(lat=df["lat"] + 40, lon=df["lon"] + 60)  # lat ≈ 39, lon ≈ 97
    swapped = far.rename(columns={"lat": "lon", "lon": "lat"})
    with pytest.raises(LabelError, match="look swapped"):
        phone_log_segments(swapped)
    with pytest.raises(LabelError, match="out of range"):
        phone_log_segments(df.assign(lat=df["lat"] + 95, lon=df["lon"] + 150))
    with pytest.raises(LabelError, match="projected coordinates"):
        phone_log_segments(df.assign(lat=df["lat"] * 0 + 9857500, lon=df["lon"] * 0 + 257000))
    slow_clock = df.iloc[::100]
    with pytest.raises(LabelError, match="sampled at 1 Hz"):
        phone_log_segments(slow_clock)
    text = df.assign(acc_z=df["acc_z"].map(lambda v: f"{v:.3f}".replace(".", ",")))
    with pytest.raises(LabelError, match="decimal comma"):
        phone_log_segments(text)
    two = df.assign(device_id=np.where(np.arange(len(df)) < 500, "x", "y"))
    with pytest.raises(LabelError, match="2 device ids"):
        phone_log_segments(two)


def test_empty_files_and_delimiters(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataFileError, match=r"empty \(0 bytes\)"):
        read_vibration_logs([empty])
    header = tmp_path / "header.csv"
    header.write_text("time,lat,lon,acc_z\n")
    with pytest.raises(DataFileError, match="no data rows"):
        read_vibration_logs([header])
    with pytest.raises(DataFileError, match="does not exist"):
        read_vibration_logs([tmp_path / "missing.csv"])
    df = make_phone_log(duration=20, device="p")
    ref = phone_log_segments(df)[0]
    semi = write_csv(df, tmp_path / "semi.csv", sep=";")
    seg, report = read_vibration_logs([semi])
    assert any("read as semicolon-separated" in r for r in report)
    np.testing.assert_allclose(seg["rms_acc"], ref["rms_acc"], rtol=1e-6)
    spaced = write_csv(df, tmp_path / "spaced.csv", sep=" ")
    with pytest.raises(LabelError, match="delimiter something other than a comma"):
        read_vibration_logs([spaced])
    gz = tmp_path / "log.csv.gz"
    with gzip.open(gz, "wt") as fh:
        df.to_csv(fh, index=False)
    seg, _ = read_vibration_logs([gz])
    np.testing.assert_allclose(seg["rms_acc"], ref["rms_acc"], rtol=1e-6)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("time,lat,lon,acc_z\n1,2,3,4\n1,2,3,4,5,6\n")
    with pytest.raises(LabelError, match="not a regular comma-separated table"):
        read_vibration_logs([ragged])


# --------------------------------------------------------------------------------------------- RoadRunner
def test_roadrunner_log_formats_devices_and_dropouts(tmp_path):
    df = make_roadrunner(40)
    df.loc[5, "line"] = shapely.LineString(drive_lonlat(250, 300)).wkt
    df.loc[6, "line"] = shapely.to_geojson(shapely.LineString(drive_lonlat(300, 350)))
    df.loc[7, "line"] = "not a line"
    df.loc[10, "line"] = str({"type": "LineString", "coordinates": drive_lonlat(500, 1100)})  # GPS dropout: 600 m
    df.loc[11, "distance"] = 400.0  # distance anomaly
    df.loc[[20, 21, 22], "phoneID"] = ""  # recording 20240610_1 has one phone: joined to it
    df.loc[35:39, "filename"] = "20240611_7"  # a recording with no phoneID at all: device from the filename
    df.loc[35:39, "phoneID"] = ""
    path = write_csv(df, tmp_path / "roadrunner_20240610.csv")
    assert detect_log_format(pd.read_csv(path, nrows=1).columns) == "roadrunner"
    seg, report = read_roadrunner_log(path)
    assert len(seg) == 39
    assert seg.loc[seg["segment_id"] == "roadrunner_20240610.csv:6", "length_m"].item() == pytest.approx(50, rel=0.01)
    flagged = seg[seg["flagged"]]
    assert set(flagged["flag_reason"]) == {"gps_dropout"}
    assert len(flagged) == 2
    assert any("1 row with an unreadable line geometry dropped" in r for r in report)
    assert any("3 segments without phoneID joined to the only phone of their recording" in r for r in report)
    assert any("5 segments without phoneID and no single phone" in r for r in report)
    assert set(seg["device_id"]) == {"a1b2c3", "file:20240611"}
    assert (seg["device_id"] == "file:20240611").sum() == 5
    assert any("2 segments flagged" in r for r in report)
    np.testing.assert_allclose(seg["roughness_raw"], seg["roughness_raw"])
    # flagged segments are not used for classes
    classed, bins, _ = classify_segments(seg, RoadLabelConfig(min_device_segments=3))
    assert (classed.loc[classed["flagged"], "class_index"] == -1).all()
    assert set(bins["devices"]) == {"a1b2c3", "file:20240611"}


def test_roadrunner_bad_input(tmp_path):
    df = make_roadrunner(5)
    with pytest.raises(LabelError, match="lacks column"):
        read_roadrunner_log(
            write_csv(df.drop(columns=["iriXp", "iriYp", "iriZp", "iriX", "iriY", "iriZ"]), tmp_path / "a.csv")
        )
    swapped = df.assign(
        line=[str({"type": "LineString", "coordinates": [[c[1], c[0]] for c in drive_lonlat(0, 50)]})] * 5
    )
    # lat ≈ -1.3 and lon ≈ 36.8 swapped stay in range: caught when labelling tiles (see the task test)
    read_roadrunner_log(swapped)
    far = df.assign(line=[str({"type": "LineString", "coordinates": [[10.0, 120.0], [10.001, 120.0]]})] * 5)
    with pytest.raises(LabelError, match="look swapped"):
        read_roadrunner_log(far)
    with pytest.raises(LabelError, match="no readable LineString"):
        read_roadrunner_log(df.assign(line="x"))


# --------------------------------------------------------------------------------------------- tiles
def _grid(
    tmp_path: Path, size_px: int = 128, res: float = 1.0, origin=(X0 - 16, Y0 + 48), width_px: int | None = None
) -> Path:
    folder = tmp_path / "imagery"
    folder.mkdir(parents=True, exist_ok=True)
    data = np.full((3, size_px, width_px or 4 * size_px), 100, dtype=np.uint8)
    write_geotiff(folder / "scene.tif", data, transform=from_origin(origin[0], origin[1], res, res))
    return folder


def test_tile_labels_are_length_weighted(tmp_path):
    from tlgeo.tiles import tile_index

    tiles = tile_index(_grid(tmp_path), size=32)  # 4 rows × 16 cols of 32-m tiles
    # tile (row 1, col 1) spans x X0+16…X0+48, y Y0-16…Y0+16
    lines = [
        shapely.LineString([(X0 + 16, Y0), (X0 + 36, Y0)]),  # 20 m inside, roughness 1
        shapely.LineString([(X0 + 36, Y0), (X0 + 48, Y0)]),  # 12 m inside, roughness 4
        shapely.LineString([(X0 + 50, Y0 + 14), (X0 + 55, Y0 + 14)]),  # 5 m: below min_tile_length_m
        shapely.LineString([(X0 + 100, Y0), (X0 + 140, Y0)]),  # flagged: ignored
    ]
    seg = gpd.GeoDataFrame(
        {
            "roughness": [1.0, 4.0, 9.0, 9.0],
            "class_index": [0, 2, 2, 2],
            "flagged": [False, False, False, True],
        },
        geometry=lines,
        crs=32737,
    ).to_crs(4326)
    out, report = tile_road_labels(seg, tiles, RoadLabelConfig(), thresholds=(1.5, 3.0))
    t = out.set_index("tile_id")
    row = t.loc["scene_r001_c001"]
    assert row["roughness"] == pytest.approx((20 * 1 + 12 * 4) / 32, rel=1e-6)
    assert row["driven_length_m"] == pytest.approx(32, rel=1e-6)
    assert row[ROAD_TARGET] == 1 and row["quality_label"] == "fair"
    assert t.loc["scene_r000_c001", ROAD_TARGET] == -1  # 5 m of driving only
    assert t.loc["scene_r001_c003", ROAD_TARGET] == -1  # flagged segment
    assert np.isnan(t.loc["scene_r001_c003", "roughness"])
    assert (out[ROAD_TARGET] >= 0).sum() == 1
    assert out[ROAD_TARGET].dtype == np.int64
    assert any("1 tile of 64 labelled" in r for r in report)
    assert any("less than 10 m" in r for r in report)


def test_pair_lengths_match_geos_intersection():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 300, (500, 2))
    coords = np.stack([a, a + rng.normal(0, 40, (500, 2)), a + rng.normal(0, 80, (500, 2))], axis=1)
    lines = shapely.linestrings(coords)
    lines[:3] = [shapely.LineString([(0, 64), (100, 64)]), shapely.LineString([(10, -5), (10, 90)]), None]
    lines[3] = shapely.MultiLineString([[(0, 0), (50, 50)], [(60, 0), (60, 40)]])
    x0, y0 = np.floor(a[:, 0] / 64) * 64, np.floor(a[:, 1] / 64) * 64
    tiles = shapely.box(x0, y0, x0 + 64, y0 + 64)
    tiles[:4] = shapely.box(0, 0, 64, 64)
    tiles[4] = shapely.affinity.rotate(tiles[4], 20)  # not axis-aligned: GEOS path
    idx = np.arange(3, 500)
    expected = shapely.length(shapely.intersection(lines[idx], tiles[idx]))
    np.testing.assert_allclose(pair_lengths(lines, tiles, idx, idx), expected, atol=1e-9)
    np.testing.assert_allclose(pair_lengths(lines, tiles, np.array([0, 1]), np.array([0, 1])), [64, 64])


def _task_folder(tmp_path: Path, *, swap: bool = False) -> Path:
    task = tmp_path / "task"
    _grid(task, size_px=64, res=2.0, width_px=800)  # 1,600 m × 128 m at 2 m/px: 25 × 2 tiles of 32 px (64 m)
    vib = task / "vibration"
    vib.mkdir()
    rng = np.random.default_rng(5)
    levels = np.array([0.3, 1.0, 3.0])
    pattern = np.repeat([0, 1, 2, 0, 2, 1], 5)

    def amp(s):
        i = np.clip((s // 50).astype(int), 0, pattern.size - 1)
        return levels[pattern[i]]

    log = make_phone_log(amp=amp, duration=100, three=True, tilt_deg=(30, 5), device="phoneA", noise=0.02)
    if swap:
        log = log.rename(columns={"lat": "lon", "lon": "lat"})
    write_csv(log, vib / "phone_A_20240610.csv")
    rr = make_roadrunner(30, rough=levels[pattern] * 7 * rng.uniform(0.95, 1.05, 30), phone="")
    write_csv(rr, vib / "roadrunner_20240610.csv")
    truth = task / "truth"
    truth.mkdir()
    (truth / "broken.csv").write_text("this is not a log\n")
    (task / "tlgeo.toml").write_text('task = "roads"\n[tiles]\nsize = 32\n[roads]\nmin_device_segments = 10\n')
    return task


def test_load_task_roads(tmp_path):
    task = _task_folder(tmp_path)
    data = load_task(task)
    assert data.task == "roads"
    assert data.targets == {ROAD_TARGET: ["good", "fair", "poor"]}
    tiles = data.tiles
    assert {"tile_id", "geometry", ROAD_TARGET, "roughness", "driven_length_m"} <= set(tiles.columns)
    assert tiles[ROAD_TARGET].dtype == np.int64
    lab = tiles[tiles[ROAD_TARGET] >= 0]
    assert 20 <= len(lab) < len(tiles)
    assert tiles.loc[tiles[ROAD_TARGET] < 0, "roughness"].isna().all()
    assert lab["roughness"].notna().all()
    assert set(data.vectors["source_format"]) == {"phone", "roadrunner"}
    assert {"segment_id", "device_id", "roughness", "rms_acc", "iri_proxy", "speed_kmh", "length_m"} <= set(
        data.vectors.columns
    )
    assert {"class_index", "label", "flagged", "flag_reason", "source_file"} <= set(data.vectors.columns)
    assert data.vectors.crs.to_epsg() == 4326
    assert set(data.bins["devices"]) == {"phoneA", "file:20240610"}
    # the drive is good/fair/poor in 250-m blocks (with 0/1/2 pattern): tiles follow the pattern
    seg_class = data.vectors[data.vectors["source_format"] == "phone"]["class_index"].to_numpy()
    np.testing.assert_array_equal(seg_class[: len(seg_class)], np.repeat([0, 1, 2, 0, 2, 1], 5)[: len(seg_class)])
    assert data.class_counts()[ROAD_TARGET]["poor"] > 0
    assert any("samples" in r for r in data.report)


def test_load_task_detects_swapped_lat_lon(tmp_path):
    task = _task_folder(tmp_path, swap=True)
    (task / "vibration" / "roadrunner_20240610.csv").unlink()
    with pytest.raises(LabelError, match="with lat and lon swapped they would overlap"):
        load_task(task)


def test_settings_object_is_honoured(tmp_path):
    task = _task_folder(tmp_path)
    settings = TaskSettings(task="roads", tiles=TileConfig(size=64), roads=RoadLabelConfig(min_device_segments=10))
    data = load_task(task, settings=settings)
    assert len(data.tiles) == 13  # 64-px tiles: one row of 13 (the last one reaching the edge)


# --------------------------------------------------------------------------------------------- CLI and layering
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", "labels", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_cli_roads_writes_geojson_and_refuses_bad_input(tmp_path):
    task = _task_folder(tmp_path)
    logs = sorted((task / "vibration").glob("*.csv"))
    out = tmp_path / "out" / "segments.geojson"
    res = _cli("roads", "--log", *map(str, logs), "--data", str(task), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "labelled tile" in res.stdout
    seg = gpd.read_file(out)
    assert seg.crs.to_epsg() == 4326
    assert {"segment_id", "device_id", "roughness", "rms_acc", "iri_proxy", "class_index", "label", "flagged"} <= set(
        seg.columns
    )
    tiles = gpd.read_file(out.with_name("segments_tiles.geojson"))
    assert tiles.crs.to_epsg() == 4326
    assert {"tile_id", ROAD_TARGET, "roughness", "driven_length_m"} <= set(tiles.columns)
    assert (tiles[ROAD_TARGET] >= 0).sum() >= 20
    # existing output: refused in one line
    res = _cli("roads", "--log", str(logs[0]), "--out", str(out))
    assert res.returncode == 2 and "already exists" in res.stderr and "Traceback" not in res.stderr
    # a log with a missing column: one line, exit 2
    bad = write_csv(pd.read_csv(logs[0]).drop(columns=["lon"]), tmp_path / "bad.csv")
    res = _cli("roads", "--log", str(bad), "--out", str(tmp_path / "x.geojson"))
    assert res.returncode == 2, res.stdout
    assert res.stderr.startswith("error:") and len(res.stderr.strip().splitlines()) == 1
    assert "lacks column(s) lon" in res.stderr and "Traceback" not in res.stderr


def test_labels_do_not_import_keras_or_streamlit():
    code = (
        "import sys, tlgeo.labels.roads, tlgeo.labels.villages; "
        "bad = [m for m in ('keras', 'tensorflow', 'streamlit') if m in sys.modules]; print(bad); "
        "raise SystemExit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_cli_options_in_process(tmp_path, capsys):
    from tlgeo.cli import main

    log = write_csv(make_phone_log(duration=30, device="p"), tmp_path / "phone_p_20240610.csv")
    out = tmp_path / "seg.geojson"
    code = main(
        ["labels", "roads", "--log", str(log), "--out", str(out), "--roughness", "rms", "--thresholds", "0.3,1"]
    )
    assert code == 0
    seg = gpd.read_file(out)
    assert set(seg["label"]) == {"fair"}  # rms 0.707 between 0.3 and 1
    assert "absolute thresholds" in capsys.readouterr().out
    assert main(["labels", "roads", "--log", str(log), "--out", str(out), "--thresholds", "a,b"]) == 2
    assert "--thresholds must be comma-separated numbers" in capsys.readouterr().err
    assert main(["labels", "roads", "--log", str(log), "--out", str(out), "--overwrite", "--thresholds", "2,1"]) == 2
    assert "thresholds must be increasing" in capsys.readouterr().err
