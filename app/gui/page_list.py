"""The project's pages: a list with a mark for unreadable images and unsaved corrections."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem

UNREADABLE, UNSAVED, TRANSCRIBED = "⚠", "●", "✎"


class PageList(QListWidget):
    """Rows mirror ``project_model.entries``; choosing a row opens that page."""

    def __init__(self, project_model, parent=None) -> None:
        super().__init__(parent)
        self.project_model = project_model
        self._syncing = False
        project_model.projectOpened.connect(self.reload)
        project_model.pageChanged.connect(self._follow)
        project_model.saveStateChanged.connect(self.refresh_marks)
        self.currentRowChanged.connect(self._open_row)

    def reload(self) -> None:
        self._syncing = True
        self.clear()
        for entry in self.project_model.entries:
            self.addItem(QListWidgetItem(entry.image.name))
        self._syncing = False
        self.refresh_marks()

    def refresh_marks(self) -> None:
        for row, entry in enumerate(self.project_model.entries):
            item = self.item(row)
            if item is None:
                continue
            if not entry.readable:
                mark, tip = UNREADABLE, f"Cannot be opened: {entry.error}"
                item.setForeground(QColor(170, 30, 30))
            elif entry.stem in self.project_model.dirty:
                mark, tip = UNSAVED, "Corrections not saved yet"
            elif entry.has_transcription:
                source = entry.xml if entry.xml.is_file() else entry.ground_truth()
                mark, tip = TRANSCRIBED, f"Transcription: {source}"
            else:
                mark, tip = " ", "Not transcribed yet"
            item.setText(f"{mark} {entry.image.name}")
            item.setToolTip(tip)

    def _follow(self) -> None:
        self._syncing = True
        self.setCurrentRow(self.project_model.index)
        self._syncing = False

    def _open_row(self, row: int) -> None:
        if not self._syncing and row >= 0 and row != self.project_model.index:
            self.project_model.set_current(row)
