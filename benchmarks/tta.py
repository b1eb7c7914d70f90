"""Test-time augmentation benchmark: does averaging the frame posteriors of several
same-width variants of each val line (thicker / thinner strokes, slant, shift, x-height)
read better than the line alone?

    python benchmarks/tta.py [--model DIR] [--threads 2] [--max-lines N]

Every variant keeps the line's width, so its CTC frames align with the original's and the
posteriors can be averaged frame by frame (as log-probabilities or as probabilities) before
greedy decoding. Prints the greedy CER of each variant alone and of each combination, per val
collection. Session 11 measured it on the phase-9 student: no combination beat the line alone
(docs/recognition.md), so the recognizer does not use it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from engine.metrics import ErrorRates  # noqa: E402
from recognition import COLLECTIONS, cut_val_lines  # noqa: E402


def _warp(img: np.ndarray, matrix: list[list[float]]) -> np.ndarray:
    h, w = img.shape
    return cv2.warpAffine(img, np.asarray(matrix, np.float64), (w, h),
                          borderMode=cv2.BORDER_REPLICATE)


def _x_height(img: np.ndarray, f: float) -> np.ndarray:
    """Scale vertically by ``f`` about the baseline row (where extract_line puts it)."""
    from engine.line_image import baseline_row

    c = baseline_row(height=img.shape[0])
    return _warp(img, [[1, 0, 0], [0, f, c * (1 - f)]])


KERNEL = np.ones((2, 2), np.uint8)
VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "line": lambda i: i,
    "thicker": lambda i: cv2.erode(i, KERNEL),
    "thinner": lambda i: cv2.dilate(i, KERNEL),
    "slant+": lambda i: _warp(i, [[1, 0.15, -0.075 * i.shape[0]], [0, 1, 0]]),
    "slant-": lambda i: _warp(i, [[1, -0.15, 0.075 * i.shape[0]], [0, 1, 0]]),
    "up2": lambda i: _warp(i, [[1, 0, 0], [0, 1, -2]]),
    "down2": lambda i: _warp(i, [[1, 0, 0], [0, 1, 2]]),
    "x0.9": lambda i: _x_height(i, 0.9),
    "x1.1": lambda i: _x_height(i, 1.1),
}
COMBOS = [("line", "thicker", "thinner"), ("line", "slant+", "slant-"), ("line", "up2", "down2"),
          ("line", "x0.9", "x1.1"), tuple(VARIANTS)]


def greedy_cer(rec, posteriors: list[np.ndarray], texts: list[str]) -> float:
    """CER of ``rec``'s (greedy) reading of these posteriors."""
    rates = ErrorRates()
    for result, ref in zip(rec.decode_lines(posteriors), texts):
        rates.add(ref, result.text)
    return rates.cer


def combine(parts: list[np.ndarray], mode: str) -> np.ndarray:
    """Frame-wise mean of log-posteriors (``logp``) or of posteriors (``prob``)."""
    stack = np.stack(parts)
    if mode == "logp":
        return stack.mean(0)
    top = stack.max(0)
    return top + np.log(np.exp(stack - top).mean(0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-lines", type=int)
    args = parser.parse_args()

    from engine.recognition import Recognizer
    from training.data import shared_data_dir

    rec = Recognizer(args.model, "cpu", beam=1, threads=args.threads)
    model = rec.model
    lines = cut_val_lines(shared_data_dir(), model.height, args.max_lines)
    images = [model.prepare(im) for im in lines["images"]]
    t0 = time.perf_counter()
    post: dict[str, list[np.ndarray]] = {}
    for name, variant in VARIANTS.items():
        out: list[np.ndarray] = []
        for k in range(0, len(images), 16):
            out += model.run([variant(im) for im in images[k:k + 16]])
        post[name] = out
    print(f"{len(images)} val lines, {len(VARIANTS)} variants read in "
          f"{time.perf_counter() - t0:.1f} s (greedy CER)")
    for coll in COLLECTIONS:
        idx = [i for i, c in enumerate(lines["collections"]) if c == coll]
        texts = [lines["texts"][i] for i in idx]
        for name in VARIANTS:
            cer = greedy_cer(rec, [post[name][i] for i in idx], texts)
            print(f"{coll:8s} {name:48s} {cer:7.2%}")
        for combo in COMBOS:
            for mode in ("logp", "prob"):
                mixed = [combine([post[n][i] for n in combo], mode) for i in idx]
                label = "+".join(combo) if len(combo) < len(VARIANTS) else "all"
                print(f"{coll:8s} {label + ' (' + mode + ')':48s} "
                      f"{greedy_cer(rec, mixed, texts):7.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
