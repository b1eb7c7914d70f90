"""Loading a model folder's language models: CPU seconds per load, and what loading holds at
its peak and after (``tracemalloc``), for each LM file.

    python benchmarks/lm_load.py [--model DIR] [--repeat 3] [--rewrite] [--adapt LINES]

Every process that reads pages loads them once (the command line per call, each batch
worker, the window in the background), so this is what a person waits for before the first
page. ``--rewrite`` also loads each compressed character LM rewritten in the current
compressed form (in a temporary folder), to compare with the form it is stored in.
``--adapt LINES`` also times what writing a fine-tuned version does with each character LM:
``adapted`` to LINES lines drawn from the LM itself (counted 3 times, as the corrected lines
are), then ``to_bytes(compress=True)``; CPU seconds and the peak while adapting.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.models import default_model_dir  # noqa: E402
from engine.recognition.lm import CharNgramLM  # noqa: E402
from engine.recognition.word_lm import WordBigramLM  # noqa: E402


def loader(path: Path):
    """The class that loads ``path`` (a word LM's name ends in ``-words.json.gz``)."""
    return WordBigramLM if path.name.endswith("-words.json.gz") else CharNgramLM


def form_of(path: Path) -> str:
    """The stored form of an LM file: a compressed character LM's format, else its kind."""
    if path.suffix != ".gz":
        return "json"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        head = json.loads(fh.readline() or "{}")
    return str(head.get("format", "?")) if isinstance(head, dict) else "?"


def measure(path: Path, repeat: int) -> dict:
    """CPU seconds of ``repeat`` loads, then one load under tracemalloc (peak, held)."""
    load = loader(path).load
    seconds = []
    for _ in range(repeat):
        t0 = time.process_time()
        load(path)
        seconds.append(time.process_time() - t0)
    tracemalloc.start()
    kept = load(path)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return {"file": path.name, "form": form_of(path), "bytes": path.stat().st_size,
            "cpu_s": seconds, "median_s": statistics.median(seconds),
            "peak_mb": peak / 1e6, "held_mb": held / 1e6}


def adapt(path: Path, lines: int) -> str:
    """``adapted`` and the compressed form of the result, timed (see the module's text)."""
    lm = CharNgramLM.load(path)
    rng = np.random.default_rng(0)
    texts = [lm.sample(rng, 60) for _ in range(lines)]
    t0 = time.process_time()
    adapted = lm.adapted(texts, 3)
    adapting = time.process_time() - t0
    tracemalloc.start()  # (a second time: tracemalloc slows what it traces)
    lm.adapted(texts, 3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    t0 = time.process_time()
    adapted.to_bytes(compress=True)
    return (f"  adapted to {lines} lines: {adapting:.2f} CPU s (peak {peak / 1e6:.0f} MB), "
            f"compressed form written in {time.process_time() - t0:.2f} s")


def show(row: dict) -> None:
    """One line of ``measure``'s figures."""
    print(f"{row['file']:28s} {row['form']:26s} {row['bytes'] / 1e6:5.2f} MB  "
          f"load {row['median_s']:.2f} CPU s (" + ", ".join(f"{s:.2f}" for s in row["cpu_s"])
          + f")  peak {row['peak_mb']:.0f} MB, held {row['held_mb']:.0f} MB", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model folder (default: the bundled one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rewrite", action="store_true",
                        help="also load each compressed character LM in the current form")
    parser.add_argument("--adapt", type=int, default=0, metavar="LINES",
                        help="also time adapting each character LM to LINES lines")
    args = parser.parse_args(argv)
    folder = args.model or default_model_dir()
    files = sorted([*folder.glob("lm.json"), *folder.glob("lm-*.json.gz")])
    if not files:
        print(f"{folder}: no language models", file=sys.stderr)
        return 1
    for path in files:
        show(measure(path, args.repeat))
        if args.rewrite and loader(path) is CharNgramLM and path.suffix == ".gz":
            with tempfile.TemporaryDirectory() as tmp:
                again = Path(tmp) / path.name
                again.write_bytes(CharNgramLM.load(path).to_bytes(compress=True))
                row = measure(again, args.repeat)
                row["file"] = f"  rewritten {path.name}"
                show(row)
        if args.adapt and loader(path) is CharNgramLM:
            print(adapt(path, args.adapt), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
