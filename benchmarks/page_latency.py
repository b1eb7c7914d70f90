"""A page's recognition job in the window: the recognizer made and the page read (the first
job), then the same page read by the job after it (the recognizer kept, ``app.gui.jobs``).

    python benchmarks/page_latency.py [--model DIR] [--pages 3] [--collection hooker]

Each page's first job runs in a fresh process of its own (as after starting the window: what
every job cost before the recognizer was kept), then the page is read again; every line is read
anew (``overwrite``). Prints seconds per job and the lines a page.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_page(xml: Path, model: str) -> dict:
    """Two recognition jobs of the window on one page (called in a child process)."""
    from app.gui import jobs
    from engine.formats import read_document

    times = []
    for _ in range(2):
        page = read_document(xml)
        t0 = time.perf_counter()
        recognizer, _note = jobs.make_recognizer(model, "cpu")
        recognizer.recognize_page(page, overwrite=True)
        times.append(time.perf_counter() - t0)
    return {"page": xml.name, "lines": sum(1 for _ in page.lines()), "first": times[0],
            "again": times[1]}


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
    data = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))
    root = data / args.collection
    names = (root / "split_val.txt").read_text().split()[:args.pages]
    pages = [next(iter(sorted(root.rglob(f"{Path(n).stem}.xml"))), None) for n in names]
    results = []
    for xml in (p for p in pages if p is not None):
        done = subprocess.run([sys.executable, __file__, "--model", args.model, "--page-file",
                               str(xml)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{xml.name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for r in results:
        print(f"{r['page']}: {r['lines']} lines, first job {r['first']:.2f} s, the next "
              f"{r['again']:.2f} s")
    if results:
        print(f"median: first job {statistics.median(r['first'] for r in results):.2f} s, the "
              f"next {statistics.median(r['again'] for r in results):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
