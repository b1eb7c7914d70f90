"""Opening a project in the window: folder, files, drag & drop, recent list, bad images."""

from __future__ import annotations

import shutil

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine.document import Origin


def test_open_folder_imports_ground_truth(opened, project_dir):
    win = opened
    assert win.page_list.count() == 1
    assert len(win.model.lines()) == 12
    assert win.line_model.rowCount() == 12
    first = win.model.lines()[0]
    assert win.editor.line_id == first.id
    assert win.editor.field.toPlainText() == first.text
    assert first.origin == Origin.PERSON  # ground truth counts as a person's text
    assert len(win.view.items_by_id) == 12
    assert not win.view.image.isNull()
    assert str(project_dir) in win.settings.recent_projects()
    assert "TestamentsDePoilus" in win.windowTitle()


def test_open_files_and_drop(window, project_dir, tmp_path):
    image = next(project_dir.glob("*.jpg"))
    assert window.open_paths([str(image)])
    assert window.model.stem == image.stem
    other = tmp_path / "other"
    shutil.copytree(project_dir, other)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    assert window.model.project.folder == other.resolve()


def test_unreadable_image_is_marked_rest_usable(window, project_dir, qtbot):
    (project_dir / "aaa-broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    assert window.open_paths([str(project_dir)])
    assert window.messages.isVisible() and "aaa-broken.jpg" in window.messages.text()
    assert window.page_list.item(0).text().startswith("⚠")
    assert window.model.page is not None and len(window.model.lines()) == 12  # first readable
    window.page_list.setCurrentRow(0)
    assert window.model.page is None
    assert "cannot be opened" in window.messages.text()
    window.page_list.setCurrentRow(1)
    assert len(window.model.lines()) == 12


def test_xml_for_another_size_warns_and_clamps(window, project_dir):
    xml = next(project_dir.glob("*.xml"))
    text = xml.read_text(encoding="utf-8")
    import re
    text = re.sub(r'WIDTH="(\d+)"', lambda m: f'WIDTH="{int(m.group(1)) * 2}"', text, count=1)
    xml.write_text(text, encoding="utf-8")
    assert window.open_paths([str(project_dir)])
    assert window.messages.level == "warning"
    assert "clamped" in window.messages.text()
    page = window.model.page
    assert all(0 <= x < page.width for ln in page.lines() for x, _ in ln.polygon)


def test_not_a_project(window, tmp_path):
    assert not window.open_paths([str(tmp_path / "missing.txt")])
    assert window.messages.level == "error"


def test_recent_menu_reopens(window, project_dir):
    window.settings.add_recent(str(project_dir))
    file_menu = window.menuBar().actions()[0].menu()
    recent = next(a.menu() for a in file_menu.actions() if a.menu() is not None)
    recent.aboutToShow.emit()
    action = next(a for a in recent.actions() if a.text() == str(project_dir))
    action.trigger()
    assert window.model.project is not None and window.model.project.folder == project_dir.resolve()
    assert "All corrections saved" in window.save_label.text()


def test_empty_folder_and_xml_file(window, project_dir, tmp_path):
    assert window.open_paths([str(project_dir)])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert window.open_paths([str(empty)])
    assert window.model.page is None and "No page images" in window.messages.text()
    assert window.editor.line_id == "" and not window.editor.field.isEnabled()
    assert window.view.items_by_id == {}
    xml = next(project_dir.glob("*.xml"))
    assert window.open_paths([str(xml)])  # a transcription opens with its image
    assert window.model.stem == xml.stem and len(window.model.lines()) == 12
