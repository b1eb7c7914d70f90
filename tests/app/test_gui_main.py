"""The entry point: ``python -m app.gui FOLDER`` opens the window on that folder."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from app.gui import main as gui_main


def test_main_opens_the_folder_and_returns(qtbot, settings, project_dir, monkeypatch):
    shown = []

    def fake_exec(*_args):
        window = next(w for w in QApplication.topLevelWidgets() if w.isVisible()
                      and w.windowTitle().startswith("TestamentsDePoilus"))
        shown.append(window)
        window.close()
        return 0
    monkeypatch.setattr(QApplication, "exec", fake_exec)
    assert gui_main.main(["htrjand-studio", str(project_dir)], settings) == 0
    assert shown and len(shown[0].model.lines()) == 12
