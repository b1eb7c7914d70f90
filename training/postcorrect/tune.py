"""Thresholds that make the post-corrector's suggestions safe to accept, tuned on the val splits.

A suggestion is offered only when the T5's score gain (``log P(suggestion) - log P(raw)``) is at
least ``gain`` and the recognizer's confidence on the characters it changes is at most
``max_confidence``. ``choose_thresholds`` searches a coarse grid and keeps the pair that lowers
CER the most (summed relative drop over the collections) among those where accepting every
suggestion lowers CER on *each* val collection and at least ``min_precision`` of the suggestions
lower their line's edit distance, on each collection. When no pair qualifies, the thresholds
offer nothing (``gain`` = ``NEVER``): a post-corrector that cannot help stays silent.

    python -m training.postcorrect.tune --hf runs/postcorrect/t5/best \
        --out resources/models/htrjand-postcorrect
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
from training.data import REPO
from training.postcorrect.pairs import RecognizedLine, recognized_lines

NEVER = 1e9
CONFIDENCE_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
GAIN_QUANTILES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
COLLECTIONS = ("hooker", "poilus")
BUNDLED_STUDENT = REPO / "resources" / "models" / "htrjand-student"


@dataclass
class Scored:
    """A val line with the corrector's candidate (None when it proposes nothing)."""

    line: RecognizedLine
    text: str | None
    gain: float
    changed_confidence: float


def evaluate(rows: list[Scored], gain: float, max_confidence: float) -> dict:
    """CER raw and with every passing suggestion accepted, suggestions, precision."""
    raw, fixed = ErrorRates(), ErrorRates()
    offered = helped = 0
    for r in rows:
        raw.add(r.line.gt, r.line.text)
        take = (r.text is not None and r.text != r.line.text and r.gain >= gain
                and r.changed_confidence <= max_confidence)
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
    best, best_score = {"gain": NEVER, "max_confidence": 0.0}, 0.0
    for g in grid:
        for c in CONFIDENCE_GRID:
            evals = {k: evaluate(rows, g, c) for k, rows in scored.items()}
            ok = all(e["cer_accepted"] < e["cer_raw"] and e["suggestions"] >= min_suggestions
                     and (e["precision"] or 0) >= min_precision for e in evals.values())
            if not ok:
                continue
            score = sum((e["cer_raw"] - e["cer_accepted"]) / e["cer_raw"] for e in evals.values())
            if score > best_score:
                best, best_score = {"gain": float(g), "max_confidence": c}, score
    evaluation = {k: evaluate(rows, best["gain"], best["max_confidence"])
                  for k, rows in scored.items()}
    return best, evaluation


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
                            c.changed_confidence if c else 1.0) for ln, c in zip(lines, cands)]
    return out


def export_and_tune(hf_dir: Path, out_dir: Path, *, runs: Path,
                    training: dict | None = None, threads: int = 0) -> dict:
    """Export ``hf_dir``, tune its thresholds on the val splits and write the model folder
    ``out_dir`` with them in its card; returns the card's tuning entry."""
    from training.postcorrect.export import export_postcorrector

    with tempfile.TemporaryDirectory(prefix="htrjand-pc-") as tmp:
        probe = export_postcorrector(hf_dir, Path(tmp) / "probe")
        scored = score_val(probe, runs, threads=threads)
    thresholds, evaluation = choose_thresholds(scored)
    tuning = {"thresholds": thresholds, "val": evaluation,
              "rule": "accepting every suggestion lowers CER on each val collection and "
                      ">= 80 % of suggestions lower their line's edit distance",
              "recognizer": BUNDLED_STUDENT.name}
    export_postcorrector(hf_dir, out_dir, thresholds=thresholds,
                         card_extra={"training": training or {}, "evaluation": tuning})
    print(json.dumps(tuning, indent=1))
    return tuning


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hf", type=Path, required=True, help="a save_pretrained T5 folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "postcorrect")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    summary = args.runs / "t5" / "summary.json"
    training = json.loads(summary.read_text()) if summary.is_file() else None
    export_and_tune(args.hf, args.out, runs=args.runs, training=training, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
