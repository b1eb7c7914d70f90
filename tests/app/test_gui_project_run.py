"""The window's whole-project runs go through the batch engine in place: new lines and text shown,
a person's corrections kept (also those made during the run), Cancel leaving no partial file.

Pages: copies of the bundled Poilus sample (CC-BY 4.0), without their ground truth."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.gui import job_actions, project_run
from engine.document import Origin
from engine.formats import page_xml_bytes, read_document
from engine.pipeline import PageResult


@pytest.fixture
def batch_calls(monkeypatch) -> list:
    """Workers as threads of the test process; every run_batch call recorded."""
    import engine.batch

    monkeypatch.setattr(project_run, "LOCAL_PROCESSES", False)
    calls: list = []
    real = engine.batch.run_batch

    def spy(inputs, out, options, *args, **kwargs):
        calls.append((list(inputs), Path(out), options))
        return real(inputs, out, options, *args, **kwargs)
    monkeypatch.setattr(engine.batch, "run_batch", spy)
    return calls


@pytest.fixture
def pages_dir(tmp_path: Path, sample_image: Path) -> Path:
    folder = tmp_path / "letters"
    folder.mkdir()
    for name in ("a", "b"):
        shutil.copy(sample_image, folder / f"{name}.jpg")
    return folder


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def wait_idle(window, qtbot, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=timeout)


def test_whole_project_runs_in_place_through_run_batch(window, pages_dir, model_dir, qtbot,
                                                       batch_calls):
    window.settings.model_dir = str(model_dir)
    window.settings.show_suggestions = False  # suggestions would change the pages after the run
    assert window.open_paths([str(pages_dir)]) and window.model.lines() == []

    assert job_actions.segment(window, "project")
    wait_idle(window, qtbot)
    assert window.messages.level != "error", window.messages.text()
    inputs, out, options = batch_calls[-1]
    assert out == pages_dir.resolve() and options.in_place and not options.recognize
    assert sorted(p.name for p in inputs) == ["a.jpg", "b.jpg"]
    lines = window.model.lines()
    assert len(lines) > 3 and len(window.view.items_by_id) == len(lines)  # shown at once
    assert not window.model.dirty  # the page in memory is the file the batch wrote

    window.model.select_line(lines[0].id)
    qtbot.keyClicks(window.editor.field, "Hand")  # a person's correction
    assert window.model.current_line().origin == Origin.PERSON
    kept = window.model.current_line().text
    assert job_actions.recognize(window, "project")  # saves the correction first
    wait_idle(window, qtbot)
    assert window.messages.level != "error", window.messages.text()
    assert batch_calls[-1][2].recognize and batch_calls[-1][2].in_place
    assert "Recognised 2 page(s)" in window.messages.text()

    lines = window.model.lines()
    assert lines[0].text == kept and lines[0].origin == Origin.PERSON
    assert all(ln.origin == Origin.MODEL for ln in lines[1:])
    assert window.editor.field.toPlainText() == kept
    on_disk = read_document(pages_dir / "page" / "a.xml")
    assert next(on_disk.lines()).text == kept
    assert [ln.text for ln in on_disk.lines()] == [ln.text for ln in lines]
    other = list(read_document(pages_dir / "page" / "b.xml").lines())
    assert other and all(ln.origin == Origin.MODEL for ln in other)
    assert not (pages_dir / "txt").exists() and not leftovers(pages_dir)
    assert (pages_dir / ".htrjand" / "batch-manifest.jsonl").is_file()

    assert job_actions.recognize(window, "project")  # nothing changed: both pages skipped
    wait_idle(window, qtbot)
    assert "Recognised 0 page(s); 2 unchanged" in window.messages.text()

    window.actions["undo"].trigger()  # the run is one undoable step of the page
    assert window.model.lines()[1].origin == Origin.NONE


def test_pages_edited_during_the_run_keep_the_persons_work(window, pages_dir, model_dir,
                                                           qtbot, batch_calls):
    window.settings.model_dir = str(model_dir)
    window.open_paths([str(pages_dir)])
    job_actions.segment(window, "project")
    wait_idle(window, qtbot)
    model = window.model
    stem = model.stem
    result_page = read_document(pages_dir / "page" / f"{stem}.xml")
    for line in result_page.lines():  # what a recognition run would bring back
        line.text, line.origin = "from the batch", Origin.MODEL
    result = PageResult(pages_dir / f"{stem}.jpg", stem, page_xml_bytes(result_page), b"", 0)

    run = project_run.ProjectRun(window, recognize=True)
    try:
        ids = [ln.id for ln in model.lines()]
        model.select_line(ids[1])
        qtbot.keyClicks(window.editor.field, "Mine")  # edited while the run goes
        mine = model.current_line().text
        run.apply(stem, result)  # the batch did not write over the saved page (xml_path None)
        texts = {ln.id: ln.text for ln in model.lines()}
        assert texts[ids[1]] == mine
        assert texts[ids[0]] == "from the batch" and texts[ids[2]] == "from the batch"
        assert stem in model.dirty  # saved again, with the person's line
        assert model.save_all()
        saved = {ln.id: ln.text for ln in read_document(pages_dir / "page" / f"{stem}.xml").lines()}
        assert saved == texts
    finally:
        run._ended("", "")


def test_cancel_a_whole_project_run_leaves_no_partial_file(window, tmp_path, sample_image,
                                                           qtbot, batch_calls, monkeypatch):
    import engine.batch.runner

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(5):
        shutil.copy(sample_image, folder / f"p{i}.jpg")
    real = engine.batch.runner.process_page

    def slow(options, image):  # slow enough to press Cancel in the middle
        time.sleep(0.5)
        return real(options, image)
    monkeypatch.setattr(engine.batch.runner, "process_page", slow)
    window.open_paths([str(folder)])
    assert job_actions.segment(window, "project")
    panel = window.job_panel
    qtbot.waitUntil(lambda: (folder / "page").is_dir() and any((folder / "page").iterdir()),
                    timeout=60000)
    assert panel.isVisible()
    qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    wait_idle(window, qtbot, 20000)
    assert "cancelled" in window.messages.text()
    written = sorted((folder / "page").iterdir())
    assert 1 <= len(written) < 5 and not leftovers(folder)
    for path in written:
        assert list(read_document(path).lines())  # complete pages only
    # the current page shows its lines exactly when it was done before Cancel
    assert bool(window.model.lines()) == (folder / "page" / "p0.xml").is_file()
    summary = (folder / ".htrjand" / "batch-summary.json").read_text()
    assert '"cancelled": true' in summary


def test_a_page_saved_by_another_program_meanwhile_is_shown_as_saved(window, pages_dir,
                                                                     qtbot, batch_calls):
    from engine.project import Project

    window.open_paths([str(pages_dir)])
    job_actions.segment(window, "project")
    wait_idle(window, qtbot)
    model, stem = window.model, window.model.stem
    batch_page = read_document(pages_dir / "page" / f"{stem}.xml")
    result = PageResult(pages_dir / f"{stem}.jpg", stem, page_xml_bytes(batch_page), b"", 0)
    run = project_run.ProjectRun(window, recognize=True)
    try:
        other = Project.open(pages_dir)  # another program saves the page during the run
        saved = other.load_page(other.entry(stem))
        next(saved.lines()).text = "another program"
        other.save_page(other.entry(stem), saved)
        run.apply(stem, result)  # the batch left it alone (xml_path None)
        assert model.lines()[0].text == "another program"
        assert not model.dirty  # shown as saved, not written back
    finally:
        run._ended("", "")


def test_worker_processes_that_cannot_start_fall_back_to_threads(window, pages_dir, qtbot,
                                                                 batch_calls, monkeypatch):
    import engine.batch.runner

    real = engine.batch.runner._connect

    def no_processes(options):  # e.g. a built program whose children cannot start
        if options.processes:
            raise RuntimeError("Nanny failed to start.")
        return real(options)
    monkeypatch.setattr(engine.batch.runner, "_connect", no_processes)
    monkeypatch.setattr(project_run, "LOCAL_PROCESSES", True)
    monkeypatch.setattr(project_run, "IN_PROCESS_MAX", 0)
    notes: list[str] = []
    window.runner.noted.connect(notes.append)
    window.open_paths([str(pages_dir)])
    assert job_actions.segment(window, "project")
    wait_idle(window, qtbot)
    assert [c[2].processes for c in batch_calls] == [True, False]
    assert notes and "could not run" in notes[0]
    assert "Segmented 2 page(s)" in window.messages.text() and window.model.lines()
