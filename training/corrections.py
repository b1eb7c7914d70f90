"""The lines a person corrected: what fine-tuning learns from.

A line counts when its origin is PERSON (corrected in the window, or imported ground truth) and
it has text. Inputs are project folders, page images or PAGE-XML/ALTO files; lines are cut with
the engine's ``cut_lines``, the same preprocessing as recognition. No torch here, so the window
can count corrections cheaply.

    lines, report = collect_corrections([Path("letters/")], height=64)
    train, held = holdout_split(len(lines))
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.document import Line, Origin, Page, normalize_text
from engine.errors import HtrError
from engine.progress import CancelToken, ProgressCallback, no_progress
from engine.project import PageEntry, Project
from training.data import LineSet

HOLDOUT_EVERY = 10  # every 10th corrected line is held back to measure CER
MIN_HOLDOUT = 10
MIN_TRAIN = 10
MIN_LINES = MIN_HOLDOUT + MIN_TRAIN  # fewer corrected lines cannot be trained and measured


def is_correction(line: Line) -> bool:
    return line.origin == Origin.PERSON and bool(normalize_text(line.text).strip())


def is_reading(line: Line) -> bool:
    """A line the recognizer read and nobody corrected: self-training learns its text as if
    it were right (``FinetuneConfig.readings``)."""
    return line.origin == Origin.MODEL and bool(normalize_text(line.text).strip())


def corrected_lines(page: Page) -> list[Line]:
    return [ln for ln in page.lines() if is_correction(ln)]


def read_lines(page: Page) -> list[Line]:
    return [ln for ln in page.lines() if is_reading(ln)]


@dataclass
class CorrectionReport:
    """Where the lines came from and what was left out."""

    pages: int = 0
    pages_with_corrections: int = 0
    lines: int = 0
    readings: int = 0  # read, not corrected, lines collected for self-training
    skipped_geometry: int = 0
    unreadable: list[str] = field(default_factory=list)


def open_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[tuple[Project, PageEntry]]:
    """(project, page) pairs of project folders and/or page files (images or XML)."""
    out: list[tuple[Project, PageEntry]] = []
    files: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            project = Project.open(path)
            out += [(project, e) for e in project.entries]
        elif path.exists():
            files.append(str(path))
        else:
            raise HtrError(f"{path} does not exist")
    if files:
        project = Project.from_files(files)
        out += [(project, e) for e in project.entries]
    return out


def count_corrections(pages: Iterable[Page]) -> int:
    """Number of corrected lines in ``pages`` (for the window's 'Train on my corrections')."""
    return sum(len(corrected_lines(p)) for p in pages)


def collect_corrections(inputs: Iterable[str | os.PathLike[str]], height: int,
                        progress: ProgressCallback = no_progress,
                        cancel: CancelToken | None = None,
                        pages: dict[str, Page] | None = None) -> tuple[LineSet, CorrectionReport]:
    """Line images and texts of every corrected line of the inputs, in page order.

    ``pages`` (stem -> Page) replaces what is on disk for pages held in memory (the window's
    unsaved state). Unreadable pages are listed in the report, not fatal.
    """
    corrections, _, report = collect_lines(inputs, height, progress, cancel, pages)
    return corrections, report


def collect_lines(inputs: Iterable[str | os.PathLike[str]], height: int,
                  progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
                  pages: dict[str, Page] | None = None, readings: bool = False
                  ) -> tuple[LineSet, LineSet, CorrectionReport]:
    """(corrected lines, read lines, report) of the inputs, as :func:`collect_corrections`;
    the read lines (the recognizer's, not corrected: ``is_reading``) only with ``readings``
    and only where fewer than ``MIN_LINES`` lines are corrected in all, the one case in which
    a fine-tuning learns from them (``held_back_kind``). The pages are read first, so that
    no read line is cut (the slow part) just to be left out."""
    from engine.imaging import load_image
    from engine.recognition.lines import cut_lines

    pairs = open_inputs(inputs)
    report = CorrectionReport(pages=len(pairs))
    found: list[tuple[Project, PageEntry, Page, list[Line], list[Line]]] = []
    for i, (project, entry) in enumerate(pairs):
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(i, len(pairs), f"reading {entry.image.name}")
        if not entry.readable:
            report.unreadable.append(f"{entry.image.name}: {entry.error}")
            continue
        if not entry.has_transcription and entry.stem not in (pages or {}):
            continue
        try:
            page = (pages or {}).get(entry.stem) or project.load_page(entry)
        except HtrError as exc:
            report.unreadable.append(f"{entry.image.name}: {exc}")
            continue
        found.append((project, entry, page, corrected_lines(page), read_lines(page)))
    corrected = sum(len(lines) for _, _, _, lines, _ in found)
    readings = readings and held_back_kind(corrected) != "corrections"
    result, read = LineSet([], [], []), LineSet([], [], [])
    for i, (project, entry, page, lines, more) in enumerate(found):
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(i, len(found), f"cutting lines of {entry.image.name}")
        wanted = lines + (more if readings else [])
        if not wanted:
            continue
        try:
            image = load_image(entry.image)
        except HtrError as exc:
            report.unreadable.append(f"{entry.image.name}: {exc}")
            continue
        report.pages_with_corrections += bool(lines)
        for line, img in zip(wanted, cut_lines(page, image, height, wanted)):
            if img is None or img.ndim != 2 or img.shape[1] < 2:
                report.skipped_geometry += 1
                continue
            into = result if is_correction(line) else read
            into.images.append(np.ascontiguousarray(img, dtype=np.uint8))
            into.texts.append(normalize_text(line.text).strip())
            into.sources.append(f"{project.folder.name}/{entry.stem}/{line.id}")
    report.lines, report.readings = len(result), len(read)
    progress(len(found), len(found), f"{report.lines} corrected lines"
             + (f", {report.readings} read lines" if readings else ""))
    return result, read, report


def held_back_kind(corrected: int, read: int = 0) -> str | None:
    """Which lines a fine-tuning holds back to measure: "corrections" where at least
    ``MIN_LINES`` are corrected (read lines are then left out), else "readings" where
    self-training has at least ``MIN_LINES`` read lines; None: too few to train. The rule of
    ``training.finetune.prepare``, here without torch so that the window can apply it."""
    if corrected >= MIN_LINES:
        return "corrections"
    return "readings" if read >= MIN_LINES else None


def holdout_split(n: int, every: int = HOLDOUT_EVERY, minimum: int = MIN_HOLDOUT
                  ) -> tuple[list[int], list[int]]:
    """(train, held-back) indices: every ``every``-th line, at least ``minimum``, spread evenly
    over the lines. HtrError with the number needed when there are too few lines."""
    if n < MIN_LINES:
        raise HtrError(f"{n} corrected line(s) found; fine-tuning needs at least {MIN_LINES} "
                       f"({minimum} are held back to measure the result). Correct "
                       f"{MIN_LINES - n} more line(s) (or import ground truth) and try again.")
    held_count = max(minimum, n // every)
    step = n / held_count
    held = sorted({int(step * k + step / 2) for k in range(held_count)})
    held_set = set(held)
    return [i for i in range(n) if i not in held_set], held
