"""Uploaded files → a per-session task folder, safely.

An uploaded file's name is never used as a path unchecked: only its last component is kept, every character outside
``A–Z a–z 0–9 . _ -`` becomes ``_``, leading dots are stripped, the extension must be one of the allowed ones and the
result must land inside the target folder. Each file is checked against a size limit. Folders mirror the uploader:
files removed from the widget are removed from the folder, and unchanged files are not rewritten (so caches keyed on
the folder's contents stay valid across reruns).

PNG/JPEG tiles need their world file (``.pgw``/``.jgw``/``.wld``; CRS from a ``.prj``) uploaded beside them.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Protocol

from tlgeo._utils import human_bytes
from tlgeo.errors import DataFileError, GeoreferenceError
from tlgeo.tiles import WORLD_FILE_SUFFIXES

#: Size limit per uploaded file, in MB (``.streamlit/config.toml`` sets the same ``server.maxUploadSize``).
MAX_UPLOAD_MB = 200
IMAGE_TYPES = ("tif", "tiff", "png", "jpg", "jpeg")
SIDECAR_TYPES = ("pgw", "pngw", "jgw", "jpgw", "jpegw", "tfw", "tifw", "wld", "prj")
TILE_TYPES = IMAGE_TYPES + SIDECAR_TYPES
ROAD_LOG_TYPES = ("csv", "gz")
VILLAGE_TYPES = ("csv", "gz", "geojson", "json", "gpkg")
SETTINGS_TYPES = ("toml",)
#: Labels files of the label-file tasks (``classes``, …): single files, a zipped Shapefile, or a Shapefile's parts.
LABEL_SINGLE_TYPES = ("gpkg", "geojson", "json", "fgb", "csv")
SHAPEFILE_PARTS = ("shp", "shx", "dbf", "prj", "cpg")
LABEL_TYPES = (*LABEL_SINGLE_TYPES, "zip", *SHAPEFILE_PARTS)
LABELS_STEM = "labels"
_COMPOUND = (".csv.gz",)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadedLike(Protocol):
    """What is needed of ``streamlit.runtime.uploaded_file_manager.UploadedFile``."""

    name: str

    def getvalue(self) -> bytes: ...


def _suffix(name: str) -> str:
    low = name.lower()
    for compound in _COMPOUND:
        if low.endswith(compound):
            return compound
    return PurePosixPath(low).suffix


def safe_filename(name: str, allowed: Sequence[str]) -> str:
    """A safe file name for an uploaded file.

    Args:
        name: The name the browser sent (may contain folders, ``..``, odd characters).
        allowed: Allowed extensions without dots (``"tif"``, ``"csv"``, ``"gz"`` for ``.csv.gz``).

    Raises:
        DataFileError: The extension is not allowed, or nothing usable is left of the name.
    """
    base = PureWindowsPath(PurePosixPath(str(name)).name).name  # last component, whatever the separator
    suffix = _suffix(unicodedata.normalize("NFKC", base))  # from the name as sent: "日本語.tif" is a .tif
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    if not base.lower().endswith(suffix):
        base = f"file{suffix}"
    ok = {f".{a.lower().lstrip('.')}" for a in allowed}
    if suffix not in ok and not (suffix == ".csv.gz" and ".gz" in ok):
        shown = ", ".join(sorted(ok))
        raise DataFileError(
            f"{name!r} is not an accepted file type here (extension {suffix or 'none'!r})",
            hint=f"Upload files ending in {shown}.",
        )
    stem = base[: len(base) - len(suffix)] if suffix else base
    stem = _UNSAFE.sub("_", stem).strip("._-")[:80] or "file"
    return f"{stem}{suffix}"


def _size_of(file: UploadedLike) -> int:
    size = getattr(file, "size", None)
    return int(size) if size is not None else len(file.getvalue())


def check_size(file: UploadedLike, max_mb: float | None = None) -> None:
    """Raise :class:`DataFileError` when ``file`` is empty or larger than ``max_mb`` (default :data:`MAX_UPLOAD_MB`)."""
    max_mb = MAX_UPLOAD_MB if max_mb is None else max_mb
    size = _size_of(file)
    if size > max_mb * 1024 * 1024:
        raise DataFileError(
            f"{file.name!r} is {human_bytes(size)}, over the {max_mb:g} MB limit per file",
            hint="Cut the scene into smaller GeoTIFFs (e.g. gdal_retile.py), or use the CLI (`tlgeo predict`) for big scenes.",
        )
    if size == 0:
        raise DataFileError(f"{file.name!r} is empty (0 bytes)", hint="Export or copy the file again.")
    check_upload_pixels(file)


def check_upload_pixels(file: UploadedLike) -> None:
    """Refuse an uploaded raster whose header declares more pixels than the limit (:mod:`tlgeo.limits`).

    Only the header is read (a small file can declare a huge raster). Files that are not rasters pass.
    """
    if _suffix(str(file.name)) not in (".tif", ".tiff", ".png", ".jpg", ".jpeg"):
        return
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from tlgeo.limits import check_pixels

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.MemoryFile(file.getvalue()) as mem, mem.open() as ds:
                width, height = ds.width, ds.height
    except (RasterioIOError, ValueError):
        return  # not readable: the reader says why, naming the file
    check_pixels(file.name, width, height)


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_upload(
    file: UploadedLike, folder: Path, allowed: Sequence[str], *, name: str | None = None, max_mb: float | None = None
) -> Path:
    """Write one uploaded file into ``folder`` under a safe name (or ``name``, itself checked).

    Raises:
        DataFileError: Wrong type, too large, empty, or a name that would leave ``folder``.
    """
    check_size(file, max_mb)
    safe = safe_filename(name or file.name, allowed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / safe).resolve()
    if target.parent != folder.resolve():
        raise DataFileError(f"Refusing the upload name {file.name!r}", hint="Rename the file and upload it again.")
    _write_if_changed(target, file.getvalue())
    return target


def sync_uploads(
    files: Iterable[UploadedLike] | None, folder: Path, allowed: Sequence[str], *, max_mb: float | None = None
) -> list[Path]:
    """Make ``folder`` hold exactly the uploaded ``files`` (safe names; unchanged files untouched).

    Raises:
        DataFileError: A file has a wrong type, is too large or empty, or two uploads map to the same safe name.
    """
    files = list(files or [])
    folder = Path(folder)
    names = [safe_filename(f.name, allowed) for f in files]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataFileError(f"Two uploaded files are both saved as {dup[0]!r}", hint="Rename one of them.")
    saved = [save_upload(f, folder, allowed, name=n, max_mb=max_mb) for f, n in zip(files, names, strict=True)]
    keep = {p.name for p in saved}
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and p.name not in keep:
                p.unlink()
    return sorted(saved)


def save_single(
    file: UploadedLike | None,
    folder: Path,
    stem: str,
    allowed: Sequence[str],
    replaces: Sequence[str] = (),
    *,
    max_mb: float | None = None,
) -> Path | None:
    """Save one upload as ``folder/<stem><its extension>`` (e.g. ``villages.csv``), removing ``replaces`` names.

    With ``file=None`` the previous upload (any of ``replaces``) is removed.
    """
    folder = Path(folder)
    target = None
    if file is not None:
        suffix = _suffix(safe_filename(file.name, allowed))
        target = save_upload(file, folder, allowed, name=f"{stem}{suffix}", max_mb=max_mb)
    for other in replaces:
        p = folder / other
        if p.is_file() and (target is None or p.resolve() != target):
            p.unlink()
    return target


class _Part:
    """A member of an uploaded zip, shaped like an uploaded file."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


