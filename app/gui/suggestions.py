"""Post-correction suggestions in the window: computed in the background, shown inline.

When recognition results of a page are merged (``ProjectModel.pageRecognized``), the
:class:`Suggester` asks the post-corrector (``engine.postcorrect``) for suggestions on that page's
machine-made lines, in the thread pool, one page at a time. Results come back to the GUI thread,
where a suggestion is kept only if the line is still the model's, with the same text it was
computed for, and the person has not dismissed a suggestion for that text. A missing or broken
post-corrector turns suggestions off for the session with one note; recognition is not affected.
"""

from __future__ import annotations

import copy
import difflib
import html
import logging
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

from app.gui.workers import Job
from engine.document import Line, Origin, Page

log = logging.getLogger(__name__)

INSERT_STYLE = "background:#b7eb9f; color:#124d12;"
DELETE_STYLE = "color:#a32020; text-decoration:line-through;"

# (corrector or None, note or None): the seam tests replace with a fake corrector.
Factory = Callable[[], tuple[object | None, str | None]]


def pending_suggestion(line: Line | None) -> str | None:
    """The suggestion to offer for ``line``: not for a person's line, nor one equal to the text."""
    if line is None or not line.suggestion or line.origin == Origin.PERSON:
        return None
    return line.suggestion if line.suggestion != line.text else None


def segments(raw: str, suggestion: str) -> list[tuple[str, str]]:
    """(kind, text) pieces showing ``suggestion`` against ``raw``: kind is "equal", "insert"
    (new or replacing characters) or "delete" (characters the suggestion removes)."""
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, raw, suggestion, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.append(("equal", suggestion[j1:j2]))
            continue
        if tag in ("delete", "replace"):
            out.append(("delete", raw[i1:i2]))
        if tag in ("insert", "replace"):
            out.append(("insert", suggestion[j1:j2]))
    return out


def suggestion_html(raw: str, suggestion: str) -> str:
    """Rich text of the suggestion: inserted/replacing characters highlighted, removed ones
    struck through (spaces kept, so a changed space is visible)."""
    parts = []
    for kind, text in segments(raw, suggestion):
        text = html.escape(text)
        if kind == "insert":
            parts.append(f'<span style="{INSERT_STYLE}">{text}</span>')
        elif kind == "delete":
            parts.append(f'<span style="{DELETE_STYLE}"><s>{text}</s></span>')
        else:
            parts.append(text)
    return f'<span style="white-space:pre">{"".join(parts)}</span>'


def load_default() -> tuple[object | None, str | None]:
    """The engine's bundled post-corrector, or None and a note saying why there is none."""
    try:
        from engine.postcorrect import load_postcorrector
    except ImportError as exc:
        return None, ("Post-correction suggestions are off: the post-corrector is not "
                      f"available ({exc}).")
    try:
        return load_postcorrector()
    except Exception as exc:  # a broken model must never stop the window
        return None, f"Post-correction suggestions are off: the model could not be loaded ({exc})."


def default_inputs(page: Page) -> list:
    """(line, LineInput) pairs of ``page`` in reading order (see ``engine.postcorrect``)."""
    from engine.postcorrect import page_inputs

    return page_inputs(page)


