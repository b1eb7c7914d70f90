"""Help → Keyboard Shortcuts: a table built from the window's own menus and actions, so it can
never disagree with what the keys do."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QMenu, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

# Keys of the line editor's text field that are not menu actions (see line_editor.py).
EDITOR_KEYS = [("Line editor", "Next line", "Enter, Down"),
               ("Line editor", "Previous line", "Up"),
               ("Line editor", "Accept the suggestion shown below the line", "Tab"),
               ("Line editor", "Dismiss the suggestion", "Esc")]


def _clean(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def _walk(menu: QMenu, path: str):
    for action in menu.actions():
        if action.menu() is not None:
            yield from _walk(action.menu(), f"{path} → {_clean(action.menu().title())}")
        elif not action.isSeparator():
            yield path, action


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """(menu, action, keys) of every menu action that has a shortcut, in menu order."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()
    for top in window.menuBar().actions():
        if top.menu() is None:
            continue
        for path, action in _walk(top.menu(), _clean(top.menu().title())):
            keys = [k.toString(QKeySequence.NativeText) for k in action.shortcuts()
                    if not k.isEmpty()]
            if keys and id(action) not in seen:
                seen.add(id(action))
                rows.append((path, _clean(action.text()), ", ".join(keys)))
    return rows


def all_rows(window) -> list[tuple[str, str, str]]:
    return shortcut_rows(window) + EDITOR_KEYS


class ShortcutsDialog(QDialog):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard Shortcuts")
        rows = all_rows(window)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 520)


def action_of(window, name: str) -> QAction | None:
    return window.actions.get(name)
