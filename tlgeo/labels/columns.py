"""What a labels file offers before it is read as labels: its columns and whether each is numeric (for pickers)."""

from __future__ import annotations

from pathlib import Path

from tlgeo.errors import DataFileError

_CSV = (".csv", ".csv.gz", ".txt")


def label_columns(path: str | Path) -> dict[str, bool]:
    """The attribute columns of a labels file (vector file or CSV), each mapped to whether it is numeric.

    Only the schema (a vector file) or the first rows (a CSV) are read. Geometry columns are left out.

    Raises:
        DataFileError: The file is missing or unreadable (named, with the fix).
    """
    import pandas as pd

    path = Path(path)
    try:
        if path.name.lower().endswith(_CSV):
            head = pd.read_csv(path, nrows=200)
            return {str(c): bool(pd.api.types.is_numeric_dtype(head[c])) for c in head.columns}
        import pyogrio

        info = pyogrio.read_info(path)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFileError(
            f"{path.name} is not a readable labels file ({str(exc)[:200]})",
            hint="Upload a GeoPackage, GeoJSON, FlatGeobuf, zipped Shapefile or CSV with lat/lon.",
            path=path,
        ) from exc
    except Exception as exc:  # pyogrio's DataSourceError and friends
        raise DataFileError(
            f"{path.name} is not a readable labels file ({type(exc).__name__}: {str(exc)[:200]})",
            hint="Upload a GeoPackage, GeoJSON, FlatGeobuf, zipped Shapefile or CSV with lat/lon.",
            path=path,
        ) from exc
    numeric = ("int", "float", "double", "real")
    return {
        str(name): any(k in str(dtype).lower() for k in numeric)
        for name, dtype in zip(info["fields"], info["dtypes"], strict=True)
    }
