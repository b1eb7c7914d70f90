"""Where a batch writes: a separate output folder, or a project's own folders (in place).

A normal batch writes ``OUT/page/<stem>.xml`` and ``OUT/txt/<stem>.txt`` and keeps its manifest
and summary in ``OUT``. An in-place batch works on a project (a folder of images with
``page/<stem>.xml``, see :mod:`engine.project`): each page's PAGE-XML is both its input and its
output, plain text is written only when asked (``<image folder>/txt/``), and the manifest and
summary live in the hidden ``PROJECT/.htrjand/`` folder, out of the way of the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.batch.manifest import MANIFEST_NAME
from engine.batch.plan import PageTask
from engine.batch.summary import SUMMARY_NAME
from engine.pipeline import (
    TXT_FOLDER,
    PageResult,
    output_paths,
    page_entry,
    source_document,
    write_outputs,
)

STATE_FOLDER = ".htrjand"
IN_PLACE_MANIFEST = "batch-manifest.jsonl"
IN_PLACE_SUMMARY = "batch-summary.json"


@dataclass(frozen=True)
class Layout:
    """The output side of one batch: where each page goes, and the manifest and summary."""

    root: Path
    in_place: bool = False
    txt: bool = True

    @property
    def state_dir(self) -> Path:
        """The folder holding the manifest and summary."""
        return self.root / STATE_FOLDER if self.in_place else self.root

    @property
    def manifest_path(self) -> Path:
        return self.state_dir / (IN_PLACE_MANIFEST if self.in_place else MANIFEST_NAME)

    @property
    def summary_path(self) -> Path:
        return self.state_dir / (IN_PLACE_SUMMARY if self.in_place else SUMMARY_NAME)

    def outputs(self, task: PageTask) -> tuple[Path, ...]:
        """The files a finished page has: its PAGE-XML, then its text when TXT is written."""
        if self.in_place:
            xml = page_entry(task.image).xml
            txt = task.image.parent / TXT_FOLDER / f"{task.stem}.txt"
        else:
            xml, txt = output_paths(self.root, task.stem)
        return (xml, txt) if self.txt else (xml,)

    def write(self, task: PageTask, result: PageResult) -> PageResult:
        """Write the page's outputs atomically (PAGE-XML first); adds the ``write`` timing."""
        paths = self.outputs(task)
        return write_outputs(result, paths[0], paths[1] if self.txt else None)

    def unchanged_since(self, task: PageTask, stat: list[int] | None) -> bool:
        """In place: True when the page's document is still the one the batch started from.

        ``stat`` is ``[size, mtime_ns]`` of ``task.source`` when the page was sent out (None:
        it had no document). A page saved meanwhile (by the window, or a person) is changed, and
        the batch must not write over it. Always True for a separate output folder.
        """
        if not self.in_place:
            return True
        now = source_document(page_entry(task.image))
        if now != task.source:
            return False
        if now is None:
            return stat is None
        try:
            info = now.stat()
        except OSError:
            return False
        return stat == [info.st_size, info.st_mtime_ns]
