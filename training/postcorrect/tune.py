"""Thresholds that make the post-corrector's suggestions safe to accept, tuned on the val splits.

A suggestion is offered only when the T5's score gain (``log P(suggestion) - log P(raw)``) is at
least ``gain``, the recognizer's lowest confidence on the characters it changes is at most
``max_confidence`` and it rewrites at most ``max_edit`` of the line (edit distance / length).
``choose_thresholds`` searches a coarse grid and keeps the triple that lowers CER the most
(summed relative drop over the collections) among those where accepting every suggestion never
raises CER on any val collection and lowers it over all of them, and at least ``min_precision``
of the suggestions lower their line's edit distance — over all collections and on each one that
gets ``min_suggestions`` or more. When nothing qualifies, the thresholds offer nothing
(``gain`` = ``NEVER_GAIN``): a post-corrector that cannot help stays silent.

    python -m training.postcorrect.tune --hf runs/postcorrect/t5/best \
        --out resources/models/htrjand-postcorrect

When the recognizer changes but the corrector does not, ``--retune`` tunes the thresholds of an
exported model folder again (on the new recognizer's val readings) and rewrites its card only:

    python -m training.postcorrect.tune --retune resources/models/htrjand-postcorrect
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from engine.metrics import ErrorRates
from engine.postcorrect.corrector import NEVER_GAIN
from training.data import REPO
from training.postcorrect.pairs import RecognizedLine, recognized_lines

CONFIDENCE_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
GAIN_QUANTILES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
EDIT_GRID = (0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
COLLECTIONS = ("hooker", "poilus")
BUNDLED_STUDENT = REPO / "resources" / "models" / "htrjand-student"


@dataclass
class Scored:
    """A val line with the corrector's candidate (None when it proposes nothing)."""

    line: RecognizedLine
    text: str | None
    gain: float
    changed_confidence: float
    edit_ratio: float = 0.0


def evaluate(rows: list[Scored], gain: float, max_confidence: float,
             max_edit: float = 1.0) -> dict:
    """CER raw and with every passing suggestion accepted, suggestions, precision."""
    raw, fixed = ErrorRates(), ErrorRates()
    offered = helped = 0
    for r in rows:
        raw.add(r.line.gt, r.line.text)
        take = (r.text is not None and r.text != r.line.text and r.gain >= gain
                and r.changed_confidence <= max_confidence and r.edit_ratio <= max_edit)
        fixed.add(r.line.gt, r.text if take else r.line.text)
        if take:
            offered += 1
            helped += Levenshtein.distance(r.line.gt, r.text) < \
                Levenshtein.distance(r.line.gt, r.line.text)
    return {"lines": len(rows), "cer_raw": round(raw.cer, 5), "cer_accepted": round(fixed.cer, 5),
            "suggestions": offered, "suggestions_per_100_lines": round(100 * offered
                                                                       / max(1, len(rows)), 2),
            "precision": round(helped / offered, 4) if offered else None}


def choose_thresholds(scored: dict[str, list[Scored]], min_precision: float = 0.8,
                      min_suggestions: int = 3) -> tuple[dict, dict]:
    """(thresholds, evaluation per collection) — see the module docstring."""
    gains = sorted(r.gain for rows in scored.values() for r in rows
                   if r.text is not None and r.text != r.line.text)
    grid = sorted({gains[min(len(gains) - 1, int(q * len(gains)))] for q in GAIN_QUANTILES}) \
        if gains else []
    best, best_score = {"gain": NEVER_GAIN, "max_confidence": 0.0, "max_edit": 0.0}, 0.0
    for g in grid:
        for c in CONFIDENCE_GRID:
            for m in EDIT_GRID:
                evals = {k: evaluate(rows, g, c, m) for k, rows in scored.items()}
                if not _acceptable(evals, min_precision, min_suggestions):
                    continue
                score = sum((e["cer_raw"] - e["cer_accepted"]) / e["cer_raw"]
                            for e in evals.values() if e["cer_raw"] > 0)
                if score > best_score:
                    best, best_score = {"gain": float(g), "max_confidence": c,
                                        "max_edit": m}, score
    evaluation = {k: evaluate(rows, best["gain"], best["max_confidence"], best["max_edit"])
                  for k, rows in scored.items()}
    return best, evaluation


