"""A page's recognition job in the window: the recognizer made and the page read (the first
job), the same page read by the job after it (the recognizer kept, ``app.gui.jobs``), and the
first job once the window has warmed the recognizer up (``warm_recognizer``, what opening a
project does in the background; its own time printed too).

    python benchmarks/page_latency.py [--model DIR] [--pages 3] [--collection hooker]

Each page runs in a fresh process of its own (as after starting the window: the first job is
what every job cost before the recognizer was kept); every line is read anew (``overwrite``).
Prints seconds per job and the lines a page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_page(xml: Path, model: str) -> dict:
    """The window's recognition jobs on one page: the first, the next, and the first after a
    warm-up, with the warm-up's own time (called in a child process)."""
    from app.gui import jobs
    from engine.formats import read_document

    page = read_document(xml)

    def job() -> float:
        t0 = time.perf_counter()
        recognizer, _note = jobs.make_recognizer(model, "cpu")
        recognizer.recognize_page(page, overwrite=True)  # (every line read anew)
        return time.perf_counter() - t0

    first, again = job(), job()
    jobs.forget_recognizer()
    t0 = time.perf_counter()
    jobs.warm_recognizer(model, "cpu")
    warm = time.perf_counter() - t0
    return {"page": xml.name, "lines": sum(1 for _ in page.lines()), "first": first,
            "again": again, "warm_up": warm, "after_warm_up": job()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="")
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--collection", default="hooker")
    parser.add_argument("--page-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.page_file:  # child process
        print(json.dumps(one_page(args.page_file, args.model)))
        return 0
    from training.data import split_pages

    results = []
    for xml in split_pages(args.collection, "val")[:args.pages]:
        done = subprocess.run([sys.executable, __file__, "--model", args.model, "--page-file",
                               str(xml)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{xml.name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for r in results:
        print(f"{r['page']}: {r['lines']} lines, first job {r['first']:.2f} s, the next "
              f"{r['again']:.2f} s; warm-up {r['warm_up']:.2f} s, then the first job "
              f"{r['after_warm_up']:.2f} s")
    if results:
        med = {k: statistics.median(r[k] for r in results)
               for k in ("first", "again", "warm_up", "after_warm_up")}
        print(f"median: first job {med['first']:.2f} s, the next {med['again']:.2f} s; warm-up "
              f"{med['warm_up']:.2f} s, then the first job {med['after_warm_up']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
