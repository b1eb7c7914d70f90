"""Where a newly drawn line goes: its polygon from the engine, its region and reading position."""

from __future__ import annotations

from statistics import median

from engine.document import Line, Page, Point, Region


def _line_height(page: Page) -> float:
    """Typical line height of the page (engine estimate when available)."""
    lines = [ln for ln in page.lines() if ln.polygon]
    try:
        from engine.geometry import line_height_estimate
    except ImportError:
        line_height_estimate = None
    if line_height_estimate is not None and lines:
        try:
            value = float(line_height_estimate(lines))
            if value > 0:
                return value
        except Exception:  # an estimate is a convenience; fall back to our own
            pass
    heights = [ln.bbox()[3] - ln.bbox()[1] for ln in lines]
    heights = [h for h in heights if h > 0]
    return float(median(heights)) if heights else max(20.0, page.height / 40)


def polygon_for_baseline(page: Page, baseline: list[Point]) -> list[Point]:
    """The polygon of a line drawn as ``baseline``, computed by the engine's geometry."""
    height = _line_height(page)
    ascender, descender = height * 0.75, height * 0.25
    try:
        from engine.geometry import polygon_from_baseline
    except ImportError:
        from engine.formats.geometry import band_from_baseline

        return band_from_baseline(baseline, height, page.width, page.height)
    points = polygon_from_baseline(baseline, ascender, descender, page.width, page.height)
    return [(int(round(x)), int(round(y))) for x, y in points]


def _inside(point: Point, polygon: list[Point]) -> bool:
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / ((y1 - y0) or 1):
            inside = not inside
    return inside


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
