"""Keep TensorFlow's native start-up lines (oneDNN, CUDA, absl) off the user's terminal.

TensorFlow's C++ side writes to file descriptor 2 directly, so ``TF_CPP_MIN_LOG_LEVEL`` and Python-level
redirection do not silence it. :func:`native_stderr_to_log` points fd 2 at a log file in the cache folder for the
duration of a command, while Python's ``sys.stderr`` (tlgeo's own lines, warnings, errors) keeps writing to the
terminal through a duplicate of the original descriptor. ``--verbose`` prints the captured lines afterwards.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOG_NAME = "tensorflow.log"


def log_path() -> Path:
    """Where the captured native lines of the last command are kept (``<cache>/tensorflow.log``)."""
    try:
        from tlgeo._utils import cache_dir

        return cache_dir() / LOG_NAME
    except OSError:
        return Path(tempfile.gettempdir()) / f"tlgeo-{os.getuid() if hasattr(os, 'getuid') else 0}-{LOG_NAME}"


_TERMINAL: dict[str, io.TextIOWrapper] = {}


def _terminal(fd: int, encoding: str) -> io.TextIOWrapper:
    """A text stream on a private duplicate of the terminal's stderr (one per process, never closed)."""
    stream = _TERMINAL.get(encoding)
    if stream is None:
        stream = io.TextIOWrapper(
            os.fdopen(os.dup(fd), "wb", buffering=0), encoding=encoding, errors="backslashreplace", line_buffering=True
        )
        _TERMINAL[encoding] = stream
    return stream


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


@contextlib.contextmanager
def native_stderr_to_log(*, verbose: bool = False) -> Iterator[Path | None]:
    """Redirect file descriptor 2 to :func:`log_path` while the block runs; Python's ``sys.stderr`` stays visible.

    Args:
        verbose: Print the captured lines to ``sys.stderr`` when the block ends.

    Yields:
        The log file, or ``None`` when fd 2 could not be redirected (then nothing changes).
    """
    path = log_path()
    try:
        log = open(path, "wb")  # noqa: SIM115
        saved = os.dup(2)
    except OSError:
        yield None
        return
    sys.stderr.flush()
    old_stderr = sys.stderr
    replaced = _writes_to_fd2(old_stderr)
    if replaced:
        sys.stderr = _terminal(saved, getattr(old_stderr, "encoding", None) or "utf-8")
    os.dup2(log.fileno(), 2)
    try:
        yield path
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        log.close()
        if replaced:  # the terminal stream stays open: loggers made meanwhile may still hold it
            sys.stderr = old_stderr
        if verbose:
            text = path.read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                print(f"[tensorflow] {line}", file=sys.stderr)
