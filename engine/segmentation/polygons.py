"""Line polygons around baselines that reach ascenders and descenders but not the next line.

The polygon spans from ``ascent`` line-heights above the baseline to ``descent`` below it,
clipped so that it never reaches past the x-height band of the line above (whose baseline lies
one spacing higher) nor the line below.
"""

from __future__ import annotations

import numpy as np

ASCENT = 0.5  # fraction of the local line spacing above the baseline
DESCENT = 0.2  # below the baseline
PAD_X = 0.12  # horizontal padding at both ends, in line spacings


def _profile_at(baseline: np.ndarray, xs: np.ndarray) -> np.ndarray:
    return np.interp(xs, baseline[:, 0], baseline[:, 1])


def line_polygons(
    baselines: list[np.ndarray],
    heights: list[float],
    width: int,
    height: int,
    ascent: float = ASCENT,
    descent: float = DESCENT,
) -> list[np.ndarray]:
    """One closed polygon (n, 2 float array) per baseline, inside the image.

    Neighbours are the baselines that overlap horizontally; the top edge stays below the upper
    neighbour's baseline minus a small margin, the bottom edge above the lower neighbour's
    x-height band.
    """
    polys: list[np.ndarray] = []
    for i, bl in enumerate(baselines):
        h = max(float(heights[i]), 2.0)
        xs, ys = _columns(bl, h, width, max(0.5 * h, 1.0))
        # The line above: stop a little under its baseline (its descenders stay theirs); the
        # line below: stop above its x-height band.
        top, bottom = _neighbour_limits(i, baselines, xs, ys, h, ys - ascent * h,
                                        ys + descent * h, reach=0.0, min_gap=0.0,
                                        under=0.12, over=0.55)
        top = np.minimum(top, ys - 0.25 * h)
        bottom = np.maximum(bottom, ys + 0.1 * h)
        top = np.clip(top, 0, height - 1)
        bottom = np.clip(bottom, 0, height - 1)
        poly = np.concatenate([np.column_stack([xs, top]), np.column_stack([xs[::-1], bottom[::-1]])])
        polys.append(poly)
    return polys


def _columns(bl: np.ndarray, h: float, width: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample points ``step`` apart along a baseline, padded at both ends and kept inside the
    image: their x positions and the baseline's y there."""
    pad = PAD_X * h
    x0 = max(0.0, bl[0, 0] - pad)
    x1 = min(width - 1.0, bl[-1, 0] + pad)
    n = max(2, int(np.ceil((x1 - x0) / step)) + 1)
    xs = np.linspace(x0, x1, n)
    return xs, _profile_at(bl, xs)


def _neighbour_limits(i: int, baselines: list[np.ndarray], xs: np.ndarray, ys: np.ndarray,
                      h: float, top: np.ndarray, bottom: np.ndarray, *, reach: float,
                      min_gap: float, under: float, over: float) -> tuple[np.ndarray, np.ndarray]:
    """``top`` / ``bottom`` kept off the neighbouring lines: the top edge stays ``under`` line
    heights below the baseline of a line above, the bottom edge ``over`` heights above the
    baseline of a line below. Neighbours are baselines overlapping the columns (widened by
    ``reach``) that lie more than ``min_gap`` and less than 1.6 line heights away."""
    x0, x1 = xs[0], xs[-1]
    for j, other in enumerate(baselines):
        if j == i or other[-1, 0] < x0 or other[0, 0] > x1:
            continue
        inside = (xs >= other[0, 0] - reach) & (xs <= other[-1, 0] + reach)
        if not inside.any():
            continue
        oy = _profile_at(other, xs)
        gap = oy - ys
        above = inside & (gap < -min_gap) & (gap > -1.6 * h)
        below = inside & (gap > min_gap) & (gap < 1.6 * h)
        top = np.where(above, np.maximum(top, oy + under * h), top)
        bottom = np.where(below, np.minimum(bottom, oy - over * h), bottom)
    return top, bottom


def ink_polygons(
    baselines: list[np.ndarray],
    heights: list[float],
    ink: np.ndarray,
    ascent: float = 0.85,
    descent: float = 0.55,
    min_up: float = 0.3,
    min_down: float = 0.08,
    step: float = 0.2,
) -> list[np.ndarray]:
    """Polygons that wrap each line's own ink, in the ink map's frame.

    Column by column (``step`` line heights wide) the top edge rises to the highest ink between
    the baseline and ``ascent`` heights above it — but never into the line above — and the
    bottom edge drops to the lowest ink down to ``descent`` heights, never into the line below.
    Where a column holds no ink the polygon keeps a minimal band around the baseline.
    """
    H, W = ink.shape
    polys: list[np.ndarray] = []
    for i, bl in enumerate(baselines):
        h = max(float(heights[i]), 2.0)
        sw = max(1.0, step * h)
        xs, ys = _columns(bl, h, W, sw)
        n = len(xs)
        lim_top, lim_bot = _neighbour_limits(i, baselines, xs, ys, h, ys - ascent * h,
                                             ys + descent * h, reach=PAD_X * h, min_gap=0.2 * h,
                                             under=0.1, over=0.45)
        top = ys - min_up * h
        bot = ys + min_down * h
        half = sw / 2
        for k in range(n):
            a = int(max(0, np.floor(xs[k] - half)))
            b = int(min(W, np.ceil(xs[k] + half) + 1))
            t = int(max(0, np.floor(lim_top[k])))
            y_bl = int(np.clip(round(ys[k]), 0, H - 1))
            d = int(min(H, np.ceil(lim_bot[k]) + 1))
            if t < y_bl:
                rows = np.nonzero(ink[t:y_bl, a:b].any(axis=1))[0]
                if len(rows):
                    top[k] = min(top[k], t + rows[0])
            if y_bl < d:
                rows = np.nonzero(ink[y_bl:d, a:b].any(axis=1))[0]
                if len(rows):
                    bot[k] = max(bot[k], y_bl + rows[-1])
        top = np.clip(np.maximum(top, lim_top), 0, H - 1)
        bot = np.clip(np.minimum(bot, lim_bot), 0, H - 1)
        poly = np.concatenate([np.column_stack([xs, top]), np.column_stack([xs[::-1], bot[::-1]])])
        polys.append(poly)
    return polys
