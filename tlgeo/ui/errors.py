"""Errors on screen: a :class:`~tlgeo.errors.TlgeoError` becomes ``st.error(message)``; anything unexpected becomes a
short ``st.error`` plus a collapsed expander with the details — never a bare traceback.

>>> with ui_errors("reading the data"):          # doctest: +SKIP
...     data = load_task(folder)
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from tlgeo.errors import TlgeoError


class ErrorBox:
    """Result of a :func:`ui_errors` block: ``failed`` is True when an error was shown."""

    def __init__(self) -> None:
        self.failed = False
        self.error: BaseException | None = None


def show_error(exc: BaseException, what: str, container=None) -> None:
    """Show one exception: tlgeo errors as their message, others as a short line with details folded away."""
    box = container or st
    if isinstance(exc, TlgeoError):
        box.error(str(exc), icon=":material/warning:")
        return
    box.error(
        f"Unexpected error while {what}: {type(exc).__name__}: {str(exc)[:300]}. "
        "Check the inputs; if it persists, report it with the details below.",
        icon=":material/error:",
    )
    with box.expander("Details for a bug report"):
        st.code("".join(traceback.format_exception(exc))[-6000:], language="text")


@contextmanager
def ui_errors(what: str, *, stop: bool = True, container=None) -> Iterator[ErrorBox]:
    """Show errors raised in the block instead of a traceback.

    Streamlit's own control flow (``st.stop``, ``st.rerun``) derives from ``BaseException`` and passes through.

    Args:
        what: What was being done, for messages ("reading the data", "training").
        stop: Stop the page after showing the error (the rest of the page depends on the block).
        container: Where to show the error (default: the main area).

    Yields:
        An :class:`ErrorBox` whose ``failed`` tells whether an error was shown (useful with ``stop=False``).
    """
    box = ErrorBox()
    try:
        yield box
    except Exception as exc:  # every user-visible failure goes through here
        box.failed, box.error = True, exc
        show_error(exc, what, container)
        if stop:
            st.stop()
