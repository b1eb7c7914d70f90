"""The classical segmenter: binarise, measure line spacing, follow line ridges, fit baselines.

Works at an analysis scale chosen so that text lines are about ``TARGET_SPACING`` pixels apart,
whatever the scan resolution (a 100-megapixel scan is analysed as a small image), and returns
baselines and local line heights in that analysis frame together with the scale factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.segmentation.binarize import ink_map, remove_non_text
from engine.segmentation.lines import FoundLine, estimate_line_spacing, find_lines

TARGET_SPACING = 36.0  # line spacing in analysis pixels
FIRST_PASS_LONG_SIDE = 1400  # long side of the first, spacing-estimation pass
MIN_SPACING_PX = 6.0  # lines closer than this (in original pixels) are not writing we can read


@dataclass
class Analysis:
    """Lines found in an analysis frame: multiply by ``1 / scale`` for page pixels."""

    lines: list[FoundLine]
    scale: float
    spacing: float  # in analysis pixels
    shape: tuple[int, int]
    ink: np.ndarray | None = None
    grey: np.ndarray | None = None  # the page at analysis scale


def resize(grey: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return grey
    h, w = grey.shape
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(grey, size, interpolation=interp)


def _spacing_from_components(ink: np.ndarray) -> float:
    """Fallback spacing for pages without periodic lines: about twice the median letter height."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return 0.0
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    areas = stats[1:, cv2.CC_STAT_AREA]
    heights = heights[areas >= 8]
    if len(heights) < 3:
        return 0.0
    return float(2.2 * np.median(heights))


def estimate_page_spacing(grey: np.ndarray) -> tuple[float, float]:
    """(line spacing in page pixels, first-pass scale); spacing 0 when no text is visible."""
    h, w = grey.shape
    scale0 = min(1.0, FIRST_PASS_LONG_SIDE / max(h, w))
    small = resize(grey, scale0)
    guess = max(12.0, max(small.shape) / 40.0)
    ink0 = remove_non_text(ink_map(small, int(guess)), guess)
    spacing = estimate_line_spacing(ink0)
    if spacing <= 0:
        spacing = _spacing_from_components(ink0)
    return spacing / scale0, scale0


def analyse(grey: np.ndarray) -> Analysis:
    """Find text lines in a greyscale page (uint8)."""
    h, w = grey.shape
    spacing_page, scale0 = estimate_page_spacing(grey)
    if spacing_page < MIN_SPACING_PX:
        return Analysis([], scale0, 0.0, (int(h * scale0), int(w * scale0)))
    scale = float(np.clip(TARGET_SPACING / spacing_page, 0.05, 2.0))
    if max(h, w) * scale > 4000:  # bound the work on huge pages with tiny writing
        scale = 4000.0 / max(h, w)
    small = resize(grey, scale)
    spacing = spacing_page * scale
    ink = remove_non_text(ink_map(small, int(spacing)), spacing)
    refined = estimate_line_spacing(ink)
    if 0.6 * spacing < refined < 1.6 * spacing:
        spacing = refined
    lines = find_lines(ink, spacing)
    return Analysis(lines, scale, spacing, small.shape, ink, small)
