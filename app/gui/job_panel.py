"""The status-bar panel of a background job: progress bar, message with ETA, Cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class JobPanel(QWidget):
    def __init__(self, runner, parent=None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job (what is done so far is kept)")
        self.cancel_button.clicked.connect(runner.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        runner.started.connect(self._started)
        runner.progressed.connect(self._progressed)
        runner.ended.connect(self._ended)
        self.hide()

    def _started(self, title: str) -> None:
        self.bar.setValue(0)
        self.label.setText(title)
        self.cancel_button.setEnabled(True)
        self.show()

    def _progressed(self, percent: int, text: str) -> None:
        self.bar.setValue(percent)
        self.label.setText(text)

    def _ended(self, outcome: str, message: str) -> None:
        self.hide()
