"""Rescoring benchmark: can the T5 post-corrector choose among the recognizer's own n-best
readings, instead of writing a correction freely?

For each val line the recognizer's beam search (its default width, LM and weights, the page's
language LM) gives its ``--n`` best readings with their fused scores; the T5 scores each as
log P(reading | best reading, previous line's reading). A line takes the reading with the best
``recognizer score + w * T5 score`` when that beats the recognizer's first choice by at least
``margin`` nats. Prints, per weight and margin, each collection's CER as read and as rescored,
the lines changed, and how many of those got better or worse (precision = better / changed).

    python benchmarks/postcorrect_rescore.py [--model DIR] [--recognizer DIR] [--n 8]
        [--weights 0.1 0.2 0.3 0.5 1] [--margins 0 1 2 4] [--threads 2]

The candidates come from the image, so a rescorer cannot drop or repeat words the way a free
T5 output does; what it adds is the T5's knowledge of words and of the previous line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

COLLECTIONS = ("hooker", "poilus")


def read_nbest(recognizer, lines, n: int) -> list[list[tuple[str, float]]]:
    """Each line's n best readings, each page read with the language LM it chooses."""
    from training.lm_tune import run_model

    posteriors = run_model(recognizer, lines)
    pages: dict[str, list[int]] = {}
    for i, page in enumerate(lines.pages):
        pages.setdefault(page, []).append(i)
    out: list[list[tuple[str, float]]] = [[] for _ in range(len(lines))]
    for idx in pages.values():
        language = recognizer.language_of([posteriors[i] for i in idx])
        for i, found in zip(idx, recognizer.nbest_lines([posteriors[i] for i in idx], language, n)):
            out[i] = found
    return out


def t5_scores(corrector, lines, nbest) -> list[list[float]]:
    """log P(reading | first reading, previous line's first reading) of every candidate."""
    from engine.postcorrect import LineInput

    scores, previous_page, context = [], None, ""
    for page, cands in zip(lines.pages, nbest):
        if page != previous_page:
            context = ""
        raw = cands[0][0] if cands else ""
        scores.append(corrector.score(LineInput(raw, context), [c for c, _ in cands]))
        previous_page, context = page, raw
    return scores


def rescored(gt: list[str], nbest, t5, weight: float, margin: float) -> dict:
    """CER as read and as rescored (``engine.metrics``, as ``htrjand eval`` counts), and the
    changed lines that got better or worse."""
    from engine.metrics import ErrorRates

    raw, out = ErrorRates(), ErrorRates()
    changed = better = worse = 0
    for truth, cands, scores in zip(gt, nbest, t5):
        fused = [s + weight * t for (_, s), t in zip(cands, scores)]
        k = max(range(len(cands)), key=fused.__getitem__) if cands else 0
        if k and (fused[k] - fused[0] < margin or fused[k] == float("-inf")):
            k = 0
        errors_before, errors_after = raw.char_errors, out.char_errors
        raw.add(truth, cands[0][0] if cands else "")
        out.add(truth, cands[k][0] if cands else "")
        if k:
            before = raw.char_errors - errors_before
            after = out.char_errors - errors_after
            changed += 1
            better += after < before
            worse += after > before
    return {"cer_raw": raw.cer, "cer": out.cer, "changed": changed, "better": better,
            "worse": worse}


def main(argv: list[str] | None = None) -> int:
    from engine.models import bundled_models_dir
    from training.data import load_lines

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=bundled_models_dir() / "htrjand-postcorrect",
                        help="the T5 model folder")
    parser.add_argument("--recognizer", type=Path, default=bundled_models_dir() / "htrjand-student")
    parser.add_argument("--n", type=int, default=8, help="readings per line")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5, 1.0])
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    args = parser.parse_args(argv)

    from engine.postcorrect import PostCorrector
    from engine.recognition import Recognizer

    recognizer = Recognizer(args.recognizer, threads=args.threads)
    corrector = PostCorrector(args.model, threads=args.threads)
    data = {}
    for name in COLLECTIONS:
        lines = load_lines(name, "val", recognizer.height, args.cache_dir)
        start = time.perf_counter()
        nbest = read_nbest(recognizer, lines, args.n)
        middle = time.perf_counter()
        t5 = t5_scores(corrector, lines, nbest)
        end = time.perf_counter()
        print(f"{name}: {len(lines)} lines; n-best {1000 * (middle - start) / len(lines):.1f} ms "
              f"and T5 scoring {1000 * (end - middle) / len(lines):.1f} ms per line",
              file=sys.stderr)
        data[name] = (lines.texts, nbest, t5)
    print(f"recognizer {args.recognizer.name}, T5 {args.model}, {args.n} readings per line")
    print_grid(("weight", "margin"), args.weights, args.margins,
               lambda name, weight, margin: rescored(*data[name], weight, margin))
    return 0


def print_grid(names: tuple[str, str], firsts, seconds, measure) -> None:
    """A markdown table, one row per pair of settings: each collection's CER as read and as
    rescored, and the lines changed (better / worse), from ``measure(collection, a, b)`` (a
    dict like :func:`rescored`'s)."""
    print(f"| {names[0]} | {names[1]} | " + " | ".join(
        f"{c} CER raw → rescored | changed (better/worse)" for c in COLLECTIONS) + " |")
    print("|---|---|" + "---|---|" * len(COLLECTIONS))
    for a in firsts:
        for b in seconds:
            cells = []
            for name in COLLECTIONS:
                r = measure(name, a, b)
                cells += [f"{100 * r['cer_raw']:.2f} → {100 * r['cer']:.2f} %",
                          f"{r['changed']} ({r['better']}/{r['worse']})"]
            print(f"| {a} | {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
