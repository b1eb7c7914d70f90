"""Merging what a background job computed into the pages in memory, in the GUI thread.

A person's corrections always win: recognition never replaces the text of a line whose origin is
PERSON, and segmentation only fills pages that have no lines yet (or whose lines the person
agreed to replace). Each merge is one undoable step of that page. A recognition merge then
emits ``pageRecognized`` so post-correction suggestions are computed for the new lines.
"""

from __future__ import annotations

import copy

from app.gui.undo_commands import ReplaceRegions
from engine.document import Origin, Page


def _has_lines(page: Page) -> bool:
    return any(True for _ in page.lines())


def merge_segmentation(model, stem: str, result: Page, replace: bool = False) -> bool:
    """Give a page the regions and lines found by segmentation; False if it kept its own."""
    page = model.page_for(stem)
    if page is None or (_has_lines(page) and not replace):
        return False
    page.metadata.update({k: v for k, v in result.metadata.items() if k != "warnings"})
    model.undo_stack(stem).push(ReplaceRegions(model, stem, page.regions, result.regions,
                                               "Segment page"))
    return True


def merge_recognition(model, stem: str, result: Page) -> int:
    """Copy recognised text into lines not corrected by a person; returns lines updated."""
    page = model.page_for(stem)
    if page is None:
        return 0
    if not _has_lines(page):
        merge_segmentation(model, stem, result)
        _recognized(model, stem)
        return sum(1 for _ in result.lines())
    regions = copy.deepcopy(page.regions)
    found = {ln.id: ln for ln in result.lines()}
    updated = 0
    for region in regions:
        for live in region.lines:
            line = found.get(live.id)
            if line is None or live.origin == Origin.PERSON or line.origin == Origin.NONE:
                continue
            live.text, live.confidence = line.text, line.confidence
            live.char_confidences, live.suggestion = line.char_confidences, line.suggestion
            live.origin, live.model_text = Origin.MODEL, None
            updated += 1
    if updated:
        model.undo_stack(stem).push(ReplaceRegions(model, stem, page.regions, regions,
                                                   "Recognise page"))
        _recognized(model, stem)
    return updated


def _recognized(model, stem: str) -> None:
    """Tell the window that fresh model lines arrived (post-correction suggestions follow)."""
    signal = getattr(model, "pageRecognized", None)
    if signal is not None:
        signal.emit(stem)
