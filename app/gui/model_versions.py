"""The model versions: bundled models and the ones trained on your corrections, each with its
card; "Use" switches recognition to one, "Use the default" switches back (one click)."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from app.gui.project_model import ERROR, INFO
from engine.errors import HtrError


def card_text(info) -> str:
    """A readable summary of a model's card (the fine-tuning record first)."""
    from engine.model_store import card_summary, finetune_lines_text

    if info.card is None:
        return f"{info.path}\n\nUnusable: {info.error}"
    card = info.card
    lines = [f"{info.name} ({info.source}) — {info.path}", card_summary(card), ""]
    ft = card.get("finetune")
    if isinstance(ft, dict):
        lines += [f"Parent: {ft['parent'].get('name')}",
                  f"Lines used: {finetune_lines_text(ft)}",
                  f"Held-back CER: {ft['cer_before']:.2%} → {ft['cer_after']:.2%}",
                  (f"Training: {ft['training_s'] / 60:.1f} min, {ft['path']} path, guard "
                   f"{ft['guard']} ({ft['stopped']})"),
                  f"New characters: {''.join(ft.get('new_characters') or []) or 'none'}",
                  f"Date: {ft.get('date')}", ""]
    shown = {k: v for k, v in card.items() if k not in ("charset", "finetune", "training",
                                                        "config")}
    lines.append(json.dumps(shown, ensure_ascii=False, indent=1))
    return "\n".join(lines)


class ModelVersionsDialog(QDialog):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Model versions")
        self.resize(760, 480)
        self.list = QListWidget()
        self.card = QPlainTextEdit(readOnly=True)
        self.use_button = QPushButton("Use this model")
        self.default_button = QPushButton("Use the default model")
        self.remove_button = QPushButton("Remove…")
        self.use_button.clicked.connect(self.use_selected)
        self.default_button.clicked.connect(self.use_default)
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.currentItemChanged.connect(self._show)
        row = QHBoxLayout()
        for b in (self.use_button, self.default_button, self.remove_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addWidget(self.card, 2)
        layout.addLayout(body)
        layout.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        from engine.model_store import list_all

        self.list.clear()
        current = self.window_.settings.model_dir
        try:
            self.infos = list_all()
        except HtrError as exc:
            self.infos = []
            self.card.setPlainText(str(exc))
        for info in self.infos:
            mark = " ✓" if current and str(info.path) == current else ""
            item = QListWidgetItem(f"{info.name} ({info.source}){mark}")
            item.setData(Qt.UserRole, info)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def selected(self):
        item = self.list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def _show(self, *_args) -> None:
        info = self.selected()
        self.card.setPlainText(card_text(info) if info is not None else "")
        self.remove_button.setEnabled(info is not None and info.source == "user")
        self.use_button.setEnabled(info is not None and info.card is not None)

    def use_selected(self) -> None:
        info = self.selected()
        if info is not None and info.card is not None:
            self.window_.settings.model_dir = str(info.path)
            self.window_.settings.sync()
            self.window_.messages.show_message(INFO, f"Recognition now uses \"{info.name}\".")
            self.refresh()

    def use_default(self) -> None:
        self.window_.settings.model_dir = ""
        self.window_.settings.sync()
        self.window_.messages.show_message(INFO, "Recognition uses the default model again.")
        self.refresh()

    def remove_selected(self, confirm: bool = True) -> None:
        from engine import model_store

        info = self.selected()
        if info is None or info.source != "user":
            return
        if confirm and QMessageBox.question(self, "Remove model", f"Delete \"{info.name}\" "
                                            "from your model store?") != QMessageBox.Yes:
            return
        try:
            model_store.remove(info.path.name)
        except HtrError as exc:
            self.window_.messages.show_message(ERROR, str(exc))
            return
        if self.window_.settings.model_dir == str(info.path):
            self.use_default()
        self.refresh()


def open_for(window) -> ModelVersionsDialog:
    dialog = ModelVersionsDialog(window)
    dialog.setAttribute(Qt.WA_DeleteOnClose)
    dialog.show()
    return dialog