def _zip_shapefile(file: UploadedLike, max_mb: float) -> list[_Part]:
    """The parts of the one Shapefile inside an uploaded zip (nothing is extracted to disk by name)."""
    import io
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(file.getvalue()))
    except zipfile.BadZipFile as exc:
        raise DataFileError(f"{file.name!r} is not a readable zip file", hint="Zip the Shapefile again.") from exc
    with archive:
        members = [
            m for m in archive.infolist() if not m.is_dir() and not PurePosixPath(m.filename).name.startswith(".")
        ]
        shps = [m for m in members if m.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            raise DataFileError(
                f"{file.name!r} holds {len(shps)} Shapefiles (.shp), expected exactly one",
                hint="Zip one Shapefile's .shp, .shx, .dbf and .prj, or upload a GeoPackage.",
            )
        stem = shps[0].filename[:-4]
        parts = [
            m for m in members if m.filename.rsplit(".", 1)[0] == stem and _suffix(m.filename)[1:] in SHAPEFILE_PARTS
        ]
        if sum(m.file_size for m in parts) > max_mb * 1024 * 1024:
            raise DataFileError(f"{file.name!r} unpacks to more than {max_mb:g} MB", hint="Upload a smaller file.")
        return [_Part(PurePosixPath(m.filename).name, archive.read(m)) for m in parts]


def save_labels(files: Sequence[UploadedLike] | UploadedLike, folder: Path, *, max_mb: float | None = None) -> Path:
    """Save an uploaded labels file as ``folder/labels.<ext>`` (replacing earlier ones) and return its path.

    Accepts one GeoPackage, GeoJSON, FlatGeobuf or CSV file; a zip holding one Shapefile; or a Shapefile's parts
    (``.shp``, ``.shx``, ``.dbf``, optionally ``.prj``/``.cpg``) uploaded together.

    Raises:
        DataFileError: Wrong type, several labels files, a Shapefile without its ``.shx`` or ``.dbf``, a bad zip.
    """
    max_mb = MAX_UPLOAD_MB if max_mb is None else max_mb
    files = list(files) if isinstance(files, (list, tuple)) else [files]
    names = [safe_filename(f.name, LABEL_TYPES) for f in files]
    kinds = [_suffix(n)[1:] for n in names]
    if kinds == ["zip"]:
        check_size(files[0], max_mb)
        files = _zip_shapefile(files[0], max_mb)
        kinds = [_suffix(f.name)[1:] for f in files]
    elif "zip" in kinds:
        raise DataFileError("Upload a zipped Shapefile on its own", hint="Remove the other labels files.")
    if any(k in SHAPEFILE_PARTS for k in kinds):
        missing = [f".{k}" for k in ("shp", "shx", "dbf") if k not in kinds]
        if missing:
            raise DataFileError(
                f"The Shapefile upload lacks its {', '.join(missing)} file",
                hint="Upload the .shp, .shx, .dbf and .prj together (or one zip of them), or a GeoPackage.",
            )
        extra = [f.name for f, k in zip(files, kinds, strict=True) if k not in SHAPEFILE_PARTS]
        if extra or len(set(kinds)) != len(kinds):
            raise DataFileError(
                f"Upload one labels file at a time (received {', '.join(f.name for f in files)})",
                hint="Upload one Shapefile's parts, or a single GeoPackage, GeoJSON, FlatGeobuf or CSV.",
            )
    elif len(files) != 1:
        raise DataFileError(
            f"Upload one labels file at a time (received {', '.join(f.name for f in files)})",
            hint="Merge them into one GeoPackage, or upload a Shapefile's .shp, .shx, .dbf and .prj together.",
        )
    folder = Path(folder)
    saved = [
        save_upload(f, folder, LABEL_TYPES, name=f"{LABELS_STEM}.{k}", max_mb=max_mb)
        for f, k in zip(files, kinds, strict=True)
    ]
    keep = {p.name for p in saved}
    for p in folder.glob(f"{LABELS_STEM}.*"):
        if p.is_file() and p.name not in keep:
            p.unlink()
    return next(p for p in saved if p.suffix != ".prj" and p.suffix[1:] not in SHAPEFILE_PARTS[1:])


def labels_file(folder: Path) -> Path | None:
    """The labels file :func:`save_labels` saved in ``folder`` (``labels.gpkg``, ``labels.shp``, …), if any."""
    for kind in (*LABEL_SINGLE_TYPES, "shp"):
        p = Path(folder) / f"{LABELS_STEM}.{kind}"
        if p.is_file():
            return p
    return None


def rasters_with_world_files(paths: Sequence[Path]) -> list[Path]:
    """The image files among ``paths``; PNG/JPEG must have a world file among them.

    Raises:
        GeoreferenceError: A PNG/JPEG has no world file beside it (the message names the expected extensions).
        DataFileError: No image file at all.
    """
    paths = [Path(p) for p in paths]
    images = [p for p in paths if p.suffix.lower().lstrip(".") in IMAGE_TYPES]
    if not images:
        raise DataFileError(
            "No image among the uploaded files", hint="Upload GeoTIFFs, or PNG/JPEG tiles with their world files."
        )
    present = {p.name.lower() for p in paths}
    for img in images:
        suffix = img.suffix.lower()
        if suffix in (".tif", ".tiff"):
            continue
        wanted = WORLD_FILE_SUFFIXES.get(suffix, (".wld",))
        if not any(f"{img.stem}{w}".lower() in present for w in wanted):
            raise GeoreferenceError(
                f"{img.name} has no world file",
                hint=f"Upload {img.stem}{wanted[0]} (or {', '.join(img.stem + w for w in wanted[1:])}) and "
                f"{img.stem}.prj with it, or convert it to a GeoTIFF.",
                path=img,
            )
    return sorted(images)


def folder_stamp(folder: Path) -> str:
    """A fingerprint of a folder's files (names, sizes, modification times) — a cache key that changes with uploads."""
    folder = Path(folder)
    h = hashlib.sha1()
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                h.update(f"{p.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def files_in(folder: Path) -> list[str]:
    """Files saved in an upload folder, as paths relative to it (``imagery/scene.tif``, ``villages.csv``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
    )


def remove_folder(folder: Path) -> None:
    """Delete a session upload folder and everything in it.

    Only a folder inside this session's own temporary folder (``tlgeo-session-*`` under the system temp folder) is
    ever deleted; any other path is left alone, so no user-owned folder can be removed from the dashboard.
    """
    folder = Path(folder).resolve()
    temp_root = Path(tempfile.gettempdir()).resolve()
    inside = [p for p in folder.parents if p.parent == temp_root and p.name.startswith("tlgeo-session-")]
    if not inside or folder.is_symlink():
        return
    shutil.rmtree(folder, ignore_errors=True)
