"""Ground-truth pages as training maps for the baseline U-Net, and random crops of them.

Each page is brought to the model's line spacing the way the engine will see it at run time
(``engine.segmentation.baseline_model.page_scale``: the classical spacing estimate), except where
that estimate is far from the ground truth's own spacing — then the ground truth's is used, so
that the network learns from pages at the scale it is meant for. Targets are drawn at that scale:
baselines as polylines a few pixels thick, text-line areas as the filled line polygons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.formats import read_document
from engine.imaging import load_image
from engine.segmentation.baseline_model import (
    MODEL_SPACING,
    baseline_thickness,
    page_scale,
    resize,
)
from engine.segmentation.metrics import baseline_spacing


@dataclass
class PageMaps:
    """A page at model scale: grey image and uint8 target maps (0/1)."""

    name: str
    grey: np.ndarray
    baseline: np.ndarray
    line: np.ndarray


def page_maps(xml: Path, spacing: float = MODEL_SPACING) -> tuple[PageMaps, str]:
    """One ground-truth page as maps, and which spacing chose its scale ('estimate' or 'gt')."""
    gt = read_document(xml)
    grey = load_image(gt.image_path(), mode="L")
    scale = page_scale(grey, spacing)
    source = "estimate"
    gt_spacing = baseline_spacing([ln.baseline for ln in gt.lines() if len(ln.baseline) >= 2])
    if gt_spacing > 0:
        gt_scale = spacing / gt_spacing
        if not 0.7 < scale / gt_scale < 1.4:
            scale, source = gt_scale, "gt"
    small = resize(grey, scale)
    h, w = small.shape
    base = np.zeros((h, w), np.uint8)
    line = np.zeros((h, w), np.uint8)
    thick = baseline_thickness(spacing)
    for ln in gt.lines():
        if len(ln.polygon) >= 3:
            pts = np.round(np.asarray(ln.polygon, np.float64) * scale).astype(np.int32)
            cv2.fillPoly(line, [pts], 1)
    for ln in gt.lines():
        if len(ln.baseline) >= 2:
            pts = np.round(np.asarray(ln.baseline, np.float64) * scale).astype(np.int32)
            cv2.polylines(base, [pts], False, 1, thickness=thick)
    return PageMaps(xml.stem, small, base, line), source


@dataclass
class CropConfig:
    size: int = 256
    min_zoom: float = 0.8
    max_zoom: float = 1.25
    p_rotate: float = 0.3
    max_rotate_deg: float = 3.0
    p_blur: float = 0.25
    p_noise: float = 0.3


def random_crop(page: PageMaps, rng: np.random.Generator, cfg: CropConfig) -> tuple[np.ndarray, np.ndarray]:
    """(ink input (1, S, S) float32, targets (2, S, S) float32) from a random window of ``page``.

    The window is zoomed by a random factor (robustness to errors of the spacing estimate),
    maybe rotated a little, and the image gets contrast, blur and noise changes.
    """
    s = cfg.size
    zoom = float(np.exp(rng.uniform(np.log(cfg.min_zoom), np.log(cfg.max_zoom))))
    win = s / zoom
    h, w = page.grey.shape
    cx = rng.uniform(min(win / 2, w / 2), max(w - win / 2, w / 2))
    cy = rng.uniform(min(win / 2, h / 2), max(h - win / 2, h / 2))
    angle = rng.uniform(-cfg.max_rotate_deg, cfg.max_rotate_deg) if rng.random() < cfg.p_rotate else 0.0
    m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
    m[0, 2] += s / 2 - cx
    m[1, 2] += s / 2 - cy
    img = cv2.warpAffine(page.grey, m, (s, s), flags=cv2.INTER_LINEAR, borderValue=255)
    maps = [cv2.warpAffine(t.astype(np.float32), m, (s, s), flags=cv2.INTER_LINEAR, borderValue=0)
            for t in (page.baseline, page.line)]
    x = 1.0 - img.astype(np.float32) / 255.0
    # Contrast and brightness as paper and ink vary.
    lo = float(np.percentile(x, 1))
    x = (x - lo) * rng.uniform(0.6, 1.4) + lo + rng.uniform(-0.08, 0.08)
    if rng.random() < cfg.p_blur:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.2))
    if rng.random() < cfg.p_noise:
        x = x + rng.normal(0, rng.uniform(0.02, 0.08), x.shape).astype(np.float32)
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    y = (np.stack(maps) > 0.5).astype(np.float32)
    return x[None], y


def load_pages(files: list[Path], spacing: float = MODEL_SPACING, progress=print) -> list[PageMaps]:
    """Maps of many pages; pages that fail to load are reported and skipped."""
    pages, from_gt = [], 0
    for i, xml in enumerate(files):
        try:
            maps, source = page_maps(xml, spacing)
        except Exception as exc:  # a broken page must not stop a long run
            progress(f"skipped {xml}: {exc}")
            continue
        pages.append(maps)
        from_gt += source == "gt"
        if progress and (i + 1) % 50 == 0:
            progress(f"{i + 1}/{len(files)} pages prepared")
    if progress:
        progress(f"{len(pages)} pages; scale from the ground-truth spacing on {from_gt} "
                 f"(estimate off by more than 1.4x)")
    return pages
