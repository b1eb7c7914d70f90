"""The main window: pages on the left, the page in the middle, lines on the right, editor below.

It wires the widgets to the project model; edits go through undo commands, long work through
the job runner, problems into the message bar. Menus and shortcuts are built in
:mod:`app.gui.actions`, background jobs started in :mod:`app.gui.job_actions`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QDialog, QDockWidget, QFileDialog, QLabel, QListView, QMainWindow,
                               QMessageBox, QSizePolicy, QSplitter, QVBoxLayout, QWidget)

from app.gui import actions, job_actions, jobs
from app.gui.export_dialog import ExportDialog
from app.gui.job_panel import JobPanel
from app.gui.line_editor import LineEditor
from app.gui.line_list_model import LINE_ID_ROLE, LineListModel
from app.gui.line_placement import place_line
from app.gui.message_bar import MessageBar
from app.gui.page_list import PageList
from app.gui.page_view import PageView
from app.gui.palette import CharacterPalette
from app.gui.project_model import ERROR, WARNING, ProjectModel
from app.gui.settings import Settings
from app.gui.settings_dialog import SettingsDialog
from app.gui.suggestions import Suggester, pending_suggestion
from app.gui.undo_commands import AddLine, DeleteLine, DismissSuggestion, MoveLine, SetLineText
from app.gui.workers import JobRunner
from engine.document import Origin
from engine.errors import HtrError
from engine.project import IMAGE_SUFFIXES, Project

APP_NAME = "HTR-JAND Studio"
WARM_UP_DELAY_MS = 1000
"""How long after a project opens the recognizer starts loading in the background: once the
window has drawn the page (started at once, its imports held the window's start back by about
0.1 s: ``python benchmarks/startup.py``, ready median 0.53 against 0.42 s; with this delay
0.40 s)."""


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self._warming: threading.Thread | None = None  # ``warm_recognizer``'s thread
        self.model = ProjectModel(self.settings.autosave_ms, self)
        self.runner = JobRunner(parent=self)
        self.visit = 0  # counts visits to lines: keystrokes of one visit merge into one undo step
        self.suggester = Suggester(self.model, lambda: self.settings.show_suggestions,
                                   self.runner.pool, self)
        self._build_widgets()
        self.editor.show_suggestions = self.settings.show_suggestions
        self.actions = actions.build(self)
        self._connect()
        self.setAcceptDrops(True)
        self.setWindowTitle(APP_NAME)
        self.resize(1280, 860)
        if self.settings.store.value("window/geometry") is not None:
            self.restoreGeometry(self.settings.store.value("window/geometry"))
            self.restoreState(self.settings.store.value("window/state"))
        self._update_save_state()

    # -- construction ----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.messages = MessageBar()
        self.view = PageView()
        self.editor = LineEditor(self.settings.low_confidence)
        self.palette = CharacterPalette()
        below = QWidget()
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        below_layout.addWidget(self.editor)
        below_layout.addWidget(self.palette)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(below)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        below.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.messages)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.page_list = PageList(self.model)
        self.line_model = LineListModel(self.model, self)
        self.line_list = QListView()
        self.line_list.setModel(self.line_model)
        self.line_list.setUniformItemSizes(True)
        for title, widget, area in (("Pages", self.page_list, Qt.LeftDockWidgetArea),
                                    ("Lines", self.line_list, Qt.RightDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"{title.lower()}-dock")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
        self.save_label = QLabel()
        self.job_panel = JobPanel(self.runner)
        self.statusBar().addWidget(self.save_label)
        self.statusBar().addPermanentWidget(self.job_panel)

    def _connect(self) -> None:
        m = self.model
        m.pageChanged.connect(self._show_page)
        m.structureChanged.connect(self._redraw_page)
        m.currentLineChanged.connect(self._show_line)
        m.lineTextChanged.connect(self._line_text_changed)
        m.message.connect(self.messages.show_message)
        m.saveStateChanged.connect(self._update_save_state)
        m.projectOpened.connect(self._update_save_state)
        self.view.lineClicked.connect(m.select_line)
        self.view.baselineDrawn.connect(self.add_line)
        self.view.imageFailed.connect(lambda text: self.messages.show_message(ERROR, text))
        self.editor.textEdited.connect(self._text_edited)
        field = self.editor.field
        field.nextRequested.connect(lambda: self.step_line(1))
        field.previousRequested.connect(lambda: self.step_line(-1))
        field.undoRequested.connect(m.undo_group.undo)
        field.redoRequested.connect(m.undo_group.redo)
        field.acceptSuggestionRequested.connect(self.accept_suggestion)
        field.dismissSuggestionRequested.connect(self.dismiss_suggestion)
        self.suggester.noted.connect(lambda text: self.messages.show_message(WARNING, text))
        self.palette.characterChosen.connect(self.editor.insert_character)
        self.line_list.selectionModel().currentChanged.connect(self._line_list_current)
        self.runner.ended.connect(job_actions.report_end(self))
        self.runner.noted.connect(lambda text: self.messages.show_message(WARNING, text))

    # -- showing ---------------------------------------------------------------------------
    def _show_page(self) -> None:
        entry = self.model.entry
        image = str(entry.image) if entry is not None and entry.readable else ""
        self.view.show_page(self.model.page, image if self.model.page else "")
        title = f"{entry.image.name} — {APP_NAME}" if entry else APP_NAME
        self.setWindowTitle(title)

    def _redraw_page(self) -> None:
        entry = self.model.entry
        self.view.show_page(self.model.page, str(entry.image) if entry else "")

    def _position(self, line_id: str) -> str:
        ids = [ln.id for ln in self.model.lines()]
        return f"Line {ids.index(line_id) + 1} of {len(ids)}" if line_id in ids else ""

    def _show_line(self, line_id: str) -> None:
        self.visit += 1
        self.view.set_current_line(line_id)
        line = self.model.current_line()
        crop = self.view.line_crop(line) if line is not None else None
        self.editor.show_line(line, crop, self._position(line_id))
        row = self.line_model.row_of(line_id)
        if row >= 0 and self.line_list.currentIndex().row() != row:
            self.line_list.setCurrentIndex(self.line_model.index(row))

    def _line_list_current(self, index, _previous=None) -> None:
        if index.isValid():
            self.model.select_line(self.line_model.data(index, LINE_ID_ROLE))

    def _line_text_changed(self, line_id: str) -> None:
        line = self.model.page.line_by_id(line_id) if self.model.page else None
        item = self.view.items_by_id.get(line_id)
        if line is not None and item is not None:
            item.person = line.origin == Origin.PERSON
            item.set_current(line_id == self.view.current_id)
        if line is not None and line_id == self.editor.line_id:
            self.editor.refresh(line, self._position(line_id))

    def _update_save_state(self) -> None:
        n = len(self.model.dirty)
        if not self.model.project:
            text = "Open a folder of page images (Ctrl+O) or drop it here."
        else:
            text = "All corrections saved" if n == 0 else f"{n} page(s) with unsaved corrections"
        self.save_label.setText(text)

    # -- editing ---------------------------------------------------------------------------
    def _stack(self):
        return self.model.undo_stack(self.model.stem)

    def _text_edited(self, line_id: str, text: str) -> None:
        line = self.model.page.line_by_id(line_id) if self.model.page else None
        if line is not None and line.text != text:
            self._stack().push(SetLineText(self.model, self.model.stem, line, text, self.visit))

    def accept_suggestion(self) -> None:
        """Take the post-correction suggestion of the current line as its text (Tab): one undo
        step; the line becomes the person's, the recognizer's text stays in ``model_text``."""
        line = self.model.current_line()
        text = pending_suggestion(line) if self.settings.show_suggestions else None
        if line is not None and text is not None:
            self.visit += 1  # its own undo step
            self._stack().push(SetLineText(self.model, self.model.stem, line, text, self.visit,
                                           f"Accept suggestion for line {line.id}"))
            self.visit += 1  # typing afterwards is another step

    def dismiss_suggestion(self) -> None:
        """Drop the current line's suggestion (Esc); it is not offered again for this text."""
        line = self.model.current_line()
        if self.settings.show_suggestions and pending_suggestion(line) is not None:
            self._stack().push(DismissSuggestion(self.model, self.model.stem, line,
                                                 self.suggester.dismissed))

    def delete_line(self) -> None:
        if self.model.current_line() is not None:
            self._stack().push(DeleteLine(self.model, self.model.stem, self.model.current_line_id))

    def move_line(self, delta: int) -> None:
        if self.model.current_line() is not None:
            line_id = self.model.current_line_id
            self._stack().push(MoveLine(self.model, self.model.stem, line_id, delta))

    def draw_line(self) -> None:
        if self.model.page is not None:
            self.view.start_drawing()
            self.statusBar().showMessage("Click the points of the new baseline; double-click or "
                                         "Enter to finish, Esc to cancel.", 8000)

    def add_line(self, baseline: list) -> None:
        if self.model.page is None:
            return
        try:
            region, region_index, line_index, line = place_line(self.model.page, baseline)
        except HtrError as exc:
            self.messages.show_message(ERROR, f"Cannot add this line: {exc}")
            return
        self._stack().push(AddLine(self.model, self.model.stem, region_index, line_index, line,
                                   region))
        self.editor.field.setFocus()

    def step_line(self, delta: int) -> None:
        if not self.model.step_line(delta) and self.model.lines():
            text = ("Last line of the page: Ctrl+PgDown goes to the next page." if delta > 0
                    else "First line of the page: Ctrl+PgUp goes to the previous page.")
            self.statusBar().showMessage(text, 4000)

    def step_page(self, delta: int) -> None:
        self.model.set_current(self.model.index + delta)

    def save(self) -> bool:
        ok = self.model.save_all()
        if ok:
            self.statusBar().showMessage("Saved.", 3000)
        return ok

    # -- opening ---------------------------------------------------------------------------
    def open_paths(self, paths: list[str]) -> bool:
        """Open a folder, or a set of image / PAGE-XML / ALTO files, as the project."""
        try:
            if len(paths) == 1 and Path(paths[0]).is_dir():
                project = Project.open(paths[0])
            else:
                project = Project.from_files(paths)
        except HtrError as exc:
            self.messages.show_message(ERROR, f"Cannot open: {exc}")
            return False
        if not self.model.save_all() and not self.confirm_close_unsaved():
            return False
        if self.runner.busy:
            self.runner.cancel()
        self.messages.hide()
        self.model.open_project(project)
        self.settings.add_recent(str(project.folder))
        QTimer.singleShot(WARM_UP_DELAY_MS, self, self.warm_recognizer)
        bad = [e.image.name for e in project.entries if not e.readable]
        if bad:
            self.messages.show_message(ERROR, f"{len(bad)} image(s) cannot be read and are marked "
                                       f"in the page list: {', '.join(bad[:5])}")
        return True

    def warm_recognizer(self) -> threading.Thread | None:
        """Load the recognizer of the settings in the background while the person looks at
        the page (``jobs.warm_recognizer``, ``WARM_UP_DELAY_MS`` after a project opens; off in
        the settings: None)."""
        if not self.settings.warm_up:
            return None
        if self._warming is not None and self._warming.is_alive():
            return self._warming  # (the settings' recognizer is being made: the job waits)
        self._warming = threading.Thread(target=jobs.warm_recognizer, name="warm-recognizer",
                                         args=(self.settings.model_dir, self.settings.device,
                                               self.settings.beam), daemon=True)
        self._warming.start()
        return self._warming

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of page images")
        if folder:
            self.open_paths([folder])

    def open_files_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open page images or transcriptions", "",
            f"Pages ({patterns} *.xml);;Images ({patterns});;PAGE-XML / ALTO (*.xml)")
        if files:
            self.open_paths(files)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- dialogs ---------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if self.model.project is None:
            return
        dialog = ExportDialog(str(self.model.project.folder / "export"), self)
        if dialog.exec() == ExportDialog.Accepted:
            scope, formats, folder = dialog.choice()
            job_actions.export(self, scope, formats, folder)

    def settings_dialog(self) -> None:
        if SettingsDialog(self.settings, self).exec() == SettingsDialog.Accepted:
            self.model.autosave.setInterval(self.settings.autosave_ms)
            self.suggestions_setting_changed()

    def suggestions_setting_changed(self) -> None:
        """Show or hide suggestions as the setting says; a failed post-corrector is retried."""
        self.editor.show_suggestions = self.settings.show_suggestions
        self.suggester.reset()
        self.editor.refresh(self.model.current_line(), self._position(self.model.current_line_id))

    def about(self) -> None:
        from app.gui.about import AboutDialog

        AboutDialog(self).exec()

    def shortcuts_dialog(self) -> None:
        from app.gui.help import ShortcutsDialog

        ShortcutsDialog(self).exec()

    def welcome_dialog(self):
        from app.gui.welcome import show_welcome

        return show_welcome(self)

    def receive_paths(self, paths: list[str]) -> None:
        """Files handed over by a second start of the application: open them, come forward."""
        if paths:
            self.open_paths(paths)
        self.setWindowState((self.windowState() & ~Qt.WindowMinimized) | Qt.WindowActive)
        self.show()
        self.raise_()
        self.activateWindow()

    # -- closing ---------------------------------------------------------------------------
    def confirm_close_unsaved(self) -> bool:
        """Asked when corrections could not be written; True goes on (and they are lost)."""
        answer = QMessageBox.warning(
            self, APP_NAME, "Some corrections could not be saved (see the message above the "
            "page). Close the project anyway and lose them?",
            QMessageBox.Close | QMessageBox.Cancel, QMessageBox.Cancel)
        return answer == QMessageBox.Close

    def closeEvent(self, event: QCloseEvent) -> None:
        self.runner.cancel()
        if not self.model.save_all() and not self.confirm_close_unsaved():
            event.ignore()
            return
        self.runner.pool.waitForDone(3000)
        if self._warming is not None:  # a model half loaded must not meet the interpreter's exit
            self._warming.join(timeout=30)
        self.settings.store.setValue("window/geometry", self.saveGeometry())
        self.settings.store.setValue("window/state", self.saveState())
        self.settings.sync()
        for dialog in self.findChildren(QDialog):  # the welcome screen is not modal
            dialog.close()
        event.accept()
