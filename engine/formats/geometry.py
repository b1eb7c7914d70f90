"""Points as stored in PAGE-XML and ALTO, and the repairs a strict writer needs.

Reading: :func:`parse_points` accepts "x,y x,y", "x y x y" and float values, returning integer
points (rounded half up). Writing: :func:`usable_polygon` / :func:`usable_baseline` decide what is
degenerate (clamping and bands around baselines come from :mod:`engine.geometry`).
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from engine.document import Point
from engine.geometry import clamp_points

_SPLIT = re.compile(r"[\s,]+")


class PointsError(ValueError):
    """A points attribute cannot be parsed."""


def _to_int(value: float) -> int:
    return int(math.floor(value + 0.5))


def parse_points(text: str | None) -> list[Point]:
    """Parse "x,y x,y ..." or "x y x y ..." into integer points.

    Raises PointsError on non-numeric values, an odd number of values or non-finite numbers.
    An empty or missing attribute gives an empty list.
    """
    if text is None:
        return []
    raw = text.strip()
    if not raw:
        return []
    parts = [p for p in _SPLIT.split(raw) if p]
    if len(parts) % 2:
        raise PointsError(f"odd number of coordinates in {_short(raw)!r}")
    try:  # fast path: integer coordinates, as in almost every file
        ints = [int(p) for p in parts]
        return list(zip(ints[0::2], ints[1::2]))
    except ValueError:
        pass
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise PointsError(f"non-numeric coordinates in {_short(raw)!r}") from exc
    if not all(math.isfinite(v) for v in values):
        raise PointsError(f"non-finite coordinates in {_short(raw)!r}")
    return [(_to_int(values[i]), _to_int(values[i + 1])) for i in range(0, len(values), 2)]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def rectangle(x: float, y: float, w: float, h: float) -> list[Point]:
    """The four corners of an axis-aligned box (clockwise from top-left)."""
    x0, y0 = _to_int(x), _to_int(y)
    x1, y1 = _to_int(x + w), _to_int(y + h)
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def usable_polygon(points: Sequence[Point]) -> bool:
    """A polygon needs at least three distinct points."""
    return len(set(points)) >= 3


def usable_baseline(points: Sequence[Point]) -> bool:
    """A baseline needs at least two distinct points."""
    return len(set(points)) >= 2


def bbox_polygon(points: Sequence[Point], width_px: int, height_px: int) -> list[Point]:
    """The bounding rectangle of ``points`` as a clamped four-point polygon (at least 1 px)."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    if x1 <= x0:
        x1 = x0 + 1 if x0 + 1 < width_px else x0
        x0 = x1 - 1 if x1 == x0 else x0
    if y1 <= y0:
        y1 = y0 + 1 if y0 + 1 < height_px else y0
        y0 = y1 - 1 if y1 == y0 else y0
    return clamp_points([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], width_px, height_px)


def format_page_points(points: Sequence[Point]) -> str:
    """PAGE-XML form: "x,y x,y ..."."""
    return " ".join(f"{x},{y}" for x, y in points)


def format_alto_points(points: Sequence[Point]) -> str:
    """ALTO form as eScriptorium writes it: "x y x y ..."."""
    return " ".join(f"{x} {y}" for x, y in points)
