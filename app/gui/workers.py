"""Long work off the GUI thread: a QRunnable that reports through signals, and its runner.

A job function receives the :class:`Job` and calls ``job.progress(done, total, message)``,
``job.cancel.raise_if_cancelled()`` and ``job.page_done(stem, page)``; it must not touch widgets
or the project model (results reach the GUI thread through the signals).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from engine.errors import CancelledError, HtrError
from engine.progress import CancelToken, format_duration

log = logging.getLogger(__name__)


class JobSignals(QObject):
    progress = Signal(int, int, str)
    pageDone = Signal(str, object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    note = Signal(str)  # something a person should know that does not stop the job


class Job(QRunnable):
    """Runs ``fn(job)`` in the thread pool; the outcome arrives as exactly one signal."""

    def __init__(self, fn: Callable[["Job"], object], title: str) -> None:
        super().__init__()
        self.fn, self.title = fn, title
        self.cancel = CancelToken()
        self.signals = JobSignals()
        self.setAutoDelete(False)  # the runner keeps the Python object alive until the end

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.signals.progress.emit(int(done), int(total), str(message))
        self.cancel.raise_if_cancelled()

    def note(self, text: str) -> None:
        """Tell the person something (e.g. "the GPU failed, running on the CPU")."""
        self.signals.note.emit(str(text))

    def page_done(self, stem: str, page: object) -> None:
        self.signals.pageDone.emit(stem, page)

    def run(self) -> None:
        try:
            result = self.fn(self)
        except CancelledError:
            self.signals.cancelled.emit()
        except HtrError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # a bug: say so in the window rather than losing the thread
            log.exception("%s failed", self.title)
            self.signals.failed.emit(f"{self.title} failed unexpectedly: {exc!r}")
        else:
            if self.cancel.cancelled:
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)


class JobRunner(QObject):
    """Runs one job at a time and turns its progress into a percentage, a message and an ETA."""

    started = Signal(str)
    progressed = Signal(int, str)  # percent, "title: message — about N s left"
    ended = Signal(str, str)  # outcome ("finished", "failed", "cancelled"), message
    noted = Signal(str)  # a job's note (Job.note)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self.job: Job | None = None
        self._last_job: Job | None = None
        self._start = 0.0
        self._on_page: Callable[[str, object], None] | None = None
        self._on_finished: Callable[[object], None] | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, job: Job, on_page: Callable[[str, object], None] | None = None,
              on_finished: Callable[[object], None] | None = None) -> bool:
        """Start ``job`` unless one is running; the callbacks run in the GUI thread."""
        if self.job is not None:
            return False
        self.job, self._start = job, time.monotonic()
        self._on_page, self._on_finished = on_page, on_finished
        queued = Qt.QueuedConnection  # slots of this GUI-thread object, never the worker's
        job.signals.progress.connect(self._progress, queued)
        job.signals.pageDone.connect(self._page, queued)
        job.signals.finished.connect(self._finished, queued)
        job.signals.failed.connect(self._failed, queued)
        job.signals.cancelled.connect(self._cancelled, queued)
        job.signals.note.connect(self.noted, queued)
        self.started.emit(job.title)
        self.pool.start(job)
        return True

    @Slot(str, object)
    def _page(self, stem: str, page: object) -> None:
        if self._on_page is not None:
            self._on_page(stem, page)

    @Slot(object)
    def _finished(self, result: object) -> None:
        self._end("finished", "done", self._on_finished, result)

    @Slot(str)
    def _failed(self, text: str) -> None:
        self._end("failed", text)

    @Slot()
    def _cancelled(self) -> None:
        self._end("cancelled", "cancelled")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel.cancel()

    @Slot(int, int, str)
    def _progress(self, done: int, total: int, message: str) -> None:
        if self.job is None:
            return
        percent = int(100 * done / total) if total > 0 else 0
        text = f"{self.job.title}: {message}" if message else self.job.title
        elapsed = time.monotonic() - self._start
        # A batch's message has its own ETA (over the pages processed, start-up left out).
        if 0 < done < total and elapsed > 0.5 and "ETA" not in message:
            text += f" — about {format_duration(elapsed / done * (total - done))} left"
        self.progressed.emit(percent, text)

    def _end(self, outcome: str, message: str, callback=None, result=None) -> None:
        job, self.job = self.job, None
        # The worker thread may still be returning from run(): keep the object alive a while.
        self._last_job = job
        if callback is not None:
            callback(result)
        self.ended.emit(outcome, f"{job.title}: {message}" if job else message)
