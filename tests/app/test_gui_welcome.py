"""First start: the welcome screen, the sample copied to the user's folder (the install folder
stays untouched, even read-only), segmentation/recognition of it, and a clear note — not a
traceback — when no model is installed."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.gui import main as gui_main
from app.gui import startup
from app.gui.welcome import WelcomeDialog

REPO = Path(__file__).resolve().parents[2]
SAMPLE_STEM = "TestamentsDePoilus_will_AN_0191-0"


def _snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime)
            for p in folder.rglob("*")}


@pytest.fixture
def read_only_install(tmp_path: Path, monkeypatch) -> Path:
    """A copy of resources/ made read-only, used as the install's resources folder."""
    install = tmp_path / "install" / "resources"
    shutil.copytree(REPO / "resources" / "samples", install / "samples")
    (install / "models").mkdir()
    for p in [install, *install.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    monkeypatch.setenv("HTRJAND_RESOURCES", str(install))
    yield install
    for p in [install, *install.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def _run_main(monkeypatch, argv, settings):
    """main() with the event loop replaced: returns the window it showed (closed again)."""
    seen = {}

    def fake_exec(*_args):
        window = next(w for w in QApplication.topLevelWidgets()
                      if w.isVisible() and hasattr(w, "model"))
        seen["window"] = window
        seen["welcome"] = [w for w in QApplication.topLevelWidgets()
                           if isinstance(w, WelcomeDialog) and w.isVisible()]
        seen["messages"] = list(window.messages.history)
        window.close()
        return 0
    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setenv("HTRJAND_INSTANCE", f"htrjand-test-{os.getpid()}-{id(seen)}")
    assert gui_main.main(argv, settings) == 0
    return seen


def test_first_start_shows_welcome_then_not_once_turned_off(qtbot, monkeypatch, settings,
                                                            no_models, user_dirs):
    seen = _run_main(monkeypatch, ["htrjand-studio"], settings)
    assert len(seen["welcome"]) == 1
    welcome = seen["welcome"][0]
    assert welcome.note.text().startswith("No recognition model is installed")
    assert not welcome.isVisible()  # closing the window closed it too
    settings.show_welcome = False
    seen = _run_main(monkeypatch, ["htrjand-studio"], settings)
    assert seen["welcome"] == []


def test_missing_model_is_a_clear_message_at_start(qtbot, monkeypatch, settings, no_models,
                                                   user_dirs):
    settings.show_welcome = False
    seen = _run_main(monkeypatch, ["htrjand-studio"], settings)
    levels_texts = seen["messages"]
    assert any(level == "warning" and "No recognition model is installed" in text
               and "Settings" in text for level, text in levels_texts)
    assert not any("Traceback" in text for _, text in levels_texts)


def test_sample_goes_to_the_user_folder_not_the_read_only_install(
        qtbot, window, read_only_install, user_dirs):
    before = _snapshot(read_only_install)
    dialog = window.welcome_dialog()
    assert dialog.open_sample(run=False)
    copy = user_dirs / "samples" / "poilus"
    assert window.model.project.folder.resolve() == copy.resolve()
    assert (copy / f"{SAMPLE_STEM}.jpg").is_file()
    assert (copy / "ground-truth" / f"{SAMPLE_STEM}.xml").is_file()
    assert [e.stem for e in window.model.entries] == [SAMPLE_STEM]
    # The page's PAGE-XML is written into the copy; the install folder is exactly as it was.
    saved = window.model.project.save_page(window.model.entry, window.model.page)
    assert saved.resolve().is_relative_to(copy.resolve())
    assert _snapshot(read_only_install) == before
    assert not (read_only_install / "samples" / "poilus" / "page").exists()


def test_sample_copy_keeps_the_persons_files(user_dirs):
    first = startup.sample_project()
    (first / "page").mkdir()
    (first / "page" / "mine.xml").write_text("<kept/>")
    image = first / f"{SAMPLE_STEM}.jpg"
    image.unlink()
    again = startup.sample_project()
    assert again == first and image.is_file()
    assert (first / "page" / "mine.xml").read_text() == "<kept/>"


def test_missing_sample_is_a_message(qtbot, window, tmp_path, monkeypatch, user_dirs):
    monkeypatch.setenv("HTRJAND_RESOURCES", str(tmp_path / "nowhere"))
    dialog = window.welcome_dialog()
    assert not dialog.open_sample(run=True)
    level, text = window.messages.history[-1]
    assert level == "error" and "sample project is not installed" in text


def test_without_model_the_sample_is_segmented_with_a_note(qtbot, window, no_models, user_dirs):
    dialog = window.welcome_dialog()
    assert "Segment" in dialog.run_button.text()
    with qtbot.waitSignal(window.runner.ended, timeout=180_000) as ended:
        assert dialog.open_sample(run=True)
    assert ended.args[0] == "finished", ended.args
    assert any("No recognition model" in text for _, text in window.messages.history)
    assert len(window.model.lines()) > 5


def test_with_a_model_the_sample_is_segmented_and_transcribed(qtbot, window, toy_model_dir,
                                                              user_dirs, monkeypatch):
    from engine import models

    monkeypatch.setattr(models, "bundled_models_dir", lambda: toy_model_dir.parent)
    dialog = window.welcome_dialog()
    assert dialog.problem is None and "Transcribe" in dialog.run_button.text()
    with qtbot.waitSignal(window.runner.ended, timeout=180_000) as ended:
        assert dialog.open_sample(run=True)
    assert ended.args[0] == "finished", ended.args
    lines = window.model.lines()
    assert len(lines) > 5
    assert all(ln.origin.value == "model" for ln in lines)
