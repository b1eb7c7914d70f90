"""Help → Keyboard Shortcuts is generated from the window's actions; About shows the version,
the model cards, licences and data credits."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

from app.gui import about, help as help_module
from engine import __version__


def test_shortcuts_come_from_the_actions(window):
    rows = help_module.shortcut_rows(window)
    table = {(menu, action): keys for menu, action, keys in rows}
    save = QKeySequence(QKeySequence.Save).toString(QKeySequence.NativeText)
    assert table[("File", "Save")] == save
    assert table[("Run", "Recognise Page")] == "Ctrl+R"
    # Every action of the window with a shortcut is listed, with the same keys.
    for name, action in window.actions.items():
        keys = [k.toString(QKeySequence.NativeText) for k in action.shortcuts() if not k.isEmpty()]
        if keys:
            assert ", ".join(keys) in table.values(), name
    # A shortcut changed on the action shows up changed: nothing is kept by hand.
    window.actions["export"].setShortcut(QKeySequence("Ctrl+Shift+X"))
    assert ("File", "Export", "Ctrl+Shift+X") in help_module.shortcut_rows(window)


def test_shortcuts_dialog_lists_them(qtbot, window):
    dialog = help_module.ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    texts = {dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert {"Save", "Undo", "Next line"} <= texts
    assert window.actions["shortcuts"].shortcuts()  # F1 (or the platform's help key)


def test_about_shows_version_cards_and_credits(qtbot, toy_model_dir, monkeypatch):
    from engine import models

    monkeypatch.setattr(models, "bundled_models_dir", lambda: toy_model_dir.parent)
    monkeypatch.setattr(models, "user_models_dir", lambda: toy_model_dir.parent / "none")
    dialog = about.AboutDialog()
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    assert __version__ in text
    assert "toy (bundled)" in text and "0.0.1" in text and "Untrained; for tests only." in text
    for credit in ("CC-BY 4.0", "Testaments de Poilus", "PAGE-XML schemas", "Apache License 2.0",
                   "Hooker", "CC-BY-SA"):
        assert credit in text, credit


def test_about_without_models_says_so(qtbot, no_models):
    dialog = about.AboutDialog()
    qtbot.addWidget(dialog)
    assert "No recognition model is installed" in dialog.text.toPlainText()


def test_about_shows_the_post_correction_card_or_why_not(qtbot, toy_model_dir, monkeypatch,
                                                         postcorrect_model_dir):
    from engine import models

    monkeypatch.setattr(models, "bundled_models_dir", lambda: toy_model_dir.parent)
    text = about.about_markdown()
    assert "## Post-correction model" in text and "Suggestions are off" in text
    monkeypatch.setattr(models, "bundled_models_dir", lambda: postcorrect_model_dir.parent)
    monkeypatch.setattr("engine.postcorrect.corrector.DEFAULT_NAME", postcorrect_model_dir.name)
    text = about.about_markdown()
    assert "Suggestions are off" not in text and "When a suggestion is offered" in text
    assert "GCIDE" in text
