"""ONNX export: onnxruntime agrees with PyTorch on real lines cut from shared/data, and the
model folder holds what the engine and later fine-tuning need."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from training.batching import to_tensor_batch  # noqa: E402
from training.export import onnx_bytes  # noqa: E402
from training.network import STUDENT, HtrJandNet  # noqa: E402


@pytest.fixture(scope="module")
def real_lines(shared_data: Path) -> list[np.ndarray]:
    """Lines of one Poilus val page and one Hooker val page, cut as in training."""
    from engine.formats import read_document
    from engine.imaging import load_image
    from engine.recognition.lines import cut_lines

    pages = [shared_data / "poilus" / (shared_data / "poilus" / "split_val.txt").read_text()
             .split()[0], shared_data / "hooker" / (shared_data / "hooker" / "split_val.txt")
             .read_text().split()[0]]
    lines: list[np.ndarray] = []
    for xml in pages:
        page = read_document(xml)
        crops = cut_lines(page, load_image(page.image_path()), 64)
        lines += [c for c in crops if c is not None][:6]
    assert len(lines) >= 6
    return lines


@pytest.mark.parametrize("width_factor,extra_convs", [(8, ()), (4, ()), (4, (0, 0, 1, 2))])
def test_onnx_matches_pytorch_on_real_lines(real_lines: list[np.ndarray], width_factor: int,
                                            extra_convs: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = HtrJandNet(replace(STUDENT, num_classes=80, extra_convs=extra_convs)
                       .with_width_factor(width_factor)).eval()
    session = ort.InferenceSession(onnx_bytes(model), providers=["CPUExecutionProvider"])
    for batch in (real_lines[:1], real_lines[:5], real_lines):  # dynamic batch and width
        x, widths = to_tensor_batch(batch, model.cfg.width_factor)
        with torch.no_grad():
            ref = model(x, widths).numpy()
        out = session.run(None, {"image": x.numpy(), "widths": widths.numpy()})[0]
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, atol=1e-3)
        assert (out.argmax(-1) == ref.argmax(-1)).mean() > 0.999


def test_model_folder(tmp_path: Path) -> None:
    from training.charset import Charset
    from training.config import TrainConfig
    from training.export import export_model_folder

    chars = Charset(list(" abc"))
    model = HtrJandNet(replace(STUDENT, num_classes=chars.num_classes))
    ckpt = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "net": model.cfg.to_dict(), "charset": chars.chars,
                "train_config": TrainConfig().to_dict(), "epoch": 2, "step": 10,
                "elapsed": 12.0, "history": []}, ckpt)
    metrics = {"all": {"cer": 0.5, "wer": 0.9, "lines": 3}}
    out = export_model_folder(ckpt, tmp_path / "m", name="toy", val_metrics=metrics)
    card = json.loads((out / "card.json").read_text())
    assert card["charset"] == [" ", "a", "b", "c"] and card["num_classes"] == 5
    assert card["parameters"] > 0.6e6 and card["input"]["height"] == 64
    assert "cremma" in json.dumps(card["training"]["excluded"])
    text = (out / "card.md").read_text()
    assert "CER" in text and "Encoder channels 12-24-32-48; 2 attention layers" in text
    size = sum(p.stat().st_size for p in out.iterdir())
    assert size < 10e6
    from engine.recognition import Recognizer

    res = Recognizer(out, device="cpu").recognize_images([np.full((64, 100), 255, np.uint8)])
    assert len(res) == 1


def test_continuing_a_model_folder_counts_its_training_when_replacing_it(tmp_path: Path) -> None:
    """A run started from a shipped model folder's model.pt and exported back into that folder
    keeps the folder's earlier epochs and CPU time in the new card (read before overwriting)."""
    from training.charset import Charset
    from training.config import TrainConfig
    from training.export import export_model_folder

    chars = Charset(list(" abc"))
    model = HtrJandNet(replace(STUDENT, num_classes=chars.num_classes))
    metrics = {"all": {"cer": 0.5, "wer": 0.9, "lines": 3}}
    first = tmp_path / "first.pt"
    torch.save({"model": model.state_dict(), "net": model.cfg.to_dict(), "charset": chars.chars,
                "train_config": TrainConfig().to_dict(), "epoch": 4, "step": 10,
                "elapsed": 60.0, "history": [{"epoch": 4}]}, first)
    folder = export_model_folder(first, tmp_path / "m", name="toy", val_metrics=metrics)
    cont = tmp_path / "cont.pt"
    cfg = TrainConfig(init=str(folder / "model.pt")).to_dict()
    torch.save({"model": model.state_dict(), "net": model.cfg.to_dict(), "charset": chars.chars,
                "train_config": cfg, "epoch": 3, "step": 9, "elapsed": 30.0, "history": []}, cont)
    export_model_folder(cont, folder, name="toy", val_metrics=metrics)
    training = json.loads((folder / "card.json").read_text())["training"]
    init = training["initialised_from"]
    assert (training["epochs"], init["epochs"], init["cpu_time_s"]) == (3, 4, 60.0)
    assert init["history"] == [{"epoch": 4}]
    assert "7 epochs" in (folder / "card.md").read_text()
    assert init["model"].startswith("toy ") and "then toy" in (folder / "card.md").read_text()
    assert init["runs"] == 1 and " runs, " not in (folder / "card.md").read_text()
    # continued again from the same folder path: two runs before, counted once each
    export_model_folder(cont, folder, name="toy", val_metrics=metrics)
    again = json.loads((folder / "card.json").read_text())["training"]["initialised_from"]
    assert again["runs"] == 2 and again["epochs"] == 7
    assert "2 runs, 7 epochs" in (folder / "card.md").read_text()


