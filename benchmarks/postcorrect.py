"""Post-correction benchmark: per val collection, CER of the recognizer's lines as read and with
every suggestion accepted, suggestions per 100 lines, precision (share of suggestions that lower
their line's edit distance to the ground truth), milliseconds per line, and the time to compute
the suggestions of a 30-line page (wall clock, and CPU time of all threads: on a busy machine
the CPU time is the steadier figure).

    python benchmarks/postcorrect.py [--model DIR] [--recognizer DIR] [--threads 2]
                                     [--cache DIR] [--json FILE] [--no-cache]

The val lines of ../shared/data (or $HTRJAND_SHARED_DATA) are read by the recognizer with the
engine's own code (``training.postcorrect.pairs.recognized_lines``; ``--cache DIR`` keeps them
as JSON lines for the next run), then each page's lines go through
``PostCorrector.suggest`` as the application calls it, the previous line as context. Prints one
JSON line per collection and a table.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.metrics import ErrorRates, error_rates  # noqa: E402

COLLECTIONS = ("hooker", "poilus")
PAGE_LINES = 30
REPEATS = 3


def by_page(lines: list) -> list[list]:
    """Recognized lines grouped by page, in their order."""
    pages: dict[str, list] = {}
    for line in lines:
        pages.setdefault(line.page, []).append(line)
    return list(pages.values())


def inputs(lines: list) -> list:
    from engine.postcorrect import LineInput

    return [LineInput(ln.text, ln.context, ln.char_confidences or None) for ln in lines]


def page_of_30(lines: list) -> list:
    """A 30-line page: the longest real page cut to 30 lines, topped up with the next pages'
    lines when no page has 30."""
    pages = sorted(by_page(lines), key=len, reverse=True)
    out: list = []
    for page in pages:
        out += page[:PAGE_LINES - len(out)]
        if len(out) == PAGE_LINES:
            break
    return out


def evaluate(corrector, lines: list) -> dict:
    """The figures of one collection (see the module docstring)."""
    raw, accepted = ErrorRates(), ErrorRates()
    offered = helped = 0
    seconds = 0.0
    for page in by_page(lines):
        start = time.perf_counter()
        suggestions = corrector.suggest(inputs(page))
        seconds += time.perf_counter() - start
        for line, cand in zip(page, suggestions):
            raw.add(line.gt, line.text)
            accepted.add(line.gt, cand.text if cand is not None else line.text)
            if cand is not None:
                offered += 1
                helped += error_rates([line.gt], [cand.text]).char_errors < \
                    error_rates([line.gt], [line.text]).char_errors
    page = inputs(page_of_30(lines))
    times, cpu = [], []
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        corrector.suggest(page)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    n = max(1, raw.lines)
    return {"lines": raw.lines, "cer_raw": round(raw.cer, 5),
            "cer_accepted": round(accepted.cer, 5),
            "relative_change": round((accepted.cer - raw.cer) / raw.cer, 4) if raw.cer else 0.0,
            "suggestions": offered, "suggestions_per_100_lines": round(100 * offered / n, 2),
            "precision": round(helped / offered, 4) if offered else None,
            "ms_per_line": round(1000 * seconds / n, 2),
            "page30_s": round(statistics.median(times), 3),
            "page30_cpu_s": round(statistics.median(cpu), 3), "page30_lines": len(page)}


def val_lines(collection: str, recognizer: Path, cache: Path | None, threads: int,
              bundled: bool) -> list:
    from engine.pipeline import model_id
    from training.postcorrect.pairs import recognized_lines

    path = None
    if cache is not None:
        tag = "" if bundled else "-" + re.sub(r"[^A-Za-z0-9._-]", "_", model_id(recognizer))
        path = cache / f"val-{collection}{tag}.jsonl"
    return recognized_lines(collection, "val", recognizer, cache=path, threads=threads)


def table(rows: dict[str, dict]) -> str:
    head = ("| collection | lines | CER raw | CER accepted | change | sugg./100 lines | precision "
            "| ms/line | 30-line page |\n|---|---|---|---|---|---|---|---|---|")
    body = [f"| {k} | {r['lines']} | {r['cer_raw']:.2%} | {r['cer_accepted']:.2%} | "
            f"{r['relative_change']:+.1%} | {r['suggestions_per_100_lines']} | "
            f"{'-' if r['precision'] is None else format(r['precision'], '.0%')} | "
            f"{r['ms_per_line']} | {r['page30_s']} s ({r['page30_cpu_s']} CPU-s) |"
            for k, r in rows.items()]
    return "\n".join([head, *body])


def main(argv: list[str] | None = None) -> int:
    from engine.errors import HtrError
    from engine.models import bundled_models_dir
    from engine.pipeline import resolve_model
    from engine.postcorrect import PostCorrector, postcorrector_id, resolve_postcorrect_dir

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="post-correction model folder "
                        "(default: the bundled one)")
    parser.add_argument("--recognizer", help="recognition model folder or name (default: the "
                        "bundled student)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    parser.add_argument("--collections", nargs="+", default=list(COLLECTIONS))
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help="keep the recognized val lines here (JSON lines) for later runs")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode with the full-prefix decoder even when the model has a "
                             "cached one (to measure what the cache saves)")
    args = parser.parse_args(argv)
    try:
        folder = resolve_postcorrect_dir(args.model)
        corrector = PostCorrector(folder, threads=args.threads)
        if args.no_cache:
            corrector.step = corrector.cross = None
        bundled_student = bundled_models_dir() / "htrjand-student"
        recognizer = resolve_model(args.recognizer or bundled_student)
    except HtrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = {"model": postcorrector_id(folder), "recognizer": str(recognizer),
            "threads": args.threads, "cache_decoder": corrector.step is not None,
            "thresholds": corrector.thresholds}
    print(json.dumps({"setup": meta}))
    rows: dict[str, dict] = {}
    for coll in args.collections:
        lines = val_lines(coll, recognizer, args.cache, args.threads,
                          recognizer.resolve() == bundled_student.resolve())
        rows[coll] = evaluate(corrector, lines)
        print(json.dumps({"collection": coll, **rows[coll]}), flush=True)
    print(table(rows))
    if args.json:
        from engine.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps({"setup": meta, "val": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
