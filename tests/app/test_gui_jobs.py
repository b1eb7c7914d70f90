"""Background jobs: progress, ETA and Cancel; recognition and segmentation; export."""

from __future__ import annotations

import sys
import time
import types

import pytest
from PySide6.QtCore import Qt

from app.gui import job_actions
from app.gui.export_dialog import ExportDialog
from app.gui.workers import Job
from engine.progress import format_duration
from engine.document import Origin
from engine.errors import ModelError


def slow(job):
    for i in range(200):
        job.progress(i, 200, f"step {i}")
        time.sleep(0.02)
    return "all done"


def test_cancel_a_slow_job_keeps_gui_responsive(window, qtbot):
    assert job_actions.start(window, Job(slow, "Slow job"))
    panel = window.job_panel
    qtbot.waitUntil(lambda: panel.bar.value() >= 4, timeout=5000)
    assert panel.isVisible() and "Slow job" in panel.label.text()
    qtbot.waitUntil(lambda: "left" in panel.label.text(), timeout=5000)  # an ETA
    assert not job_actions.start(window, Job(slow, "Second"))  # one at a time
    qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=3000)
    assert not panel.isVisible()
    assert "cancelled" in window.messages.text()


def test_failed_job_message_and_finished_result(window, qtbot):
    def broken(job):
        raise ModelError("model.onnx is damaged")
    job_actions.start(window, Job(broken, "Broken"))
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=3000)
    assert window.messages.level == "error" and "damaged" in window.messages.text()
    results = []
    window.runner.start(Job(lambda job: 42, "Quick"), on_finished=results.append)
    qtbot.waitUntil(lambda: results == [42], timeout=3000)


def test_recognition_without_model_says_so(opened, qtbot, monkeypatch):
    monkeypatch.setitem(sys.modules, "engine.recognition", None)  # import fails
    assert job_actions.recognize(opened, "page")
    qtbot.waitUntil(lambda: not opened.runner.busy, timeout=5000)
    assert "No recognition model installed" in opened.messages.text()
    assert len(opened.model.lines()) == 12  # the page is untouched and usable


def test_model_that_fails_to_load(opened, qtbot, monkeypatch, tmp_path):
    opened.settings.model_dir = str(tmp_path)
    fake = types.ModuleType("engine.recognition")

    class Recognizer:
        def __init__(self, model_dir=None, device="auto", beam=None):
            raise RuntimeError("ONNX Runtime: invalid protobuf")
    fake.Recognizer = Recognizer
    monkeypatch.setitem(sys.modules, "engine.recognition", fake)
    job_actions.recognize(opened, "project")
    qtbot.waitUntil(lambda: not opened.runner.busy, timeout=5000)
    assert "could not be loaded" in opened.messages.text()
    assert "invalid protobuf" in opened.messages.text()


def test_recognition_result_respects_corrections(opened, qtbot, monkeypatch, tmp_path):
    opened.settings.model_dir = str(tmp_path)
    fake = types.ModuleType("engine.recognition")

    class Recognizer:
        def __init__(self, model_dir=None, device="auto", beam=None):
            self.device = device

        def recognize_page(self, page, image=None, overwrite=False, progress=None, cancel=None):
            lines = list(page.lines())
            for i, line in enumerate(lines):
                line.text, line.origin, line.confidence = "model says", Origin.MODEL, 0.5
                line.char_confidences = [0.5] * len("model says")
                progress(i + 1, len(lines), "")
            return page
    fake.Recognizer = Recognizer
    monkeypatch.setitem(sys.modules, "engine.recognition", fake)
    lines = opened.model.lines()
    for line in lines[1:]:
        line.origin = Origin.MODEL  # only the first line counts as corrected
    kept = lines[0].text
    job_actions.recognize(opened, "page")
    qtbot.waitUntil(lambda: not opened.runner.busy, timeout=5000)
    lines = opened.model.lines()
    assert lines[0].text == kept and lines[1].text == "model says"
    assert opened.editor.field.toPlainText() == kept
    opened.actions["undo"].trigger()
    assert opened.model.lines()[1].text != "model says"
    assert opened.model.dirty or (opened.model.project.entries[0].xml.exists())


def test_segment_empty_page(window, project_dir, qtbot):
    next(project_dir.glob("*.xml")).unlink()
    window.open_paths([str(project_dir)])
    assert window.model.lines() == []
    assert job_actions.segment(window, "page")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=30000)
    assert window.messages.level != "error", window.messages.text()
    assert len(window.model.lines()) > 3
    assert len(window.view.items_by_id) == len(window.model.lines())
    assert window.model.current_line_id == window.model.lines()[0].id
    window.actions["undo"].trigger()  # a segmentation is one undoable step
    assert window.model.lines() == []


