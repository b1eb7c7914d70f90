"""From the baseline U-Net's probability maps to baselines and line polygons (model scale).

Baselines: the thresholded baseline map, bridged across small gaps along the writing, split
into connected components; each long enough component becomes a polyline through its
column-wise centre, smoothed and resampled every half line spacing.

Polygons: column by column along each baseline, the polygon reaches up and down through the
predicted text-line area, but only as far as a share of the way to the neighbouring baseline —
``descent_share`` of the gap below (the line's own descenders) and the rest of the gap above
(the line's ascenders and x-height band), so neighbouring polygons meet without overlapping.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

MIN_LENGTH = 0.6  # shortest baseline kept, in line spacings
MERGE_GAP = 1.0  # pieces of a baseline this many spacings apart (or less) are one line
MERGE_DY = 0.25  # ... when their ends are this close in height, in spacings
BRIDGE = 0.35  # gaps along a baseline bridged, in line spacings
DESCENT_SHARE = 0.3  # share of the gap to the next baseline below that belongs to a line
MAX_ASCENT = 1.0  # without a line above, the polygon reaches at most this many spacings up
MAX_DESCENT = 0.6  # ... and down, without a line below
MIN_ASCENT = 0.25  # the polygon always covers this much above the baseline
MIN_DESCENT = 0.08  # ... and below
PAD_X = 0.1  # horizontal padding at both ends, in line spacings


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < 3 or window < 2:
        return values
    window = min(window, len(values))
    pad = window // 2
    padded = np.pad(values, (pad, window - 1 - pad), mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def baselines_from_map(prob: np.ndarray, spacing: float, threshold: float = 0.5,
                       min_length: float = MIN_LENGTH, merge_gap: float = MERGE_GAP) -> list[np.ndarray]:
    """Baseline polylines ((n, 2) float arrays of x, y, x increasing) from a baseline map.

    Pieces of one line broken at word gaps are joined (``merge_fragments``); lines shorter than
    ``min_length`` line spacings are then dropped."""
    binary = (prob >= threshold).astype(np.uint8)
    if not binary.any():
        return []
    bridge = max(1, int(round(BRIDGE * spacing)))
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((1, bridge), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    lines: list[np.ndarray] = []
    for k in range(1, n):
        x, y, w, h = stats[k, :4]
        if w < 2:
            continue
        sub = labels[y:y + h, x:x + w] == k
        weight = prob[y:y + h, x:x + w] * sub
        cols = weight.sum(axis=0)
        on = cols > 0
        if on.sum() < 2:
            continue
        rows = np.arange(h, dtype=np.float64)[:, None]
        centre = (weight * rows).sum(axis=0)[on] / cols[on] + y
        xs = np.arange(w, dtype=np.float64)[on] + x
        ys = _smooth(centre, max(3, int(round(spacing / 2))))
        n_pts = int(np.clip((xs[-1] - xs[0]) / (0.5 * spacing), 1, 60)) + 1
        sx = np.linspace(xs[0], xs[-1], n_pts)
        lines.append(np.column_stack([sx, np.interp(sx, xs, ys)]))
    lines = drop_overlapping(merge_fragments(lines, spacing, merge_gap), spacing)
    return [ln for ln in lines if ln[-1, 0] - ln[0, 0] >= min_length * spacing]


def drop_overlapping(lines: list[np.ndarray], spacing: float, max_dy: float = MERGE_DY) -> list[np.ndarray]:
    """Drop a baseline lying along a longer one (a doubled stroke, a descender loop): over at
    least half its length within ``max_dy`` spacings of it."""
    lines = sorted(lines, key=lambda b: -(b[-1, 0] - b[0, 0]))
    kept: list[np.ndarray] = []
    for ln in lines:
        length = max(ln[-1, 0] - ln[0, 0], 1.0)
        doubled = False
        for k in kept:
            x0, x1 = max(ln[0, 0], k[0, 0]), min(ln[-1, 0], k[-1, 0])
            if x1 - x0 < 0.5 * length:
                continue
            xs = np.linspace(x0, x1, 8)
            dy = np.abs(np.interp(xs, ln[:, 0], ln[:, 1]) - np.interp(xs, k[:, 0], k[:, 1]))
            if np.median(dy) < max_dy * spacing:
                doubled = True
                break
        if not doubled:
            kept.append(ln)
    return kept


def merge_fragments(lines: list[np.ndarray], spacing: float, max_gap: float = MERGE_GAP,
                    max_dy: float = MERGE_DY) -> list[np.ndarray]:
    """Join baselines that continue one another: the next piece starts at most ``max_gap`` line
    spacings to the right of where one ends (or overlaps it a little) and within ``max_dy``
    spacings of its height there. Wider gaps are column gutters and stay gaps."""
    lines = sorted(lines, key=lambda b: b[0, 0])
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(lines):
            best, best_d = -1, np.inf
            for j, b in enumerate(lines):
                if j == i:
                    continue
                gap = b[0, 0] - a[-1, 0]
                if not -0.3 * spacing <= gap <= max_gap * spacing:
                    continue
                dy = abs(b[0, 1] - a[-1, 1])
                if dy <= max_dy * spacing and dy + 0.1 * gap < best_d:
                    best, best_d = j, dy + 0.1 * gap
            if best >= 0:
                b = lines[best]
                joined = np.concatenate([a[a[:, 0] < b[0, 0]], b])
                lines = [ln for k, ln in enumerate(lines) if k not in (i, best)] + [joined]
                lines.sort(key=lambda ln: ln[0, 0])
                merged = True
                break
    return lines


def _neighbours(i: int, baselines: list[np.ndarray], xs: np.ndarray, ys: np.ndarray,
                spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """y of the nearest baseline above and below at each x (nan where there is none)."""
    above = np.full(len(xs), np.nan)
    below = np.full(len(xs), np.nan)
    for j, other in enumerate(baselines):
        if j == i or other[-1, 0] < xs[0] or other[0, 0] > xs[-1]:
            continue
        inside = (xs >= other[0, 0]) & (xs <= other[-1, 0])
        oy = np.interp(xs, other[:, 0], other[:, 1])
        gap = oy - ys
        up = inside & (gap < 0) & (gap > -2.5 * spacing)
        down = inside & (gap > 0) & (gap < 2.5 * spacing)
        above = np.where(up & ~(oy <= above), oy, above)
        below = np.where(down & ~(oy >= below), oy, below)
    return above, below


def polygons_from_map(baselines: list[np.ndarray], line_prob: np.ndarray, spacing: float,
                      threshold: float = 0.5, descent_share: float = DESCENT_SHARE) -> list[np.ndarray]:
    """One closed polygon per baseline ((m, 2) float, model scale) along the text-line area."""
    H, W = line_prob.shape
    mask = line_prob >= threshold
    step = max(1.0, 0.25 * spacing)
    polys: list[np.ndarray] = []
    for i, bl in enumerate(baselines):
        pad = PAD_X * spacing
        x0, x1 = max(0.0, bl[0, 0] - pad), min(W - 1.0, bl[-1, 0] + pad)
        xs = np.linspace(x0, x1, max(2, int(np.ceil((x1 - x0) / step)) + 1))
        ys = np.interp(xs, bl[:, 0], bl[:, 1])
        above, below = _neighbours(i, baselines, xs, ys, spacing)
        lim_top = np.where(np.isnan(above), ys - MAX_ASCENT * spacing, above + descent_share * (ys - above))
        lim_bot = np.where(np.isnan(below), ys + MAX_DESCENT * spacing, ys + descent_share * (below - ys))
        top = ys - MIN_ASCENT * spacing
        bot = ys + MIN_DESCENT * spacing
        for k, x in enumerate(xs):
            c = int(round(x))
            col = mask[:, c]
            yb = int(np.clip(round(ys[k]), 0, H - 1))
            t_lim = int(np.clip(np.ceil(lim_top[k]), 0, H - 1))
            b_lim = int(np.clip(np.floor(lim_bot[k]), 0, H - 1))
            y = yb
            while y - 1 >= t_lim and col[y - 1]:
                y -= 1
            top[k] = min(top[k], y)
            y = yb
            while y + 1 <= b_lim and col[y + 1]:
                y += 1
            bot[k] = max(bot[k], y)
        top = np.clip(np.maximum(top, lim_top), 0, H - 1)
        bot = np.clip(np.minimum(bot, lim_bot), 0, H - 1)
        bot = np.maximum(bot, top + 1)
        polys.append(np.concatenate([np.column_stack([xs, top]), np.column_stack([xs[::-1], bot[::-1]])]))
    return polys


@dataclass
class PostProcess:
    """The tunable settings of the post-processing (stored in the model card)."""

    baseline_threshold: float = 0.5
    line_threshold: float = 0.5
    descent_share: float = DESCENT_SHARE
    min_length: float = MIN_LENGTH
    merge_gap: float = MERGE_GAP

    @classmethod
    def from_card(cls, values: dict) -> PostProcess:
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in values.items() if k in known})


def lines_from_maps(probs: np.ndarray, scale: float, spacing: float, post: PostProcess
                    ) -> tuple[list[np.ndarray], list[float], list[np.ndarray]]:
    """Baselines, line heights and polygons in page pixels from model-scale maps ``probs``
    (baseline, line area) of a page scaled by ``scale``."""
    baselines = baselines_from_map(probs[0], spacing, post.baseline_threshold, post.min_length, post.merge_gap)
    if not baselines:
        return [], [], []
    polygons = polygons_from_map(baselines, probs[1], spacing, post.line_threshold, post.descent_share)
    inv = 1.0 / scale
    return [b * inv for b in baselines], [spacing * inv] * len(baselines), [p * inv for p in polygons]
