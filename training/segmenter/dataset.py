"""Candidate lines of the classical segmenter with features and ground-truth labels.

A candidate counts as a real text line when at least half of its baseline lies within a
tolerance (a third of the line spacing) of a ground-truth baseline: the verifier learns which
ridges are writing a transcriber wants, not how polygons are drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.formats import read_document
from engine.imaging import load_image
from engine.segmentation.classical import analyse
from engine.segmentation.metrics import _sample, baseline_spacing
from engine.segmentation.verify import line_features


def _covered(points: np.ndarray, gt_points: np.ndarray, tol: float) -> float:
    if len(points) == 0 or len(gt_points) == 0:
        return 0.0
    d2 = ((points[:, None, :] - gt_points[None, :, :]) ** 2).sum(axis=2)
    return float((d2.min(axis=1) <= tol * tol).mean())


def page_examples(xml: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of one ground-truth page's candidate lines."""
    gt = read_document(xml)
    image = load_image(gt.image_path())
    result = analyse(image)
    if not result.lines:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
    feats = line_features(result.lines, result.grey, result.ink, result.spacing)
    gt_bl = [ln.baseline for ln in gt.lines() if len(ln.baseline) >= 2]
    gpts = np.concatenate([_sample(b) for b in gt_bl]) if gt_bl else np.zeros((0, 2))
    tol = max(5.0, (baseline_spacing(gt_bl) or result.spacing / result.scale) / 3)
    labels = []
    for ln in result.lines:
        pts = _sample([tuple(p) for p in (ln.baseline / result.scale).tolist()])
        labels.append(1.0 if _covered(pts, gpts, tol) >= 0.5 else 0.0)
    return feats, np.array(labels, np.float32)


def build(split_files: list[Path], progress=print) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacked (features, labels, page index) over many pages."""
    xs, ys, ps = [], [], []
    for i, xml in enumerate(split_files):
        f, y = page_examples(xml)
        if len(y):
            xs.append(f)
            ys.append(y)
            ps.append(np.full(len(y), i))
        if progress and (i + 1) % 25 == 0:
            progress(f"{i + 1}/{len(split_files)} pages")
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)
