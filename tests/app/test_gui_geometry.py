"""Deleting, drawing and moving lines in the page view; each one undoable."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt


def test_delete_line_and_undo(opened):
    win = opened
    ids = [ln.id for ln in win.model.lines()]
    win.model.select_line(ids[4])
    win.actions["delete_line"].trigger()
    assert [ln.id for ln in win.model.lines()] == ids[:4] + ids[5:]
    assert ids[4] not in win.view.items_by_id
    assert win.model.current_line_id == ids[5]
    assert win.line_model.rowCount() == 11
    win.actions["undo"].trigger()
    assert [ln.id for ln in win.model.lines()] == ids
    win.actions["redo"].trigger()
    assert len(win.model.lines()) == 11


def test_move_line_and_undo(opened, qtbot):
    win = opened
    ids = [ln.id for ln in win.model.lines()]
    win.model.select_line(ids[2])
    win.actions["move_up"].trigger()
    assert [ln.id for ln in win.model.lines()][:3] == [ids[0], ids[2], ids[1]]
    win.actions["move_down"].trigger()
    win.actions["move_down"].trigger()
    assert [ln.id for ln in win.model.lines()][:4] == [ids[0], ids[1], ids[3], ids[2]]
    win.actions["undo"].trigger()
    win.actions["undo"].trigger()
    win.actions["undo"].trigger()
    assert [ln.id for ln in win.model.lines()] == ids
    win.model.select_line(ids[0])
    win.actions["move_up"].trigger()  # already first: nothing to undo
    assert [ln.id for ln in win.model.lines()] == ids


def test_draw_line_by_clicking_baseline(opened, qtbot):
    win = opened
    page = win.model.page
    before = [ln.id for ln in page.lines()]
    win.actions["draw_line"].trigger()
    assert win.view.drawing
    win.view.fit_page()
    y = page.height * 0.93
    for x in (page.width * 0.2, page.width * 0.5, page.width * 0.8):
        qtbot.mouseClick(win.view.viewport(), Qt.LeftButton,
                         pos=win.view.mapFromScene(QPointF(x, y)))
    qtbot.keyClick(win.view, Qt.Key_Return)
    assert not win.view.drawing
    lines = win.model.lines()
    assert len(lines) == len(before) + 1
    new = next(ln for ln in lines if ln.id not in before)
    assert len(new.baseline) == 3 and len(new.polygon) >= 4
    assert win.model.current_line_id == new.id
    assert new.id in win.view.items_by_id
    # typed text goes to the new line
    qtbot.keyClicks(win.editor.field, "neu")
    assert new.text == "neu"
    stack = win.model.undo_stack(win.model.stem)
    stack.undo()
    stack.undo()
    assert [ln.id for ln in win.model.lines()] == before


def test_draw_on_empty_page_creates_region(window, project_dir, qtbot):
    next(project_dir.glob("*.xml")).unlink()
    window.open_paths([str(project_dir)])
    assert window.model.lines() == []
    window.add_line([(100, 300), (900, 310)])
    assert len(window.model.page.regions) == 1 and len(window.model.lines()) == 1
    window.actions["undo"].trigger()
    assert window.model.page.regions == []


def test_escape_cancels_drawing(opened, qtbot):
    win = opened
    n = len(win.model.lines())
    win.actions["draw_line"].trigger()
    qtbot.mouseClick(win.view.viewport(), Qt.LeftButton, pos=win.view.viewport().rect().center())
    qtbot.keyClick(win.view, Qt.Key_Escape)
    assert not win.view.drawing and len(win.model.lines()) == n


def test_wheel_zoom_and_pan(opened, qtbot):
    win = opened
    view = win.view
    before = view.transform().m11()
    view.zoom(2.0)
    assert view.transform().m11() > before
    view.zoom(1e-6)
    assert view.transform().m11() >= 0.02 - 1e-9
    view.zoom(40)
    bar = view.verticalScrollBar()
    start = bar.value()
    centre = view.viewport().rect().center()
    qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=centre)
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtCore import QEvent, QPoint
    moved = QMouseEvent(QEvent.MouseMove, QPointF(centre + QPoint(0, -60)), QPointF(),
                        Qt.NoButton, Qt.LeftButton, Qt.NoModifier)
    view.mouseMoveEvent(moved)
    qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=centre + QPoint(0, -60))
    assert bar.value() != start


def test_wheel_zoom_is_animated_around_the_mouse(opened, qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    view = opened.view
    view.zoom(3.0)  # room to scroll both ways, so the point under the mouse can stay there
    view.centerOn(view.sceneRect().center())
    before = view.transform().m11()
    pos = QPointF(view.viewport().width() / 3, view.viewport().height() / 3)
    under = view.mapToScene(pos.toPoint())
    event = QWheelEvent(pos, view.viewport().mapToGlobal(pos), QPoint(0, 0), QPoint(0, 720),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    view.wheelEvent(event)
    qtbot.waitUntil(lambda: abs(view.transform().m11() - before * 1.0015 ** 720) < 1e-6,
                    timeout=2000)
    after = view.mapToScene(pos.toPoint())
    assert abs(after.x() - under.x()) < 3 / view.transform().m11() + 2
    assert abs(after.y() - under.y()) < 3 / view.transform().m11() + 2


def test_geometry_edits_survive_reopening(opened, qtbot, settings, project_dir):
    from app.gui.main_window import MainWindow

    win = opened
    ids = [ln.id for ln in win.model.lines()]
    win.model.select_line(ids[0])
    win.actions["delete_line"].trigger()
    win.model.select_line(ids[3])
    win.actions["move_up"].trigger()
    win.add_line([(200, 1500), (700, 1510), (1200, 1505)])
    qtbot.keyClicks(win.editor.field, "drawn")
    assert win.save()
    before = [(ln.id, ln.text, ln.baseline) for ln in win.model.lines()]
    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.open_paths([str(project_dir)])
    after = [(ln.id, ln.text, ln.baseline) for ln in again.model.lines()]
    assert after == before
    assert ids[0] not in [i for i, _, _ in after]


def test_double_click_finishes_a_drawn_line(opened, qtbot):
    win = opened
    page = win.model.page
    n = len(win.model.lines())
    win.actions["draw_line"].trigger()
    win.view.fit_page()
    first = win.view.mapFromScene(QPointF(page.width * 0.3, page.height * 0.95))
    last = win.view.mapFromScene(QPointF(page.width * 0.7, page.height * 0.95))
    qtbot.mouseClick(win.view.viewport(), Qt.LeftButton, pos=first)
    qtbot.mouseClick(win.view.viewport(), Qt.LeftButton, pos=last)
    qtbot.mouseDClick(win.view.viewport(), Qt.LeftButton, pos=last)
    assert not win.view.drawing
    assert len(win.model.lines()) == n + 1
    assert len(win.model.current_line().baseline) == 2
