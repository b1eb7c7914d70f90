"""``htrjand batch``: a run on a local cluster of processes, Ctrl-C in the middle, and the
messages for bad input.

Pages: letters of J. D. Hooker from ``../shared/data/hooker`` (images © RBG Kew, used for
evaluation, not copied into the repository), else the bundled Poilus sample (CC-BY 4.0)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from engine.batch import BatchOptions, run_batch

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "samples" / "poilus" / "TestamentsDePoilus_will_AN_0191-0.jpg"


def make_scans(folder: Path, count: int) -> Path:
    hooker = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data")) / "hooker"
    images = sorted(hooker.glob("*.jpg"), key=lambda p: p.stat().st_size) if hooker.is_dir() else []
    images = images[:count] if len(images) >= count else [SAMPLE] * count
    folder.mkdir()
    for i, image in enumerate(images):
        (folder / f"page{i:02d}.jpg").write_bytes(image.read_bytes())
    return folder


def test_cli_batch_prints_summary_and_reports_failed_pages(tmp_path: Path, capsys) -> None:
    scans = make_scans(tmp_path / "scans", 2)
    (scans / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 torn")
    out = tmp_path / "out"
    status = main(["batch", str(scans), "-o", str(out), "--segment", "--workers", "1"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert status == 1
    assert (summary["total"], summary["done"], summary["failed"]) == (3, 2, 1)
    assert summary["failures"][0]["page"].endswith("torn.jpg")
    assert summary["workers"] == 1 and summary["options"]["threads"] >= 1
    assert "pages/s" in captured.err and "1 of 3 pages failed" in captured.err
    assert json.loads((out / "summary.json").read_text()) == summary
    assert sorted(p.name for p in (out / "txt").iterdir()) == ["page00.txt", "page01.txt"]


def test_ctrl_c_leaves_no_partial_files_and_a_rerun_completes(tmp_path: Path) -> None:
    scans = make_scans(tmp_path / "scans", 8)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "batch", str(scans), "-o", str(out), "--segment",
         "--workers", "1"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not list((out / "page").glob("*.xml")) if (out / "page").is_dir() else True:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: to every process of the job
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert b"Run the same command again" in stderr and b"Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["cancelled"] and 1 <= summary["done"] < 8
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert len(list((out / "page").iterdir())) == summary["done"]
    rest = run_batch([scans], out, BatchOptions(segment=True, workers=1, processes=False))
    assert (rest.skipped, rest.done, rest.failed) == (summary["done"], 8 - summary["done"], 0)


@pytest.mark.parametrize("extra, message", [
    (["--postcorrect-model", "no-such-pc"], "post-correction model folder no-such-pc does not"),
    (["--recognize", "--model", "no-such-model"], "no-such-model"),
    (["--scheduler", "localhost"], "tcp://HOST:8786"),
    (["--workers", "0"], "1 or more"),
])
def test_cli_bad_options(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    scans = make_scans(tmp_path / "scans", 1)
    assert main(["batch", str(scans), "-o", str(tmp_path / "out"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_bad_inputs(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["batch", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    assert "no page images in this folder (it is empty" in capsys.readouterr().err
    scans = make_scans(tmp_path / "scans", 1)
    assert main(["batch", str(scans), "-o", str(scans / "out")]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one or the other
        main(["batch", str(scans), "-o", "x", "--workers", "2", "--scheduler", "tcp://a:1"])


def test_cli_in_place_updates_a_project_and_nothing_else(tmp_path: Path, capsys) -> None:
    project = make_scans(tmp_path / "project", 2)
    assert main(["batch", str(project), "--in-place", "--segment", "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["done"] == 2
    assert sorted(p.name for p in project.iterdir()) == [".htrjand", "page", "page00.jpg",
                                                         "page01.jpg"]
    assert sorted(p.name for p in (project / "page").iterdir()) == ["page00.xml", "page01.xml"]
    assert json.loads((project / ".htrjand" / "batch-summary.json").read_text()) == summary


def test_cli_in_place_bad_usage(tmp_path: Path, capsys) -> None:
    project = make_scans(tmp_path / "project", 1)
    assert main(["batch", str(project), "--segment"]) == 2
    assert "-o OUT" in capsys.readouterr().err
    assert main(["batch", str(project), "--in-place", "-o", str(tmp_path / "out")]) == 2
    assert "one of the two" in capsys.readouterr().err
    assert main(["batch", str(project / "page00.jpg"), "--in-place"]) == 2
    assert "one project folder" in capsys.readouterr().err
