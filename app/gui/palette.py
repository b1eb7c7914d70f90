"""Buttons for special characters that fonts and keyboards lack (abbreviations, old letters)."""

from __future__ import annotations

import unicodedata

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QToolButton, QWidget

CHARACTERS = (
    "ſ", "ꝑ", "ꝓ", "ꝗ", "ꝙ", "ꝯ", "ꝰ", "ꝛ", "ꝝ", "⁊", "ẜ", "ꝫ",
    "æ", "Æ", "œ", "Œ", "ß", "þ", "ð", "ȝ", "ā", "ē", "ī", "ō",
    "ū", "ñ", "ẽ", "õ", "\u0303", "\u0304", "¶", "§", "’", "°", "†", "℔",
)
COLUMNS = 12


def describe(char: str) -> str:
    """The Unicode name of a character, for tooltips."""
    return unicodedata.name(char, f"U+{ord(char):04X}").title()


class CharacterPalette(QWidget):
    """A grid of buttons; a click emits ``characterChosen`` without taking the focus."""

    characterChosen = Signal(str)

    def __init__(self, characters: tuple[str, ...] = CHARACTERS, parent=None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 0, 4, 4)
        grid.setSpacing(2)
        self.buttons: dict[str, QToolButton] = {}
        for i, char in enumerate(characters):
            button = QToolButton()
            combining = unicodedata.combining(char) > 0
            button.setText(("◌" + char) if combining else char)
            button.setToolTip(f"{describe(char)} (U+{ord(char):04X})")
            button.setFocusPolicy(Qt.NoFocus)  # the text field keeps the cursor
            button.setAutoRaise(True)
            button.setMinimumWidth(28)
            button.clicked.connect(lambda _=False, c=char: self.characterChosen.emit(c))
            grid.addWidget(button, i // COLUMNS, i % COLUMNS)
            self.buttons[char] = button
