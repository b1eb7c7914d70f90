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


# --- post-correction (issue #8): tiny T5s exported with training.postcorrect.export ---------

def _tiny_t5():
    """A random byte-level T5 of a few ten thousand parameters (seeded)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=260, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1,
        num_heads=4, dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return transformers.T5ForConditionalGeneration(config).eval()


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny T5 saved with ``save_pretrained`` (untrained: tests of the mechanics)."""
    folder = tmp_path_factory.mktemp("tiny-t5") / "hf"
    _tiny_t5().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def postcorrect_model_dir(tiny_t5_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_t5_dir`` exported as a post-correction model folder."""
    from training.postcorrect.export import export_postcorrector

    return export_postcorrector(tiny_t5_dir, tmp_path_factory.mktemp("pc") / "htrjand-postcorrect")


@pytest.fixture(scope="session")
def ab_t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny T5 rigged to answer "ab" to every input: its attention adds nothing and its
    feed-forward layer maps each token's embedding to the next one's (start → a → b → end,
    anything else → end), so its suggestions are known in advance, whatever the line."""
    import torch

    model = _tiny_t5()
    start, a, b, end, other = 0, ord("a") + 3, ord("b") + 3, 1, 3
    basis = torch.eye(32)
    slot = {start: 0, a: 1, b: 2, other: 3, end: 4}  # embedding direction of each token
    following = {start: a, a: b, b: end, other: end, end: end}
    with torch.no_grad():
        model.shared.weight[:] = basis[slot[other]]  # the output head is tied to these
        for token, k in slot.items():
            model.shared.weight[token] = basis[k]
        for block in model.decoder.block:
            block.layer[0].SelfAttention.o.weight.zero_()
            block.layer[1].EncDecAttention.o.weight.zero_()
            ff = block.layer[2].DenseReluDense
            ff.wi.weight.zero_()
            ff.wo.weight.zero_()
            for token, k in slot.items():  # unit k fires on token k: e_k -> 5 e_next
                ff.wi.weight[k, k] = 1.0
                ff.wo.weight[:, k] = (5 * basis[slot[following[token]]] - basis[k]) / 32 ** 0.5
        # confident: the target's logit 20 (after T5's output scaling), every other one 0
        model.decoder.final_layer_norm.weight.fill_(20.0)
    folder = tmp_path_factory.mktemp("ab-t5") / "hf"
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def ab_postcorrect_dir(ab_t5_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ab_t5_dir`` exported with thresholds that let every change through."""
    from training.postcorrect.export import export_postcorrector

    return export_postcorrector(ab_t5_dir, tmp_path_factory.mktemp("pc-ab") / "ab",
                                thresholds={"gain": -1e9, "max_confidence": 1.0})
