"""Post-correction suggestions in the window: shown inline with the changes marked, Tab accepts,
Esc dismisses, computed in the background after recognition, a setting turns them off, and a
missing or broken post-corrector only leaves a note."""

from __future__ import annotations

import sys
import threading
import types

from PySide6.QtCore import QSettings, Qt

from app.gui import job_actions
from app.gui.settings import Settings
from app.gui.settings_dialog import SettingsDialog
from app.gui.suggestions import segments, suggestion_html
from engine.document import Origin


class FakeCorrector:
    """Stands in for ``engine.postcorrect.PostCorrector``: "says" → "said", else no suggestion.

    ``gate`` (a threading.Event) holds ``suggest`` back until the test opens it.
    """

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.seen: list[str] = []
        self.gate = gate

    def suggest(self, items):
        if self.gate is not None:
            assert self.gate.wait(10)
        self.seen.extend(item.text for item in items)
        return [types.SimpleNamespace(raw=item.text, text=item.text.replace("says", "said"))
                if "says" in item.text else None for item in items]


def fake_recognizer(monkeypatch, window, tmp_path) -> None:
    """A recognizer that reads every line as "model says N" (as in test_gui_jobs)."""
    window.settings.model_dir = str(tmp_path)
    fake = types.ModuleType("engine.recognition")

    class Recognizer:
        def __init__(self, model_dir=None, device="auto", beam=None):
            self.device = device

        def recognize_page(self, page, image=None, overwrite=False, progress=None, cancel=None):
            lines = list(page.lines())
            for i, line in enumerate(lines):
                line.text, line.origin, line.confidence = f"model says {i}", Origin.MODEL, 0.5
                line.char_confidences = [0.5] * len(line.text)
                progress(i + 1, len(lines), "")
            return page
    fake.Recognizer = Recognizer
    monkeypatch.setitem(sys.modules, "engine.recognition", fake)


def use_corrector(window, corrector) -> list[int]:
    """Give the window's suggester ``corrector``; returns the list its factory calls go into."""
    calls: list[int] = []

    def factory():
        calls.append(1)
        return corrector, None
    window.suggester.factory = factory
    return calls


def recognise(window, qtbot) -> None:
    assert job_actions.recognize(window, "page")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10000)
    qtbot.waitUntil(lambda: not window.suggester.busy, timeout=10000)


def model_line(window, index: int, text: str, suggestion: str | None):
    """Make line ``index`` a recognised line with ``suggestion``, and select it."""
    line = window.model.lines()[index]
    line.text, line.origin, line.model_text, line.suggestion = text, Origin.MODEL, None, None
    window.model.select_line(window.model.lines()[index + 1].id)
    window.model.select_line(line.id)
    window.model.set_suggestion(window.model.stem, line.id, suggestion)
    return line


def test_segments_mark_inserted_replaced_and_deleted_characters():
    assert segments("Ceci est mn testamant", "Ceci est mon testament.") == [
        ("equal", "Ceci est m"), ("insert", "o"), ("equal", "n testam"), ("delete", "a"),
        ("insert", "e"), ("equal", "nt"), ("insert", ".")]
    assert segments("aa  b", "aa b") == [("equal", "aa "), ("delete", " "), ("equal", "b")]
    rich = suggestion_html("a<b", "a<c")
    assert "&lt;" in rich and "<s>b</s>" in rich and "white-space:pre" in rich


def test_suggestion_shown_inline_with_marks(opened):
    win = opened
    model_line(win, 0, "Ceci est mn testamant", "Ceci est mon testament.")
    editor = win.editor
    assert editor.shown_suggestion() == "Ceci est mon testament."
    assert editor.suggestion_row.isVisible() and editor.field.suggestion_shown
    label = editor.suggestion.text()
    assert "<s>a</s>" in label and "background:" in label and ">o</span>" in label
    assert editor.field.toPlainText() == "Ceci est mn testamant"  # the text itself is unchanged
    row = win.line_model.index(0)
    assert "suggestion: Ceci est mon testament." in win.line_model.data(row, Qt.ToolTipRole)
    win.model.select_line(win.model.lines()[1].id)  # a person's line: nothing to suggest
    assert editor.shown_suggestion() is None and not editor.suggestion_row.isVisible()


