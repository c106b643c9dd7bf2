"""One error tree for tlgeo.

Every error a user can cause derives from :class:`TlgeoError` *and* from the built-in exception it resembles
(like rasterio's ``RasterioIOError(RasterioError, OSError)``), so ``except OSError`` keeps working for callers
that do not know tlgeo. Messages name the file, argument or value involved and end with what to do about it;
the CLI prints them as one line and the UI shows them with ``st.error`` — never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class TlgeoError(Exception):
    """Base class of every error tlgeo raises on purpose.

    Args:
        message: What went wrong, naming the file, column, argument or value.
        hint: What the user should do about it.
        path: The file or folder involved, if any.
    """

    def __init__(self, message: str, *, hint: str | None = None, path: str | Path | None = None):
        self.message = message
        self.hint = hint
        self.path = Path(path) if path is not None else None
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint}"
        return text


class ConfigError(TlgeoError, ValueError):
    """An argument or setting has a value tlgeo cannot use."""


class DataFileError(TlgeoError, OSError):
    """A data file is missing, empty, unreadable or not of the expected kind."""


class RasterError(DataFileError):
    """A raster cannot be read or does not fit what was asked of it."""


class GeoreferenceError(RasterError):
    """A raster or vector file has no CRS or no georeference."""


class BandError(RasterError, IndexError):
    """A band index is out of range, or the bands cannot be mapped to 3 channels."""


class LabelError(TlgeoError, ValueError):
    """Label data (phone logs, segment logs, village indicators) is malformed."""


class WeightsError(TlgeoError, OSError):
    """Pretrained weights are unavailable, damaged or do not fit the architecture."""


class TrainingError(TlgeoError, RuntimeError):
    """Training cannot proceed with the data and settings given."""


class RunError(TlgeoError, OSError):
    """A run folder is missing, incomplete or from an incompatible version."""


class CompatibilityError(TlgeoError, ValueError):
    """Input does not fit what a trained run expects (bands, dtype, size)."""


class OutputExistsError(TlgeoError, FileExistsError):
    """An output file already exists and overwriting was not asked for."""
