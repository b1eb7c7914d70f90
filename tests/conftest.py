"""Fixtures shared by every test package: where the real data and the sample live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "resources" / "samples" / "poilus"
SAMPLE_XML = SAMPLE_DIR / "ground-truth" / "TestamentsDePoilus_will_AN_0191-0.xml"
SAMPLE_IMAGE = SAMPLE_DIR / "TestamentsDePoilus_will_AN_0191-0.jpg"


def shared_data_path() -> Path:
    """``../shared/data`` beside the checkout, or ``$HTRJAND_SHARED_DATA``."""
    return Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set HTRJAND_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def sample_xml() -> Path:
    return SAMPLE_XML


@pytest.fixture(scope="session")
def sample_image() -> Path:
    return SAMPLE_IMAGE


@pytest.fixture(scope="session")
def toy_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, seeded student exported to ONNX (needs torch): a real model to load."""
    torch = pytest.importorskip("torch")
    import json
    from dataclasses import replace

    from training.export import onnx_bytes
    from training.network import STUDENT, HtrJandNet

    torch.manual_seed(0)
    chars = list(" abcdefghijklmnopqrstuvwxyz")
    folder = tmp_path_factory.mktemp("toy-model") / "toy"
    folder.mkdir()
    net = HtrJandNet(replace(STUDENT, num_classes=len(chars) + 1)).eval()
    (folder / "model.onnx").write_bytes(onnx_bytes(net))
    (folder / "card.json").write_text(json.dumps(
        {"name": "toy", "version": "0.0.1", "charset": chars, "num_classes": len(chars) + 1,
         "input": {"height": 64, "width_factor": 8}}))
    (folder / "card.md").write_text("# Toy model\n\nUntrained; for tests only.\n")
    return folder


@pytest.fixture(scope="session")
def model_dir(toy_model_dir: Path) -> Path:
    """The bundled recognizer when present, else the toy model: tests of the mechanics."""
    from engine.models import bundled_models_dir

    bundled = bundled_models_dir() / "htrjand-student"
    return bundled if (bundled / "model.onnx").is_file() else toy_model_dir


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user model store (the variable is inherited by training child processes)."""
    folder = tmp_path / "store"
    monkeypatch.setenv("HTRJAND_USER_MODELS", str(folder))
    return folder