def test_tab_accepts_undo_restores(opened, qtbot):
    win = opened
    line = model_line(win, 0, "Ceci est mn testamant", "Ceci est mon testament.")
    win.editor.field.setFocus()
    qtbot.keyClick(win.editor.field, Qt.Key_Tab)
    assert line.text == "Ceci est mon testament." and line.origin == Origin.PERSON
    assert line.model_text == "Ceci est mn testamant" and line.suggestion is None
    assert win.editor.field.toPlainText() == "Ceci est mon testament."
    assert win.editor.shown_suggestion() is None and not win.editor.field.suggestion_shown
    assert win.model.current_line_id == line.id and win.model.stem in win.model.dirty
    qtbot.keyClicks(win.editor.field, "!")  # typing afterwards is its own undo step
    win.actions["undo"].trigger()
    assert line.text == "Ceci est mon testament." and line.origin == Origin.PERSON
    win.actions["undo"].trigger()
    assert line.text == "Ceci est mn testamant" and line.origin == Origin.MODEL
    assert line.model_text is None and line.suggestion == "Ceci est mon testament."
    assert win.editor.shown_suggestion() == "Ceci est mon testament."
    win.actions["redo"].trigger()
    assert line.text == "Ceci est mon testament." and line.suggestion is None


def test_tab_without_suggestion_keeps_focus_behaviour(opened, qtbot):
    win = opened
    line = model_line(win, 0, "Ceci est mn testamant", None)
    assert not win.editor.field.suggestion_shown
    win.activateWindow()
    win.editor.field.setFocus()
    qtbot.waitUntil(win.editor.field.hasFocus, timeout=3000)
    qtbot.keyClick(win.editor.field, Qt.Key_Tab)
    assert line.text == "Ceci est mn testamant" and line.origin == Origin.MODEL  # no tab typed
    assert not win.editor.field.hasFocus()  # Tab moved the focus on, as usual


def test_typing_clears_the_suggestion(opened, qtbot):
    win = opened
    line = model_line(win, 0, "Ceci est mn testamant", "Ceci est mon testament.")
    qtbot.keyClicks(win.editor.field, "x")
    assert line.origin == Origin.PERSON and line.suggestion is None
    assert win.editor.shown_suggestion() is None
    win.actions["undo"].trigger()
    assert line.suggestion == "Ceci est mon testament."


def test_esc_dismisses_for_good_and_undo_brings_it_back(opened, qtbot):
    win = opened
    line = model_line(win, 0, "model says 0", "model said 0")
    qtbot.keyClick(win.editor.field, Qt.Key_Escape)
    assert line.suggestion is None and line.text == "model says 0"
    assert line.origin == Origin.MODEL and win.editor.shown_suggestion() is None
    # Computed again for the same text (a new recognition): not offered again.
    use_corrector(win, FakeCorrector())
    win.suggester.page_recognized(win.model.stem)
    qtbot.waitUntil(lambda: not win.suggester.busy, timeout=5000)
    assert line.suggestion is None
    win.actions["undo"].trigger()
    assert line.suggestion == "model said 0" and win.editor.shown_suggestion() == "model said 0"
    win.actions["redo"].trigger()
    assert line.suggestion is None


def test_background_suggestions_after_recognition(opened, qtbot, monkeypatch, tmp_path):
    win = opened
    fake_recognizer(monkeypatch, win, tmp_path)
    corrector = FakeCorrector()
    calls = use_corrector(win, corrector)
    lines = win.model.lines()
    for line in lines[1:]:
        line.origin = Origin.MODEL  # the first line stays the person's
    kept = lines[0].text
    recognise(win, qtbot)
    lines = win.model.lines()
    assert lines[0].text == kept and lines[0].origin == Origin.PERSON
    assert lines[0].suggestion is None and "model says 0" not in corrector.seen
    assert all(ln.suggestion == ln.text.replace("says", "said") for ln in lines[1:])
    assert all(ln.origin == Origin.MODEL for ln in lines[1:])  # offered, not applied
    assert len(corrector.seen) == len(lines) - 1 and calls == [1]
    win.model.select_line(lines[2].id)
    assert win.editor.shown_suggestion() == "model said 2"
    recognise(win, qtbot)  # the corrector is loaded once
    assert calls == [1]


def test_suggestions_and_accepted_ones_are_saved(opened, qtbot, monkeypatch, tmp_path):
    win = opened
    fake_recognizer(monkeypatch, win, tmp_path)
    use_corrector(win, FakeCorrector())
    for line in win.model.lines():
        line.origin = Origin.MODEL
    recognise(win, qtbot)
    assert win.model.save_all()
    entry = win.model.entry
    on_disk = list(win.model.project.load_page(entry).lines())
    assert on_disk[1].suggestion == "model said 1" and on_disk[1].origin == Origin.MODEL
    win.model.select_line(win.model.lines()[1].id)
    qtbot.keyClick(win.editor.field, Qt.Key_Tab)
    assert win.model.save_all()
    line = list(win.model.project.load_page(entry).lines())[1]
    assert (line.text, line.origin, line.model_text, line.suggestion) == (
        "model said 1", Origin.PERSON, "model says 1", None)
    assert "✓" in win.line_model.data(win.line_model.index(1))  # a person's line now


