"""Line geometry in page pixels: clamping, bands around baselines, baselines inside polygons.

Points are ``(x, y)`` tuples (``engine.document.Point``), y growing downwards. Functions that
return geometry return integer points; those that measure return floats. Unusable input (too
few points, non-finite coordinates, zero length) raises :class:`~engine.errors.GeometryError`.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from engine.document import Line, Point
from engine.errors import GeometryError

POLYGON_HEIGHT_PER_SPACING = 0.7
"""Median polygon height / baseline spacing in ground truth: Hooker 0.56, kraken sample 0.61,
CREMMA 0.75, Poilus 0.85. Used to guess the line spacing of a line that has no neighbours."""

BASELINE_FRACTION = 0.75
"""Where the baseline sits inside a line polygon, as a fraction of its height from the top.

Measured on the ground truth at hand (median per line): Hooker 0.76, Poilus 0.75, CREMMA 0.79.
"""


def _array(points: Iterable[Sequence[float]], what: str) -> np.ndarray:
    try:
        arr = np.asarray(points, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            arr = np.asarray([(float(p[0]), float(p[1])) for p in points], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as exc:
        raise GeometryError(f"{what}: points must be (x, y) pairs of numbers.") from exc
    if arr.size == 0:
        return arr.reshape(0, 2)
    if not np.isfinite(arr).all():
        raise GeometryError(f"{what}: coordinates must be finite numbers.")
    return arr


def _round(arr: np.ndarray) -> list[Point]:
    return [(int(math.floor(x + 0.5)), int(math.floor(y + 0.5))) for x, y in arr]


def _dedupe(points: list[Point]) -> list[Point]:
    """Drop consecutive repeated points."""
    out: list[Point] = []
    for pt in points:
        if not out or out[-1] != pt:
            out.append(pt)
    return out


def clamp_points(points: Iterable[Sequence[float]], width: int, height: int) -> list[Point]:
    """Round points to integers and clamp them into the image (0..width-1, 0..height-1)."""
    if width <= 0 or height <= 0:
        raise GeometryError(f"cannot clamp into an image of {width} x {height} pixels.")
    arr = _array(points, "clamp_points")
    if not len(arr):
        return []
    arr[:, 0] = np.clip(arr[:, 0], 0, width - 1)
    arr[:, 1] = np.clip(arr[:, 1], 0, height - 1)
    return _round(arr)


def oriented_baseline(baseline: Iterable[Sequence[float]]) -> np.ndarray:
    """Baseline as float array running left to right, consecutive duplicates removed.

    GeometryError when fewer than two distinct points remain.
    """
    arr = _array(baseline, "baseline")
    if len(arr) >= 2:
        keep = np.ones(len(arr), bool)
        keep[1:] = np.any(np.diff(arr, axis=0) != 0, axis=1)
        arr = arr[keep]
    if len(arr) < 2:
        raise GeometryError("a baseline needs at least two distinct points.")
    if arr[-1, 0] < arr[0, 0]:
        arr = arr[::-1].copy()
    return arr


def baseline_normals(baseline: np.ndarray) -> np.ndarray:
    """Unit normals pointing *down* (towards the descenders) at each vertex of a left-to-right
    baseline; at inner vertices the mean of the two neighbouring segments' normals."""
    seg = np.diff(baseline, axis=0)
    length = np.hypot(seg[:, 0], seg[:, 1])
    seg = seg / np.maximum(length, 1e-9)[:, None]
    seg_n = np.stack([-seg[:, 1], seg[:, 0]], axis=1)  # (dx, dy) -> (-dy, dx): down for dx > 0
    normals = np.empty_like(baseline)
    normals[0] = seg_n[0]
    normals[-1] = seg_n[-1]
    if len(baseline) > 2:
        mean = seg_n[:-1] + seg_n[1:]
        norm = np.hypot(mean[:, 0], mean[:, 1])
        # a hairpin (segments in opposite directions) has no mean normal: keep the first one
        ok = norm > 1e-6
        mean[ok] /= norm[ok][:, None]
        mean[~ok] = seg_n[:-1][~ok]
        normals[1:-1] = mean
    return normals


