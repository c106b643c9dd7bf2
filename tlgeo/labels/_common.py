"""Private helpers shared by :mod:`tlgeo.labels.roads` and :mod:`tlgeo.labels.villages`.

Reading field tables (CSV, ``.csv.gz``; delimiter sniffed, every pandas failure turned into a tlgeo error naming the
file), finding columns by name or alias, checking lon/lat values, and distances on the sphere — all vectorised.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from tlgeo._utils import check_file
from tlgeo.errors import DataFileError, LabelError

#: Geodesics on the WGS84 ellipsoid (distances between GPS fixes, segment lengths).
_GEOD = Geod(ellps="WGS84")
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(3, 'sample') == '3 samples'`` (with a thousands separator)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _first_line(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            for line in fh:
                if line.strip():
                    return line.rstrip("\r\n")
    except (OSError, EOFError) as exc:  # damaged gzip
        raise DataFileError(
            f"Cannot read {path} ({exc})", hint="The file may be truncated; copy it again.", path=path
        ) from exc
    return ""


def sniff_delimiter(path: Path) -> tuple[str, list[str]]:
    """The delimiter of a CSV file (comma, semicolon, tab or pipe; :class:`csv.Sniffer` on the header line) and its
    header fields."""
    header = _first_line(path)
    if not header:
        raise DataFileError(f"{path} holds no text (only blank lines)", hint="Export the file again.", path=path)
    try:
        sep = csv.Sniffer().sniff(header, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:  # one column: no delimiter to find
        sep = ","
    return sep, [f.strip().strip('"').strip("'") for f in header.split(sep)]


def read_table(
    path: str | Path,
    *,
    what: str,
    str_columns: Iterable[str] = (),
    report: list[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV (or ``.csv.gz``) into a DataFrame with stripped column names.

    Args:
        path: The file.
        what: What the file is, for messages ("Phone log", "Village table").
        str_columns: Column names (case-insensitive) read as text (ids that look like numbers, e.g. hex phone ids).
        report: Lines appended here when something was guessed (a non-comma delimiter).

    Raises:
        DataFileError: Missing, empty, binary or damaged file; header without rows.
        LabelError: Rows with a wrong number of fields.
    """
    from tlgeo.limits import check_decompressed

    path = check_file(path, what)
    check_decompressed(path)  # a small .gz must not inflate without bound (TLGEO_MAX_DECOMPRESSED_MB)
    sep, header = sniff_delimiter(path)
    wanted = {c.lower() for c in str_columns}
    dtype = {h: str for h in header if h.lower() in wanted}
    try:
        df = pd.read_csv(
            path, sep=sep, dtype=dtype or None, encoding="utf-8-sig", low_memory=False, skipinitialspace=True
        )
    except pd.errors.EmptyDataError as exc:
        raise DataFileError(f"{what} {path} has no columns", hint="Export the file again.", path=path) from exc
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise LabelError(
            f"{what} {path} is not a regular {_DELIMITER_NAMES[sep]}-separated table ({detail})",
            hint="Check for stray delimiters or quotes in that line, or export the file again.",
            path=path,
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="Save it as UTF-8 CSV.",
            path=path,
        ) from exc
    except (OSError, EOFError, ValueError) as exc:
        raise DataFileError(
            f"Cannot read {what.lower()} {path} ({exc})", hint="Export the file again.", path=path
        ) from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise DataFileError(
            f"{what} {path} has a header ({', '.join(df.columns[:8])}) but no data rows",
            hint="Export the file again with its data.",
            path=path,
        )
    if sep != "," and report is not None:
        report.append(f"{path.name}: read as {_DELIMITER_NAMES[sep]}-separated (no comma in the header)")
    return df


def find_columns(columns: Iterable[str], aliases: Mapping[str, Sequence[str]]) -> dict[str, str | None]:
    """Map canonical names to the actual column names, matching case-insensitively against each alias in turn."""
    lower = {}
    for c in columns:
        lower.setdefault(str(c).strip().lower(), c)
    return {key: next((lower[a.lower()] for a in names if a.lower() in lower), None) for key, names in aliases.items()}


