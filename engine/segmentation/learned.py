"""Loading the learned parts of segmentation from model folders.

A segmentation model folder holds ``model.onnx`` and ``card.json`` whose ``task`` says what it is:
``segmentation/baselines`` — the U-Net baseline segmenter (``engine.segmentation.baseline_model``),
which finds the lines itself — or ``segmentation/line-verification`` — a filter over the classical
segmenter's candidate lines. Bundled ones live in ``resources/models/segmentation/`` — one level
below the recognition models, so that the recognition model registry does not list them. Without
a model the classical segmenter keeps every candidate line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.segmentation.baseline_model import TASK as BASELINE_TASK
from engine.segmentation.baseline_model import BaselineModel

BUNDLED_NAME = "line-verifier"
BUNDLED_BASELINES = "baselines"


def bundled_dir(name: str = BUNDLED_NAME) -> Path:
    from engine.resources import resource_path

    return resource_path("models") / "segmentation" / name


def _card(folder: Path) -> dict:
    from engine.models import read_card_json

    if not (folder / "model.onnx").is_file():
        raise ModelError(f"{folder} is not a segmentation model folder (needs model.onnx and card.json).")
    _, card = read_card_json(folder, "segmentation model")
    return card


class LineVerifierModel:
    """An ONNX line verifier: raw features in, probability of 'a wanted text line' out."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder)
        card = _card(folder)
        onnx_path = folder / "model.onnx"
        if not str(card.get("task", "")).startswith("segmentation"):
            raise ModelError(f"{folder}: card.json does not describe a segmentation model (task {card.get('task')!r}).")
        from engine.segmentation.verify import FEATURES

        if card.get("features") != FEATURES:
            raise ModelError(f"{folder}: the model was trained on other line features than this engine computes.")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own, unexported exception types
            raise ModelError(f"{onnx_path} could not be loaded: {exc}") from exc
        self.card = card
        self.folder = folder
        self.name = str(card.get("name", folder.name))
        self.threshold = float(card.get("threshold", 0.5))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0, np.float32)
        (out,) = self.session.run(None, {"features": features.astype(np.float32)})
        return np.asarray(out).reshape(-1)

    def keep(self, features: np.ndarray) -> np.ndarray:
        return self.probabilities(features) >= self.threshold


SegmentationModel = BaselineModel | LineVerifierModel
_CACHE: dict[str, SegmentationModel] = {}


def load_model(folder: str | os.PathLike[str]) -> SegmentationModel:
    """The segmentation model in ``folder``, of the kind its card names; ModelError otherwise."""
    folder = Path(folder)
    key = str(folder.resolve())
    if key not in _CACHE:
        card = _card(folder)
        _CACHE[key] = BaselineModel(folder, card) if card.get("task") == BASELINE_TASK else LineVerifierModel(folder)
    return _CACHE[key]


def resolve_model(model_dir: str | os.PathLike[str] | None = None) -> SegmentationModel | None:
    """The model in ``model_dir`` (ModelError if unusable), else the bundled baseline segmenter,
    else the bundled line verifier, else None (classical segmentation alone)."""
    if model_dir is not None:
        return load_model(model_dir)
    for name in (BUNDLED_BASELINES, BUNDLED_NAME):
        folder = bundled_dir(name)
        if (folder / "model.onnx").is_file():
            return load_model(folder)
    return None
