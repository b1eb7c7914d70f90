"""``engine.batch`` on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 started here; one worker is killed midway. The batch still completes,
every page is written exactly once, and the outputs equal those of a one-worker run.

Pages: letters of J. D. Hooker from ``../shared/data/hooker`` (images © RBG Kew, used for
evaluation, not copied into the repository), else the bundled Poilus sample (CC-BY 4.0)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.batch import BatchOptions, run_batch
from engine.batch.layout import Layout

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "samples" / "poilus" / "TestamentsDePoilus_will_AN_0191-0.jpg"
PAGES = 6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def undated(xml: bytes) -> bytes:
    """PAGE-XML without its Created/LastChange timestamps."""
    return re.sub(rb"<(Created|LastChange)>[^<]*</\1>", b"", xml)


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    hooker = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data")) / "hooker"
    images = sorted(hooker.glob("*.jpg"), key=lambda p: p.stat().st_size) if hooker.is_dir() else []
    images = images[:PAGES] if len(images) >= PAGES else [SAMPLE] * PAGES
    folder = tmp_path / "scans"
    folder.mkdir()
    for i, image in enumerate(images):
        (folder / f"page{i:02d}.jpg").write_bytes(image.read_bytes())
    return folder


@pytest.fixture
def cluster(tmp_path: Path):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two one-thread workers, and the workers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = dict(cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], **common)]
    try:
        workers = [subprocess.Popen([sys.executable, "-m", "dask", "worker", address,
                                     "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                     "--name", f"w{i}", "--death-timeout", "60"], **common)
                   for i in range(2)]
        procs += workers
        from distributed import Client

        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for proc in reversed(procs):  # workers first, at once; then the scheduler
            if proc.poll() is None:
                proc.kill() if proc in procs[1:] else proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_killed_worker_batch_completes_once_and_matches_one_worker(
        cluster, scans: Path, tmp_path: Path, model_dir: Path | None, monkeypatch) -> None:
    address, workers = cluster
    recognize = model_dir is not None
    writes: Counter[str] = Counter()
    real_write = Layout.write

    def counting_write(layout, task, result):
        writes[result.stem] += 1
        return real_write(layout, task, result)

    monkeypatch.setattr(Layout, "write", counting_write)
    killed: list[int] = []

    def kill_one_worker_midway(done: int, total: int, message: str = "") -> None:
        if done >= 1 and not killed:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(done)

    out = tmp_path / "cluster"
    summary = run_batch([scans], out, BatchOptions(segment=True, recognize=recognize,
                                                   model=model_dir, scheduler=address),
                        progress=kill_one_worker_midway)
    assert killed and killed[0] < PAGES and workers[0].wait(timeout=10) == -signal.SIGKILL
    assert summary.workers == 2 and summary.scheduler == address
    assert (summary.done, summary.failed, summary.skipped) == (PAGES, 0, 0), summary.failures
    assert writes == Counter({f"page{i:02d}": 1 for i in range(PAGES)})  # each page once
    assert len((out / "manifest.jsonl").read_text().splitlines()) == PAGES
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]

    single = tmp_path / "single"
    run_batch([scans], single, BatchOptions(segment=True, recognize=recognize, model=model_dir,
                                            workers=1, processes=False))
    for folder, suffix in (("page", ".xml"), ("txt", ".txt")):
        names = sorted(p.name for p in (out / folder).iterdir())
        assert names == sorted(p.name for p in (single / folder).iterdir())
        assert len(names) == PAGES and all(n.endswith(suffix) for n in names)
        for name in names:
            assert undated((out / folder / name).read_bytes()) == \
                undated((single / folder / name).read_bytes()), name
    if recognize:
        assert b"<Unicode>" in (out / "page" / "page00.xml").read_bytes()
