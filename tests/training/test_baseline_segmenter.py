"""The learned baseline segmenter: training maps, a short training run with resume, ONNX export,
loading in the engine, and segmenting a real page with it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.errors import ModelError
from engine.segmentation import segment_page
from engine.segmentation.baseline_model import BaselineModel, page_scale
from engine.segmentation.learned import load_model, resolve_model
from training.segmenter import baseline_train
from training.segmenter.pagemaps import CropConfig, page_maps, random_crop
from training.segmenter.unet import BaselineUNet


@pytest.fixture()
def data_dir(tmp_path, sample_xml, sample_image):
    """A stand-in for ../shared/data: both collections hold the bundled sample page."""
    root = tmp_path / "data"
    for name in baseline_train.COLLECTIONS:
        folder = root / name
        folder.mkdir(parents=True)
        shutil.copy(sample_xml, folder / sample_xml.name)
        shutil.copy(sample_image, folder / sample_image.name)
        for split in ("train", "val"):
            (folder / f"split_{split}.txt").write_text(sample_xml.name + "\n")
    return root


def test_page_maps_put_baselines_under_the_writing(data_dir):
    maps, source = page_maps(data_dir / "poilus" / "TestamentsDePoilus_will_AN_0191-0.xml")
    assert source in ("estimate", "gt")
    assert maps.grey.shape == maps.baseline.shape == maps.line.shape
    assert maps.baseline.any() and maps.line.any()
    # Baselines lie inside the line areas, and the line areas are mostly ink-bearing rows.
    inside = (maps.baseline & maps.line).sum() / maps.baseline.sum()
    assert inside > 0.8
    x, y = random_crop(maps, np.random.default_rng(0), CropConfig(size=96))
    assert x.shape == (1, 96, 96) and y.shape == (2, 96, 96)
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(y)) <= {0.0, 1.0}


def test_train_resume_export_and_segment(data_dir, tmp_path, sample_image):
    run = tmp_path / "run"
    out = tmp_path / "model"
    args = ["--data", str(data_dir), "--run-dir", str(run), "--batch", "2", "--crop", "64",
            "--check-every", "2", "--val-crops", "4"]
    assert baseline_train.main(args + ["--minutes", "0.03"]) == 0
    first = torch.load(run / "last.pt", weights_only=False)["state"]["step"]
    assert first >= 1 and (run / "best.pt").is_file()
    (run / "done.json").unlink()
    assert baseline_train.main(args + ["--minutes", "0.06", "--out", str(out)]) == 0
    log = (run / "train.log").read_text()
    assert "resumed at step" in log
    assert torch.load(run / "last.pt", weights_only=False)["state"]["step"] > first

    card = json.loads((out / "card.json").read_text())
    assert card["task"] == "segmentation/baselines" and card["parameters"] > 100_000
    model = load_model(out)
    assert isinstance(model, BaselineModel) and resolve_model(out) is model

    # ONNX and PyTorch agree on a real page.
    from engine.imaging import load_image

    grey = load_image(sample_image, mode="L")
    probs, scale = model.predict(grey)
    assert scale == pytest.approx(page_scale(grey))
    net = BaselineUNet(tuple(card_channels(out)))
    net.load_state_dict(torch.load(out / "model.pt", weights_only=False)["model"])
    net.eval()
    h, w = probs.shape[1:]
    from engine.segmentation.classical import resize

    small = resize(grey, scale)
    pad = np.zeros((1, 1, -(-h // 16) * 16, -(-w // 16) * 16), np.float32)
    pad[0, 0, :h, :w] = 1.0 - small / 255.0
    with torch.no_grad():
        ref = torch.sigmoid(net(torch.from_numpy(pad)))[0, :, :h, :w].numpy()
    assert np.abs(ref - probs).max() < 1e-3

    page = segment_page(grey, model_dir=out)
    assert page.metadata["segmenter"] == "htrjand-baselines"
    for line in page.lines():  # whatever a barely trained model finds is well formed
        assert len(line.baseline) >= 2 and len(line.polygon) >= 4

    # Continuing the exported folder in place: its weights are the start, its training counts.
    before = card["training"]
    more = ["--data", str(data_dir), "--run-dir", str(tmp_path / "run2"), "--batch", "2",
            "--crop", "64", "--check-every", "2", "--val-crops", "4", "--minutes", "0.03",
            "--init", str(out), "--out", str(out)]
    assert baseline_train.main(more) == 0
    assert "initialised from" in (tmp_path / "run2" / "train.log").read_text()
    t = json.loads((out / "card.json").read_text())["training"]
    assert t["initialised_from"]["steps"] == before["steps"]
    assert t["total_steps"] == before["steps"] + t["steps"]
    assert t["total_minutes"] == pytest.approx(before["minutes"] + t["minutes"], abs=0.11)
    assert len(t["commands"]) == 2 and "--init" in t["commands"][1]
    assert t["command"].endswith(" ".join(more)) and t["commands"][1] == t["command"]  # as run
    assert "Continued from" in (out / "card.md").read_text()

    # Tuning the post-processing on the val pages writes the winner and its scores to the card.
    from training.segmenter import baseline_tune

    assert baseline_tune.main(["--model", str(out), "--data", str(data_dir)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert set(baseline_tune.GRID_MERGE) <= set(card["postprocess"])
    assert card["postprocess"]["merge_gap"] in baseline_tune.GRID_MERGE["merge_gap"]
    for m in card["metrics"].values():
        assert m["pages"] == 1 and 0.0 <= m["f1"] <= m["f1_annotated"] <= 1.0


def card_channels(folder):
    return torch.load(folder / "model.pt", weights_only=False)["channels"]


def test_bad_baseline_model_cards(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not onnx")
    (folder / "card.json").write_text(json.dumps({"task": "segmentation/baselines"}))
    with pytest.raises(ModelError):
        load_model(folder)
    (folder / "card.json").write_text(json.dumps({"task": "segmentation/baselines",
                                                  "postprocess": {"min_length": "long"}}))
    with pytest.raises(ModelError):
        BaselineModel(folder, json.loads((folder / "card.json").read_text()))
