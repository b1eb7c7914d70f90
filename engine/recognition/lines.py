"""Cutting a page's lines for the recognizer. Training uses this same function, so a model
sees at recognition time exactly the preprocessing it was trained on: ``extract_line`` with
the line spacing of the line's region as scale context."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from engine.document import Line, Page
from engine.errors import HtrError


def region_spacings(page: Page) -> dict[int, float | None]:
    """Line spacing (page pixels) of each region's lines, keyed by ``id(line)``."""
    from engine.geometry import line_height_estimate

    out: dict[int, float | None] = {}
    for region in page.regions:
        try:
            spacing: float | None = float(line_height_estimate(region.lines))
        except (HtrError, ValueError):
            spacing = None
        for ln in region.lines:
            out[id(ln)] = spacing
    return out


def cut_lines(page: Page, image: np.ndarray, height: int,
              lines: Iterable[Line] | None = None) -> list[np.ndarray | None]:
    """Line images (uint8, ``height`` rows) of ``lines`` (default: all of the page's lines);
    None where a line's geometry cannot be used."""
    from engine.line_image import extract_line

    spacings = region_spacings(page)
    out: list[np.ndarray | None] = []
    for ln in (page.lines() if lines is None else lines):
        try:
            out.append(extract_line(image, ln, height, context=spacings.get(id(ln))))
        except (HtrError, ValueError):
            out.append(None)
    return out
