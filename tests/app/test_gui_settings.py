"""Settings (device, model, autosave) kept with QSettings; the recent-projects menu."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from app.gui.settings import Settings
from app.gui.settings_dialog import SettingsDialog


def test_settings_dialog_stores_choices(window, settings, tmp_path):
    dialog = SettingsDialog(settings, window)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.autosave.setValue(2500)
    dialog.accept()
    again = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    assert again.device == "cpu" and again.autosave_ms == 2500
    assert again.model_dir == ""
    assert not again.fast_reading and again.beam is None  # the model's own decoding


def test_fast_reading_setting_means_greedy(window, settings, tmp_path):
    dialog = SettingsDialog(settings, window)
    assert not dialog.fast.isChecked()
    dialog.fast.setChecked(True)
    dialog.accept()
    again = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    assert again.fast_reading and again.beam == 1


def test_warm_up_setting(window, settings, tmp_path):
    """The dialog shows and stores whether the model loads when a project opens (the tests'
    settings keep it off)."""
    dialog = SettingsDialog(settings, window)
    assert not dialog.warm_up.isChecked()
    dialog.warm_up.setChecked(True)
    dialog.accept()
    assert Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)).warm_up


def test_recent_projects(opened, project_dir, settings):
    assert settings.recent_projects()[0] == str(project_dir)
    for i in range(12):
        settings.add_recent(f"/tmp/p{i}")
    assert len(settings.recent_projects()) == 10
    assert settings.recent_projects()[0] == "/tmp/p11"
    settings.device = "quantum"
    assert settings.device == "auto"
