"""The one progress-and-cancel protocol of long jobs (segmentation, recognition, training).

A job calls ``progress(done, total, message)``; the CLI renders a bar, the GUI a QProgressBar.
Cancelling is cooperative: the job checks ``cancel.raise_if_cancelled()`` between units of work.
"""

from __future__ import annotations

import threading
from typing import Protocol

from engine.errors import CancelledError


class ProgressCallback(Protocol):
    """Called by long jobs after each unit of work."""

    def __call__(self, done: int, total: int, message: str = "") -> None: ...


def no_progress(done: int, total: int, message: str = "") -> None:
    """A progress callback that ignores everything."""


def format_duration(seconds: float) -> str:
    """A duration as a person reads it in a progress line: "45 s", "3 min 05 s", "1 h 02 min"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class CancelToken:
    """A thread-safe flag a caller sets to ask a running job to stop."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("Cancelled by the user.")
