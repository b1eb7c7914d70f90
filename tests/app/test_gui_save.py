"""Autosave, Ctrl+S, reopening, and a folder that cannot be written."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from engine.document import Origin
from engine.errors import StorageError


def test_autosave_writes_within_seconds_and_reopen_shows_it(opened, qtbot, project_dir, settings):
    from app.gui.main_window import MainWindow

    win = opened
    xml = project_dir / "page" / (win.model.stem + ".xml")
    assert not xml.exists()
    win.model.step_line(2)
    line_id = win.model.current_line_id
    qtbot.keyClicks(win.editor.field, " fin")
    qtbot.waitUntil(xml.exists, timeout=3000)
    assert not win.model.dirty
    assert " fin" in xml.read_text(encoding="utf-8")
    assert not list(xml.parent.glob(".*.tmp"))
    win.close()

    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.open_paths([str(project_dir)])
    line = again.model.page.line_by_id(line_id)
    assert line.text.endswith(" fin") and line.origin == Origin.PERSON
    assert [ln.text for ln in again.model.lines()] == [ln.text for ln in win.model.lines()]


def test_ctrl_s_saves_now(opened, qtbot, project_dir):
    win = opened
    win.model.autosave.setInterval(60_000)
    qtbot.keyClicks(win.editor.field, "!")
    assert win.model.dirty
    qtbot.keyClick(win.editor.field, Qt.Key_S, Qt.ControlModifier)
    assert not win.model.dirty
    assert (project_dir / "page" / (win.model.stem + ".xml")).exists()


def test_read_only_folder_keeps_edits_and_says_so(opened, qtbot, project_dir, monkeypatch):
    win = opened
    os.chmod(project_dir, 0o555)
    try:
        if os.access(project_dir, os.W_OK):  # root ignores permissions: fail as the OS would
            def refuse(page, path, **kw):
                raise StorageError(f"Could not write {path}: Permission denied")
            monkeypatch.setattr("engine.project.write_page_xml", refuse)
        qtbot.keyClicks(win.editor.field, " garde")
        qtbot.waitUntil(lambda: win.messages.level == "error", timeout=3000)
        assert "Could not save" in win.messages.text()
        assert win.model.dirty
        assert win.model.lines()[0].text.endswith(" garde")
        assert "unsaved" in win.save_label.text()
        assert not (project_dir / "page").exists()
    finally:
        os.chmod(project_dir, 0o755)
        monkeypatch.undo()
    assert win.save()  # the folder can be written again: nothing was lost
    text = (project_dir / "page" / (win.model.stem + ".xml")).read_text(encoding="utf-8")
    assert " garde" in text
    assert win.messages.level == "info"


def test_close_saves_pending_edit(opened, qtbot, project_dir):
    win = opened
    win.model.autosave.setInterval(60_000)
    qtbot.keyClicks(win.editor.field, "?")
    win.close()
    assert "?" in (project_dir / "page" / (win.model.stem + ".xml")).read_text(encoding="utf-8")


def test_page_switch_saves(window, project_dir, qtbot, poilus_source):
    import shutil

    second = poilus_source.with_name(poilus_source.name.replace("-1.jpg", "-0.jpg"))
    if not second.exists():
        pytest.skip("second Poilus page missing")
    shutil.copy(second, project_dir)
    shutil.copy(second.with_suffix(".xml"), project_dir)
    window.open_paths([str(project_dir)])
    window.model.autosave.setInterval(60_000)
    window.step_page(1)
    window.model.step_line(3)
    left_on = window.model.current_line_id
    stem = window.model.stem
    qtbot.keyClicks(window.editor.field, "#")
    window.step_page(-1)
    assert window.model.stem != stem
    assert "#" in (project_dir / "page" / f"{stem}.xml").read_text(encoding="utf-8")
    window.step_page(1)
    assert window.model.current_line_id == left_on  # back on the line it was left on
