"""Line images: the one function recognition and training use to cut a text line out of a page.

``extract_line(page_image, line, height=64)`` returns a uint8 greyscale image of shape
(height, W): dark ink on a white background, the baseline straight and horizontal, width
following the aspect ratio. How:

1. Scale. The band kept is ``above`` line spacings over the baseline and ``below`` under it,
   so every line of a page comes out at the same scale whatever its polygon looks like. The line
   spacing is ``context`` when the caller knows it (``engine.geometry.line_height_estimate`` of
   the region's lines: best), otherwise guessed from the line's own polygon height.
2. Crop the bounding box of that band (all later work is on the crop, reduced to about the
   output resolution first, so a line costs a few milliseconds).
3. Mask with the polygon: pixels outside become the local background (a high percentile of the
   pixels inside the polygon, not pure white). Ink strokes cut by a coarse polygon edge are put
   back when most of their connected stroke lies inside the polygon (within a small reach), so
   ascenders and descenders survive while a neighbour's strokes do not.
4. Dewarp: resample along the (smoothed) baseline, offset along its local normal, so a skewed
   or curved baseline becomes a straight horizontal one at the same row for every line.
5. Contrast: stretch so the ink's dark end is black and the background white (optional).

Lines without a baseline get one from their polygon; lines without a polygon get a band around
the baseline; coordinates outside the page are clamped; unusable geometry is a GeometryError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from engine.document import Line
from engine.errors import GeometryError, ImageError
from engine.geometry import (
    POLYGON_HEIGHT_PER_SPACING,
    baseline_from_polygon,
    moving_average,
    oriented_baseline,
    polygon_area,
    polygon_height,
)

__all__ = ["LineImageConfig", "extract_line", "extract_lines", "baseline_row"]


@dataclass(frozen=True)
class LineImageConfig:
    """How line images are cut. Training and recognition must use the same values."""

    height: int = 64
    above: float = 0.8
    """Band kept above the baseline, in line spacings (room for ascenders and capitals)."""
    below: float = 0.5
    """Band kept below the baseline, in line spacings (room for descenders)."""
    margin: float = 0.1
    """Blank space added left and right of the line, in line spacings."""
    mask: bool = True
    """Replace what lies outside the polygon by the local background."""
    recover_strokes: bool = True
    """Put back ink cut by the polygon edge when its stroke lies mostly inside the polygon."""
    recover_reach: float = 0.2
    """How far beyond the polygon recovered strokes may reach, in line spacings."""
    dewarp: bool = True
    """Follow a curved baseline (True) or only straighten its overall slope (False)."""
    smooth: float = 1.0
    """Length over which the baseline direction is smoothed, in line spacings."""
    normalize_contrast: bool = True
    background_percentile: float = 90.0
    ink_percentile: float = 1.0
    min_contrast: float = 48.0
    """Smallest background-minus-ink range stretched to full scale (keeps empty lines calm)."""
    min_width: int | None = None
    """Narrowest output; default height // 4."""
    fallback_spacing: float = 0.04
    """Line spacing guess, as a fraction of the page height, for a line that has neither a
    polygon nor a ``context``."""


DEFAULT_CONFIG = LineImageConfig()


def baseline_row(config: LineImageConfig = DEFAULT_CONFIG, height: int | None = None) -> float:
    """Row (from the top, fractional) where the baseline lies in every line image."""
    h = config.height if height is None else height
    return h * config.above / (config.above + config.below)


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2GRAY)
    raise ImageError(f"expected a greyscale or RGB(A) image array, got shape {image.shape}.")


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ImageError("the page image must be a 2-D (grey) or 3-D (colour) numpy array.")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"the page image is empty ({image.shape[1]} x {image.shape[0]}).")
    if image.dtype != np.uint8:
        from engine.imaging import _to_uint8

        image = _to_uint8(image)
    return image


