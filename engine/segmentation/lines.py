"""Classical text-line finding on an ink map: line spacing, ridge tracking, baselines.

The ink map is smeared anisotropically (wide along the writing, narrow across it) so that each
text line becomes one ridge; ridges are followed column by column, which copes with skewed and
gently curved lines and with lines whose ascenders and descenders touch. Each ridge runs along
the middle of the x-height band; the baseline is found below it where the line's own ink
profile falls off most steeply.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class FoundLine:
    """A line in analysis pixels: baseline points and local line height."""

    baseline: np.ndarray  # (n, 2) float, x increasing
    height: float  # local line spacing (distance between neighbouring baselines)
    ink: float  # ink pixels in the line's band (for filtering)
    x_height: float = 0.0  # distance ridge -> baseline (half the x-height band)


def estimate_line_spacing(ink: np.ndarray, default: float = 0.0) -> float:
    """Median distance between text lines, from the autocorrelation of row profiles in strips.

    Returns ``default`` when the page shows no periodic structure (blank page, a single line).
    """
    h, w = ink.shape
    if h < 16 or w < 16 or not ink.any():
        return default
    n_strips = int(np.clip(w // 150, 2, 8))
    edges = np.linspace(0, w, n_strips + 1).astype(int)
    peaks: list[tuple[float, float]] = []
    max_lag = h // 2
    for a, b in zip(edges[:-1], edges[1:]):
        profile = ink[:, a:b].sum(axis=1).astype(np.float64)
        if profile.sum() < 20:
            continue
        profile = cv2.GaussianBlur(profile.reshape(-1, 1), (1, 0), sigmaX=0, sigmaY=1.5).ravel()
        profile -= profile.mean()
        n = 1 << int(np.ceil(np.log2(2 * h)))
        spec = np.fft.rfft(profile, n)
        ac = np.fft.irfft(spec * np.conj(spec), n)[:max_lag]
        if ac[0] <= 0:
            continue
        ac /= ac[0]
        lo = 6
        if len(ac) <= lo + 2:
            continue
        seg = ac[lo:]
        is_peak = (seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] > 0.1)
        idx = np.nonzero(is_peak)[0]
        if len(idx) == 0:
            continue
        # The first strong peak is the spacing; later ones are its multiples.
        best = idx[np.argmax(seg[1:-1][idx] > 0.6 * seg[1:-1][idx].max())]
        peaks.append((float(best + 1 + lo), float(seg[best + 1])))
    if not peaks:
        return default
    lags = np.array([p[0] for p in peaks])
    return float(np.median(lags))


def _column_peaks(column: np.ndarray, threshold: float, min_dist: float) -> list[int]:
    """Local maxima of a smoothed column above ``threshold``, at least ``min_dist`` apart."""
    c = column
    up = np.empty_like(c)
    up[0] = -np.inf
    up[1:] = c[:-1]
    down = np.empty_like(c)
    down[-1] = -np.inf
    down[:-1] = c[1:]
    cand = np.nonzero((c >= up) & (c > down) & (c > threshold))[0]
    if len(cand) <= 1:
        return cand.tolist()
    order = cand[np.argsort(-c[cand])]
    kept: list[int] = []
    for y in order:
        if all(abs(int(y) - k) >= min_dist for k in kept):
            kept.append(int(y))
    return sorted(kept)


def _track_ridges(density: np.ndarray, spacing: float, threshold: float) -> list[np.ndarray]:
    """Follow ridges of ``density`` from left to right; each track is an (n, 2) array of x, y."""
    h, w = density.shape
    step = max(1, int(round(spacing / 8)))
    max_jump = 0.3 * spacing
    max_gap = max(2, int(round(1.0 * spacing / step)))
    active: list[dict] = []
    done: list[dict] = []
    for ci, x in enumerate(range(0, w, step)):
        peaks = _column_peaks(density[:, x], threshold, 0.45 * spacing)
        pairs = []
        for ti, tr in enumerate(active):
            pred = tr["ys"][-1]
            if len(tr["ys"]) >= 4:
                # Follow the local slope so that skewed lines stay on their ridge.
                pred = tr["ys"][-1] + (tr["ys"][-1] - tr["ys"][-4]) / max(tr["xs"][-1] - tr["xs"][-4], 1) * (x - tr["xs"][-1])
            for pi, y in enumerate(peaks):
                d = abs(y - pred)
                if d <= max_jump:
                    pairs.append((d, ti, pi))
        pairs.sort()
        used_t: set[int] = set()
        used_p: set[int] = set()
        for _, ti, pi in pairs:
            if ti in used_t or pi in used_p:
                continue
            used_t.add(ti)
            used_p.add(pi)
            tr = active[ti]
            tr["xs"].append(x)
            tr["ys"].append(peaks[pi])
            tr["last"] = ci
        for pi, y in enumerate(peaks):
            if pi not in used_p:
                active.append({"xs": [x], "ys": [y], "last": ci})
        still = []
        for tr in active:
            (still if ci - tr["last"] <= max_gap else done).append(tr)
        active = still
    done.extend(active)
    return [np.column_stack([tr["xs"], tr["ys"]]).astype(np.float64) for tr in done if len(tr["xs"]) >= 2]


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < 3 or window < 2:
        return values
    window = min(window, len(values))
    pad = window // 2
    padded = np.pad(values, (pad, window - 1 - pad), mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def find_lines(ink: np.ndarray, spacing: float) -> list[FoundLine]:
    """Text lines of an ink map whose line spacing is ``spacing`` pixels."""
    h, w = ink.shape
    if not ink.any() or spacing < 4:
        return []
    f = ink.astype(np.float32)
    density = cv2.GaussianBlur(f, (0, 0), sigmaX=0.9 * spacing, sigmaY=0.18 * spacing)
    nonzero = density[density > 1e-3]
    if nonzero.size == 0:
        return []
    threshold = 0.12 * float(np.percentile(nonzero, 99))
    tracks = _track_ridges(density, spacing, threshold)
    lines: list[FoundLine] = []
    half = int(round(0.75 * spacing))
    for tr in tracks:
        xs = tr[:, 0]
        ys = _smooth(tr[:, 1], max(3, int(round(spacing / max(xs[1] - xs[0], 1) / 2))))
        x0, x1 = int(xs[0]), int(xs[-1])
        if x1 - x0 < 0.3 * spacing:
            continue
        # Ink in the band around the ridge, aligned on the ridge: columns and row profile.
        xx = np.arange(x0, x1 + 1)
        yc = np.interp(xx, xs, ys)
        offsets = np.arange(-half, half + 1)
        rows = np.clip(np.round(yc)[None, :] + offsets[:, None], 0, h - 1).astype(int)
        band = ink[rows, xx[None, :]]  # (2*half+1, len(xx))
        core = band[int(0.5 * half) : int(1.4 * half)]
        cols = core.sum(axis=0)
        for a, b in _ink_segments(cols, 1.8 * spacing):
            line = _line_from_band(band[:, a:b], cols[a:b], xx[a:b], yc[a:b], spacing, half)
            if line is not None:
                lines.append(line)
    return _drop_duplicates(lines, spacing)


def _ink_segments(cols: np.ndarray, max_gap: float) -> list[tuple[int, int]]:
    """Spans of a ridge separated by more than ``max_gap`` inkless columns (column gutters)."""
    on = np.nonzero(cols > 0)[0]
    if len(on) == 0:
        return []
    breaks = np.nonzero(np.diff(on) > max_gap)[0]
    starts = np.concatenate([[on[0]], on[breaks + 1]])
    ends = np.concatenate([on[breaks], [on[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist()))


def _line_from_band(
    band: np.ndarray, cols: np.ndarray, xx: np.ndarray, yc: np.ndarray, spacing: float, half: int
) -> FoundLine | None:
    """A baseline from the ink band of one ridge span, or None for a non-text ridge."""
    total = float(band.sum())
    if total < 0.05 * spacing * spacing or cols.sum() == 0:
        return None
    on = np.nonzero(cols > 0)[0]
    # Trim stray specks at the ends: keep the span holding 99% of the core ink.
    cum = np.cumsum(cols[on[0] : on[-1] + 1])
    lo_i = on[0] + int(np.searchsorted(cum, 0.005 * cum[-1]))
    hi_i = on[0] + int(np.searchsorted(cum, 0.995 * cum[-1]))
    if hi_i - lo_i < 0.25 * spacing:
        return None
    profile = band[:, lo_i : hi_i + 1].sum(axis=1).astype(np.float64)
    # A ruled or printed rule (dashed ones survive rule removal) is ink in a few rows only.
    peak = int(np.argmax(profile))
    thin = max(1, int(round(0.03 * spacing)))
    if profile[max(0, peak - thin) : peak + thin + 1].sum() > 0.7 * profile.sum():
        return None
    profile = np.convolve(profile, np.ones(3) / 3, mode="same")
    below = profile[half : half + int(0.6 * spacing)]
    if len(below) > 2:
        offset = float(np.argmin(np.diff(below))) + 1.0
    else:
        offset = 0.25 * spacing
    offset = float(np.clip(offset, 0.05 * spacing, 0.45 * spacing))
    bx = xx[lo_i : hi_i + 1]
    by = yc[lo_i : hi_i + 1] + offset
    n_pts = int(np.clip((bx[-1] - bx[0]) / (0.5 * spacing), 2, 40)) + 1
    sx = np.linspace(bx[0], bx[-1], n_pts)
    sy = np.interp(sx, bx, by)
    return FoundLine(np.column_stack([sx, sy]), spacing, total, offset)


def _drop_duplicates(lines: list[FoundLine], spacing: float) -> list[FoundLine]:
    """Remove lines lying on top of a stronger line (ridge splits inside one text line)."""
    lines = sorted(lines, key=lambda ln: -ln.ink)
    kept: list[FoundLine] = []
    for ln in lines:
        dup = False
        for k in kept:
            ox0 = max(ln.baseline[0, 0], k.baseline[0, 0])
            ox1 = min(ln.baseline[-1, 0], k.baseline[-1, 0])
            length = ln.baseline[-1, 0] - ln.baseline[0, 0]
            if ox1 - ox0 <= 0.5 * max(length, 1):
                continue
            xs = np.linspace(ox0, ox1, 8)
            d = np.abs(np.interp(xs, *ln.baseline.T) - np.interp(xs, *k.baseline.T))
            if np.median(d) < 0.4 * spacing:
                dup = True
                break
        if not dup:
            kept.append(ln)
    return kept
