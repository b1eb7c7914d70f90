"""Loading the learned part of segmentation (the line verifier) from a model folder.

A segmentation model folder holds ``model.onnx`` and ``card.json`` whose ``task`` starts with
``segmentation``. The bundled one lives in ``resources/models/segmentation/line-verifier`` —
one level below the recognition models, so that the recognition model registry does not list
it. Without a model the classical segmenter keeps every candidate line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engine.errors import ModelError

BUNDLED_NAME = "line-verifier"


def bundled_dir() -> Path:
    from engine.resources import resource_path

    return resource_path("models") / "segmentation" / BUNDLED_NAME


class LineVerifierModel:
    """An ONNX line verifier: raw features in, probability of 'a wanted text line' out."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder)
        card_path, onnx_path = folder / "card.json", folder / "model.onnx"
        if not card_path.is_file() or not onnx_path.is_file():
            raise ModelError(f"{folder} is not a segmentation model folder (needs model.onnx and card.json).")
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{card_path} is unreadable: {exc}") from exc
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


_CACHE: dict[str, LineVerifierModel] = {}


def resolve_model(model_dir: str | os.PathLike[str] | None = None) -> LineVerifierModel | None:
    """The model in ``model_dir`` (ModelError if unusable), else the bundled one, else None."""
    if model_dir is not None:
        folder = Path(model_dir)
    else:
        folder = bundled_dir()
        if not (folder / "model.onnx").is_file():
            return None
    key = str(folder.resolve())
    if key not in _CACHE:
        _CACHE[key] = LineVerifierModel(folder)
    return _CACHE[key]
