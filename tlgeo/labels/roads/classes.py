"""Road classes: per-phone gains from shared stretches, calibrated roughness, class boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from tlgeo.config import RoadLabelConfig
from tlgeo.errors import LabelError
from tlgeo.labels._common import (
    id_list,
    plural,
)
from tlgeo.labels.roads.logs import read_vibration_logs

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
