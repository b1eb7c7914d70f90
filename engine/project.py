"""A project on disk: a folder of page images, each with its PAGE-XML in ``page/<stem>.xml``.

    >>> from engine.project import Project
    >>> project = Project.open("letters/")                  # doctest: +SKIP
    >>> page = project.load_page(project.entries[0])         # doctest: +SKIP
    >>> project.save_page(project.entries[0], page)          # doctest: +SKIP

The layout is the one eScriptorium and OCR-D users know. The ``page/`` folder is created on the
first save; saving is atomic, and the XML names its image by file name alone (it is found beside
the ``page/`` folder). Ground truth lying beside an image (``<stem>.xml``, PAGE-XML or ALTO) is
imported the first time a page is opened. Nothing here knows about Qt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.document import Page, Point
from engine.errors import FormatError, HtrError, StorageError
from engine.formats import read_document, write_page_xml
from engine.formats.notes import WARNINGS_KEY
from engine.imaging import image_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".jp2")
PAGE_FOLDER = "page"


def is_image_file(path: Path) -> bool:
    suffix_ok = path.suffix.lower() in IMAGE_SUFFIXES
    return suffix_ok and path.is_file() and not path.name.startswith(".")


@dataclass
class PageEntry:
    """One page of a project: its image and where its PAGE-XML lives (or will live)."""

    image: Path
    xml: Path
    error: str | None = None  # why the image cannot be read, if it cannot

    @property
    def stem(self) -> str:
        return self.image.stem

    @property
    def readable(self) -> bool:
        return self.error is None

    def ground_truth(self) -> Path | None:
        """A PAGE-XML or ALTO file lying beside the image (``<stem>.xml``), if any."""
        candidate = self.image.with_suffix(".xml")
        return candidate if candidate.is_file() else None

    @property
    def has_transcription(self) -> bool:
        return self.xml.is_file() or self.ground_truth() is not None


@dataclass
class Project:
    """A folder of page images; ``entries`` lists the pages in file-name order."""

    folder: Path
    entries: list[PageEntry] = field(default_factory=list)

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> "Project":
        """Every image of ``folder`` (not recursive). FormatError if it is not a folder."""
        root = Path(folder).resolve()
        if not root.is_dir():
            raise FormatError(f"{root}: not a folder.")
        images = sorted((p for p in root.iterdir() if is_image_file(p)),
                        key=lambda p: p.name.lower())
        return cls(root, [cls._entry(root, p) for p in images])

    @classmethod
    def from_files(cls, files: list[str | os.PathLike[str]]) -> "Project":
        """A project of chosen files: images, or PAGE-XML/ALTO files naming their image.

        The project folder is the folder of the first image; only the chosen pages are listed.
        """
        images: list[Path] = []
        for name in files:
            path = Path(name).resolve()
            if path.suffix.lower() == ".xml":
                path = _image_of_document(path)
            if path.suffix.lower() in IMAGE_SUFFIXES and path not in images:
                images.append(path)
        if not images:
            raise FormatError("None of the chosen files is a page image or names one.")
        root = images[0].parent
        return cls(root, [cls._entry(root, p) for p in images])

    @staticmethod
    def _entry(root: Path, image: Path) -> PageEntry:
        entry = PageEntry(image, image.parent / PAGE_FOLDER / f"{image.stem}.xml")
        try:
            image_size(image)
        except (HtrError, OSError) as exc:
            entry.error = str(exc)
        return entry

    def entry(self, stem: str) -> PageEntry | None:
        return next((e for e in self.entries if e.stem == stem), None)

    def load_page(self, entry: PageEntry) -> Page:
        """The page's document: saved PAGE-XML, else imported ground truth, else an empty page.

        The image decides the page size. A document made for another size is kept with its
        coordinates clamped into the image and a note in ``metadata["warnings"]``. Raises
        ImageError for an unreadable image and FormatError for an unreadable document.
        """
        width, height = image_size(entry.image)
        source = entry.xml if entry.xml.is_file() else entry.ground_truth()
        if source is None:
            page = Page(image_filename=entry.image.name, width=width, height=height)
        else:
            page = read_document(source)
            named = Path(page.image_filename.replace("\\", "/")).stem
            if named and named != entry.image.stem:
                _add_warning(page, f"{source.name} was made for the image {page.image_filename!r}, "
                                   f"not {entry.image.name}; check that it belongs to this page.")
            page.image_filename = entry.image.name
            if (page.width, page.height) != (width, height):
                _add_warning(page, f"{source.name} describes a page of {page.width} x {page.height}"
                                   f" pixels but {entry.image.name} is {width} x {height}; "
                                   "coordinates outside the image were clamped.")
                page.width, page.height = width, height
                clamp_page(page)
        page.source_path = entry.xml
        return page

    def save_page(self, entry: PageEntry, page: Page) -> Path:
        """Write the page to ``page/<stem>.xml`` atomically; StorageError if it cannot."""
        page.image_filename = entry.image.name
        try:
            path = write_page_xml(page, entry.xml)
        except OSError as exc:  # mkdir of page/ outside atomic_write's own handling
            raise StorageError(f"Could not write {entry.xml}: {exc.strerror or exc}") from exc
        page.source_path = entry.xml
        return path


def _image_of_document(xml: Path) -> Path:
    """The image a PAGE-XML/ALTO file names, else an image beside it with the same stem."""
    named = read_document(xml).image_path()
    candidates = [named, xml.parent / named.name, xml.parent.parent / named.name]
    candidates += [folder / f"{xml.stem}{suffix}" for folder in (xml.parent, xml.parent.parent)
                   for suffix in IMAGE_SUFFIXES]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise FormatError(f"{xml.name} names the image {named.name!r}, which is not beside it.")
    return found.resolve()


def _add_warning(page: Page, message: str) -> None:
    old = page.metadata.get(WARNINGS_KEY, "")
    page.metadata[WARNINGS_KEY] = f"{old}\n{message}" if old else message


def _clamp(points: list[Point], width: int, height: int) -> list[Point]:
    return [(min(max(int(x), 0), width - 1), min(max(int(y), 0), height - 1)) for x, y in points]


def clamp_page(page: Page) -> None:
    """Move every point of every region and line into the page's image, in place."""
    for region in page.regions:
        region.polygon = _clamp(region.polygon, page.width, page.height)
        for line in region.lines:
            line.polygon = _clamp(line.polygon, page.width, page.height)
            line.baseline = _clamp(line.baseline, page.width, page.height)
