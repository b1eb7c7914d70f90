"""The line verifier network, its training loop and ONNX export.

A two-hidden-layer MLP over ``engine.segmentation.verify.FEATURES``; feature standardisation
is part of the exported graph so the engine feeds raw features.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass
class VerifierConfig:
    hidden: int = 32
    epochs: int = 400
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1


class LineVerifier(nn.Module):
    """Raw features -> probability that a candidate is a wanted text line."""

    def __init__(self, n_features: int, hidden: int = 32, mean=None, std=None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(n_features) if std is None else torch.as_tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net((x - self.mean) / self.std)).squeeze(-1)


def train(x: np.ndarray, y: np.ndarray, config: VerifierConfig = VerifierConfig(), log=print) -> LineVerifier:
    """Full-batch training with class-balanced binary cross-entropy."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    model = LineVerifier(x.shape[1], config.hidden, mean, std)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    pos = float(yt.mean())
    weights = torch.where(yt > 0.5, torch.tensor(0.5 / max(pos, 1e-3)), torch.tensor(0.5 / max(1 - pos, 1e-3)))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for epoch in range(config.epochs):
        opt.zero_grad()
        p = model(xt).clamp(1e-6, 1 - 1e-6)
        loss = (nn.functional.binary_cross_entropy(p, yt, reduction="none") * weights).mean()
        loss.backward()
        opt.step()
        if log and (epoch + 1) % 100 == 0:
            acc = float(((p > 0.5) == (yt > 0.5)).float().mean())
            log(f"epoch {epoch + 1}: loss {float(loss):.4f} accuracy {acc:.4f}")
    return model


def export(model: LineVerifier, folder: Path, features: list[str], metrics: dict, training_data: str,
           config: VerifierConfig) -> Path:
    """Write ``model.onnx``, ``model.pt`` and ``card.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    dummy = torch.zeros(1, len(features))
    torch.onnx.export(
        model, (dummy,), str(folder / "model.onnx"), input_names=["features"], output_names=["probability"],
        dynamic_axes={"features": {0: "lines"}, "probability": {0: "lines"}}, opset_version=17, dynamo=False,
    )
    torch.save(model.state_dict(), folder / "model.pt")
    card = {
        "name": "htrjand-line-verifier",
        "task": "segmentation/line-verification",
        "version": "1",
        "architecture": f"MLP {len(features)}-{config.hidden}-{config.hidden // 2}-1, standardisation in-graph",
        "features": features,
        "threshold": 0.5,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "training_data": training_data,
        "training_config": asdict(config),
        "metrics": metrics,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return folder