def polygon_from_baseline(
    baseline: Iterable[Sequence[float]],
    ascender: float,
    descender: float,
    width: int | None = None,
    height: int | None = None,
) -> list[Point]:
    """A band around a baseline: ``ascender`` pixels above it and ``descender`` below, offset
    along the local normal at each vertex. Clamped into the image when width and height are
    given. The polygon runs along the top from left to right, then back along the bottom."""
    if not (math.isfinite(ascender) and math.isfinite(descender)):
        raise GeometryError("ascender and descender must be finite numbers.")
    if ascender < 0 or descender < 0 or ascender + descender <= 0:
        raise GeometryError(
            f"ascender and descender must be >= 0 and not both 0 (got {ascender}, {descender})."
        )
    base = oriented_baseline(baseline)
    normals = baseline_normals(base)
    top = base - normals * ascender
    bottom = base + normals * descender
    poly = np.concatenate([top, bottom[::-1]], axis=0)
    if width is not None and height is not None:
        return _dedupe(clamp_points(poly, width, height))
    return _dedupe(_round(poly))


def polygon_area(polygon: Iterable[Sequence[float]]) -> float:
    """Area enclosed by a simple polygon (shoelace formula); 0.0 for fewer than 3 points."""
    arr = _array(polygon, "polygon")
    if len(arr) < 3:
        return 0.0
    x, y = arr[:, 0], arr[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def column_extents(polygon: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom of a polygon along vertical lines at ``xs`` (NaN where it is absent).

    Where a vertical line crosses the polygon several times, the longest inside span counts.
    """
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    xq = xs[:, None]
    crosses = ((x0 <= xq) & (xq < x1)) | ((x1 <= xq) & (xq < x0))
    dx = np.where(x1 != x0, x1 - x0, 1.0)
    ys = y0 + (xq - x0) * (y1 - y0) / dx
    ys = np.where(crosses, ys, np.inf)
    ys.sort(axis=1)
    top = np.full(len(xs), np.nan)
    bottom = np.full(len(xs), np.nan)
    counts = crosses.sum(axis=1)
    two = counts == 2  # the usual case: one span per column
    top[two], bottom[two] = ys[two, 0], ys[two, 1]
    for i in np.nonzero(counts > 2)[0]:
        c = int(counts[i]) // 2 * 2
        spans = ys[i, :c].reshape(-1, 2)
        k = int(np.argmax(spans[:, 1] - spans[:, 0]))
        top[i], bottom[i] = spans[k]
    return top, bottom


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < 3:
        return values
    half = window // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.median(windows, axis=1)


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` samples that keeps linear trends at the ends (the series
    is extended by odd reflection, so a straight sloped line stays exactly straight)."""
    if window < 3 or len(values) < 3:
        return values
    half = min(window // 2, len(values) - 1)
    padded = np.pad(values, half, mode="reflect", reflect_type="odd")
    kernel = np.full(2 * half + 1, 1.0 / (2 * half + 1))
    return np.convolve(padded, kernel, mode="valid")


def _simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker simplification of an open path (keeps both ends)."""
    keep = np.zeros(len(points), bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = points[i], points[j]
        d = b - a
        seg = math.hypot(d[0], d[1])
        rel = points[i + 1 : j] - a
        if seg < 1e-9:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(d[0] * rel[:, 1] - d[1] * rel[:, 0]) / seg
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            keep[i + 1 + k] = True
            stack.append((i, i + 1 + k))
            stack.append((i + 1 + k, j))
    return points[keep]


def baseline_from_polygon(polygon: Iterable[Sequence[float]]) -> list[Point]:
    """A baseline for a line that has only a polygon: the path at
    :data:`BASELINE_FRACTION` of the polygon's height in each column, smoothed (running median
    over about three line heights, so zig-zag polygons give a calm baseline) and simplified.

    GeometryError when the polygon has fewer than three distinct points or no width.
    """
    arr = _array(polygon, "polygon")
    if len({(x, y) for x, y in arr}) < 3:
        raise GeometryError("a polygon needs at least three distinct points.")
    xmin, xmax = float(arr[:, 0].min()), float(arr[:, 0].max())
    if xmax - xmin < 1e-6:
        raise GeometryError("the polygon has no width.")
    n = int(min(max(xmax - xmin, 2), 128))
    # sample strictly inside so that vertical edges at the ends do not count as crossings
    xs = np.linspace(xmin, xmax, n + 2)[1:-1]
    top, bottom = column_extents(arr, xs)
    ok = np.isfinite(top)
    if not ok.any():
        ymid = float(np.median(arr[:, 1]))
        return _dedupe(_round(np.array([[xmin, ymid], [xmax, ymid]])))
    xs, top, bottom = xs[ok], top[ok], bottom[ok]
    heights = bottom - top
    ys = top + BASELINE_FRACTION * heights
    step = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
    window = int(round(3 * float(np.median(heights)) / step)) if step > 0 else 1
    window = min(window, len(ys) // 2 * 2 + 1) | 1
    ys = moving_average(_running_median(ys, window), window)
    # stretch the path to the polygon's full width
    path = np.column_stack([xs, ys])
    path = np.concatenate([[[xmin, ys[0]]], path, [[xmax, ys[-1]]]])
    path = _simplify(path, tolerance=1.5)
    out = _dedupe(_round(path))
    if len(out) < 2:  # a one-pixel-wide polygon
        y = out[0][1]
        out = [(int(math.floor(xmin)), y), (int(math.ceil(xmax)), y)]
        if out[0] == out[1]:
            out[1] = (out[0][0] + 1, y)
    return out


def polygon_iou(a: Iterable[Sequence[float]], b: Iterable[Sequence[float]]) -> float:
    """Intersection over union of two polygons (0.0 when either is empty or degenerate).

    Self-intersecting polygons are repaired first (shapely ``make_valid``).
    """
    pa, pb = _array(a, "polygon a"), _array(b, "polygon b")
    if len(pa) < 3 or len(pb) < 3:
        return 0.0
    from shapely.geometry import Polygon
    from shapely.validation import make_valid

    sa, sb = make_valid(Polygon(pa)), make_valid(Polygon(pb))
    union = sa.union(sb).area
    if union <= 0:
        return 0.0
    return float(sa.intersection(sb).area / union)


def baseline_y_at(baseline: np.ndarray, x: float) -> float:
    """Height of a left-to-right baseline at ``x`` (extended flat beyond its ends)."""
    xs, ys = baseline[:, 0], baseline[:, 1]
    order = np.argsort(xs, kind="stable")
    return float(np.interp(x, xs[order], ys[order]))


def line_baseline(line: Line) -> np.ndarray | None:
    """The line's baseline (left to right), derived from its polygon when it has none;
    None when neither is usable."""
    try:
        return oriented_baseline(line.baseline)
    except GeometryError:
        pass
    try:
        return oriented_baseline(baseline_from_polygon(line.polygon))
    except GeometryError:
        return None


def line_height_estimate(lines: Sequence[Line]) -> float:
    """Typical distance between neighbouring baselines of these lines, in pixels.

    For each line, its neighbour is the nearest line below whose baseline overlaps it
    horizontally; the result is the median of those distances (robust to paragraph gaps and
    columns). With fewer than two usable neighbours it falls back to the median polygon height
    divided by :data:`POLYGON_HEIGHT_PER_SPACING`.
    GeometryError when no line has usable geometry.
    """
    bases = [(ln, b) for ln in lines if (b := line_baseline(ln)) is not None]
    if not bases:
        raise GeometryError("no line with a usable baseline or polygon to estimate line spacing.")
    spans = [(b[:, 0].min(), b[:, 0].max()) for _, b in bases]
    spacing: list[float] = []
    for i, (_, bi) in enumerate(bases):
        best = math.inf
        for j, (_, bj) in enumerate(bases):
            if i == j:
                continue
            ox0, ox1 = max(spans[i][0], spans[j][0]), min(spans[i][1], spans[j][1])
            if ox1 <= ox0:
                continue
            xm = (ox0 + ox1) / 2
            d = baseline_y_at(bj, xm) - baseline_y_at(bi, xm)
            if 1.0 < d < best:
                best = d
        if math.isfinite(best):
            spacing.append(best)
    if len(spacing) >= 2 or (spacing and len(bases) == 2):
        return float(np.median(spacing))
    heights = [h for ln, _ in bases if (h := polygon_height(ln.polygon)) > 0]
    if heights:
        return float(np.median(heights)) / POLYGON_HEIGHT_PER_SPACING
    if spacing:
        return float(spacing[0])
    raise GeometryError("cannot estimate the line spacing: no neighbours and no polygons.")


def polygon_height(polygon: Iterable[Sequence[float]]) -> float:
    """Median vertical extent of a polygon over its columns (0.0 when degenerate)."""
    arr = _array(polygon, "polygon")
    if len(arr) < 3:
        return 0.0
    xmin, xmax = float(arr[:, 0].min()), float(arr[:, 0].max())
    if xmax - xmin < 1e-6:
        return 0.0
    xs = np.linspace(xmin, xmax, 34)[1:-1]
    top, bottom = column_extents(arr, xs)
    h = bottom - top
    h = h[np.isfinite(h)]
    return float(np.median(h)) if len(h) else 0.0
