"""The open project as the window sees it: pages in memory, the current page and line, autosave.

Widgets never keep their own copy of the text: they read it from here and change it through undo
commands, which call the ``apply_*`` methods below. Every change marks its page dirty and starts
the autosave timer; a page whose save fails stays dirty (and in memory) until a save succeeds.
"""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal
from PySide6.QtGui import QUndoGroup, QUndoStack

from engine.document import Line, Origin, Page, Region
from engine.errors import HtrError
from engine.formats.notes import WARNINGS_KEY
from engine.project import PageEntry, Project

INFO, WARNING, ERROR = "info", "warning", "error"
MAX_UNSAVED_MS = 10_000


class ProjectModel(QObject):
    projectOpened = Signal()
    pageChanged = Signal()  # the current page switched (``page`` may be None)
    structureChanged = Signal()  # lines added, removed or reordered on the current page
    lineTextChanged = Signal(str)  # id of a line of the current page whose text changed
    pageRecognized = Signal(str)  # stem of a page whose recognition results were just merged
    currentLineChanged = Signal(str)  # "" when no line is selected
    saveStateChanged = Signal()  # a page became dirty or was saved
    saveFailed = Signal(str)
    message = Signal(str, str)  # level, text

    def __init__(self, autosave_ms: int = 1500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.pages: dict[str, Page] = {}
        self.dirty: set[str] = set()
        self.index = -1
        self.page: Page | None = None
        self.current_line_id = ""
        self.undo_group = QUndoGroup(self)
        self._stacks: dict[str, QUndoStack] = {}
        self._last_line: dict[str, str] = {}  # the line each page was left on
        self._last_error = ""
        self.autosave = QTimer(self)
        self.autosave.setSingleShot(True)
        self.autosave.setInterval(autosave_ms)
        self.autosave.timeout.connect(self.save_all)
        self._unsaved_since = QElapsedTimer()

    # -- opening ---------------------------------------------------------------------------
    def open_project(self, project: Project) -> None:
        self.save_all()
        for stack in self._stacks.values():
            self.undo_group.removeStack(stack)
            stack.deleteLater()
        self.project, self.pages, self.dirty, self._stacks = project, {}, set(), {}
        self._last_line = {}
        self.index, self.page, self.current_line_id = -1, None, ""
        self.projectOpened.emit()
        if not project.entries:
            self.message.emit(WARNING, f"No page images in {project.folder}.")
            self.pageChanged.emit()
            self.currentLineChanged.emit("")
            return
        first = next((i for i, e in enumerate(project.entries) if e.readable), 0)
        self.set_current(first)

    @property
    def entries(self) -> list[PageEntry]:
        return self.project.entries if self.project else []

    @property
    def entry(self) -> PageEntry | None:
        return self.entries[self.index] if 0 <= self.index < len(self.entries) else None

    @property
    def stem(self) -> str:
        return self.entry.stem if self.entry else ""

    def page_for(self, stem: str) -> Page | None:
        """The page in memory, loading it if needed; None (with a message) if it cannot be."""
        if stem in self.pages:
            return self.pages[stem]
        entry = self.project.entry(stem) if self.project else None
        if entry is None:
            return None
        if not entry.readable:
            self.message.emit(ERROR, f"{entry.image.name} cannot be opened: {entry.error}")
            return None
        try:
            page = self.project.load_page(entry)
        except HtrError as exc:
            self.message.emit(ERROR, f"{entry.image.name} cannot be opened: {exc}")
            return None
        if page.metadata.get(WARNINGS_KEY):
            self.message.emit(WARNING, page.metadata.pop(WARNINGS_KEY))
        self.pages[stem] = page
        return page

    def set_current(self, index: int) -> bool:
        """Show page ``index``; the page left behind is saved first. False if it cannot open."""
        if not 0 <= index < len(self.entries):
            return False
        if self.stem in self.dirty:
            self.save_page(self.stem)
        if self.stem:
            self._last_line[self.stem] = self.current_line_id
        self.index = index
        self.page = self.page_for(self.stem)
        self.undo_group.setActiveStack(self.undo_stack(self.stem))
        ids = [ln.id for ln in self.lines()]
        last = self._last_line.get(self.stem)
        self.current_line_id = last if last in ids else (ids[0] if ids else "")
        self.pageChanged.emit()
        self.currentLineChanged.emit(self.current_line_id)
        return self.page is not None

    def undo_stack(self, stem: str) -> QUndoStack:
        if stem not in self._stacks:
            stack = QUndoStack(self)
            self.undo_group.addStack(stack)
            self._stacks[stem] = stack
        return self._stacks[stem]

    # -- lines and selection ---------------------------------------------------------------
    def lines(self) -> list[Line]:
        return list(self.page.lines()) if self.page else []

    def current_line(self) -> Line | None:
        return self.page.line_by_id(self.current_line_id) if self.page else None

    def select_line(self, line_id: str) -> None:
        if line_id != self.current_line_id:
            self.current_line_id = line_id
            self.currentLineChanged.emit(line_id)

    def step_line(self, delta: int) -> bool:
        """Select the line ``delta`` places away in reading order; False at either end."""
        ids = [ln.id for ln in self.lines()]
        if not ids:
            return False
        pos = ids.index(self.current_line_id) if self.current_line_id in ids else -1
        new = pos + delta
        if not 0 <= new < len(ids):
            return False
        self.select_line(ids[new])
        return True

    # -- changes (called by undo commands) -------------------------------------------------
    def apply_text(self, stem: str, line_id: str, text: str, origin: Origin,
                   model_text: str | None, suggestion: str | None | object = ...) -> None:
        """Set a line's text, origin and model text (and its suggestion, unless left out)."""
        line = self.pages[stem].line_by_id(line_id)
        if line is None:
            return
        line.text, line.origin, line.model_text = text, origin, model_text
        if suggestion is not ...:
            line.suggestion = suggestion
        self._changed(stem)
        if stem == self.stem:
            self.lineTextChanged.emit(line_id)

    def set_suggestion(self, stem: str, line_id: str, suggestion: str | None) -> None:
        """Set or clear a line's pending post-correction suggestion (saved with the page)."""
        line = self.pages[stem].line_by_id(line_id) if stem in self.pages else None
        if line is None or line.suggestion == suggestion:
            return
        line.suggestion = suggestion
        self._changed(stem)
        if stem == self.stem:
            self.lineTextChanged.emit(line_id)

    def remove_line(self, stem: str, line_id: str) -> tuple[int, int, Line] | None:
        page = self.pages[stem]
        for ri, region in enumerate(page.regions):
            for li, line in enumerate(region.lines):
                if line.id == line_id:
                    del region.lines[li]
                    if stem == self.stem and self.current_line_id == line_id:
                        ids = [ln.id for ln in page.lines()]
                        flat = sum(len(r.lines) for r in page.regions[:ri]) + li
                        self.current_line_id = ids[min(flat, len(ids) - 1)] if ids else ""
                    self._structure(stem)
                    return ri, li, line
        return None

    def insert_line(self, stem: str, region_index: int, line_index: int, line: Line,
                    region: Region | None = None) -> None:
        """Insert ``line``; with ``region`` given, that region is inserted first at its index."""
        page = self.pages[stem]
        if region is not None:
            page.regions.insert(region_index, region)
        page.regions[region_index].lines.insert(line_index, line)
        if stem == self.stem:
            self.current_line_id = line.id
        self._structure(stem)

    def drop_region(self, stem: str, region_id: str) -> None:
        page = self.pages[stem]
        page.regions = [r for r in page.regions if r.id != region_id]
        self._structure(stem)

    def move_line(self, stem: str, line_id: str, delta: int) -> bool:
        """Move a line one place up (-1) or down (+1) in reading order, across regions."""
        page = self.pages[stem]
        for ri, region in enumerate(page.regions):
            for li, line in enumerate(region.lines):
                if line.id != line_id:
                    continue
                target = li + delta
                if 0 <= target < len(region.lines):
                    region.lines[li], region.lines[target] = region.lines[target], line
                elif delta < 0 and ri > 0:
                    del region.lines[li]
                    page.regions[ri - 1].lines.append(line)
                elif delta > 0 and ri + 1 < len(page.regions):
                    del region.lines[li]
                    page.regions[ri + 1].lines.insert(0, line)
                else:
                    return False
                self._structure(stem)
                return True
        return False

    def set_regions(self, stem: str, regions: list[Region]) -> None:
        """Give a page new regions and lines (segmentation or recognition results, their undo)."""
        page = self.pages[stem]
        page.regions = regions
        if stem == self.stem:
            ids = [ln.id for ln in page.lines()]
            if self.current_line_id not in ids:
                self.current_line_id = ids[0] if ids else ""
        self._structure(stem)

    def _structure(self, stem: str) -> None:
        self._changed(stem)
        if stem == self.stem:
            self.structureChanged.emit()
            self.currentLineChanged.emit(self.current_line_id)

    def _changed(self, stem: str) -> None:
        self.dirty.add(stem)
        # Each change restarts the countdown, so saving waits for a pause in typing, but never
        # longer than MAX_UNSAVED_MS after the first unsaved change.
        if not self.autosave.isActive() or self._unsaved_since.elapsed() < MAX_UNSAVED_MS:
            if not self.autosave.isActive():
                self._unsaved_since.start()
            self.autosave.start()
        self.saveStateChanged.emit()

    # -- saving ----------------------------------------------------------------------------
    def save_page(self, stem: str) -> bool:
        entry = self.project.entry(stem) if self.project else None
        page = self.pages.get(stem)
        if entry is None or page is None:
            return False
        try:
            self.project.save_page(entry, page)
        except HtrError as exc:
            text = (f"Could not save {entry.image.name}: {exc} Your corrections are kept in "
                    "memory; they are saved as soon as the folder can be written.")
            if text != self._last_error:
                self.message.emit(ERROR, text)
            self._last_error = text
            self.saveFailed.emit(text)
            self.saveStateChanged.emit()
            return False
        self.dirty.discard(stem)
        if self._last_error:
            self._last_error = ""
            self.message.emit(INFO, "Saved again: all corrections are on disk.")
        self.saveStateChanged.emit()
        return True

    def save_all(self) -> bool:
        """Save every dirty page; True when nothing is left unsaved."""
        self.autosave.stop()
        ok = True
        for stem in sorted(self.dirty):
            ok = self.save_page(stem) and ok
        return ok
