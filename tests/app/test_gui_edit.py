"""Selecting, correcting and navigating lines with the keyboard; undo and redo."""

from __future__ import annotations

from PySide6.QtCore import Qt

from engine.document import Origin


def _click_line(qtbot, win, line_id):
    item = win.view.items_by_id[line_id]
    win.view.centerOn(item)
    centre = item.polygon().boundingRect().center()
    # a point inside the polygon: the middle of its bounding box may fall outside a skewed one
    if not item.polygon().containsPoint(centre, Qt.OddEvenFill):
        centre = item.polygon()[0] * 0.5 + item.polygon()[len(item.polygon()) // 2] * 0.5
    qtbot.mouseClick(win.view.viewport(), Qt.LeftButton, pos=win.view.mapFromScene(centre))


def test_view_selects_editor_and_back(opened, qtbot):
    win = opened
    lines = win.model.lines()
    _click_line(qtbot, win, lines[3].id)
    assert win.model.current_line_id == lines[3].id
    assert win.editor.field.toPlainText() == lines[3].text
    assert win.line_list.currentIndex().row() == 3
    assert win.view.current_id == lines[3].id
    assert not win.editor.crop.pixmap().isNull()
    win.line_list.setCurrentIndex(win.line_model.index(5))
    assert win.view.current_id == lines[5].id
    assert win.editor.line_id == lines[5].id


def test_edit_marks_person_keeps_model_text_and_undoes(opened, qtbot):
    win = opened
    line = win.model.lines()[0]
    line.origin, line.model_text = Origin.MODEL, None  # as if a model had read it
    original = line.text
    field = win.editor.field
    field.setFocus()
    qtbot.keyClicks(field, "xy")  # QTest types ASCII only; the palette types the rest
    win.palette.buttons["ſ"].click()
    assert line.text == original + "xyſ"
    assert line.origin == Origin.PERSON and line.model_text == original
    assert win.model.undo_stack(win.model.stem).count() == 1  # keystrokes merged
    qtbot.keyClick(field, Qt.Key_Z, Qt.ControlModifier)
    assert line.text == original and line.origin == Origin.MODEL
    assert field.toPlainText() == original
    qtbot.keyClick(field, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert line.text == original + "xyſ" and field.toPlainText() == line.text
    assert "✓" in win.line_model.data(win.line_model.index(0))


def test_navigation_keys(opened, qtbot):
    win = opened
    ids = [ln.id for ln in win.model.lines()]
    field = win.editor.field
    qtbot.keyClick(field, Qt.Key_Return)
    assert win.model.current_line_id == ids[1]
    qtbot.keyClick(field, Qt.Key_Down)
    assert win.model.current_line_id == ids[2]
    qtbot.keyClick(field, Qt.Key_Up)
    assert win.model.current_line_id == ids[1]
    assert field.toPlainText() == win.model.lines()[1].text
    assert "Line 2 of 12" in win.editor.info.text()


def test_separate_visits_are_separate_undo_steps(opened, qtbot):
    win = opened
    field = win.editor.field
    qtbot.keyClicks(field, "a")
    qtbot.keyClick(field, Qt.Key_Down)
    qtbot.keyClicks(field, "b")
    qtbot.keyClick(field, Qt.Key_Up)
    qtbot.keyClicks(field, "c")
    assert win.model.undo_stack(win.model.stem).count() == 3


def test_palette_and_low_confidence(opened, qtbot):
    win = opened
    line = win.model.lines()[0]
    line.origin = Origin.MODEL
    line.char_confidences = [0.99] * len(line.text)
    line.char_confidences[1] = 0.3
    win.model.select_line(win.model.lines()[1].id)
    win.model.select_line(line.id)
    assert win.editor.low_confidence_positions() == [1]
    win.palette.buttons["ꝗ"].click()
    assert line.text.endswith("ꝗ") and line.origin == Origin.PERSON
    assert win.editor.low_confidence_positions() == []


def test_accept_suggestion(opened, qtbot):
    win = opened
    line = win.model.lines()[0]
    line.origin, line.suggestion = Origin.MODEL, "Ceci est mon testament."
    win.model.select_line(win.model.lines()[1].id)
    win.model.select_line(line.id)
    assert win.editor.shown_suggestion() == "Ceci est mon testament."  # inline, below the field
    qtbot.keyClick(win.editor.field, Qt.Key_Return, Qt.ControlModifier)
    assert line.text == "Ceci est mon testament." and line.origin == Origin.PERSON
    assert win.model.current_line_id == line.id  # Ctrl+Enter does not move on
    win.actions["undo"].trigger()
    assert line.origin == Origin.MODEL
