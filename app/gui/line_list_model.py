"""The current page's lines as a list model (number, mark, text) over the engine's document."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from engine.document import Origin

LINE_ID_ROLE = Qt.UserRole + 1
MARKS = {Origin.PERSON: "✓", Origin.MODEL: "·", Origin.SUGGESTION: "≈", Origin.NONE: " "}


class LineListModel(QAbstractListModel):
    """Rows are the lines of ``project_model.page`` in reading order; it holds no text itself."""

    def __init__(self, project_model, parent=None) -> None:
        super().__init__(parent)
        self.project_model = project_model
        self._ids: list[str] = []
        project_model.pageChanged.connect(self.reload)
        project_model.structureChanged.connect(self.reload)
        project_model.lineTextChanged.connect(self._line_changed)

    def reload(self) -> None:
        self.beginResetModel()
        self._ids = [ln.id for ln in self.project_model.lines()]
        self.endResetModel()

    def row_of(self, line_id: str) -> int:
        return self._ids.index(line_id) if line_id in self._ids else -1

    def _line_changed(self, line_id: str) -> None:
        row = self.row_of(line_id)
        if row >= 0:
            self.dataChanged.emit(self.index(row), self.index(row))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        page = self.project_model.page
        line = page.line_by_id(self._ids[index.row()]) if page else None
        if line is None:
            return None
        if role == Qt.DisplayRole:
            return f"{index.row() + 1:>3} {MARKS.get(line.origin, '·')} {line.text}"
        if role == LINE_ID_ROLE:
            return line.id
        if role == Qt.ForegroundRole and line.origin == Origin.PERSON:
            return QColor(20, 120, 50)
        if role == Qt.ToolTipRole:
            tip = f"{line.id}: {line.origin.value}"
            if line.confidence is not None:
                tip += f", confidence {line.confidence:.0%}"
            if line.model_text is not None:
                tip += f"\nmodel read: {line.model_text}"
            if line.suggestion and line.origin != Origin.PERSON and line.suggestion != line.text:
                tip += f"\nsuggestion: {line.suggestion}"
            return tip
        return None
