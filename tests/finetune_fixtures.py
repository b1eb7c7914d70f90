"""Builders shared by the fine-tuning tests (training, engine store, CLI, window): a tiny
untrained model folder with PyTorch weights, and a project of one drawn page whose lines were
"corrected by a person". Plain functions (fixtures stay in each test module)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from engine.document import Line, Origin, Page, Region
from engine.formats import write_page_xml

CHARS = list(" abcdefghijklmnopqrstuvwxyz")
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dear", "sir", "yours", "truly", "we", "go"]


def make_tiny_model(folder: Path, chars: list[str] = CHARS, *, wide: bool = False,
                    seed: int = 0) -> Path:
    """An untrained, seeded tiny HTR-JAND network as a model folder (model.onnx, model.pt,
    card.json); ``wide`` gives a bigger one to stand for a teacher. Needs torch."""
    import torch

    from training.export import onnx_bytes
    from training.network import STUDENT, HtrJandNet

    torch.manual_seed(seed)
    width = 16 if wide else 8
    cfg = replace(STUDENT, num_classes=len(chars) + 1, channels=(width, width, width, width),
                  d_model=32 if wide else 24, heads=2, ffn=64, layers=1, window=4)
    net = HtrJandNet(cfg).eval()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "net": cfg.to_dict(), "charset": chars,
                "train_config": {"model": "teacher" if wide else "student"}},
               folder / "model.pt")
    (folder / "model.onnx").write_bytes(onnx_bytes(net))
    (folder / "card.json").write_text(json.dumps(
        {"name": folder.name, "version": "0.0.1", "charset": chars,
         "num_classes": len(chars) + 1, "input": {"height": 64, "width_factor": 8},
         "role": "student"}))
    return folder


def line_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, 2)) for _ in range(n)]


def make_project(folder: Path, texts: list[str], *, origin: Origin = Origin.PERSON,
                 stem: str = "page1", extra_model_lines: int = 2) -> Path:
    """A project folder with one drawn page: a line per text (origin ``origin``), plus
    ``extra_model_lines`` lines recognised by a model (not corrections)."""
    folder.mkdir(parents=True, exist_ok=True)
    spacing, width = 48, 420
    all_texts = texts + ["model text"] * extra_model_lines
    height = spacing * (len(all_texts) + 1)
    img = np.full((height, width), 235, np.uint8)
    lines = []
    for k, text in enumerate(all_texts):
        y = spacing * (k + 1)
        cv2.putText(img, text, (20, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 20, 2, cv2.LINE_AA)
        poly = [(10, y - 32), (width - 10, y - 32), (width - 10, y + 12), (10, y + 12)]
        is_person = k < len(texts)
        lines.append(Line(f"l{k + 1}", poly, [(10, y), (width - 10, y)], text,
                          origin=origin if is_person else Origin.MODEL))
    cv2.imwrite(str(folder / f"{stem}.png"), img)
    page = Page(f"{stem}.png", width, height,
                [Region("r1", [(0, 0), (width - 1, 0), (width - 1, height - 1), (0, height - 1)],
                        lines)])
    write_page_xml(page, folder / "page" / f"{stem}.xml")
    return folder
