"""The line editor: the current line's image above a one-line text field.

Enter or Down goes to the next line, Up to the previous one; Ctrl+Z / Ctrl+Shift+Z are sent to
the window's undo stack (the field keeps no undo history of its own). Characters the model was
unsure of are shaded while the text is still the model's. A pending post-correction suggestion is
shown below the field with its changes marked; Tab accepts it, Esc dismisses it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, Qt, Signal
from PySide6.QtGui import (QColor, QFont, QImage, QKeyEvent, QKeySequence, QPixmap,
                           QTextCharFormat, QTextCursor)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QTextEdit, QVBoxLayout, QWidget

from app.gui.suggestions import pending_suggestion, suggestion_html
from engine.document import Line, Origin, normalize_text

LOW_CONFIDENCE_COLOUR = QColor(255, 200, 120)
CROP_HEIGHT = 72


class LineTextEdit(QTextEdit):
    """A QTextEdit that holds one line of plain text (so characters can be coloured)."""

    nextRequested = Signal()
    previousRequested = Signal()
    undoRequested = Signal()
    redoRequested = Signal()
    acceptSuggestionRequested = Signal()
    dismissSuggestionRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.suggestion_shown = False  # Tab / Esc act on the suggestion only while it is shown
        self.setAcceptRichText(False)
        self.setUndoRedoEnabled(False)
        self.setLineWrapMode(QTextEdit.NoWrap)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.setTabChangesFocus(True)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 10) * 1.5)
        self.setFont(font)
        self.document().setDocumentMargin(4)
        self.setFixedHeight(self.fontMetrics().lineSpacing() + 8 + 2 * self.frameWidth() + 8)

    def event(self, event: QEvent) -> bool:
        # Tab would move the focus before keyPressEvent sees it: take Tab (accept) and Esc
        # (dismiss) here while a suggestion is shown; otherwise Tab moves the focus as usual.
        if (event.type() in (QEvent.KeyPress, QEvent.ShortcutOverride) and self.suggestion_shown
                and event.key() in (Qt.Key_Tab, Qt.Key_Escape) and not event.modifiers()):
            if event.type() == QEvent.ShortcutOverride:
                event.accept()  # ours, not a window shortcut's
            elif event.key() == Qt.Key_Tab:
                self.acceptSuggestionRequested.emit()
            else:
                self.dismissSuggestionRequested.emit()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        plain = not (mods & (Qt.ControlModifier | Qt.AltModifier | Qt.MetaModifier))
        if event.matches(QKeySequence.Undo):
            self.undoRequested.emit()
        elif event.matches(QKeySequence.Redo) or (
                key == Qt.Key_Z and mods & Qt.ControlModifier and mods & Qt.ShiftModifier):
            self.redoRequested.emit()
        elif key in (Qt.Key_Return, Qt.Key_Enter) and mods & Qt.ControlModifier:
            self.acceptSuggestionRequested.emit()
        elif key in (Qt.Key_Return, Qt.Key_Enter):
            self.nextRequested.emit()  # never a line break, whatever the modifiers
        elif plain and key == Qt.Key_Down:
            self.nextRequested.emit()
        elif plain and key == Qt.Key_Up:
            self.previousRequested.emit()
        else:
            super().keyPressEvent(event)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if source.hasText():
            self.textCursor().insertText(normalize_text(source.text()).strip())

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasText()


class LineEditor(QWidget):
    """Crop + text field for one line; emits ``textEdited(line_id, text)`` on every change."""

    textEdited = Signal(str, str)

    def __init__(self, low_confidence: float = 0.8, parent=None) -> None:
        super().__init__(parent)
        self.low_confidence = low_confidence
        self.show_suggestions = True  # the setting "Show post-correction suggestions"
        self._suggestion: str | None = None
        self.line_id = ""
        self._updating = False
        self.crop = QLabel(alignment=Qt.AlignCenter)
        self.crop.setMinimumHeight(CROP_HEIGHT)
        self.crop.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.info = QLabel()
        self.info.setTextFormat(Qt.PlainText)
        self.field = LineTextEdit()
        self.field.textChanged.connect(self._on_text_changed)
        self.suggestion = QLabel()  # the suggestion, its changes marked (rich text)
        self.suggestion.setTextFormat(Qt.RichText)
        self.suggestion.setFont(self.field.font())
        self.suggestion.setToolTip("Post-correction suggestion: green characters are new, "
                                   "struck-through ones would go")
        hint = QLabel("Tab accepts · Esc dismisses")
        hint.setStyleSheet("color:#666;")
        self.suggestion_row = QWidget()
        row = QHBoxLayout(self.suggestion_row)
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(self.suggestion, 1)
        row.addWidget(hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.crop)
        layout.addWidget(self.info)
        layout.addWidget(self.field)
        layout.addWidget(self.suggestion_row)
        self.show_line(None)

    def show_line(self, line: Line | None, crop: QImage | None = None, position: str = "") -> None:
        """Show ``line`` (None: nothing to edit), its image crop and where it is."""
        self.line_id = line.id if line else ""
        self.field.setEnabled(line is not None)
        if crop is not None and not crop.isNull():
            pix = QPixmap.fromImage(crop)
            self.crop.setPixmap(pix.scaledToHeight(CROP_HEIGHT, Qt.SmoothTransformation))
        else:
            self.crop.setPixmap(QPixmap())
            self.crop.setText("" if line else "No line selected")
        self.set_text(line.text if line else "")
        self.refresh(line, position)

    def refresh(self, line: Line | None, position: str = "") -> None:
        """Update the text (if it differs), the status label and the confidence shading."""
        if line is None:
            self.info.setText(position)
            self.field.setExtraSelections([])
            self._show_suggestion(None)
            return
        if line.text != self.field.toPlainText():
            self.set_text(line.text)
        status = {Origin.PERSON: "corrected", Origin.MODEL: "recognised",
                  Origin.SUGGESTION: "post-corrected", Origin.NONE: "empty"}
        parts = [position, status[line.origin]]
        if line.confidence is not None and line.origin == Origin.MODEL:
            parts.append(f"confidence {line.confidence:.0%}")
        if line.origin != Origin.MODEL and line.model_text is not None:
            parts.append(f"model read: {line.model_text}")
        self.info.setText(" · ".join(p for p in parts if p))
        self._shade(line)
        self._show_suggestion(line)

    def shown_suggestion(self) -> str | None:
        """The suggestion shown below the field, None when there is none (for tests)."""
        return self._suggestion

    def _show_suggestion(self, line: Line | None) -> None:
        text = pending_suggestion(line) if self.show_suggestions else None
        self._suggestion = text
        self.field.suggestion_shown = text is not None
        self.suggestion.setText(suggestion_html(line.text, text) if text is not None else "")
        # While suggestions are on, the row keeps its place: the page above does not jump as
        # lines with and without a suggestion follow each other.
        policy = self.suggestion_row.sizePolicy()
        policy.setRetainSizeWhenHidden(self.show_suggestions)
        self.suggestion_row.setSizePolicy(policy)
        self.suggestion_row.setVisible(text is not None)

    def set_text(self, text: str) -> None:
        self._updating = True
        try:
            self.field.setPlainText(text)
            self.field.moveCursor(QTextCursor.End)
        finally:
            self._updating = False

    def insert_character(self, char: str) -> None:
        if self.field.isEnabled():
            self.field.textCursor().insertText(char)
            self.field.setFocus()

    def _shade(self, line: Line) -> None:
        confs = line.char_confidences or []
        selections = []
        if line.origin == Origin.MODEL and len(confs) == len(line.text):
            for i, conf in enumerate(confs):
                if conf < self.low_confidence:
                    cursor = QTextCursor(self.field.document())
                    cursor.setPosition(i)
                    cursor.setPosition(i + 1, QTextCursor.KeepAnchor)
                    fmt = QTextCharFormat()
                    fmt.setBackground(LOW_CONFIDENCE_COLOUR)
                    sel = QTextEdit.ExtraSelection()
                    sel.cursor, sel.format = cursor, fmt
                    selections.append(sel)
        self.field.setExtraSelections(selections)

    def low_confidence_positions(self) -> list[int]:
        """Character positions currently shaded (for tests and tooltips)."""
        return [s.cursor.selectionStart() for s in self.field.extraSelections()]

    def _on_text_changed(self) -> None:
        if self._updating or not self.line_id:
            return
        text = normalize_text(self.field.toPlainText())
        self.textEdited.emit(self.line_id, text)