def delimiter_note(found: Sequence[str]) -> str:
    """A note for error messages when a header was read as one column holding other separators."""
    found = list(found)
    if len(found) == 1 and any(d in str(found[0]) for d in (";", "\t", "|", " ")):
        return " (one column only: is the delimiter something other than a comma?)"
    return ""


def missing_columns_error(
    path: str | Path | None,
    what: str,
    missing: Sequence[str],
    expected: Sequence[str],
    found: Sequence[str],
    hint: str | None = None,
) -> LabelError:
    """A :class:`LabelError` listing what is missing, what is expected and what the file has."""
    shown = ", ".join(str(c) for c in list(found)[:20]) + (" …" if len(found) > 20 else "")
    extra = delimiter_note(found)
    where = f"{what} {path}" if path is not None else what
    return LabelError(
        f"{where} lacks column(s) {', '.join(missing)}; expected {', '.join(expected)}; found {shown}{extra}",
        hint=hint or "Rename the columns or export the file with them.",
        path=path,
    )


#: Cell texts that mean "no value" in a numeric column (lower case).
MISSING_MARKERS = ("na", "n/a", "nan", "null", "none", "-", "--", ".", "?", "missing")


def numeric_column(series: pd.Series, name: str, where: str, *, path: str | Path | None = None) -> np.ndarray:
    """A column as float64 (NaN where empty); inf becomes NaN.

    Raises:
        LabelError: More than half of the non-empty cells are not numbers (decimal commas, text).
    """
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    else:
        coerced = pd.to_numeric(series, errors="coerce")
        text = series.astype("string").str.strip()
        missing_marker = text.str.lower().isin(MISSING_MARKERS)
        bad = (coerced.isna() & series.notna() & (text != "") & ~missing_marker).fillna(False).to_numpy(dtype=bool)
        if bad.any():
            example = str(series[bad].iloc[0])
            comma = " (decimal comma?)" if "," in example else ""
            raise LabelError(
                f"{where}: column {name!r} holds {plural(int(bad.sum()), 'non-numeric value')} such as "
                f"{example!r}{comma} (row {int(np.flatnonzero(bad)[0]) + 2})",
                hint="Numbers must use a decimal point; leave a cell empty (or NA) for a missing value.",
                path=path,
            )
        values = coerced.to_numpy(dtype="float64", na_value=np.nan)
    values = values.astype("float64", copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def check_lat_lon(lat: np.ndarray, lon: np.ndarray, where: str, *, path: str | Path | None = None) -> None:
    """Refuse latitudes/longitudes outside ±90/±180, saying when the columns look swapped or projected.

    Args:
        lat, lon: Degrees; NaN is ignored.
        where: File name (or description) for the message.

    Raises:
        LabelError: Values out of range.
    """
    ok = np.isfinite(lat) & np.isfinite(lon)
    la, lo = np.abs(lat[ok]), np.abs(lon[ok])
    if la.size == 0:
        return
    bad_lat, bad_lon = la > 90, lo > 180
    if not bad_lat.any() and not bad_lon.any():
        return
    if max(la.max(), lo.max()) > 1000:
        raise LabelError(
            f"{where}: lat/lon values up to {max(la.max(), lo.max()):,.0f} look like projected coordinates (metres)",
            hint="Give WGS84 longitude/latitude in degrees (EPSG:4326).",
            path=path,
        )
    if bad_lat.any() and (lo <= 90).all() and (la <= 180).all():
        raise LabelError(
            f"{where}: {plural(int(bad_lat.sum()), 'latitude')} outside ±90° (up to {la.max():.4f}) while every "
            "longitude is within ±90° — lat and lon look swapped",
            hint="Swap the lat and lon column names.",
            path=path,
        )
    col, n, top = (
        ("latitude", int(bad_lat.sum()), la.max()) if bad_lat.any() else ("longitude", int(bad_lon.sum()), lo.max())
    )
    raise LabelError(
        f"{where}: {plural(n, col)} out of range (up to {top:.4f}°)",
        hint="Latitudes must lie within ±90° and longitudes within ±180°; fix or remove those rows.",
        path=path,
    )


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Distance in metres between arrays of points given in degrees: geodesics on the WGS84 ellipsoid
    (:class:`pyproj.Geod`; the name is kept from the spherical formula it replaced, which differed by up to 0.5 %)."""
    lat1, lon1, lat2, lon2 = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (lat1, lon1, lat2, lon2)))
    if lat1.size == 0:
        return np.zeros(lat1.shape)
    _, _, dist = _GEOD.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(dist, dtype="float64").reshape(lat1.shape)


def line_lengths_m(geoms: np.ndarray) -> np.ndarray:
    """Lengths in metres of lon/lat (Multi)LineStrings, summing WGS84 geodesic distances between vertices.

    Parts of a MultiLineString are not joined. Missing geometries get NaN.
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), np.nan)
    present = ~shapely.is_missing(geoms)
    if not present.any():
        return out
    kept = geoms[present]
    if (shapely.get_type_id(kept) == 1).all():  # LineStrings only: no need to split parts (get_parts is slow)
        parts, part_of = kept, np.arange(kept.size)
    else:
        parts, part_of = shapely.get_parts(kept, return_index=True)
    coords, vertex_of = shapely.get_coordinates(parts, return_index=True)
    same = vertex_of[1:] == vertex_of[:-1]
    d = haversine_m(coords[:-1, 1], coords[:-1, 0], coords[1:, 1], coords[1:, 0]) * same
    per_part = np.bincount(vertex_of[:-1], weights=d, minlength=len(parts))
    out[present] = np.bincount(part_of, weights=per_part, minlength=int(present.sum()))
    return out


