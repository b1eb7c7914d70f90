"""Where a newly drawn line goes: its polygon from the engine, its region and reading position."""

from __future__ import annotations

import cv2
import numpy as np

from engine.document import Line, Page, Point, Region
from engine.errors import HtrError
from engine.geometry import line_height_estimate, polygon_from_baseline


def _line_height(page: Page) -> float:
    """Typical line spacing of the page, as the engine estimates it for line images."""
    lines = [ln for ln in page.lines() if ln.polygon or ln.baseline]
    if lines:
        try:
            value = float(line_height_estimate(lines))
            if value > 0:
                return value
        except (HtrError, ValueError):  # an estimate is a convenience; fall back below
            pass
    return max(20.0, page.height / 40)


def polygon_for_baseline(page: Page, baseline: list[Point]) -> list[Point]:
    """The polygon of a line drawn as ``baseline``, computed by the engine's geometry."""
    height = _line_height(page)
    return polygon_from_baseline(baseline, height * 0.75, height * 0.25, page.width, page.height)


def _inside(point: Point, polygon: list[Point]) -> bool:
    contour = np.asarray(polygon, dtype=np.int32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), False) >= 0


def _mid_y(line: Line) -> float:
    pts = line.baseline or line.polygon
    return sum(p[1] for p in pts) / len(pts) if pts else 0.0


def place_line(page: Page, baseline: list[Point]) -> tuple[Region | None, int, int, Line]:
    """A new line for ``baseline`` and where it belongs.

    Returns (new_region_or_None, region_index, line_index, line). The region is the one whose
    polygon holds the baseline's middle (else the vertically nearest one); a page without regions
    gets a new region, returned as the first item so the caller can insert it.
    """
    baseline = [(int(round(x)), int(round(y))) for x, y in baseline]
    line = Line(id=page.unique_id("l"), baseline=baseline,
                polygon=polygon_for_baseline(page, baseline))
    middle = baseline[len(baseline) // 2]
    if not page.regions:
        region = Region(id=page.unique_id("r"), polygon=list(line.polygon))
        return region, 0, 0, line
    index = next((i for i, r in enumerate(page.regions) if len(r.polygon) >= 3
                  and _inside(middle, r.polygon)), None)
    if index is None:
        def distance(i: int) -> float:
            region = page.regions[i]
            ys = [p[1] for p in region.polygon] or [_mid_y(ln) for ln in region.lines]
            if not ys:
                return float("inf")
            return 0.0 if min(ys) <= middle[1] <= max(ys) else min(abs(middle[1] - y) for y in ys)
        index = min(range(len(page.regions)), key=distance)
    region = page.regions[index]
    y = _mid_y(line)
    position = sum(1 for ln in region.lines if _mid_y(ln) <= y)
    return None, index, position, line
