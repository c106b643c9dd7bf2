"""RoadRunner segment logs (the geoLab app's CSV) → roughness segments, with dead-column fallbacks per device."""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.errors
import shapely.geometry

from tlgeo.config import RoadLabelConfig
from tlgeo.errors import LabelError
from tlgeo.labels._common import (
    check_lat_lon,
    find_columns,
    id_list,
    iso_utc,
    line_lengths_m,
    missing_columns_error,
    numeric_column,
    plural,
    read_table,
)
from tlgeo.labels.roads.segments import _device_from_name, _parse_time, _segment_frame

ROADRUNNER_ALIASES = {
    "id": ("id",),
    "line": ("line",),
    "distance": ("distance",),
    "filename": ("filename",),
    "time": ("time",),
    "phone": ("phoneid", "phone_id"),
}


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


def _parse_lines(text: pd.Series) -> np.ndarray:
    """Geometries from WKT, GeoJSON or Python-quoted GeoJSON-like mappings (None where unreadable)."""
    s = text.astype("string").fillna("").str.strip()
    out = np.full(len(s), None, dtype=object)
    wkt = s.str.upper().str.startswith(("LINESTRING", "MULTILINESTRING")).to_numpy(dtype=bool, na_value=False)
    if wkt.any():
        out[wkt] = shapely.from_wkt(s[wkt].to_numpy(dtype=object), on_invalid="ignore")
    js = ~wkt & s.str.startswith("{").to_numpy(dtype=bool, na_value=False)
    if js.any():
        out[js] = [_mapping_geometry(cell) for cell in s[js].to_numpy(dtype=object)]
    ok = ~shapely.is_missing(out)
    types = shapely.get_type_id(out)
    bad = ok & ~np.isin(types, (1, 5))  # LineString, MultiLineString
    out[bad] = None
    return out


def _mapping_geometry(cell: str):
    """A geometry from a GeoJSON-like mapping: Python-quoted (``ast.literal_eval``) or strict JSON; None if neither."""
    try:
        obj = ast.literal_eval(cell)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            obj = json.loads(cell)
        except ValueError:
            return None
    try:
        return shapely.geometry.shape(obj)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, shapely.errors.GEOSException):
        return None


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
