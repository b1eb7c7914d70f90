"""Export dialog: the current page or the whole project, to PAGE-XML 2019, TXT and/or ALTO."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QPushButton, QRadioButton, QVBoxLayout,
                               QWidget)

FORMAT_LABELS = {"page": "PAGE-XML 2019", "txt": "Plain text (TXT)", "alto": "ALTO v4"}


class ExportDialog(QDialog):
    """Asks what to export and where; read the answer from ``choice()`` after ``exec()``."""

    def __init__(self, default_folder: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.page_scope = QRadioButton("Current page")
        self.project_scope = QRadioButton("Whole project")
        self.page_scope.setChecked(True)
        scope = QWidget()
        row = QHBoxLayout(scope)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.page_scope)
        row.addWidget(self.project_scope)
        self.checks = {key: QCheckBox(label) for key, label in FORMAT_LABELS.items()}
        self.checks["page"].setChecked(True)
        self.checks["txt"].setChecked(True)
        formats = QWidget()
        col = QVBoxLayout(formats)
        col.setContentsMargins(0, 0, 0, 0)
        for check in self.checks.values():
            col.addWidget(check)
            check.toggled.connect(self._update)
        self.folder = QLineEdit(default_folder)
        self.folder.setPlaceholderText("Folder to write into")
        self.folder.textChanged.connect(self._update)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        where = QWidget()
        row2 = QHBoxLayout(where)
        row2.setContentsMargins(0, 0, 0, 0)
        row2.addWidget(self.folder, 1)
        row2.addWidget(browse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Pages:", scope)
        form.addRow("Formats:", formats)
        form.addRow("Into:", where)
        form.addRow(self.buttons)
        self._update()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _update(self) -> None:
        ok = bool(self.formats()) and bool(self.folder.text().strip())
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(ok)

    def formats(self) -> list[str]:
        return [key for key, check in self.checks.items() if check.isChecked()]

    def choice(self) -> tuple[str, list[str], Path]:
        """(scope "page" or "project", formats, folder)."""
        scope = "project" if self.project_scope.isChecked() else "page"
        return scope, self.formats(), Path(self.folder.text().strip()).expanduser()
