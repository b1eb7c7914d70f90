"""Fixtures for the window's tests: offscreen Qt, private settings, a project of a real page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

POILUS_PAGE = "TestamentsDePoilus_will_AD78_0005-1"  # 12 lines, CC-BY 4.0 (Testaments de Poilus)


@pytest.fixture
def poilus_source(shared_data: Path) -> Path:
    """The image of a real Poilus page (its ALTO ground truth lies beside it)."""
    image = shared_data / "poilus" / "data" / "batch-1" / f"{POILUS_PAGE}.jpg"
    if not image.is_file() or not image.with_suffix(".xml").is_file():
        pytest.skip(f"Poilus page {POILUS_PAGE} not found under {shared_data}")
    return image


@pytest.fixture
def project_dir(tmp_path: Path, poilus_source: Path) -> Path:
    """A project folder: one Poilus image with its ALTO ground truth beside it."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(poilus_source, folder)
    shutil.copy(poilus_source.with_suffix(".xml"), folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    from app.gui.settings import Settings

    store = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    store.autosave_ms = 200
    store.warm_up = False  # no model loading behind a test's back (test_gui_jobs turns it on)
    return store


@pytest.fixture
def window(qtbot, settings):
    from app.gui.main_window import MainWindow

    win = MainWindow(settings)
    win.confirm_close_unsaved = lambda: True  # never a modal question in a test
    qtbot.addWidget(win)
    win.show()
    yield win
    win.runner.cancel()
    win.runner.pool.waitForDone(5000)


@pytest.fixture
def opened(window, project_dir):
    """The window with the Poilus project open."""
    assert window.open_paths([str(project_dir)])
    assert window.model.page is not None
    return window


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch) -> Path:
    """No recognition model anywhere: empty bundled and user model folders."""
    from engine import models

    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setattr(models, "bundled_models_dir", lambda: empty)
    monkeypatch.setattr(models, "user_models_dir", lambda: empty / "user")
    return empty


@pytest.fixture
def user_dirs(tmp_path: Path, monkeypatch) -> Path:
    """The user's data folder in tmp (the sample is copied there)."""
    from app.gui import startup

    folder = tmp_path / "user-data"
    monkeypatch.setattr(startup, "user_data_dir", lambda: folder)
    return folder


@pytest.fixture(autouse=True)
def fresh_recognizer() -> None:
    """Each test loads its own recognizer (the window keeps the last one between jobs)."""
    from app.gui import jobs

    jobs.forget_recognizer()


@pytest.fixture(autouse=True)
def private_instance_name(monkeypatch, tmp_path: Path) -> None:
    """Each test's window listens under its own name, never a running HTR-JAND Studio's."""
    monkeypatch.setenv("HTRJAND_INSTANCE", f"htrjand-test-{os.getpid()}-{abs(hash(tmp_path))}")
