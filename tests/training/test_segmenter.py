"""The line verifier: train on a toy problem, export to ONNX, load in the engine, segment with it."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.errors import ModelError  # noqa: E402
from engine.segmentation import segment_page  # noqa: E402
from engine.segmentation.learned import LineVerifierModel, resolve_model  # noqa: E402
from engine.segmentation.verify import FEATURES  # noqa: E402
from training.segmenter.verifier import VerifierConfig, export, train  # noqa: E402


def test_train_export_and_use(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES))).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)  # "long lines are text"
    config = VerifierConfig(epochs=150, hidden=16)
    model = train(x, y, config, log=None)
    folder = export(model, tmp_path / "verifier", FEATURES, {"toy": 1}, "toy data", config)
    card = json.loads((folder / "card.json").read_text())
    assert card["task"].startswith("segmentation") and card["features"] == FEATURES
    loaded = LineVerifierModel(folder)
    p = loaded.probabilities(x[:50])
    assert p.shape == (50,)
    assert ((p > 0.5) == (y[:50] > 0.5)).mean() > 0.9
    # The engine runs the classical segmenter and filters its candidates with the model.
    img = np.full((400, 600), 230, np.uint8)
    page = segment_page(img, model_dir=folder)
    assert page.regions == []


def test_bad_model_folder(tmp_path):
    with pytest.raises(ModelError):
        resolve_model(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps({"task": "recognition"}))
    (tmp_path / "model.onnx").write_bytes(b"\0")
    with pytest.raises(ModelError):
        resolve_model(tmp_path)