class Suggester(QObject):
    """Computes suggestions for recognised pages in the background and applies them.

    ``enabled()`` is read each time (the setting); ``factory`` loads the corrector (in the worker
    thread, once); ``inputs`` turns a page into (line, LineInput) pairs; ``dismissed`` maps
    (stem, line id) to the text whose suggestion the person dismissed.
    """

    noted = Signal(str)  # the one-time note when the post-corrector cannot be used
    pageSuggested = Signal(str, int)  # stem, number of suggestions set (for tests and status)

    def __init__(self, model, enabled: Callable[[], bool], pool: QThreadPool | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model, self.enabled = model, enabled
        self.pool = pool or QThreadPool.globalInstance()
        self.factory: Factory = load_default
        self.inputs: Callable[[Page], list] = default_inputs
        self.corrector: object | None = None
        self.note: str | None = None  # set once the corrector failed to load: no more tries
        self.dismissed: dict[tuple[str, str], str] = {}
        self._failure_told = False  # a corrector failing on pages is told once
        self._queue: deque[str] = deque()
        self._job: Job | None = None
        self._last_job: Job | None = None
        self._context: tuple[str, object] | None = None  # stem, project of the running job
        model.pageRecognized.connect(self.page_recognized)
        model.projectOpened.connect(self._project_opened)

    @property
    def busy(self) -> bool:
        return self._job is not None or bool(self._queue)

    def reset(self) -> None:
        """Forget a failed load (e.g. after the settings changed): the next page tries again."""
        if self.corrector is None:
            self.note = None

    def _project_opened(self) -> None:
        self._queue.clear()
        self.dismissed.clear()
        self._failure_told = False

    @Slot(str)
    def page_recognized(self, stem: str) -> None:
        """Queue ``stem`` for suggestions (when they are on and the corrector is usable)."""
        if not self.enabled() or self.note is not None:
            return
        if stem not in self._queue:
            self._queue.append(stem)
        self._start_next()

    def _wanted(self, stem: str, page: Page) -> set[str]:
        """Ids of the lines to ask about: the model's, with text, no suggestion, not dismissed."""
        return {ln.id for ln in page.lines()
                if ln.origin == Origin.MODEL and ln.text.strip() and not ln.suggestion
                and self.dismissed.get((stem, ln.id)) != ln.text}

    def _start_next(self) -> None:
        while self._job is None and self._queue and self.enabled() and self.note is None:
            stem = self._queue.popleft()
            page = self.model.pages.get(stem)
            wanted = self._wanted(stem, page) if page is not None else set()
            if not wanted:
                continue
            snapshot = copy.deepcopy(page)  # the worker never reads the live page
            job = Job(self._work(snapshot, wanted), f"Suggesting corrections for {stem}")
            self._job, self._context = job, (stem, self.model.project)
            queued = Qt.QueuedConnection
            job.signals.finished.connect(self._finished, queued)
            job.signals.failed.connect(self._failed, queued)
            job.signals.cancelled.connect(self._cancelled, queued)
            self.pool.start(job)

    def _work(self, page: Page, wanted: set[str]):
        """The job function: load the corrector once, then suggest for the wanted lines."""
        def run(job) -> tuple[str, object]:
            if self.corrector is None:
                corrector, note = self.factory()
                if corrector is None:
                    return "note", note or "Post-correction suggestions are off."
                self.corrector = corrector
            pairs = [(ln, item) for ln, item in self.inputs(page) if ln.id in wanted]
            if not pairs:
                return "ok", []
            job.cancel.raise_if_cancelled()
            found = self.corrector.suggest([item for _, item in pairs])
            return "ok", [(ln.id, ln.text, cand.text) for (ln, _), cand in zip(pairs, found)
                          if cand is not None and cand.text != ln.text]
        return run

    def _end(self) -> tuple[str, object] | None:
        context, self._context = self._context, None
        self._last_job, self._job = self._job, None  # keep it alive while run() returns
        return context

    @Slot(object)
    def _finished(self, result: tuple[str, object]) -> None:
        context = self._end()
        kind, value = result
        if kind == "note":
            self._queue.clear()
            self.note = str(value).rstrip()
            if "recognition still works" not in self.note.lower():
                self.note += ("" if self.note.endswith((".", "!", "?")) else ".")
                self.note += " Recognition still works."
            self.noted.emit(self.note)
        elif context is not None:
            self._apply(*context, value)
        self._start_next()

    @Slot(str)
    def _failed(self, text: str) -> None:
        self._end()
        log.warning("post-correction failed: %s", text)
        if not self._failure_told:
            self._failure_told = True
            self.noted.emit(f"No post-correction suggestions for some lines: {text}")
        self._start_next()

    @Slot()
    def _cancelled(self) -> None:
        self._end()
        self._start_next()

    def _apply(self, stem: str, project: object, found: list[tuple[str, str, str]]) -> None:
        """Set the suggestions that are still valid: same project, setting on, the line still the
        model's with the very text the suggestion was computed for, and not dismissed."""
        page = self.model.pages.get(stem)
        if project is not self.model.project or page is None or not self.enabled():
            return
        count = 0
        for line_id, raw, text in found:
            line = page.line_by_id(line_id)
            if (line is None or line.origin != Origin.MODEL or line.text != raw
                    or self.dismissed.get((stem, line_id)) == raw):
                continue  # corrected, re-recognised or dismissed meanwhile: stale
            self.model.set_suggestion(stem, line_id, text)
            count += 1
        self.pageSuggested.emit(stem, count)
