"""``engine.batch`` on an in-process Dask cluster: outputs, manifest (skip, redo), failures that
never stop a batch, cancelling, and bad input.

Pages: letters of J. D. Hooker from ``../shared/data/hooker`` (transcriptions CC-BY-SA 4.0, images
© RBG Kew, used for evaluation; not copied into the repository), else the bundled Poilus sample
(CC-BY 4.0)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from engine.batch import BatchOptions, plan_batch, run_batch
from engine.batch.manifest import MANIFEST_NAME
from engine.errors import FormatError, HtrError, ModelError, StorageError
from engine.progress import CancelToken

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "samples" / "poilus" / "TestamentsDePoilus_will_AN_0191-0.jpg"
IN_PROCESS = dict(workers=1, processes=False)


def real_pages(count: int) -> list[Path]:
    """The ``count`` smallest Hooker page images, else copies of the bundled sample."""
    hooker = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data")) / "hooker"
    images = sorted(hooker.glob("*.jpg"), key=lambda p: p.stat().st_size) if hooker.is_dir() else []
    return images[:count] if len(images) >= count else [SAMPLE] * count


def make_folder(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i, image in enumerate(real_pages(count)):
        shutil.copy(image, folder / f"page{i:02d}.jpg")
    return folder


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or "write-check" in p.name]


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "scans", 3)


def test_batch_writes_every_page_and_a_summary(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen: list[tuple[int, int, str]] = []
    summary = run_batch([scans], out, BatchOptions(segment=True, workers=2, processes=False),
                        progress=lambda d, t, m="": seen.append((d, t, m)))
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (3, 3, 0, 0)
    for stem in ("page00", "page01", "page02"):
        assert b"TextLine" in (out / "page" / f"{stem}.xml").read_bytes()
        assert (out / "txt" / f"{stem}.txt").is_file()
    saved = json.loads((out / "summary.json").read_text())
    assert saved["done"] == 3 and set(saved["stages"]) == {"load", "segment", "write"}
    assert saved["stages"]["segment"]["per_page_s"] > 0
    assert seen[-1][:2] == (3, 3) and "pages/s" in seen[-1][2] and "ETA" in seen[-1][2]
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 3
    assert not leftovers(out)


def test_rerun_skips_finished_pages_and_redoes_changed_ones(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = BatchOptions(segment=True, **IN_PROCESS)
    run_batch([scans], out, options)
    again = run_batch([scans], out, options)
    assert (again.done, again.skipped) == (0, 3)

    other = real_pages(4)[3] if real_pages(4)[3] != SAMPLE else None
    if other is not None:  # a changed image (same name, new content) is redone
        shutil.copy(other, scans / "page01.jpg")
    else:
        (scans / "page01.jpg").write_bytes((scans / "page01.jpg").read_bytes() + b"\0")
    (out / "txt" / "page02.txt").unlink()  # a missing output is redone
    third = run_batch([scans], out, options)
    assert (third.done, third.skipped) == (2, 1)
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 3  # compacted

    without_segmentation = run_batch([scans], out, BatchOptions(**IN_PROCESS))
    assert without_segmentation.done == 3  # other options: every page is redone


def test_torn_manifest_line_only_redoes_that_page(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_batch([scans], out, BatchOptions(**IN_PROCESS))
    rows = (out / MANIFEST_NAME).read_text().splitlines()
    (out / MANIFEST_NAME).write_text("\n".join(rows[:-1]) + "\n" + rows[-1][: len(rows[-1]) // 2])
    again = run_batch([scans], out, BatchOptions(**IN_PROCESS))
    assert (again.done, again.skipped) == (1, 2)


def test_failing_pages_are_recorded_and_never_stop_the_batch(scans: Path,
                                                             tmp_path: Path) -> None:
    (scans / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    shutil.copy(scans / "page00.jpg", scans / "badxml.jpg")
    (scans / "badxml.xml").write_text("<PcGts><unclosed", encoding="utf-8")
    out = tmp_path / "out"
    summary = run_batch([scans], out, BatchOptions(segment=True, **IN_PROCESS))
    assert (summary.total, summary.done, summary.failed) == (5, 3, 2)
    reasons = {Path(f["page"]).name: f["reason"] for f in summary.failures}
    assert set(reasons) == {"corrupt.jpg", "badxml.jpg"}
    assert "corrupt.jpg" in reasons["corrupt.jpg"] and "badxml.xml" in reasons["badxml.jpg"]
    assert not (out / "page" / "corrupt.xml").exists()
    again = run_batch([scans], out, BatchOptions(segment=True, **IN_PROCESS))
    assert (again.skipped, again.failed) == (3, 2)  # failed pages are tried again


def test_cancel_leaves_complete_pages_and_a_rerun_finishes(tmp_path: Path) -> None:
    scans = make_folder(tmp_path / "scans", 4)
    out = tmp_path / "out"
    cancel = CancelToken()

    def cancel_after_first_page(done: int, total: int, message: str = "") -> None:
        if done >= 1:
            cancel.cancel()

    first = run_batch([scans], out, BatchOptions(segment=True, **IN_PROCESS),
                      progress=cancel_after_first_page, cancel=cancel)
    assert first.cancelled and 1 <= first.done < 4
    written = sorted(p.name for p in (out / "page").iterdir())
    assert len(written) == first.done and not leftovers(out)
    assert json.loads((out / "summary.json").read_text())["cancelled"] is True
    rest = run_batch([scans], out, BatchOptions(segment=True, **IN_PROCESS))
    assert (rest.done, rest.skipped, rest.failed) == (4 - first.done, first.done, 0)


def test_duplicate_names_are_refused_not_overwritten(scans: Path, tmp_path: Path) -> None:
    second = make_folder(tmp_path / "more", 1)
    plan = plan_batch([scans, second], tmp_path / "out")
    assert [t.stem for t in plan.tasks] == ["page00", "page01", "page02"]
    assert len(plan.refused) == 1 and "same name" in plan.refused[0][1]


# --- bad input ------------------------------------------------------------------------------

def test_empty_input_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no page images.*empty"):
        run_batch([tmp_path / "empty"], tmp_path / "out", BatchOptions(**IN_PROCESS))
    assert not (tmp_path / "out").exists()


def test_folder_of_non_images(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "letter.txt").write_text("not a scan")
    (folder / "page.xml").write_text("<PcGts/>")
    with pytest.raises(FormatError, match="2 files, none of them a page image"):
        run_batch([folder], tmp_path / "out", BatchOptions(**IN_PROCESS))
    with pytest.raises(FormatError, match="not a page image"):
        run_batch([folder / "letter.txt"], tmp_path / "out", BatchOptions(**IN_PROCESS))
    with pytest.raises(FormatError, match="no such file or folder"):
        run_batch([folder / "missing"], tmp_path / "out", BatchOptions(**IN_PROCESS))


def test_output_inside_input(scans: Path) -> None:
    for out in (scans / "out", scans, scans / "a" / "b"):
        with pytest.raises(FormatError, match="inside the input folder"):
            run_batch([scans], out, BatchOptions(**IN_PROCESS))
    with pytest.raises(FormatError, match="is the folder of the input"):
        run_batch([scans / "page00.jpg"], scans, BatchOptions(**IN_PROCESS))
    assert sorted(p.name for p in scans.iterdir()) == ["page00.jpg", "page01.jpg", "page02.jpg"]


def test_read_only_output_folder(scans: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        if os.access(out, os.W_OK):  # root ignores permissions: fail as the OS would
            def refuse(path, data):
                raise StorageError(f"Could not write {path}: Permission denied")
            monkeypatch.setattr("engine.batch.runner.atomic_write_bytes", refuse)
        started = time.monotonic()
        with pytest.raises(StorageError, match="Permission denied"):
            run_batch([scans], out, BatchOptions(**IN_PROCESS))
        assert time.monotonic() - started < 5  # refused before any worker starts
    finally:
        out.chmod(0o755)
    assert list(out.iterdir()) == []


def test_unreachable_scheduler_fails_within_seconds(scans: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(HtrError, match="cannot reach the Dask scheduler"):
        run_batch([scans], tmp_path / "out",
                  BatchOptions(scheduler=f"tcp://127.0.0.1:{port}", connect_timeout_s=2))
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out").exists()
    with pytest.raises(HtrError, match="tcp://HOST:8786"):
        run_batch([scans], tmp_path / "out", BatchOptions(scheduler="127.0.0.1"))
    with pytest.raises(HtrError, match="either"):
        run_batch([scans], tmp_path / "out", BatchOptions(workers=2, scheduler="tcp://x:1"))


def test_postcorrect_and_unknown_model_fail_before_any_page(scans: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="post-correction model folder .* does not exist"):
        run_batch([scans], tmp_path / "out",
                  BatchOptions(postcorrect=True, postcorrect_model=tmp_path / "none",
                               **IN_PROCESS))
    with pytest.raises(ModelError, match="no-such-model"):
        run_batch([scans], tmp_path / "out",
                  BatchOptions(recognize=True, model="no-such-model", **IN_PROCESS))
    assert not (tmp_path / "out").exists()


def test_a_worker_builds_its_pipeline_once_per_options() -> None:
    from engine.batch.worker import pipeline_for
    from engine.pipeline import PipelineOptions

    first = pipeline_for(PipelineOptions(segment=True, threads=1))
    assert pipeline_for(PipelineOptions(segment=True, threads=1)) is first
    assert pipeline_for(PipelineOptions(threads=1)) is not first