def _usable_polygon(line: Line) -> np.ndarray | None:
    pts = line.polygon
    if not pts or len(set(map(tuple, pts))) < 3:
        return None
    arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(arr).all() or polygon_area(arr) <= 0:
        return None
    return arr


def _line_geometry(line: Line, width: int, height: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(polygon or None, left-to-right baseline), clamped into the image."""
    poly = _usable_polygon(line)
    try:
        base = oriented_baseline(line.baseline)
    except GeometryError:
        if poly is None:
            raise GeometryError(
                f"line {line.id!r} has neither a usable baseline (2+ distinct points) nor a "
                "usable polygon (3+ points enclosing an area)."
            ) from None
        base = oriented_baseline(baseline_from_polygon(poly))
    pts = base if poly is None else np.concatenate([base, poly])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    if hi[0] < 0 or hi[1] < 0 or lo[0] > width - 1 or lo[1] > height - 1:
        raise GeometryError(
            f"line {line.id!r} lies outside the {width} x {height} image "
            f"(x {lo[0]:.0f}..{hi[0]:.0f}, y {lo[1]:.0f}..{hi[1]:.0f})."
        )
    lim = np.array([width - 1, height - 1], dtype=np.float64)
    base = np.clip(base, 0, lim)
    if poly is not None:
        poly = np.clip(poly, 0, lim)
        if polygon_area(poly) <= 0:
            poly = None
    keep = np.ones(len(base), bool)
    keep[1:] = np.any(np.diff(base, axis=0) != 0, axis=1)
    base = base[keep]
    if len(base) < 2:  # clamping (or a one-pixel line) collapsed it: give it one pixel of length
        x, y = base[0]
        base = np.array([[x - 0.5, y], [x + 0.5, y]])
    return poly, base


def _spacing(poly: np.ndarray | None, context: float | None, page_h: int, cfg: LineImageConfig) -> float:
    if context is not None:
        if not (isinstance(context, (int, float)) and math.isfinite(context) and context > 0):
            raise GeometryError(f"context (line spacing) must be a positive number, not {context!r}.")
        return float(context)
    if poly is not None:
        h = polygon_height(poly)
        if h > 0:
            return max(h / POLYGON_HEIGHT_PER_SPACING, 2.0)
    return max(cfg.fallback_spacing * page_h, 8.0)


def _polyline_lengths(path: np.ndarray) -> np.ndarray:
    seg = np.hypot(*np.diff(path, axis=0).T)
    return np.concatenate([[0.0], np.cumsum(seg)])


def _extend(base: np.ndarray, poly: np.ndarray | None, spacing: float, cfg: LineImageConfig) -> np.ndarray:
    """Lengthen the baseline at both ends to cover the polygon plus the margin."""
    t0 = base[1] - base[0]
    t0 /= max(np.hypot(*t0), 1e-9)
    t1 = base[-1] - base[-2]
    t1 /= max(np.hypot(*t1), 1e-9)
    before = after = 0.0
    if poly is not None:
        before = max(0.0, -float(((poly - base[0]) @ t0).min()))
        after = max(0.0, float(((poly - base[-1]) @ t1).max()))
    cap = 4.0 * spacing  # a polygon far longer than its baseline is a drawing error
    before = min(before, cap) + cfg.margin * spacing
    after = min(after, cap) + cfg.margin * spacing
    return np.concatenate([[base[0] - t0 * before], base, [base[-1] + t1 * after]])


def _sampling_grid(
    base: np.ndarray, spacing: float, out_h: int, min_w: int, cfg: LineImageConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Page coordinates (map_x, map_y) of every output pixel, shape (out_h, out_w)."""
    band = (cfg.above + cfg.below) * spacing
    f = out_h / band  # output pixels per page pixel
    cum = _polyline_lengths(base)
    length = float(cum[-1])
    out_w = max(int(round(length * f)), min_w, 1)
    # centre the line when the minimum width adds room
    start = (length - out_w / f) / 2.0
    s = start + (np.arange(out_w) + 0.5) / f
    if cfg.dewarp:
        # positions beyond the ends continue along the end segments
        t0 = (base[1] - base[0]) / max(cum[1], 1e-9)
        t1 = (base[-1] - base[-2]) / max(cum[-1] - cum[-2], 1e-9)
        sx = np.interp(s, cum, base[:, 0]) + np.minimum(s, 0) * t0[0] + np.maximum(s - length, 0) * t1[0]
        sy = np.interp(s, cum, base[:, 1]) + np.minimum(s, 0) * t0[1] + np.maximum(s - length, 0) * t1[1]
        window = int(round(cfg.smooth * spacing * f))
        sx, sy = moving_average(sx, window), moving_average(sy, window)
        tx, ty = np.gradient(sx), np.gradient(sy)
    else:
        chord = base[-1] - base[0]
        d = chord / max(np.hypot(*chord), 1e-9)
        # straight line through the baseline's mean point along its overall direction
        mid = base.mean(axis=0)
        proj = (base[0] - mid) @ d
        sx = mid[0] + (proj + s) * d[0]
        sy = mid[1] + (proj + s) * d[1]
        tx, ty = np.full(out_w, d[0]), np.full(out_w, d[1])
    norm = np.maximum(np.hypot(tx, ty), 1e-9)
    nx, ny = -ty / norm, tx / norm  # downward normal for a left-to-right baseline
    t = -cfg.above * spacing + (np.arange(out_h) + 0.5) / f
    map_x = (sx[None, :] + t[:, None] * nx[None, :]).astype(np.float32)
    map_y = (sy[None, :] + t[:, None] * ny[None, :]).astype(np.float32)
    return map_x, map_y


def _percentiles(grey: np.ndarray, mask: np.ndarray | None, qs: Sequence[float]) -> list[float]:
    hist = cv2.calcHist([grey], [0], mask, [256], [0, 256]).ravel()
    total = hist.sum()
    if total <= 0:
        hist = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()
        total = hist.sum()
    cdf = np.cumsum(hist) / total
    return [float(np.searchsorted(cdf, q / 100.0)) for q in qs]


def _recover(grey: np.ndarray, mask: np.ndarray, poly_px: np.ndarray, bg: float, ink: float, reach: int) -> np.ndarray:
    """Mask plus the parts of ink strokes, mostly inside the polygon, that its edge cut off."""
    thr = (bg + ink) / 2.0
    binary = (grey < thr).astype(np.uint8)
    n, labels = cv2.connectedComponents(binary, connectivity=8)
    if n <= 1:
        return mask
    total = np.bincount(labels.ravel(), minlength=n)
    inside = np.bincount(labels[mask > 0], minlength=n)
    keep = inside * 2 >= total
    keep[0] = False
    if not keep.any():
        return mask
    zone = mask.copy()
    cv2.polylines(zone, [poly_px], True, 255, thickness=2 * reach + 1, lineType=cv2.LINE_8, shift=4)
    added = keep[labels] & (zone > 0)
    # take the strokes' lighter rims along too
    added = cv2.dilate(added.astype(np.uint8), np.ones((3, 3), np.uint8)) & (zone > 0)
    return np.where(added, np.uint8(255), mask)


def extract_line(
    image: np.ndarray,
    line: Line,
    height: int | None = None,
    *,
    context: float | None = None,
    config: LineImageConfig | None = None,
) -> np.ndarray:
    """Cut ``line`` out of ``image`` (uint8 grey (H, W) or RGB (H, W, 3), as ``load_image``
    gives) as a (height, W) uint8 greyscale image: dark ink on white, baseline straight at row
    :func:`baseline_row`, width >= ``config.min_width`` (default height // 4).

    ``context`` is the line spacing of the line's region in page pixels (e.g.
    ``line_height_estimate(region.lines)``); it fixes the scale. Without it the spacing is
    guessed from the polygon. Pass the same ``context`` policy in training and recognition.

    ``height`` defaults to ``config.height`` (64).
    Raises GeometryError when the line has no usable geometry or lies outside the image.
    """
    cfg = config or DEFAULT_CONFIG
    out_h = int(height if height is not None else cfg.height)
    if out_h < 2:
        raise ValueError(f"height must be at least 2 pixels, not {height}.")
    min_w = cfg.min_width if cfg.min_width is not None else max(out_h // 4, 1)
    image = _check_image(image)
    page_h, page_w = image.shape[:2]
    poly, base = _line_geometry(line, page_w, page_h)
    spacing = _spacing(poly, context, page_h, cfg)
    base = _extend(base, poly, spacing, cfg)
    map_x, map_y = _sampling_grid(base, spacing, out_h, min_w, cfg)

    # crop the band's bounding box; everything below works on the crop only
    x0 = max(int(math.floor(float(map_x.min()))) - 2, 0)
    y0 = max(int(math.floor(float(map_y.min()))) - 2, 0)
    x1 = min(int(math.ceil(float(map_x.max()))) + 3, page_w)
    y1 = min(int(math.ceil(float(map_y.max()))) + 3, page_h)
    if x1 <= x0 or y1 <= y0:
        raise GeometryError(f"line {line.id!r} lies outside the image.")
    crop = _grey(image[y0:y1, x0:x1])

    # reduce to about the output resolution first by the nearest integer factor (OpenCV's
    # fast exact area averaging: no aliasing); remap does the rest (a factor 0.8 to 1.33)
    f = out_h / ((cfg.above + cfg.below) * spacing)
    k = int(math.floor(1.0 / f + 0.5)) if f < 1.0 else 1
    if k >= 2:
        ch, cw = crop.shape
        nh, nw = max(ch // k, 1), max(cw // k, 1)
        crop = crop[: nh * k, : nw * k] if ch >= k and cw >= k else crop
        crop = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
        fx = fy = 1.0 / k
    else:
        fx = fy = 1.0

    def to_crop(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # pixel centres: page x -> crop pixel (x - x0 + 0.5) * fx - 0.5
        return (x - x0 + 0.5) * fx - 0.5, (y - y0 + 0.5) * fy - 0.5

    mask = None
    if poly is not None and cfg.mask:
        px, py = to_crop(poly[:, 0], poly[:, 1])
        poly_px = np.round(np.stack([px, py], axis=1) * 16).astype(np.int32)
        mask = np.zeros(crop.shape, np.uint8)
        cv2.fillPoly(mask, [poly_px], 255, lineType=cv2.LINE_8, shift=4)
        if not mask.any():  # a sliver thinner than a pixel at this scale: draw its outline
            cv2.polylines(mask, [poly_px], True, 255, thickness=1, shift=4)
    bg, ink = _percentiles(crop, mask, (cfg.background_percentile, cfg.ink_percentile))
    if mask is not None:
        reach = int(round(cfg.recover_reach * spacing * min(fx, fy)))
        if cfg.recover_strokes and reach > 0 and bg - ink >= cfg.min_contrast / 2:
            mask = _recover(crop, mask, poly_px, bg, ink, reach)
        crop = np.where(mask > 0, crop, np.uint8(bg))

    mx, my = to_crop(map_x, map_y)
    out = cv2.remap(
        crop, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=int(bg),
    )
    if cfg.normalize_contrast:
        lo = min(ink, bg - cfg.min_contrast)
        lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (255.0 / max(bg - lo, 1.0)), 0, 255)
        out = cv2.LUT(out, (lut + 0.5).astype(np.uint8))
    return out


def extract_lines(
    image: np.ndarray,
    lines: Sequence[Line],
    height: int | None = None,
    *,
    context: float | None = None,
    config: LineImageConfig | None = None,
) -> list[np.ndarray]:
    """``extract_line`` for each line, in order (same ``context`` for all of them)."""
    image = _check_image(image)
    return [extract_line(image, ln, height, context=context, config=config) for ln in lines]
