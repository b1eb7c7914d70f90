"""Line verification: a small learned model that tells written text lines from look-alikes.

The classical line finder also follows ridges that are not lines a transcriber wants: writing
showing through from the back of the sheet, printed letterheads and stamps, pen flourishes,
archivists' pencil numbers. A few measurements per candidate line (size, place on the page, ink
density and darkness relative to the page's other lines, neighbourhood) feed a tiny MLP trained
on the ground truth of the training pages (``training/segmenter``); candidates it rejects are
dropped. The model is an ONNX file run by onnxruntime; without it every candidate is kept.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.segmentation.lines import FoundLine

FEATURES = [
    "length", "x0", "x1", "y", "density", "x_height", "ink_grey", "contrast", "rel_darkness",
    "gap_above", "gap_below", "overlapping_lines", "components", "spread", "page_lines",
    "rel_length",
]


def _band_mask(line: FoundLine, shape: tuple[int, int], spacing: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Mask (in a bounding box) of the band from 0.7 spacing above the baseline to 0.3 below."""
    h, w = shape
    bl = line.baseline
    top = np.column_stack([bl[:, 0], bl[:, 1] - 0.7 * spacing])
    bottom = np.column_stack([bl[::-1, 0], bl[::-1, 1] + 0.3 * spacing])
    poly = np.concatenate([top, bottom])
    x0 = int(max(0, np.floor(poly[:, 0].min())))
    y0 = int(max(0, np.floor(poly[:, 1].min())))
    x1 = int(min(w, np.ceil(poly[:, 0].max()) + 1))
    y1 = int(min(h, np.ceil(poly[:, 1].max()) + 1))
    mask = np.zeros((max(1, y1 - y0), max(1, x1 - x0)), np.uint8)
    cv2.fillPoly(mask, [np.round(poly - [x0, y0]).astype(np.int32)], 1)
    return mask, (x0, y0, x1, y1)


def line_features(lines: list[FoundLine], grey: np.ndarray, ink: np.ndarray, spacing: float) -> np.ndarray:
    """One feature row per candidate line (see ``FEATURES``), in the analysis frame."""
    n = len(lines)
    out = np.zeros((n, len(FEATURES)), np.float32)
    if n == 0:
        return out
    H, W = ink.shape
    sp = max(spacing, 1.0)
    paper = float(np.median(grey[ink == 0])) if (ink == 0).any() else 255.0
    mids = np.array([float(np.median(ln.baseline[:, 1])) for ln in lines])
    x0s = np.array([ln.baseline[0, 0] for ln in lines])
    x1s = np.array([ln.baseline[-1, 0] for ln in lines])
    lengths = np.maximum(x1s - x0s, 1.0)
    greys = np.full(n, paper, np.float64)
    rows = []
    for i, ln in enumerate(lines):
        mask, (a, b, c, d) = _band_mask(ln, (H, W), sp)
        sub_ink = ink[b:d, a:c][: mask.shape[0], : mask.shape[1]] & mask[: d - b, : c - a]
        sub_grey = grey[b:d, a:c][: mask.shape[0], : mask.shape[1]]
        count = int(sub_ink.sum())
        if count:
            greys[i] = float(sub_grey[sub_ink > 0].mean())
            prof = sub_ink.sum(axis=1).astype(np.float64)
            ys = np.arange(len(prof))
            mu = (prof * ys).sum() / prof.sum()
            spread = float(np.sqrt((prof * (ys - mu) ** 2).sum() / prof.sum())) / sp
            ncomp = cv2.connectedComponents(sub_ink.astype(np.uint8), connectivity=8)[0] - 1
        else:
            spread, ncomp = 0.0, 0
        rows.append((count, spread, ncomp))
    darkest = float(np.percentile(greys, 20))
    for i, ln in enumerate(lines):
        count, spread, ncomp = rows[i]
        overlap = np.minimum(x1s, x1s[i]) - np.maximum(x0s, x0s[i])
        horiz = overlap > 0.3 * np.minimum(lengths, lengths[i])
        horiz[i] = False
        dy = mids - mids[i]
        above = dy[horiz & (dy < 0)]
        below = dy[horiz & (dy > 0)]
        out[i] = [
            lengths[i] / sp,
            x0s[i] / W,
            x1s[i] / W,
            mids[i] / H,
            count / (lengths[i] * sp),
            ln.x_height / sp,
            greys[i] / 255.0,
            (paper - greys[i]) / 255.0,
            (paper - greys[i]) / max(paper - darkest, 1.0),
            min(-above.max() / sp, 5.0) if len(above) else 5.0,
            min(below.min() / sp, 5.0) if len(below) else 5.0,
            horiz.sum() / max(n - 1, 1),
            ncomp / (lengths[i] / sp),
            spread,
            np.log1p(n),
            lengths[i] / lengths.max(),
        ]
    return out
