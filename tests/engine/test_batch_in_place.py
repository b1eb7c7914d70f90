"""``run_batch`` in place on a project (images + ``page/<stem>.xml``), in-process Dask cluster:
the pages' own PAGE-XML is input and output, a person's lines are kept, no text files in the
project, manifest in ``.htrjand/`` (re-runs skip unchanged pages), atomic writes, and a page
saved by someone while it was processed is not written over.

Pages: copies of the bundled Poilus sample (CC-BY 4.0), or Hooker letters (see test_batch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_batch import IN_PROCESS, leftovers, make_folder

from engine.batch import BatchOptions, run_batch
from engine.batch.runner import CHANGED_MEANWHILE
from engine.document import Origin
from engine.errors import StorageError
from engine.formats import read_document
from engine.project import Project

IN_PLACE = dict(in_place=True, **IN_PROCESS)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project of three pages, segmented in place; page00's first line corrected by hand."""
    folder = make_folder(tmp_path / "project", 3)
    first = run_batch([folder], folder, BatchOptions(segment=True, **IN_PLACE))
    assert first.done == 3
    correct_first_line(folder, "page00", "written by a person")
    return folder


def correct_first_line(folder: Path, stem: str, text: str) -> None:
    """What the window does when a person corrects a line: PERSON origin, saved atomically."""
    opened = Project.open(folder)
    entry = opened.entry(stem)
    page = opened.load_page(entry)
    line = next(page.lines())
    line.text, line.origin = text, Origin.PERSON
    opened.save_page(entry, page)


def lines_of(folder: Path, stem: str) -> list:
    return list(read_document(folder / "page" / f"{stem}.xml").lines())


def test_in_place_keeps_person_lines_and_writes_only_page_xml(project: Path,
                                                              model_dir: Path) -> None:
    before = {p.name for p in project.iterdir()}
    summary = run_batch([project], project, BatchOptions(segment=True, recognize=True,
                                                         model=model_dir, **IN_PLACE))
    assert (summary.done, summary.skipped, summary.failed) == (3, 0, 0)
    lines = lines_of(project, "page00")
    assert (lines[0].text, lines[0].origin) == ("written by a person", Origin.PERSON)
    assert all(ln.origin == Origin.MODEL for ln in lines[1:])
    assert all(ln.origin == Origin.MODEL for ln in lines_of(project, "page01"))
    assert {p.name for p in project.iterdir()} == before  # no txt/, no manifest beside pages
    state = project / ".htrjand"
    assert sorted(p.name for p in state.iterdir()) == ["batch-manifest.jsonl",
                                                       "batch-summary.json"]
    assert json.loads((state / "batch-summary.json").read_text())["done"] == 3
    assert not leftovers(project)
    assert len(Project.open(project).entries) == 3  # the hidden folder is not a page


def test_in_place_rerun_skips_unchanged_pages_and_redoes_edited_ones(project: Path) -> None:
    options = BatchOptions(segment=True, **IN_PLACE)
    again = run_batch([project], project, options)
    assert (again.done, again.skipped) == (1, 2)  # page00 was saved by a person since
    assert run_batch([project], project, options).skipped == 3
    correct_first_line(project, "page02", "another correction")
    third = run_batch([project], project, options)
    assert (third.done, third.skipped) == (1, 2)
    assert lines_of(project, "page02")[0].text == "another correction"
    with_text = run_batch([project], project, BatchOptions(segment=True, txt=True, **IN_PLACE))
    assert with_text.done == 3  # asked for text: every page gains its txt/ file
    assert sorted(p.name for p in (project / "txt").iterdir()) == [
        "page00.txt", "page01.txt", "page02.txt"]
    rows = (project / ".htrjand" / "batch-manifest.jsonl").read_text().splitlines()
    assert len(rows) == 3  # compacted: one record per page


def test_in_place_writes_are_atomic(project: Path, monkeypatch) -> None:
    import engine.atomic

    saved = (project / "page" / "page00.xml").read_bytes()
    (project / ".htrjand" / "batch-manifest.jsonl").unlink()  # every page is redone

    real_replace = engine.atomic.os.replace

    def full_disk_for_page00(src, dst):  # the page's temporary file cannot take its place
        if str(dst).endswith("page00.xml"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)
    monkeypatch.setattr(engine.atomic.os, "replace", full_disk_for_page00)
    with pytest.raises(StorageError, match="No space left"):
        run_batch([project], project, BatchOptions(segment=True, **IN_PLACE))
    assert (project / "page" / "page00.xml").read_bytes() == saved  # the old file, whole
    assert not leftovers(project)


def test_a_page_saved_while_processed_is_not_written_over(project: Path, monkeypatch) -> None:
    import engine.batch.runner

    real = engine.batch.runner.process_page

    def person_saves_meanwhile(options, image):
        outcome = real(options, image)
        if Path(image).stem == "page01":  # the window saves a correction of this page now
            correct_first_line(project, "page01", "saved during the run")
        return outcome
    monkeypatch.setattr(engine.batch.runner, "process_page", person_saves_meanwhile)
    (project / ".htrjand" / "batch-manifest.jsonl").unlink()
    seen = []
    summary = run_batch([project], project, BatchOptions(segment=True, **IN_PLACE),
                        on_page=seen.append)
    assert (summary.done, summary.failed) == (2, 1)
    assert summary.failures[0]["reason"] == CHANGED_MEANWHILE
    assert lines_of(project, "page01")[0].text == "saved during the run"
    by_stem = {r.stem: r for r in seen}
    assert by_stem["page01"].xml_path is None and by_stem["page00"].xml_path is not None
    monkeypatch.setattr(engine.batch.runner, "process_page", real)
    rerun = run_batch([project], project, BatchOptions(segment=True, **IN_PLACE))
    assert (rerun.done, rerun.skipped, rerun.failed) == (1, 2, 0)


def test_normal_mode_still_refuses_output_inside_input(project: Path) -> None:
    from engine.errors import FormatError

    with pytest.raises(FormatError, match="inside the input folder"):
        run_batch([project], project, BatchOptions(**IN_PROCESS))
    with pytest.raises(FormatError, match="no such project folder"):
        run_batch([project / "page00.jpg"], project / "missing", BatchOptions(**IN_PLACE))