def test_stale_and_corrected_lines_are_left_alone(opened, qtbot, monkeypatch, tmp_path):
    win = opened
    fake_recognizer(monkeypatch, win, tmp_path)
    gate = threading.Event()
    use_corrector(win, FakeCorrector(gate))
    for line in win.model.lines():
        line.origin = Origin.MODEL
    assert job_actions.recognize(win, "page")
    qtbot.waitUntil(lambda: win.suggester._job is not None, timeout=10000)
    stem, lines = win.model.stem, win.model.lines()
    # Meanwhile: line 1 re-read differently by the model, line 2 corrected by a person.
    win.model.apply_text(stem, lines[1].id, "other text says", Origin.MODEL, None)
    win.model.select_line(lines[2].id)
    qtbot.keyClicks(win.editor.field, " ok")
    gate.set()
    qtbot.waitUntil(lambda: not win.runner.busy and not win.suggester.busy, timeout=10000)
    assert lines[0].suggestion == "model said 0"
    assert lines[1].suggestion is None and lines[1].text == "other text says"
    assert lines[2].suggestion is None and lines[2].origin == Origin.PERSON
    assert lines[2].text == "model says 2 ok"


def test_setting_off_computes_and_shows_nothing(opened, qtbot, monkeypatch, tmp_path, settings):
    win = opened
    dialog = SettingsDialog(settings, win)
    assert dialog.suggestions.isChecked()  # on by default
    dialog.suggestions.setChecked(False)
    dialog.accept()
    win.suggestions_setting_changed()
    again = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    assert again.show_suggestions is False
    fake_recognizer(monkeypatch, win, tmp_path)
    calls = use_corrector(win, FakeCorrector())
    for line in win.model.lines():
        line.origin = Origin.MODEL
    recognise(win, qtbot)
    assert calls == [] and all(ln.suggestion is None for ln in win.model.lines())
    line = model_line(win, 0, "model says 0", "model said 0")  # e.g. read from a file
    assert win.editor.shown_suggestion() is None and not win.editor.suggestion_row.isVisible()
    qtbot.keyClick(win.editor.field, Qt.Key_Return, Qt.ControlModifier)
    assert line.text == "model says 0"  # nothing to accept while suggestions are off
    settings.show_suggestions = True
    win.suggestions_setting_changed()
    assert win.editor.shown_suggestion() == "model said 0"


def test_missing_or_corrupt_model_leaves_a_note(opened, qtbot, monkeypatch, tmp_path):
    import engine.postcorrect as postcorrect
    import engine.recognition.onnx_model  # noqa: F401  (the real one; fake_recognizer hides it)

    win = opened
    broken = tmp_path / "broken-postcorrect"
    broken.mkdir()
    (broken / "card.json").write_text("{not json")
    (broken / "encoder.onnx").write_bytes(b"garbage")
    real = postcorrect.load_postcorrector
    for folder in (tmp_path / "missing", broken):
        monkeypatch.setattr(postcorrect, "load_postcorrector", lambda f=folder: real(f))
        win.suggester.corrector, win.suggester.note = None, None
        win.messages.history.clear()
        fake_recognizer(monkeypatch, win, tmp_path)
        for line in win.model.lines():
            line.origin = Origin.MODEL
        recognise(win, qtbot)
        assert all(ln.text.startswith("model says") for ln in win.model.lines())  # recognised
        assert all(ln.suggestion is None for ln in win.model.lines())
        notes = [t for _, t in win.messages.history if "Post-correction" in t]
        assert len(notes) == 1 and ". Recognition still works." in notes[0], notes
        recognise(win, qtbot)  # one note, not one per page or run
        assert len([t for _, t in win.messages.history if "Post-correction" in t]) == 1


def test_corrector_failing_on_a_page_is_reported_not_fatal(opened, qtbot, monkeypatch, tmp_path):
    class Broken:
        def suggest(self, items):
            raise RuntimeError("ONNX Runtime exploded")
    win = opened
    fake_recognizer(monkeypatch, win, tmp_path)
    use_corrector(win, Broken())
    for line in win.model.lines():
        line.origin = Origin.MODEL
    recognise(win, qtbot)
    assert "exploded" in win.messages.text()
    assert all(ln.text.startswith("model says") for ln in win.model.lines())
    recognise(win, qtbot)  # told once
    assert len([t for _, t in win.messages.history if "exploded" in t]) == 1
