"""The project on disk: listing pages, importing ground truth, saving atomically, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.document import Line, Origin, Region
from engine.errors import FormatError, ImageError
from engine.project import Project

PAGE = "TestamentsDePoilus_will_AD78_0005-1"


@pytest.fixture
def project_dir(tmp_path: Path, shared_data: Path) -> Path:
    image = shared_data / "poilus" / "data" / "batch-1" / f"{PAGE}.jpg"
    if not image.is_file():
        pytest.skip(f"{image} not found")
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(image, folder)
    shutil.copy(image.with_suffix(".xml"), folder)
    return folder


def test_lists_images_and_imports_ground_truth(project_dir: Path) -> None:
    (project_dir / "notes.txt").write_text("not a page")
    project = Project.open(project_dir)
    assert [e.stem for e in project.entries] == [PAGE]
    entry = project.entries[0]
    assert entry.readable and entry.has_transcription and not entry.xml.exists()
    page = project.load_page(entry)
    assert len(list(page.lines())) == 12
    assert page.image_filename == f"{PAGE}.jpg"


def test_save_writes_page_folder_and_reopens(project_dir: Path) -> None:
    project = Project.open(project_dir)
    entry = project.entries[0]
    page = project.load_page(entry)
    line = next(page.lines())
    line.text, line.origin = "corrigé ſ", Origin.PERSON
    path = project.save_page(entry, page)
    assert path == project_dir / "page" / f"{PAGE}.xml"
    assert not list((project_dir / "page").glob(".*.tmp"))
    again = Project.open(project_dir)
    reread = again.load_page(again.entries[0])
    first = next(reread.lines())
    assert (first.text, first.origin) == ("corrigé ſ", Origin.PERSON)


def test_new_image_gives_empty_page(project_dir: Path) -> None:
    (project_dir / f"{PAGE}.xml").unlink()
    project = Project.open(project_dir)
    page = project.load_page(project.entries[0])
    assert page.regions == [] and page.width > 100 and page.height > 100


def test_unreadable_image_is_marked(project_dir: Path) -> None:
    (project_dir / "broken.jpg").write_bytes(b"not a jpeg at all")
    project = Project.open(project_dir)
    broken = project.entry("broken")
    assert broken is not None and not broken.readable and "broken.jpg" in broken.error
    with pytest.raises(ImageError):
        project.load_page(broken)
    assert project.entry(PAGE).readable


def test_size_mismatch_warns_and_clamps(project_dir: Path) -> None:
    project = Project.open(project_dir)
    entry = project.entries[0]
    page = project.load_page(entry)
    page.width, page.height = page.width * 2, page.height * 2
    w2, h2 = page.width, page.height
    far = Line("lfar", [(10, 10), (w2 - 5, 10), (w2 - 5, h2 - 5)],
               [(10, h2 - 5), (w2 - 5, h2 - 5)], "x")
    page.regions.append(Region("rfar", [(0, 0), (w2 - 1, 0), (w2 - 1, h2 - 1)], [far]))
    from engine.formats import write_page_xml

    write_page_xml(page, entry.xml)
    reread = project.load_page(entry)
    assert "describes a page of" in reread.metadata["warnings"]
    w, h = reread.width, reread.height
    assert (w, h) == (page.width // 2, page.height // 2)
    points = [p for ln in reread.lines() for p in ln.polygon + ln.baseline]
    assert all(0 <= x < w and 0 <= y < h for x, y in points)


def test_from_files_and_not_a_folder(project_dir: Path) -> None:
    project = Project.from_files([project_dir / f"{PAGE}.xml"])
    assert [e.stem for e in project.entries] == [PAGE]
    with pytest.raises(FormatError):
        Project.open(project_dir / f"{PAGE}.jpg")
    with pytest.raises(FormatError):
        Project.from_files([project_dir / "nothing.txt"])


def test_document_for_another_image_warns(project_dir: Path) -> None:
    xml = project_dir / f"{PAGE}.xml"
    xml.write_text(xml.read_text(encoding="utf-8").replace(f"{PAGE}.jpg", "other-page.jpg"),
                   encoding="utf-8")
    project = Project.open(project_dir)
    page = project.load_page(project.entries[0])
    assert "other-page.jpg" in page.metadata["warnings"]
    assert page.image_filename == f"{PAGE}.jpg"
