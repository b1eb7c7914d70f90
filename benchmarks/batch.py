"""Batch benchmark: pages per second with 1 and 2 local workers, cost per page by stage, and the
Dask scheduler's own cost per task.

    python benchmarks/batch.py [--pages 12] [--workers 1 2] [--model DIR] [--no-recognize]
                               [--postcorrect] [--tasks 2000] [--json FILE]

Pages are the smallest ``--pages`` Hooker letters of ../shared/data (or $HTRJAND_SHARED_DATA),
copied without their ground truth so that every page is segmented and recognised. Each worker
count runs ``engine.batch.run_batch`` on a fresh local cluster of processes into a fresh output
folder. Figures:

- ``pages_per_s``: pages over the whole run, cluster start and model loading included;
- ``steady_pages_per_s``: pages finished between the first and the last page (startup excluded);
- ``stages``: seconds per page in each stage (load, segment, recognize, and with
  ``--postcorrect`` post-correct, on the workers; write on the client), from the run's summary;
- ``scheduler``: ``--tasks`` empty tasks through the same cluster: seconds per task, and that
  cost as a share of one page's processing time.

The recognition model is ``--model``, else the bundled one, else (with torch) an untrained
student of the bundled architecture exported for the run: its speed is that of the real one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.batch import BatchOptions, run_batch  # noqa: E402
from engine.models import bundled_models_dir  # noqa: E402


def pick_pages(data: Path, count: int, folder: Path) -> list[Path]:
    images = sorted((data / "hooker").glob("*.jpg"), key=lambda p: p.stat().st_size)[:count]
    if len(images) < count:
        sys.exit(f"need {count} Hooker pages in {data / 'hooker'}; found {len(images)}")
    folder.mkdir(parents=True)
    return [Path(shutil.copy(p, folder / p.name)) for p in images]


def find_model(arg: str | None, scratch: Path) -> Path:
    if arg:
        return Path(arg)
    bundled = bundled_models_dir() / "htrjand-student"
    if (bundled / "model.onnx").is_file():
        return bundled
    import torch
    from dataclasses import replace

    from training.export import onnx_bytes
    from training.network import STUDENT, HtrJandNet

    torch.manual_seed(0)
    chars = [chr(c) for c in range(32, 127)]
    net = HtrJandNet(replace(STUDENT, num_classes=len(chars) + 1)).eval()
    folder = scratch / "student-untrained"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(onnx_bytes(net))
    (folder / "card.json").write_text(json.dumps(
        {"name": "student-untrained", "version": "0", "charset": chars,
         "num_classes": len(chars) + 1,
         "input": {"height": STUDENT.input_height, "width_factor": 8}}))
    return folder


def run_pages(scans: Path, out: Path, workers: int, recognize: bool, model: Path | None,
              threads: int | None = None, postcorrect: bool = False) -> dict:
    finished: list[float] = []

    def progress(done: int, total: int, message: str = "") -> None:
        if "·" in message and "already done" not in message:
            finished.append(time.perf_counter())

    start = time.perf_counter()
    summary = run_batch([scans], out, BatchOptions(segment=True, recognize=recognize,
                                                   model=model, workers=workers,
                                                   threads=threads,
                                                   postcorrect=postcorrect and recognize),
                        progress=progress)
    wall = time.perf_counter() - start
    result = summary.to_dict()
    steady = ((len(finished) - 1) / (finished[-1] - finished[0])
              if len(finished) > 2 and finished[-1] > finished[0] else None)
    stages = {k: v["per_page_s"] for k, v in result["stages"].items()}
    return {"workers": workers, "threads_per_worker": summary.options.get("threads"),
            "pages": summary.done, "failed": summary.failed,
            "wall_s": round(wall, 2), "pages_per_s": round(summary.done / wall, 3),
            "steady_pages_per_s": round(steady, 3) if steady else None,
            "stages_per_page_s": stages,
            "page_s": round(sum(stages.values()), 3)}


def scheduler_cost(workers: int, tasks: int) -> dict:
    """Seconds per empty task through a local cluster of processes (the client's round trip
    included), submitted all at once and with the batch runner's window of 2 per worker."""
    from distributed import Client, LocalCluster, wait

    from engine.batch.worker import noop

    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard": False,
                                        "dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.gather(client.map(noop, range(workers * 4), pure=False))  # warm up
        start = time.perf_counter()
        client.gather(client.map(noop, range(tasks), pure=False))
        bulk = (time.perf_counter() - start) / tasks
        window, in_flight, submitted, done = 2 * workers, set(), 0, 0
        start = time.perf_counter()
        n = max(tasks // 4, 50)
        with client.as_current():
            while done < n:
                while len(in_flight) < window and submitted < n:
                    in_flight.add(client.submit(noop, submitted, pure=False))
                    submitted += 1
                finished = wait(list(in_flight), return_when="FIRST_COMPLETED").done
                in_flight -= finished
                done += len(finished)
        windowed = (time.perf_counter() - start) / n
    return {"tasks": tasks, "bulk_s_per_task": round(bulk, 6),
            "windowed_tasks": n, "windowed_s_per_task": round(windowed, 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--model")
    parser.add_argument("--no-recognize", action="store_true")
    parser.add_argument("--threads", type=int, help="ONNX Runtime / OpenCV threads per worker "
                        "(default: the cores shared out between the workers)")
    parser.add_argument("--postcorrect", action="store_true",
                        help="also post-correct (the bundled T5) and time that stage")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    data = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))

    with tempfile.TemporaryDirectory(prefix="htrjand-batch-bench-") as tmp:
        scratch = Path(tmp)
        scans = scratch / "scans"
        pick_pages(data, args.pages, scans)
        recognize = not args.no_recognize
        model = find_model(args.model, scratch) if recognize else None
        runs = [run_pages(scans, scratch / f"out-{w}", w, recognize, model, args.threads,
                          args.postcorrect)
                for w in args.workers]
        base = runs[0]["steady_pages_per_s"] or runs[0]["pages_per_s"]
        for run in runs:
            run["speedup_steady"] = round((run["steady_pages_per_s"] or 0) / base, 2)
            print(json.dumps(run), flush=True)
        sched = scheduler_cost(max(args.workers), args.tasks)
        page_s = runs[0]["page_s"]
        sched["share_of_page_time"] = round(sched["windowed_s_per_task"] / page_s, 4)
        print(json.dumps({"scheduler": sched}), flush=True)
        report = {"cpu_count": os.cpu_count(), "pages": args.pages, "threads": args.threads, "recognize": recognize,
                  "model": str(model) if model else None, "runs": runs, "scheduler": sched}
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