def test_export_dialog_writes_files(opened, qtbot, tmp_path, monkeypatch):
    out = tmp_path / "out"

    def accept(dialog):
        dialog.project_scope.setChecked(True)
        dialog.checks["alto"].setChecked(True)
        dialog.folder.setText(str(out))
        return ExportDialog.Accepted
    monkeypatch.setattr(ExportDialog, "exec", accept)
    qtbot.keyClicks(opened.editor.field, " EXPORT")
    opened.actions["export"].trigger()
    qtbot.waitUntil(lambda: not opened.runner.busy, timeout=10000)
    stem = opened.model.stem
    assert "EXPORT" in (out / "page-xml" / f"{stem}.xml").read_text(encoding="utf-8")
    assert "EXPORT" in (out / "txt" / f"{stem}.txt").read_text(encoding="utf-8")
    assert (out / "alto" / f"{stem}.xml").exists()
    assert "Exported 3 file(s)" in opened.messages.text()


def test_format_duration():
    assert format_duration(5) == "5 s" and format_duration(75) == "1 min 15 s"
    assert format_duration(3700) == "1 h 01 min"


def test_no_model_installed_with_the_real_engine(opened, qtbot, monkeypatch):
    import engine.models

    def none_installed():
        raise ModelError("no recognition model found")
    monkeypatch.setattr(engine.models, "default_model_dir", none_installed)
    job_actions.recognize(opened, "page")
    qtbot.waitUntil(lambda: not opened.runner.busy, timeout=5000)
    assert "No recognition model installed" in opened.messages.text()
    assert "Settings" in opened.messages.text()


def test_recognizer_kept_between_jobs_until_settings_or_model_change(toy_model_dir, tmp_path):
    """The window's jobs share the last recognizer made (loading costs seconds a page); other
    settings, a model changed in place, or ``forget_recognizer`` load it again."""
    import os
    import shutil

    from app.gui import jobs

    folder = tmp_path / "model"
    shutil.copytree(toy_model_dir, folder)
    first, note = jobs.make_recognizer(str(folder), "cpu")
    assert note is None and jobs.make_recognizer(str(folder), "cpu")[0] is first
    greedy = jobs.make_recognizer(str(folder), "cpu", beam=1)[0]
    assert greedy is not first and greedy.beam == 1
    assert jobs.make_recognizer(str(folder), "cpu", beam=1)[0] is greedy
    card = folder / "card.json"
    card.write_text(card.read_text())  # fine-tuned in place: a new time
    os.utime(card, ns=(card.stat().st_atime_ns, card.stat().st_mtime_ns + 10**9))
    again = jobs.make_recognizer(str(folder), "cpu", beam=1)[0]
    assert again is not greedy
    jobs.forget_recognizer()
    assert jobs.make_recognizer(str(folder), "cpu", beam=1)[0] is not again
    shutil.rmtree(folder)
    with pytest.raises(ModelError):
        jobs.make_recognizer(str(folder), "cpu", beam=1)


def test_opening_a_project_warms_the_recognizer_up(window, project_dir, model_dir, tmp_path,
                                                    qtbot, monkeypatch):
    """With warm-up on (the settings' default), opening a project makes the settings'
    recognizer in the background and reads its LMs; the first job gets that very one. Off,
    nothing is loaded; a model that cannot load is left for the job to report."""
    from PySide6.QtCore import QSettings

    from app.gui import jobs, main_window
    from app.gui.settings import Settings

    assert Settings(QSettings(str(tmp_path / "fresh.ini"), QSettings.IniFormat)).warm_up
    assert window.warm_recognizer() is None and not jobs._KEPT  # off in the tests' settings
    window.settings.warm_up = True
    window.settings.model_dir = str(model_dir)
    monkeypatch.setattr(main_window, "WARM_UP_DELAY_MS", 10)
    assert window.open_paths([str(project_dir)])
    qtbot.waitUntil(lambda: window._warming is not None, timeout=5000)
    window._warming.join(timeout=120)
    assert not window._warming.is_alive()
    (warmed, _note), = jobs._KEPT.values()
    assert warmed.beam == 1 or warmed._languages is not None  # the LMs read too
    settings = window.settings
    assert jobs.make_recognizer(settings.model_dir, settings.device, settings.beam)[0] is warmed
    jobs.forget_recognizer()
    jobs.warm_recognizer(str(tmp_path / "no such model"), "cpu")  # no exception: the job says it
    assert not jobs._KEPT
