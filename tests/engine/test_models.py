"""The model registry: cards checked, folders listed, clear errors for broken models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import models
from engine.errors import ModelError


def _card(folder: Path, **over) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    card = {"name": folder.name, "charset": list("abc "), "num_classes": 5,
            "input": {"height": 64, "width_factor": 8}}
    card.update(over)
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_load_card_ok(tmp_path: Path) -> None:
    card = models.load_card(_card(tmp_path / "m"))
    assert card["charset"] == list("abc ") and card["input"]["height"] == 64


@pytest.mark.parametrize("over,needle", [
    ({"charset": []}, "charset"),
    ({"charset": ["ab"]}, "charset"),
    ({"num_classes": 9}, "num_classes"),
    ({"input": {}}, "height"),
])
def test_load_card_rejects_bad_cards(tmp_path: Path, over: dict, needle: str) -> None:
    with pytest.raises(ModelError, match=needle):
        models.load_card(_card(tmp_path / "m", **over))


def test_missing_and_corrupt_cards(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        models.load_card(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="card.json"):
        models.load_card(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match="JSON"):
        models.load_card(tmp_path / "bad")


def test_list_models_reports_broken_folders(tmp_path: Path, monkeypatch) -> None:
    bundled, user = tmp_path / "bundled", tmp_path / "user"
    _card(bundled / "good")
    _card(user / "broken", charset="nope")
    monkeypatch.setattr(models, "bundled_models_dir", lambda: bundled)
    monkeypatch.setattr(models, "user_models_dir", lambda: user)
    listed = {m.name: m for m in models.list_models()}
    assert listed["good"].source == "bundled" and listed["good"].error is None
    assert listed["broken"].source == "user" and "charset" in listed["broken"].error
    with pytest.raises(ModelError, match="no recognition model"):
        models.default_model_dir()  # no model.onnx anywhere
    (bundled / "good" / "model.onnx").write_bytes(b"x")
    assert models.default_model_dir() == bundled / "good"


def test_dirs() -> None:
    assert models.bundled_models_dir().name == "models"
    assert "htrjand" in str(models.user_models_dir())
