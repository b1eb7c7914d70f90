"""Decoding benchmark: beam search with the model's LMs, the val lines one by one, each
page's lines side by side, and as ``Recognizer.decode_lines`` reads them (the lines of all pages
that chose one LM side by side, ``DECODE_BATCH`` at a time).

    python benchmarks/decoding.py [--model DIR] [--ways line page recognizer] [--repeats 2]

The network reads the val lines once (ONNX Runtime, one thread); then each way decodes every
line, in turn, ``--repeats`` times (the LMs' memoised rows emptied before each run). Prints
ms a line of decoding (each page's choice of LM, beam search, LM rows, word-LM reranking,
confidences) and checks that every way reads every line the same: the search is exact,
reading lines side by side only shares its numpy calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recognition import cut_val_lines  # noqa: E402

WAYS = ("line", "page", "recognizer")


def decode_all(rec, posteriors: list, pages: list[str], way: str) -> tuple[list[str], float]:
    """Every line's text, decoded one ``way``, and the seconds it took."""
    from engine.recognition.recognizer import DECODE_BATCH

    for language in rec.languages:  # a cold start for every run
        language.lm.clear_memo()  # (its trie is made on loading: not timed in any run)
    rec._scorers.clear()
    t0 = time.perf_counter()
    if way == "recognizer":
        texts = [r.text for r in rec.decode_lines(posteriors, pages)]
        return texts, time.perf_counter() - t0
    groups: dict[str, list[int]] = {}
    for i, page in enumerate(pages):
        groups.setdefault(page, []).append(i)
    texts = [""] * len(posteriors)
    batch = 1 if way == "line" else DECODE_BATCH
    for idx in groups.values():
        language = rec.language_of([posteriors[i] for i in idx])
        for start in range(0, len(idx), batch):
            part = idx[start:start + batch]
            for i, res in zip(part, rec._decode_lines([posteriors[i] for i in part], language)):
                texts[i] = res.text
    return texts, time.perf_counter() - t0


def main() -> int:
    from engine.metrics import error_rates
    from engine.recognition import Recognizer
    from training.data import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-lines", type=int)
    args = parser.parse_args()
    rec = Recognizer(args.model, "cpu", threads=1)
    if rec.beam <= 1:
        print("the model reads greedily: nothing to compare")
        return 1
    lines = cut_val_lines(shared_data_dir(), rec.height, args.max_lines)
    prepared = [rec.model.prepare(im) for im in lines["images"]]
    posteriors = [rec.model.run([p])[0] for p in prepared if p is not None]
    pages = [pg for pg, p in zip(lines["pages"], prepared) if p is not None]
    refs = [t for t, p in zip(lines["texts"], prepared) if p is not None]
    print(f"{len(posteriors)} val lines, beam {rec.beam}, the model's LMs; ms a line of decoding")
    times: dict[str, list[float]] = {way: [] for way in args.ways}
    readings: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for way in args.ways:
            texts, spent = decode_all(rec, posteriors, pages, way)
            times[way].append(1000 * spent / len(posteriors))
            if readings.setdefault(way, texts) != texts:
                print(f"{way}: a repeat read differently")
                return 1
    first = readings[args.ways[0]]
    for way in args.ways:
        same = readings[way] == first
        rates = error_rates(refs, readings[way])
        runs = ", ".join(f"{t:.2f}" for t in times[way])
        print(f"{way:>10}: median {statistics.median(times[way]):.2f} ms a line ({runs}); "
              f"CER {100 * rates.cer:.2f}%; {'same readings' if same else 'READINGS DIFFER'}")
    return 0 if all(readings[way] == first for way in args.ways) else 1


if __name__ == "__main__":
    raise SystemExit(main())
