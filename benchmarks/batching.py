"""Batching benchmark: how many pixels one ONNX Runtime batch may hold, by speed and memory.

    python benchmarks/batching.py [--model DIR] [--threads 2] [--pixels 1638400 409600 ...]
                                  [--repeats 3] [--beam N] [--max-lines N]

The Recognizer feeds ONNX Runtime lines of similar width together, up to ``batch_size`` lines
and ``max_batch_pixels`` pixels a batch. The network's activations grow with the batch (the
first block's gated convolution alone: 12 float32 values an input pixel) and ONNX Runtime's
memory arena keeps the largest it met, so the pixel budget rules the reading's peak memory. Each
budget reads the val lines greedily (``--beam``: with that beam instead; the LMs' memory does
not depend on the batch) in a process of its own, budgets taken in turn ``--repeats`` times
(a busy machine's speed drifts): prints the median lines a second, the peak RSS and the CER.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recognition import cut_val_lines, error_rates, run_child, save_lines  # noqa: E402

PIXELS = (16 * 64 * 1600, 16 * 64 * 800, 16 * 64 * 400, 16 * 64 * 200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pixels", type=int, nargs="+", default=list(PIXELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--max-lines", type=int)
    args = parser.parse_args()
    from engine.models import default_model_dir, load_card

    model = args.model or default_model_dir()
    card = load_card(model)
    from training.data import shared_data_dir

    lines = cut_val_lines(shared_data_dir(), card["input"]["height"], args.max_lines)
    speeds: dict[int, list[float]] = {p: [] for p in args.pixels}
    peaks: dict[int, list[float]] = {p: [] for p in args.pixels}
    cers: dict[int, set[str]] = {p: set() for p in args.pixels}
    with tempfile.TemporaryDirectory() as tmp:
        lines_file = Path(tmp) / "lines.npz"
        save_lines(lines, lines_file)
        for _ in range(args.repeats):
            for pixels in args.pixels:
                got = run_child("onnxruntime", model, lines_file, args.threads, args.beam, pixels)
                if got is None:
                    return 1
                speeds[pixels].append(got["lines_per_s"])
                peaks[pixels].append(got["peak_rss_mb"])
                cers[pixels].add(f"{error_rates(lines, got['texts'])['all'].cer:.2%}")
    print(f"{len(lines['images'])} val lines, {args.threads} threads, "
          f"{'greedy' if args.beam <= 1 else f'beam {args.beam}'}, {args.repeats} runs a budget "
          f"(in turn); height {card['input']['height']}")
    for pixels in args.pixels:
        runs = ", ".join(f"{v:.1f}" for v in speeds[pixels])
        print(f"{pixels:>9,d} pixels ({pixels // card['input']['height']:>6,d} columns): "
              f"median {statistics.median(speeds[pixels]):6.1f} lines/s ({runs}), peak RSS "
              f"{max(peaks[pixels]):.0f} MB, CER {' / '.join(sorted(cers[pixels]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
