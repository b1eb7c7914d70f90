"""Export a baseline U-Net checkpoint as an engine model folder: ``model.onnx`` (dynamic batch,
height and width), ``model.pt`` and a model card (``card.json`` + ``card.md``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch

from engine.atomic import atomic_write_text
from engine.segmentation.baseline_model import MODEL_SPACING, TASK
from engine.segmentation.heatmap import PostProcess
from training.segmenter.unet import OUTPUTS, BaselineUNet

NAME = "htrjand-baselines"


def export(checkpoint: Path, folder: Path, *, train_pages: int, minutes: float, steps: int, threads: int,
           postprocess: dict | None = None, metrics: dict | None = None,
           command: str, init: dict | None = None) -> Path:
    """Write the model folder; ``postprocess`` settings default to ``PostProcess()``.
    ``init``: what this run continued (``baseline_train.initial_weights``), added to the totals;
    ``command``: the training command as run."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = BaselineUNet(tuple(ck["channels"]))
    model.load_state_dict(ck["model"])
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 1, 64, 96)
    torch.onnx.export(model, (dummy,), str(folder / "model.onnx"), input_names=["image"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "logits": {0: "batch", 2: "height", 3: "width"}})
    torch.save({"model": model.state_dict(), "channels": list(model.channels)}, folder / "model.pt")
    params = int(sum(p.numel() for p in model.parameters()))
    card = {
        "name": NAME,
        "task": TASK,
        "version": datetime.now(timezone.utc).strftime("%Y.%m.%d"),
        "architecture": f"U-Net, channels {list(model.channels)}, 3x3 conv+BN+ReLU pairs, "
                        f"bilinear upsampling, outputs {list(OUTPUTS)} (logits)",
        "parameters": params,
        "input": "ink = 1 - grey/255, page scaled to the line spacing below, padded to the stride",
        "line_spacing_px": MODEL_SPACING,
        "stride": model.stride,
        "postprocess": {**asdict(PostProcess()), **(postprocess or {})},
        "training": {
            "data": "hooker split_train + poilus split_train (../shared/data); val splits for checkpoint choice",
            "pages": train_pages, "minutes": round(minutes, 1), "steps": steps, "cpu_threads": threads,
            "best_check": ck.get("entry"),
            "command": command,
        },
        "metrics": metrics or {},
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if init:
        card["training"].update(
            initialised_from=init, total_minutes=round(init["minutes"] + minutes, 1),
            total_steps=init["steps"] + steps,
            commands=list(init.get("commands") or []) + [command])
    atomic_write_text(folder / "card.json", json.dumps(card, indent=1) + "\n")
    atomic_write_text(folder / "card.md", card_markdown(card))
    return folder


def card_markdown(card: dict) -> str:
    t = card["training"]
    lines = [f"# {card['name']} ({card['version']})", "",
             "Learned baseline segmenter of HTR-JAND Studio: finds text lines (baseline + polygon).", "",
             f"{card['architecture']}; {card['parameters']:,} parameters.",
             f"Pages are read at a line spacing of {card['line_spacing_px']:g} px (classical estimate).", "",
             "## Training",
             f"{t['data']}: {t['pages']} pages, {t['steps']} steps, {t['minutes']} min on {t['cpu_threads']} CPU thread(s).",
             f"Command: `{t['command']}`", ""]
    if t.get("initialised_from"):
        lines[-1:-1] = [f"Continued from {t['initialised_from']['from']} "
                        f"({t['initialised_from']['minutes']:g} min, {t['initialised_from']['steps']} steps): "
                        f"{t['total_minutes']} min and {t['total_steps']} steps in all, by these commands in turn:",
                        *[f"- `{c}`" for c in t["commands"]]]
    if card["metrics"]:
        lines += ["## Validation (`python benchmarks/segmentation.py`)", "",
                  "| collection | line P | line R | line F1 (IoU >= 0.5) | baseline F1 |", "|---|---|---|---|---|"]
        for name, m in card["metrics"].items():
            lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['baseline_f1']:.3f} |")
    return "\n".join(lines) + "\n"