def _acceptable(evals: dict[str, dict], min_precision: float, min_suggestions: int) -> bool:
    """The rule of the module docstring for one set of thresholds."""
    offered = sum(e["suggestions"] for e in evals.values())
    helped = sum((e["precision"] or 0) * e["suggestions"] for e in evals.values())
    if offered < min_suggestions or helped < min_precision * offered:
        return False
    if any(e["cer_accepted"] > e["cer_raw"] for e in evals.values()):
        return False
    if not any(e["cer_accepted"] < e["cer_raw"] for e in evals.values()):
        return False
    return all(e["suggestions"] < min_suggestions or e["precision"] >= min_precision
               for e in evals.values())


def score_val(model_dir: Path, runs: Path, recognizer: Path = BUNDLED_STUDENT,
              threads: int = 0) -> dict[str, list[Scored]]:
    """Every val line of each collection, read by ``recognizer``, with the corrector's
    candidate from the exported model in ``model_dir``."""
    from engine.postcorrect import LineInput, PostCorrector

    corrector = PostCorrector(model_dir, threads=threads)
    out: dict[str, list[Scored]] = {}
    for coll in COLLECTIONS:
        lines = recognized_lines(coll, "val", recognizer, threads=threads,
                                 cache=runs / f"val-{coll}.jsonl")
        cands = corrector.candidates([LineInput(ln.text, ln.context, ln.char_confidences)
                                      for ln in lines])
        out[coll] = [Scored(ln, c.text if c else None, c.gain if c else 0.0,
                            c.changed_confidence if c else 1.0, c.edit_ratio if c else 0.0)
                     for ln, c in zip(lines, cands)]
    return out


def tuning_entry(thresholds: dict, evaluation: dict) -> dict:
    """The card's record of a tuning: thresholds, val figures, the rule and the recognizer."""
    return {"thresholds": thresholds, "val": evaluation,
            "rule": "accepting every suggestion never raises CER on a val collection and "
                    "lowers it overall; >= 80 % of suggestions lower their line's edit distance",
            "recognizer": BUNDLED_STUDENT.name}


def export_and_tune(hf_dir: Path, out_dir: Path, *, runs: Path,
                    training: dict | None = None, threads: int = 0) -> dict:
    """Export ``hf_dir``, tune its thresholds on the val splits and write the model folder
    ``out_dir`` with them in its card; returns the card's tuning entry."""
    from training.postcorrect.export import export_postcorrector

    with tempfile.TemporaryDirectory(prefix="htrjand-pc-") as tmp:
        probe = export_postcorrector(hf_dir, Path(tmp) / "probe")
        scored = score_val(probe, runs, threads=threads)
    tuning = tuning_entry(*choose_thresholds(scored))
    thresholds = tuning["thresholds"]
    export_postcorrector(hf_dir, out_dir, thresholds=thresholds,
                         card_extra={"training": training or {}, "evaluation": tuning})
    print(json.dumps(tuning, indent=1))
    return tuning


def retune(model_dir: Path, *, runs: Path, threads: int = 0) -> dict:
    """Tune the thresholds of the exported corrector in ``model_dir`` again and rewrite its
    card (json and text) with them; the ONNX files are left as they are."""
    from engine.atomic import atomic_write_text
    from training.postcorrect.export import card_markdown

    card_path = model_dir / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    tuning = {**card.get("evaluation", {}),
              **tuning_entry(*choose_thresholds(score_val(model_dir, runs, threads=threads)))}
    thresholds = tuning["thresholds"]
    card.update(thresholds=thresholds, thresholds_tuned=True, evaluation=tuning)
    atomic_write_text(card_path, json.dumps(card, ensure_ascii=False, indent=1))
    atomic_write_text(model_dir / "card.md", card_markdown(card))
    print(json.dumps(tuning, indent=1))
    return tuning


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--hf", type=Path, help="a save_pretrained T5 folder (with --out)")
    source.add_argument("--retune", type=Path, metavar="MODEL_DIR",
                        help="an exported post-corrector folder: tune its thresholds again")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "postcorrect")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.retune:
        retune(args.retune, runs=args.runs, threads=args.threads)
        return 0
    if args.out is None:
        parser.error("--hf needs --out")
    summary = args.runs / "t5" / "summary.json"
    training = json.loads(summary.read_text()) if summary.is_file() else None
    export_and_tune(args.hf, args.out, runs=args.runs, training=training, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
