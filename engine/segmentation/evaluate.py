"""Evaluate predicted segmentations (PAGE-XML/ALTO files) against ground truth, per collection.

A collection is one ground-truth folder (its name is the folder's name); its pages are every
``*.xml`` below it, or those a split list names (paths relative to the folder, as in
``../shared/data/*/split_val.txt``). A prediction is found by the ground-truth file's stem
anywhere below the prediction folder; a missing prediction counts as a page with no lines.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.document import Page
from engine.errors import HtrError
from engine.segmentation.metrics import SegScores, score_page


@dataclass
class Collection:
    """Ground-truth pages of one collection."""

    name: str
    root: Path
    files: list[Path] = field(default_factory=list)


def collection_from_dir(root: str | os.PathLike[str], split: str | os.PathLike[str] | None = None) -> Collection:
    """A collection from a ground-truth folder, optionally restricted to a split list."""
    from engine.errors import FormatError

    root = Path(root)
    if not root.is_dir():
        raise FormatError(f"{root}: not a folder of ground-truth XML files.")
    if split is not None:
        split = Path(split)
        if not split.is_file():
            raise FormatError(f"{split}: split list not found.")
        names = [ln.strip() for ln in split.read_text(encoding="utf-8").splitlines() if ln.strip()]
        files = [root / n for n in names]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FormatError(f"{split}: {len(missing)} listed files are missing, e.g. {missing[0]}.")
    else:
        files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    return Collection(root.resolve().name, root, files)


def index_predictions(pred_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Prediction files by stem (``page/<stem>.xml`` layouts included)."""
    pred_dir = Path(pred_dir)
    from engine.errors import FormatError

    if not pred_dir.is_dir():
        raise FormatError(f"{pred_dir}: prediction folder not found.")
    return {p.stem: p for p in sorted(pred_dir.rglob("*.xml"))}


@dataclass
class CollectionResult:
    name: str
    scores: SegScores
    cer: float | None = None
    cer_note: str = ""
    missing: list[str] = field(default_factory=list)


def page_cer(pred: Page, gt: Page, recognizer) -> tuple[int, int]:
    """(character errors, reference characters) of the recognised page text in reading order."""
    from engine.metrics import ErrorRates

    image_path = gt.image_path()
    from engine.imaging import load_image

    recognizer.recognize_page(pred, load_image(image_path), overwrite=True)
    rates = ErrorRates()
    ref = " ".join(ln.text for ln in gt.lines() if ln.text)
    hyp = " ".join(ln.text for ln in pred.lines() if ln.text)
    rates.add(ref, hyp)
    return rates.char_errors, rates.chars


def load_recognizer(model_dir: str | None = None):
    """A Recognizer, or (None, why not) when recognition is not available."""
    try:
        from engine.recognition import Recognizer
    except ImportError as exc:
        return None, f"no recognizer in this build ({exc})"
    try:
        return Recognizer(Path(model_dir) if model_dir else None), ""
    except (HtrError, OSError) as exc:
        return None, f"no recognition model could be loaded ({exc})"


def evaluate(
    collections: list[Collection],
    predictions: dict[str, Path],
    *,
    cer: bool = False,
    recognizer_dir: str | None = None,
) -> list[CollectionResult]:
    """Scores per collection; with ``cer`` also the end-to-end page CER (needs a recognizer)."""
    from engine.formats import read_document

    recognizer, why = (None, "not requested (--cer)") if not cer else load_recognizer(recognizer_dir)
    results = []
    for coll in collections:
        res = CollectionResult(coll.name, SegScores(), cer_note=why)
        errors = chars = 0
        for gt_path in coll.files:
            gt = read_document(gt_path)
            pred_path = predictions.get(gt_path.stem)
            if pred_path is None:
                res.missing.append(gt_path.stem)
                pred = Page(image_filename=gt.image_filename, width=gt.width, height=gt.height)
            else:
                pred = read_document(pred_path)
            res.scores.add(score_page(pred, gt))
            if recognizer is not None:
                e, c = page_cer(pred, gt, recognizer)
                errors += e
                chars += c
        if recognizer is not None:
            res.cer = errors / chars if chars else 0.0
        results.append(res)
    return results
