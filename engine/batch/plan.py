"""Which pages a batch covers: input folders and files checked and turned into page tasks.

Bad input fails here, before any cluster starts, with a message a person can act on: a missing
input, a folder without page images, an output folder inside an input folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import FormatError
from engine.pipeline import page_entry, source_document
from engine.project import IMAGE_SUFFIXES, is_image_file


@dataclass(frozen=True)
class PageTask:
    """One page of a batch: its image and the document it starts from (if any)."""

    image: Path
    source: Path | None

    @property
    def stem(self) -> str:
        return self.image.stem


@dataclass
class Plan:
    """The pages to process, and pages refused before processing (with their reason)."""

    tasks: list[PageTask]
    refused: list[tuple[Path, str]]


def plan_batch(inputs: list[str | os.PathLike[str]], out: str | os.PathLike[str],
               in_place: bool = False) -> Plan:
    """Page tasks for every image of the input folders (not recursive) and image files.

    Raises FormatError when an input is missing or not an image, when no page image is found,
    and, unless ``in_place``, when the output folder is an input folder or inside one (its
    ``page/`` folder would be read back as input on the next run). In place, that is the point:
    each page's ``page/<stem>.xml`` is its input and its output.
    """
    if not inputs:
        raise FormatError("no input given: name image files or folders of page images.")
    out_dir = Path(out).resolve()
    images: list[Path] = []
    for name in inputs:
        path = Path(name).resolve()
        if not path.exists():
            raise FormatError(f"{name}: no such file or folder.")
        if path.is_dir():
            if not in_place:
                _check_output_outside(out_dir, path, name)
            found = sorted((p for p in path.iterdir() if is_image_file(p)),
                           key=lambda p: p.name.lower())
            if not found:
                files = sum(1 for p in path.iterdir() if p.is_file())
                what = (f"{files} file{'s' * (files != 1)}, none of them a page image"
                        if files else "it is empty")
                raise FormatError(f"{name}: no page images in this folder ({what}; page images "
                                  f"end in {', '.join(IMAGE_SUFFIXES)}).")
            images.extend(found)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            if out_dir == path.parent and not in_place:
                raise FormatError(f"the output folder {out} is the folder of the input {name}; "
                                  "choose an output folder elsewhere.")
            images.append(path)
        else:
            raise FormatError(f"{name}: not a page image (page images end in "
                              f"{', '.join(IMAGE_SUFFIXES)}).")
    tasks: list[PageTask] = []
    refused: list[tuple[Path, str]] = []
    seen: dict[str, Path] = {}
    for image in dict.fromkeys(images):  # the same file named twice is one page
        first = seen.setdefault(image.stem.lower(), image)
        if first != image:
            refused.append((image, f"another input page, {first}, has the same name; their "
                                   "outputs would overwrite each other (run them separately)."))
            continue
        tasks.append(PageTask(image, source_document(page_entry(image))))
    return Plan(tasks, refused)


def _check_output_outside(out_dir: Path, folder: Path, name: str | os.PathLike[str]) -> None:
    if out_dir == folder or folder in out_dir.parents:
        raise FormatError(f"the output folder is inside the input folder {name}; choose an "
                          "output folder outside it (its page/ folder would be read back as "
                          "the pages' own PAGE-XML).")
