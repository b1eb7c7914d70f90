"""Line segmentation on the val splits: our F1 and seconds per page, and kraken's beside it.

    python benchmarks/segmentation.py                 # ours: the learned default and the classical one
    python benchmarks/segmentation.py --kraken        # also kraken 7.1.1 `segment -bl`
    python benchmarks/segmentation.py --limit 5       # a quick look

Our segmenter runs in this process, one page at a time, timed from the loaded image to the
written PAGE-XML. kraken is installed into its own virtual environment by
``benchmarks/kraken.sh install`` (never a project dependency; see ../shared/docs/ANCHORS.md;
$KRAKEN_VENV, default runs/kraken/venv) and timed per page as a subprocess, model loading
included, as an archivist would run it. Both outputs are scored by the same code as
``htrjand eval-seg``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.formats import read_document, write_page_xml  # noqa: E402
from engine.imaging import load_image  # noqa: E402
from engine.segmentation import segment_page  # noqa: E402
from engine.segmentation.evaluate import collection_from_dir, evaluate, index_predictions  # noqa: E402
from engine.segmentation.metrics import THIN_HEIGHT  # noqa: E402

DATA = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))
COLLECTIONS = {"hooker": "split_val.txt", "poilus": "split_val.txt"}
KRAKEN_VENV = Path(os.environ.get("KRAKEN_VENV", REPO / "runs" / "kraken" / "venv"))


def image_of(xml: Path) -> Path:
    page = read_document(xml)
    return page.image_path()


def run_ours(collections, out: Path, model_dir: str | None, classical: bool = False) -> dict[str, float]:
    seconds = {}
    for coll in collections:
        total = 0.0
        for xml in coll.files:
            image_path = image_of(xml)
            image = load_image(image_path)
            start = time.perf_counter()
            page = segment_page(image, image_filename=image_path.name, model_dir=model_dir, classical=classical)
            write_page_xml(page, out / f"{xml.stem}.xml")
            total += time.perf_counter() - start
        seconds[coll.name] = total / max(len(coll.files), 1)
    return seconds


def ensure_kraken() -> Path:
    """kraken's executable, installed first by kraken.sh (the one installer) when missing."""
    exe = KRAKEN_VENV / "bin" / "kraken"
    if not exe.exists():
        subprocess.run(["bash", str(REPO / "benchmarks" / "kraken.sh"), "install"], check=True,
                       env=dict(os.environ, KRAKEN_VENV=str(KRAKEN_VENV)))
    return exe


def run_kraken(collections, out: Path) -> dict[str, float]:
    exe = ensure_kraken()
    seconds = {}
    env = dict(os.environ, OMP_NUM_THREADS="2")
    for coll in collections:
        total = 0.0
        for xml in coll.files:
            image_path = image_of(xml)
            target = out / f"{xml.stem}.xml"
            start = time.perf_counter()
            subprocess.run(
                [str(exe), "-r", "-i", str(image_path), str(target), "-a", "segment", "-bl"],
                check=True, env=env, stdout=subprocess.DEVNULL,
            )
            total += time.perf_counter() - start
        seconds[coll.name] = total / max(len(coll.files), 1)
    return seconds


def report(name: str, collections, pred_dir: Path, seconds: dict[str, float]) -> None:
    for res in evaluate(collections, index_predictions(pred_dir)):
        d = res.scores.as_dict()
        print(
            f"{name:<10}{res.name:<8}{d['pages']:>6}{d['gt_lines']:>6}{d['pred_lines']:>6}"
            f"{d['precision']:>8.4f}{d['recall']:>8.4f}{d['f1']:>8.4f}{d['f1_annotated']:>8.4f}"
            f"{d['f1_without_thin']:>8.4f}{d['baseline_f1']:>8.4f}"
            f"{seconds[res.name]:>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kraken", action="store_true", help="also run kraken's default segmenter")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages of each split")
    parser.add_argument("--model", help="a learned segmenter folder (default: bundled, else classical)")
    parser.add_argument("--keep", type=Path, help="keep the predicted XML in this folder")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"data not found at {DATA} (set HTRJAND_SHARED_DATA)", file=sys.stderr)
        return 1
    collections = []
    for name, split in COLLECTIONS.items():
        coll = collection_from_dir(DATA / name, DATA / name / split)
        if args.limit:
            coll.files = coll.files[: args.limit]
        collections.append(coll)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        print(f"{'system':<10}{'coll':<8}{'pages':>6}{'GT':>6}{'pred':>6}{'P':>8}{'R':>8}{'F1':>8}{'F1-ann':>8}{'F1-thin':>8}{'BL-F1':>8}{'s/page':>9}")
        ours = base / "ours"
        ours.mkdir(parents=True, exist_ok=True)
        report("htrjand", collections, ours, run_ours(collections, ours, args.model))
        classical = base / "classical"
        classical.mkdir(parents=True, exist_ok=True)
        report("classical", collections, classical, run_ours(collections, classical, None, classical=True))
        if args.kraken:
            kr = base / "kraken"
            kr.mkdir(parents=True, exist_ok=True)
            report("kraken", collections, kr, run_kraken(collections, kr))
    print(f"({os.cpu_count()} CPU cores; line F1 at polygon IoU >= 0.5, one-to-one; F1-ann: "
          "unmatched lines outside the ground truth's transcribed regions left out; F1-thin: ground-truth "
          f"polygons thinner than {THIN_HEIGHT} line spacings, and the predictions on them, left out; BL-F1 cBAD-style)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
