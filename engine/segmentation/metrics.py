"""Segmentation metrics: line detection P/R/F1 at polygon IoU, and a cBAD-style baseline score.

* Line detection: predicted and ground-truth line polygons are matched one-to-one (Hungarian
  assignment on IoU); a pair counts when IoU >= 0.5. Polygons are rasterised, so the
  self-intersecting seam polygons that Transkribus and eScriptorium export are measured as
  drawn, not rejected.
* Baselines, in the spirit of ICDAR cBAD 2017: both sets of baselines are sampled every few
  pixels; a ground-truth point is found (recall) when a predicted baseline passes within a
  tolerance, a predicted point is right (precision) when a ground-truth baseline passes within
  it. The tolerance scales with the page's line spacing (a quarter of it), as cBAD's does.
* Ground truth that transcribes only part of a page (a will without the registry's stamps and
  notes written beside it) makes real lines found elsewhere count as false. A second precision
  therefore leaves out unmatched predictions lying outside the annotated area (the ground
  truth's text regions that hold lines, or the box around its lines when it has none):
  ``precision_annotated``.
  It is a diagnostic beside the standard figures, never a replacement for them.
* Some ground truth draws a line's polygon as a thin band along its baseline (several
  Transkribus pages of the Hooker letters: 67 of its 870 val lines are thinner than 0.3 line
  spacings). A polygon that holds the writing seldom reaches IoU 0.5 with such a band, so each
  costs a missed line and a false one. ``f1_without_thin`` leaves out those ground-truth lines and the
  unmatched predictions lying mainly on them — again a diagnostic beside the standard F1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.document import Page
from engine.errors import HtrError

IOU_THRESHOLD = 0.5
RASTER_SCALE = 0.25  # polygons are compared on a quarter-resolution grid (fast, ~1 px accuracy)
THIN_HEIGHT = 0.3  # a ground-truth polygon thinner than this many line spacings is a thin band
BASELINE_STEP = 5.0  # sampling step along baselines, page pixels


@dataclass
class SegScores:
    """Counts that add up over pages; ratios are derived."""

    pages: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    fp_outside: int = 0  # unmatched predictions outside the annotated area (see the module doc)
    gt_thin: int = 0  # ground-truth lines drawn as thin bands (see the module doc)
    fn_thin: int = 0  # ... of them unmatched
    fp_on_thin: int = 0  # unmatched predictions whose best overlap is a thin ground-truth line
    iou_sum: float = 0.0
    bl_gt_points: int = 0
    bl_gt_found: int = 0
    bl_pred_points: int = 0
    bl_pred_right: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def add(self, other: SegScores) -> None:
        for name in ("pages", "tp", "fp", "fn", "fp_outside", "gt_thin", "fn_thin", "fp_on_thin", "bl_gt_points", "bl_gt_found", "bl_pred_points", "bl_pred_right"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.iou_sum += other.iou_sum
        self.seconds += other.seconds
        self.notes.extend(other.notes)

    @staticmethod
    def _ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    @property
    def precision(self) -> float:
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def precision_annotated(self) -> float:
        return self._ratio(self.tp, self.tp + self.fp - self.fp_outside)

    @property
    def f1_annotated(self) -> float:
        p, r = self.precision_annotated, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def f1_without_thin(self) -> float:
        """Line F1 with the thin ground-truth bands and the predictions on them left out."""
        p = self._ratio(self.tp, self.tp + self.fp - self.fp_on_thin)
        r = self._ratio(self.tp, self.tp + self.fn - self.fn_thin)
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def recall(self) -> float:
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_iou(self) -> float:
        return self._ratio(self.iou_sum, self.tp)

    @property
    def bl_precision(self) -> float:
        return self._ratio(self.bl_pred_right, self.bl_pred_points)

    @property
    def bl_recall(self) -> float:
        return self._ratio(self.bl_gt_found, self.bl_gt_points)

    @property
    def bl_f1(self) -> float:
        p, r = self.bl_precision, self.bl_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "pages": self.pages,
            "gt_lines": self.tp + self.fn,
            "pred_lines": self.tp + self.fp,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "precision_annotated": round(self.precision_annotated, 4),
            "f1_annotated": round(self.f1_annotated, 4),
            "pred_outside_annotated": self.fp_outside,
            "gt_thin": self.gt_thin,
            "f1_without_thin": round(self.f1_without_thin, 4),
            "f1": round(self.f1, 4),
            "mean_iou_matched": round(self.mean_iou, 4),
            "baseline_precision": round(self.bl_precision, 4),
            "baseline_recall": round(self.bl_recall, 4),
            "baseline_f1": round(self.bl_f1, 4),
        }


def _raster(poly: list[tuple[int, int]], scale: float) -> tuple[np.ndarray, int, int] | None:
    """Mask of a polygon in its own bounding box at ``scale``: (mask, x0, y0) on the scaled grid."""
    if len(poly) < 3:
        return None
    pts = np.asarray(poly, dtype=np.float64) * scale
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = np.round(pts - [x0, y0]).astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    if not mask.any():
        return None
    return mask, int(x0), int(y0)


def iou_matrix(pred: list[list[tuple[int, int]]], gt: list[list[tuple[int, int]]], scale: float = RASTER_SCALE) -> np.ndarray:
    """IoU of every (pred, gt) polygon pair, shape (len(pred), len(gt))."""
    out = np.zeros((len(pred), len(gt)))
    pr = [_raster(p, scale) for p in pred]
    gr = [_raster(g, scale) for g in gt]
    for i, a in enumerate(pr):
        if a is None:
            continue
        ma, ax, ay = a
        area_a = int(ma.sum())
        for j, b in enumerate(gr):
            if b is None:
                continue
            mb, bx, by = b
            x0, y0 = max(ax, bx), max(ay, by)
            x1 = min(ax + ma.shape[1], bx + mb.shape[1])
            y1 = min(ay + ma.shape[0], by + mb.shape[0])
            if x1 <= x0 or y1 <= y0:
                continue
            ca = ma[y0 - ay : y1 - ay, x0 - ax : x1 - ax]
            cb = mb[y0 - by : y1 - by, x0 - bx : x1 - bx]
            inter = int(np.count_nonzero(ca & cb))
            if inter:
                out[i, j] = inter / (area_a + int(mb.sum()) - inter)
    return out


def match_lines(iou: np.ndarray, threshold: float = IOU_THRESHOLD) -> list[tuple[int, int, float]]:
    """One-to-one matches (pred index, gt index, IoU) with IoU >= threshold, maximising total IoU."""
    if iou.size == 0:
        return []
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as exc:  # the desktop build leaves scipy out
        raise HtrError("segmentation evaluation needs scipy, which this installation lacks; "
                       "run it from a source install (pip install -e .)") from exc

    weights = np.where(iou >= threshold, iou, 0.0)
    rows, cols = linear_sum_assignment(-weights)
    return [(int(i), int(j), float(iou[i, j])) for i, j in zip(rows, cols) if iou[i, j] >= threshold]


def _sample(polyline: list[tuple[int, int]], step: float = BASELINE_STEP) -> np.ndarray:
    pts = np.asarray(polyline, dtype=np.float64)
    if len(pts) == 0:
        return np.zeros((0, 2))
    if len(pts) == 1:
        return pts
    out = [pts[:1]]
    for a, b in zip(pts[:-1], pts[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        t = np.arange(1, n + 1)[:, None] / n
        out.append(a + (b - a) * t)
    return np.concatenate(out)


def baseline_spacing(baselines: list[list[tuple[int, int]]]) -> float:
    """Median vertical distance between a baseline and the nearest one above it (0 if unknown)."""
    mids = []
    for bl in baselines:
        if bl:
            arr = np.asarray(bl, dtype=np.float64)
            mids.append((arr[:, 0].min(), arr[:, 0].max(), float(np.median(arr[:, 1]))))
    gaps = []
    for x0, x1, y in mids:
        above = [y - yo for xo0, xo1, yo in mids if yo < y - 1 and min(x1, xo1) > max(x0, xo0)]
        if above:
            gaps.append(min(above))
    return float(np.median(gaps)) if gaps else 0.0


def _near(points: np.ndarray, others: np.ndarray, tol: float) -> int:
    """How many of ``points`` lie within ``tol`` of any of ``others``."""
    if len(points) == 0 or len(others) == 0:
        return 0
    try:
        from scipy.spatial import cKDTree
    except ImportError:  # the desktop build leaves scipy out: compare in chunks
        pass
    else:
        dist, _ = cKDTree(others).query(points, distance_upper_bound=tol * (1 + 1e-9))
        return int(np.count_nonzero(dist <= tol))
    found = 0
    for chunk in np.array_split(points, max(1, len(points) // 512)):
        d2 = ((chunk[:, None, :] - others[None, :, :]) ** 2).sum(axis=2)
        found += int((d2.min(axis=1) <= tol * tol).sum())
    return found


OUTSIDE_SHARE = 0.9  # a prediction is outside when at least this share of it is


def annotated_area(gt: Page, scale: float = RASTER_SCALE) -> np.ndarray | None:
    """Mask (at ``scale``) of what the ground truth annotates line by line: its text regions
    that hold lines (a region without lines marks writing left untranscribed; one without a
    polygon counts as the box around its lines); None for a page without lines."""
    polys = [r.polygon if len(r.polygon) >= 3 else _box_around(r.lines)
             for r in gt.regions if r.lines]
    polys = [q for q in polys if q]
    if not polys:
        return None
    all_pts = np.concatenate([np.asarray(q, np.float64) for q in polys])
    w = int(np.ceil(max(gt.width or 0, all_pts[:, 0].max() + 1) * scale)) + 1
    h = int(np.ceil(max(gt.height or 0, all_pts[:, 1].max() + 1) * scale)) + 1
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(q, np.float64) * scale).astype(np.int32)
                        for q in polys], 1)
    return mask


def _box_around(lines) -> list[tuple[float, float]] | None:
    """The box around some lines' polygons and baselines (None when they have no points)."""
    pts = [p for ln in lines for p in list(ln.polygon) + list(ln.baseline)]
    if not pts:
        return None
    (x0, y0), (x1, y1) = np.min(pts, axis=0), np.max(pts, axis=0)
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def count_outside(polygons: list[list[tuple[int, int]]], gt: Page,
                  scale: float = RASTER_SCALE) -> int:
    """How many of ``polygons`` lie (by area, at least ``OUTSIDE_SHARE``) outside the ground
    truth's annotated area."""
    if not polygons:
        return 0
    area = annotated_area(gt, scale)
    if area is None:
        return 0
    n = 0
    for poly in polygons:
        r = _raster(poly, scale)
        if r is None:
            continue
        m, x0, y0 = r
        h, w = area.shape
        crop = np.zeros_like(m)
        ys, xs = slice(max(y0, 0), min(y0 + m.shape[0], h)), slice(max(x0, 0), min(x0 + m.shape[1], w))
        if ys.start < ys.stop and xs.start < xs.stop:
            crop[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = area[ys, xs]
        inside = int(np.count_nonzero(m & crop))
        n += inside <= (1 - OUTSIDE_SHARE) * int(m.sum())
    return n


def thin_lines(polygons: list[list[tuple[int, int]]], spacing: float,
               scale: float = RASTER_SCALE) -> list[bool]:
    """Which polygons are thin bands: area over width below ``THIN_HEIGHT`` line spacings
    (area measured as drawn, so self-intersecting seam polygons count correctly)."""
    out = []
    for poly in polygons:
        r = _raster(poly, scale)
        width = (max(x for x, _ in poly) - min(x for x, _ in poly)) * scale if poly else 0
        out.append(bool(r is not None and spacing > 0 and width > 0
                        and r[0].sum() / width < THIN_HEIGHT * spacing * scale))
    return out


def score_page(pred: Page, gt: Page) -> SegScores:
    """Line detection and baseline scores of one predicted page against its ground truth."""
    pred_lines = [ln for ln in pred.lines() if len(ln.polygon) >= 3]
    gt_lines = [ln for ln in gt.lines() if len(ln.polygon) >= 3]
    if pred.width and gt.width and (pred.width, pred.height) != (gt.width, gt.height):
        s = SegScores(notes=[f"{gt.image_filename}: size {pred.width}x{pred.height} differs from ground truth {gt.width}x{gt.height}"])
    else:
        s = SegScores()
    s.pages = 1
    iou = iou_matrix([ln.polygon for ln in pred_lines], [ln.polygon for ln in gt_lines])
    matches = match_lines(iou)
    s.tp = len(matches)
    s.fp = len(pred_lines) - s.tp
    s.fn = len(gt_lines) - s.tp
    s.iou_sum = sum(m[2] for m in matches)
    matched = {m[0] for m in matches}
    s.fp_outside = count_outside(
        [ln.polygon for i, ln in enumerate(pred_lines) if i not in matched], gt)
    gt_bl = [ln.baseline for ln in gt.lines() if ln.baseline]
    pr_bl = [ln.baseline for ln in pred.lines() if ln.baseline]
    spacing = baseline_spacing(gt_bl) or 0.02 * max(gt.height, 1)
    thin = thin_lines([ln.polygon for ln in gt_lines], spacing)
    matched_gt = {m[1] for m in matches}
    s.gt_thin = sum(thin)
    s.fn_thin = sum(t and j not in matched_gt for j, t in enumerate(thin))
    if s.gt_thin:
        for i in set(range(len(pred_lines))) - matched:
            j = int(iou[i].argmax())
            s.fp_on_thin += bool(thin[j] and iou[i, j] >= 0.1)
    tol = max(5.0, 0.25 * spacing)
    gpts = np.concatenate([_sample(b) for b in gt_bl]) if gt_bl else np.zeros((0, 2))
    ppts = np.concatenate([_sample(b) for b in pr_bl]) if pr_bl else np.zeros((0, 2))
    s.bl_gt_points, s.bl_pred_points = len(gpts), len(ppts)
    s.bl_gt_found = _near(gpts, ppts, tol)
    s.bl_pred_right = _near(ppts, gpts, tol)
    return s
