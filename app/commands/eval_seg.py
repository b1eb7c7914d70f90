"""``htrjand eval-seg --pred DIR --gt DIR``: line detection and baseline scores per collection.

Line precision/recall/F1 count a predicted line as right when its polygon overlaps one
ground-truth line at IoU >= 0.5 (one-to-one); the baseline scores are cBAD-style point
precision/recall within a quarter of the line spacing. P-ann / F1-ann leave out unmatched
predictions outside what the ground truth annotates line by line (its text regions that hold
lines): writing a partial transcription leaves out, such as a registry's stamps, is found but
has nothing to match. A note gives the F1 without ground-truth polygons drawn as thin bands
along the baseline, which a polygon around the writing seldom matches. ``--cer`` adds the end-to-end page CER
(recognised text of the predicted lines against the ground-truth text) when a recognition model
is available.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.errors import FormatError
from engine.segmentation.evaluate import collection_from_dir, evaluate, index_predictions
from engine.segmentation.metrics import THIN_HEIGHT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-seg",
        help="score predicted line segmentation against ground truth (P/R/F1, baselines, CER)",
        description="Compare predicted PAGE-XML/ALTO files with ground truth, per collection.",
    )
    parser.add_argument("--pred", type=Path, required=True, metavar="DIR", help="predicted XML files")
    parser.add_argument(
        "--gt", type=Path, required=True, action="append", metavar="DIR",
        help="ground-truth folder, one per collection (repeatable)",
    )
    parser.add_argument(
        "--split", type=Path, action="append", metavar="LIST",
        help="restrict a --gt folder to the XML files this list names (one per --gt, same order)",
    )
    parser.add_argument("--cer", action="store_true", help="also recognise the predicted lines: page CER")
    parser.add_argument("--model", metavar="DIR", help="recognition model folder for --cer")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    splits = args.split or []
    if splits and len(splits) != len(args.gt):
        raise FormatError(f"{len(splits)} --split lists for {len(args.gt)} --gt folders; give one per folder.")
    collections = [collection_from_dir(g, splits[i] if splits else None) for i, g in enumerate(args.gt)]
    predictions = index_predictions(args.pred)
    results = evaluate(collections, predictions, cer=args.cer, recognizer_dir=args.model)
    if args.json:
        out = {
            r.name: {**r.scores.as_dict(), "page_cer": r.cer, "cer_note": r.cer_note or None,
                     "missing_predictions": r.missing}
            for r in results
        }
        print(json.dumps(out, indent=2))
        return 0
    header = (f"{'collection':<14}{'pages':>6}{'GT':>6}{'pred':>6}{'P':>8}{'R':>8}{'F1':>8}"
              f"{'P-ann':>8}{'F1-ann':>8}{'IoU':>7}{'BL-P':>8}{'BL-R':>8}{'BL-F1':>8}{'CER':>8}")
    print(header)
    for r in results:
        d = r.scores.as_dict()
        cer = f"{r.cer:.4f}" if r.cer is not None else "-"
        print(
            f"{r.name:<14}{d['pages']:>6}{d['gt_lines']:>6}{d['pred_lines']:>6}{d['precision']:>8.4f}"
            f"{d['recall']:>8.4f}{d['f1']:>8.4f}{d['precision_annotated']:>8.4f}{d['f1_annotated']:>8.4f}"
            f"{d['mean_iou_matched']:>7.3f}{d['baseline_precision']:>8.4f}"
            f"{d['baseline_recall']:>8.4f}{d['baseline_f1']:>8.4f}{cer:>8}"
        )
    for r in results:
        if r.scores.gt_thin:
            print(f"note: {r.name}: {r.scores.gt_thin} ground-truth lines are thin bands along the baseline "
                  f"(under {THIN_HEIGHT} line spacings); F1 without them and the predictions lying on them: "
                  f"{r.scores.f1_without_thin:.4f}")
        if r.missing:
            print(f"note: {r.name}: {len(r.missing)} ground-truth pages have no prediction (scored as empty), e.g. {r.missing[0]}")
        if r.cer is None and r.cer_note:
            print(f"note: {r.name}: page CER {r.cer_note}")
            break
    return 0
