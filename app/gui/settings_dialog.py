"""Settings dialog: device (Auto/CPU/GPU), recognition model, fast reading, autosave delay,
suggestions."""

from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QPushButton, QSpinBox, QWidget)

from app.gui.settings import DEVICES, Settings

DEVICE_LABELS = {"auto": "Automatic", "cpu": "CPU", "gpu": "GPU"}


def available_models() -> list[tuple[str, str]]:
    """(label, folder) of the installed recognition models; empty when the engine has none."""
    try:
        from engine.models import list_models
    except ImportError:
        return []
    try:
        models = list_models()
    except Exception:  # a broken model folder must not keep the dialog from opening
        return []
    out = []
    for info in models:
        card = getattr(info, "card", None) or {}
        label = f"{info.name} {card.get('version', '')}".strip() + f" ({info.source})"
        if getattr(info, "error", None):
            label += " — unusable"
        out.append((label, str(info.path)))
    return out


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Settings")
        self.device = QComboBox()
        for key in DEVICES:
            self.device.addItem(DEVICE_LABELS[key], key)
        self.device.setCurrentIndex(DEVICES.index(settings.device))
        self.model = QComboBox()
        self.model.addItem("Default model", "")
        for label, folder in available_models():
            self.model.addItem(label, folder)
        if settings.model_dir and self.model.findData(settings.model_dir) < 0:
            self.model.addItem(settings.model_dir, settings.model_dir)
        self.model.setCurrentIndex(max(0, self.model.findData(settings.model_dir)))
        browse = QPushButton("Folder…")
        browse.setToolTip("Use a model folder (model.onnx + card.json) from elsewhere")
        browse.clicked.connect(self._browse)
        model_row = QWidget()
        row = QHBoxLayout(model_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        self.fast = QCheckBox("Fast reading (greedy decoding)")
        self.fast.setToolTip("Read lines without the beam search and language model: faster, "
                             "but more errors (the bundled model: about 4 points more CER)")
        self.fast.setChecked(settings.fast_reading)
        self.warm_up = QCheckBox("Load the model when a project opens")
        self.warm_up.setToolTip("Read the recognition model and its language models in the "
                                "background so that the first page reads at once; off: they "
                                "take their memory (about 160 MB) only when a page is read")
        self.warm_up.setChecked(settings.warm_up)
        self.autosave = QSpinBox(suffix=" ms", minimum=200, maximum=60000, singleStep=500)
        self.autosave.setValue(settings.autosave_ms)
        self.suggestions = QCheckBox("Show post-correction suggestions")
        self.suggestions.setToolTip("Suggest corrections of recognised lines in the line editor "
                                    "(Tab accepts, Esc dismisses); off: none are computed")
        self.suggestions.setChecked(settings.show_suggestions)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Device:", self.device)
        form.addRow("Recognition model:", model_row)
        form.addRow("", self.fast)
        form.addRow("", self.warm_up)
        form.addRow("Autosave after:", self.autosave)
        form.addRow("", self.suggestions)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Recognition model folder")
        if folder:
            if self.model.findData(folder) < 0:
                self.model.addItem(folder, folder)
            self.model.setCurrentIndex(self.model.findData(folder))

    def accept(self) -> None:
        self.settings.device = self.device.currentData()
        self.settings.model_dir = self.model.currentData()
        self.settings.fast_reading = self.fast.isChecked()
        self.settings.warm_up = self.warm_up.isChecked()
        self.settings.autosave_ms = self.autosave.value()
        self.settings.show_suggestions = self.suggestions.isChecked()
        self.settings.sync()
        super().accept()
