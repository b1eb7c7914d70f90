"""Ink maps for layout analysis: background flattening, Sauvola binarisation, noise removal.

Historical scans have stains, uneven lighting and bleed-through. A global threshold fails on
them; Sauvola's local threshold (mean and deviation over a window about one text line tall)
follows the background, and a contrast floor keeps faint bleed-through — whose local contrast
is low — out of the ink map.
"""

from __future__ import annotations

import cv2
import numpy as np


def to_grey(image: np.ndarray) -> np.ndarray:
    """A uint8 greyscale copy of ``image`` (greyscale, BGR/RGB, or with alpha)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        lo, hi = float(np.nanmin(arr)) if arr.size else 0.0, float(np.nanmax(arr)) if arr.size else 1.0
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = np.clip((arr - lo) * scale, 0, 255).astype(np.uint8)
    if arr.ndim == 3:
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
        elif arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY)
        else:
            arr = cv2.cvtColor(np.ascontiguousarray(arr[:, :, :3]), cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(arr)


def sauvola(grey: np.ndarray, window: int, k: float = 0.25, r: float = 128.0) -> np.ndarray:
    """Sauvola's threshold surface for ``grey`` (float32), computed with box filters (O(1)/pixel)."""
    window = max(3, int(window) | 1)
    g = grey.astype(np.float32)
    mean = cv2.boxFilter(g, cv2.CV_32F, (window, window), borderType=cv2.BORDER_REFLECT)
    sq = cv2.boxFilter(g * g, cv2.CV_32F, (window, window), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return mean * (1.0 + k * (std / r - 1.0))


def flatten_background(grey: np.ndarray, size: int) -> np.ndarray:
    """Divide out the slowly varying background (stains, lighting); paper becomes ~255."""
    size = max(3, int(size) | 1)
    small = cv2.resize(grey, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA) if min(grey.shape) > 64 else grey
    ksize = max(3, (size // 4) | 1) if small is not grey else size
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (ksize, ksize)))
    background = cv2.medianBlur(background, 5)
    if small is not grey:
        background = cv2.resize(background, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)
    flat = grey.astype(np.float32) / np.maximum(background.astype(np.float32), 1.0) * 255.0
    return np.clip(flat, 0, 255).astype(np.uint8)


def ink_map(grey: np.ndarray, window: int, k: float = 0.25, min_contrast: float = 18.0) -> np.ndarray:
    """Binary ink map (uint8 0/1) of a greyscale page.

    ``window`` should be about one text line tall. Pixels must be darker than Sauvola's threshold
    and at least ``min_contrast`` grey levels below the flattened paper, which removes most
    bleed-through and paper texture.
    """
    if grey.size == 0:
        return np.zeros_like(grey, dtype=np.uint8)
    flat = flatten_background(grey, 3 * window)
    threshold = sauvola(flat, window, k=k)
    ink = (flat.astype(np.float32) < threshold) & (flat < 255.0 - min_contrast)
    return ink.astype(np.uint8)


def remove_non_text(ink: np.ndarray, line_height: float) -> np.ndarray:
    """Drop specks, page borders, rules and huge blobs from an ink map; keep handwriting.

    A component is dropped when it is tiny, when it touches the image border and is large
    (dark scan borders, fingers, the next page), or when it is far too big or too elongated for
    writing of the given line height (ruled lines, frames, stamps of solid ink).
    """
    h, w = ink.shape
    ink = remove_rules(ink, line_height)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return ink
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    lh = max(float(line_height), 4.0)
    min_area = max(3.0, 0.004 * lh * lh)
    touches = (x <= 1) | (y <= 1) | (x + bw >= w - 1) | (y + bh >= h - 1)
    fill = area / np.maximum(bw * bh, 1)
    drop = area < min_area
    drop |= touches & ((bh > 1.5 * lh) | (bw > 6 * lh) | (area > 0.5 * lh * lh))
    drop |= bh > 4.0 * lh  # taller than any letter: a frame, a border, a drawing
    drop |= (bh < 0.12 * lh) & (bw > 8 * lh)  # a thin horizontal rule
    drop |= (area > 2.0 * lh * lh) & (fill > 0.6)  # a solid blob (stain, photo)
    drop[0] = True
    keep = ~drop
    return keep[labels].astype(np.uint8)


def remove_rules(ink: np.ndarray, line_height: float) -> np.ndarray:
    """Erase straight horizontal rules (ruled paper, underlines, printed frames) from an ink map.

    A run of ink three line-heights long that stays on one row band is not handwriting; an
    opening with a long flat kernel finds it even where letters cross it.
    """
    length = int(max(15, 3.0 * line_height))
    if ink.shape[1] <= length:
        return ink
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    rules = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
    if not rules.any():
        return ink
    rules = cv2.dilate(rules, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    return (ink & (1 - rules)).astype(np.uint8)
