"""Decoding benchmark: beam search with the model's LMs, a page's lines one by one against
several side by side (``Recognizer.decode_lines`` reads ``DECODE_BATCH`` at a time).

    python benchmarks/decoding.py [--model DIR] [--batches 1 32] [--repeats 2] [--max-lines N]

The network reads the val lines once (ONNX Runtime, one thread); then each batch size decodes
every val page's lines with the LM the page chooses, in turn, ``--repeats`` times, alternating
(the LMs' memoised rows start empty for each run). Prints ms a line of decoding (beam search,
LM rows, word-LM reranking, confidences; language choice apart) and checks that every batch
size reads every line the same: the search is exact, batching only shares its numpy calls.
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


def decode_all(rec, posteriors: list, pages: list[str], batch: int) -> tuple[list[str], float]:
    """Every line's text, each page's lines ``batch`` at a time, and the seconds decoding took
    (the page's language chosen beforehand, not timed)."""
    for language in rec.languages:  # a cold start for every run
        language.lm._cache.clear()
    rec._scorers.clear()
    groups: dict[str, list[int]] = {}
    for i, page in enumerate(pages):
        groups.setdefault(page, []).append(i)
    texts, spent = [""] * len(posteriors), 0.0
    for idx in groups.values():
        language = rec.language_of([posteriors[i] for i in idx])
        rec._lm_scorer(language.lm if language is not None else rec.lm)  # (built, not timed)
        t0 = time.perf_counter()
        for start in range(0, len(idx), batch):
            part = idx[start:start + batch]
            for i, res in zip(part, rec._decode_lines([posteriors[i] for i in part], language)):
                texts[i] = res.text
        spent += time.perf_counter() - t0
    return texts, spent


def main() -> int:
    from engine.metrics import error_rates
    from engine.recognition import Recognizer
    from training.data import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
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
    times: dict[int, list[float]] = {b: [] for b in args.batches}
    readings: dict[int, list[str]] = {}
    for _ in range(args.repeats):
        for batch in args.batches:
            texts, spent = decode_all(rec, posteriors, pages, batch)
            times[batch].append(1000 * spent / len(posteriors))
            if readings.setdefault(batch, texts) != texts:
                print(f"batch {batch}: a repeat read differently")
                return 1
    first = readings[args.batches[0]]
    for batch in args.batches:
        same = readings[batch] == first
        rates = error_rates(refs, readings[batch])
        runs = ", ".join(f"{t:.2f}" for t in times[batch])
        print(f"batch {batch:>3}: median {statistics.median(times[batch]):.2f} ms a line ({runs}); "
              f"CER {100 * rates.cer:.2f}%; {'same readings' if same else 'READINGS DIFFER'}")
    return 0 if all(readings[b] == first for b in args.batches) else 1


if __name__ == "__main__":
    raise SystemExit(main())
