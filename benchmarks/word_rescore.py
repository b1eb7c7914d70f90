"""Word-LM rescoring benchmark: does a word bigram LM of the training transcriptions, on top
of the recognizer's character 7-gram LM, choose better among its n-best readings?

For each val line the recognizer's beam search (its default width, LM and weights, the page's
language LM) gives its ``--n`` best readings with their fused scores; each collection gets a
word bigram LM of its own train transcriptions (``engine.recognition.word_lm``). With a
recognizer whose card already has word LMs, the readings come reranked by them (weight 0 is
then the recognizer as it reads). A line takes the reading with the best
``fused score + w * log P_words(reading) + b * words``. Prints, per weight and word bonus, each
collection's CER as read and as rescored and the lines changed (better / worse). The weights
are chosen on the same val lines they are measured on, so the best row is optimistic.

    python benchmarks/word_rescore.py [--recognizer DIR] [--n 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.postcorrect_rescore import COLLECTIONS, print_grid, read_nbest  # noqa: E402
from engine.recognition.word_lm import WordBigramLM, rerank  # noqa: E402


def rescored(gt: list[str], nbest, lm: WordBigramLM, weight: float, bonus: float) -> dict:
    from engine.metrics import ErrorRates

    raw, out = ErrorRates(), ErrorRates()
    changed = better = worse = 0
    for truth, cands in zip(gt, nbest):
        if not cands:
            raw.add(truth, "")
            out.add(truth, "")
            continue
        k = rerank(cands, lm, weight, bonus)[0][0]
        before, after = raw.char_errors, out.char_errors
        raw.add(truth, cands[0][0])
        out.add(truth, cands[k][0])
        if k:
            changed += 1
            better += out.char_errors - after < raw.char_errors - before
            worse += out.char_errors - after > raw.char_errors - before
    return {"cer_raw": raw.cer, "cer": out.cer, "changed": changed, "better": better,
            "worse": worse}


def main(argv: list[str] | None = None) -> int:
    from engine.models import bundled_models_dir
    from engine.recognition import Recognizer
    from training.data import load_lines

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognizer", type=Path, default=bundled_models_dir() / "htrjand-student")
    parser.add_argument("--n", type=int, default=8, help="readings per line")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.2, 0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--bonuses", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    args = parser.parse_args(argv)

    recognizer = Recognizer(args.recognizer, threads=args.threads)
    data = {}
    for name in COLLECTIONS:
        train = load_lines(name, "train", recognizer.height, args.cache_dir)
        val = load_lines(name, "val", recognizer.height, args.cache_dir)
        data[name] = (val.texts, read_nbest(recognizer, val, args.n), WordBigramLM.train(train.texts))
    print(f"recognizer {args.recognizer.name}, {args.n} readings per line, word bigram LM of "
          "each collection's train transcriptions")
    print_grid(("weight", "word bonus"), args.weights, args.bonuses,
               lambda name, weight, bonus: rescored(*data[name], weight, bonus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
