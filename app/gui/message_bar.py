"""A bar above the page that shows warnings and errors without blocking (no modal dialogs)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

STYLES = {
    "info": "background:#e3f0ff; color:#0b3d75;",
    "warning": "background:#fff3cd; color:#664d03;",
    "error": "background:#f8d7da; color:#842029;",
}


class MessageBar(QWidget):
    """Shows the latest message (keeps a history for the tooltip); a click on × hides it."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.history: list[tuple[str, str]] = []
        self.label = QLabel(wordWrap=True)
        self.label.setTextFormat(Qt.PlainText)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton(text="×", autoRaise=True)
        close.setToolTip("Hide this message")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.hide()

    @property
    def level(self) -> str:
        return self.history[-1][0] if self.history else ""

    def text(self) -> str:
        return self.label.text()

    def show_message(self, level: str, text: str) -> None:
        self.history.append((level, text))
        self.label.setText(text)
        self.setStyleSheet(STYLES.get(level, STYLES["info"]))
        self.setToolTip("\n".join(t for _, t in self.history[-10:]))
        self.show()