def iso_utc(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds → ISO 8601 UTC strings with milliseconds (``None`` where not finite), vectorised."""
    seconds = np.asarray(seconds, dtype="float64")
    out = np.full(seconds.shape, None, dtype=object)
    ok = np.isfinite(seconds)
    if ok.any():
        ms = np.round(seconds[ok] * 1000.0).astype("int64").astype("datetime64[ms]")
        out[ok] = np.char.add(np.datetime_as_string(ms, unit="ms"), "Z").astype(object)
    return out


def swapped_bounds(bounds: Sequence[float]) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) with x and y exchanged."""
    minx, miny, maxx, maxy = bounds
    return (miny, minx, maxy, maxx)


def boxes_intersect(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two (minx, miny, maxx, maxy) boxes overlap."""
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def fmt_bounds(b: Sequence[float]) -> str:
    """Lon/lat box as text: ``lon 36.80…36.90, lat -1.30…-1.20``."""
    return f"lon {b[0]:.4f}…{b[2]:.4f}, lat {b[1]:.4f}…{b[3]:.4f}"


def id_list(values: Iterable[object], limit: int = 8) -> str:
    """Up to ``limit`` ids joined by commas, with an ellipsis when there are more."""
    vals = [str(v) for v in values]
    return ", ".join(vals[:limit]) + (" …" if len(vals) > limit else "")


def first_file(folder: Path, names: Sequence[str], what: str, hint: str) -> Path:
    """The first of ``names`` that is a file in ``folder`` (the conventional label file names of a task).

    Args:
        folder: The task folder.
        names: File names, in order of preference.
        what: What the file is, as the error names it ("village file").
        hint: How to fix its absence.

    Raises:
        DataFileError: None of ``names`` is a file in ``folder``.
    """
    found = next((Path(folder) / n for n in names if (Path(folder) / n).is_file()), None)
    if found is None:
        raise DataFileError(f"No {what} in {folder}", hint=hint, path=Path(folder))
    return found
