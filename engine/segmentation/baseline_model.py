"""The learned baseline segmenter at run time: a U-Net in ONNX that reads a page at a normalised
line spacing and returns per-pixel probabilities of baseline and text-line area.

The page is scaled so that its text lines lie about ``MODEL_SPACING`` pixels apart (the
classical spacing estimate, ``engine.segmentation.classical.estimate_page_spacing``), which makes
the network's job independent of scan resolution and keeps a page small: an A4 letter becomes
roughly 400 x 600 pixels. The training code (``training/segmenter``) uses the same scaling.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.segmentation.classical import MIN_SPACING_PX, estimate_page_spacing, resize
from engine.segmentation.heatmap import PostProcess

MODEL_SPACING = 24.0  # line spacing at model scale, pixels
MAX_MODEL_SIDE = 2400  # bound on the model-scale page (huge pages with tiny writing)
FALLBACK_LINES = 30  # a page whose spacing cannot be measured is read as this many lines high
TASK = "segmentation/baselines"


def baseline_thickness(spacing: float = MODEL_SPACING) -> int:
    """Thickness in pixels of the drawn baselines the network learns, at model scale."""
    return max(2, int(round(spacing / 10)))


def page_scale(grey: np.ndarray, spacing: float = MODEL_SPACING) -> float:
    """Factor that brings ``grey`` to the model's line spacing."""
    h, w = grey.shape[:2]
    measured, _ = estimate_page_spacing(grey)
    if measured < MIN_SPACING_PX:
        measured = max(h, w) / FALLBACK_LINES
    scale = float(np.clip(spacing / measured, 0.02, 2.0))
    if max(h, w) * scale > MAX_MODEL_SIDE:
        scale = MAX_MODEL_SIDE / max(h, w)
    return scale


class BaselineModel:
    """An ONNX baseline segmenter folder: ``model.onnx`` + ``card.json`` (task ``segmentation/baselines``)."""

    def __init__(self, folder: str | os.PathLike[str], card: dict, threads: int = 0) -> None:
        folder = Path(folder)
        if card.get("task") != TASK:
            raise ModelError(f"{folder}: card.json does not describe a baseline segmenter.")
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own, unexported exception types
            raise ModelError(f"{folder / 'model.onnx'} could not be loaded: {exc}") from exc
        self.card = card
        self.folder = folder
        self.name = str(card.get("name", folder.name))
        self.spacing = float(card.get("line_spacing_px", MODEL_SPACING))
        self.stride = int(card.get("stride", 16))
        try:
            self.post = PostProcess.from_card(dict(card.get("postprocess") or {}))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{folder}: card.json has unusable post-processing settings: {exc}") from exc

    def predict(self, grey: np.ndarray) -> tuple[np.ndarray, float]:
        """(probabilities (2, h, w) float32 at model scale, scale factor page -> model)."""
        scale = page_scale(grey, self.spacing)
        small = resize(grey, scale)
        h, w = small.shape
        s = self.stride
        ph, pw = -(-h // s) * s, -(-w // s) * s
        x = np.zeros((1, 1, ph, pw), np.float32)
        x[0, 0, :h, :w] = 1.0 - small.astype(np.float32) / 255.0
        (logits,) = self.session.run(None, {"image": x})
        probs = 1.0 / (1.0 + np.exp(-np.asarray(logits[0, :, :h, :w], np.float32)))
        return probs, scale
