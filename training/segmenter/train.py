"""Train the line verifier on the training splits and export it.

    python -m training.segmenter.train --data ../shared/data --out resources/models/segmentation/line-verifier

Features are cached (``--cache``) because extracting them runs the classical segmenter on every
training page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.segmentation.verify import FEATURES
from training.segmenter.dataset import build
from training.segmenter.verifier import VerifierConfig, export, train

SPLITS = {"hooker": "split_train.txt", "poilus": "split_train.txt"}


def split_files(data: Path) -> list[Path]:
    files = []
    for name, split in SPLITS.items():
        lines = (data / name / split).read_text(encoding="utf-8").splitlines()
        files += [data / name / ln.strip() for ln in lines if ln.strip()]
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train the segmentation line verifier")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, help="npz file for the extracted features")
    parser.add_argument("--epochs", type=int, default=VerifierConfig.epochs)
    args = parser.parse_args(argv)
    if args.cache and args.cache.exists():
        z = np.load(args.cache)
        x, y = z["x"], z["y"]
    else:
        x, y, _ = build(split_files(args.data))
        if args.cache:
            np.savez(args.cache, x=x, y=y)
    print(f"{len(y)} candidate lines, {int(y.sum())} real ({y.mean():.1%})")
    config = VerifierConfig(epochs=args.epochs)
    model = train(x, y, config)
    with np.errstate(all="ignore"):
        import torch

        p = model(torch.as_tensor(x)).detach().numpy()
    acc = float(((p > 0.5) == (y > 0.5)).mean())
    export(model, args.out, FEATURES, {"train_accuracy": round(acc, 4)},
           "hooker split_train (293 pages) + poilus split_train (106 pages)", config)
    print(f"exported to {args.out} (train accuracy {acc:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