def test_card_lists_each_continuation_of_the_recipe_in_order() -> None:
    from training.export import comparison_text

    comp = {"val_cer_greedy": {"student-alone": 0.35}, "budget_min_per_phase": 48.0,
            "note": "phase 2 note", "shipped": "student-phase4",
            "phase4": {"continues": "student-phase3", "minutes": 6.5, "hardware": "NVIDIA H200",
                       "val_cer_greedy": 0.25, "command": "train --device cuda",
                       "data_note": "lines packed as WebP"},
            "phase3": {"continues": "student-alone", "minutes": 100.0, "threads": 1,
                       "val_cer_greedy": 0.2738}}
    text = comparison_text({"distillation_comparison": comp, "recipe": "python -m recipe"})
    assert "Phase-2 winner: student-alone." in text and "Shipped: student-phase4." in text
    p3 = text.index("Phase 3: student-alone continued for 100 min on 1 CPU thread: best val "
                    "CER 27.38%.")
    p4 = text.index("Phase 4: student-phase3 continued for 6.5 min on one NVIDIA H200 GPU")
    assert p3 < p4 and "`train --device cuda`" in text and "WebP" in text


def test_card_says_which_decoding_is_the_default() -> None:
    """The card's beam-search section names the default and lists the val CER read with it."""
    from training.export import decoding_text

    trials = [{"beam": 1, "lm_weight": 0.0, "length_bonus": 0.0, "cer": 0.25},
              {"beam": 8, "lm_weight": 0.35, "length_bonus": 1.0, "cer": 0.21}]
    dec = {"default": "beam", "beam": 8, "lm_weight": 0.35, "length_bonus": 1.0,
           "lm": "character 5-gram", "tuned_on": "200 val lines", "trials": trials,
           "val": {"hooker": {"lines": 858, "cer": 0.1808, "wer": 0.3969}}}
    text = decoding_text({"decoding": dec})
    assert "reads with it by default" in text and "| hooker | 858 | 18.08% | 39.69% |" in text
    assert "greedy is the default" in decoding_text({"decoding": {**dec, "default": "greedy"}})


def test_card_names_the_shape_deepened_blocks_included() -> None:
    from training.export import shape_text

    net = replace(STUDENT, channels=(24, 48, 80, 128), extra_convs=(0, 1, 0, 2)).to_dict()
    text = shape_text(net)
    assert text.startswith("Encoder channels 24-48-80-128 (residual gated convs added: "
                           "1 in block 2, 2 in block 4); 2 attention layers, width 128")
    assert "added" not in shape_text(STUDENT.to_dict())
