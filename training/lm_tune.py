"""Build the character LM of a model folder from the training transcriptions and choose its
beam-search weights on val lines (model selection only); the result goes into the card.

    python -m training.lm_tune resources/models/htrjand-student [--lines 200] [--order 7]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write_text
from engine.metrics import ErrorRates
from engine.recognition import Recognizer
from engine.recognition.lm import CharNgramLM
from training.data import REPO, LineSet, load_lines
from training.export import card_markdown


def val_subset(collections: list[str], height: int, n: int, cache: Path) -> LineSet:
    val = LineSet.concat([load_lines(c, "val", height, cache) for c in collections])
    keep = np.linspace(0, len(val) - 1, min(n, len(val))).astype(int).tolist()
    return val.subset(keep)


def run_model(rec: Recognizer, lines: LineSet, batch: int = 16) -> list[np.ndarray]:
    """The network's frame posteriors of each line (decoded later, once per trial)."""
    out: list[np.ndarray] = []
    for s in range(0, len(lines), batch):
        out += rec.model.run([rec.model.prepare(im) for im in lines.images[s:s + batch]])
    return out


def rates_for(rec: Recognizer, posteriors: list[np.ndarray], refs: list[str]) -> ErrorRates:
    rates = ErrorRates()
    for lp, ref in zip(posteriors, refs):
        rates.add(ref, rec._decode(lp).text)
    return rates


ORDER = 7
"""Measured with the phase-5 student (val CER with beam 8, weights tuned per order; Hooker /
Poilus): order 5 18.08 / 28.90 %, 6 17.86 / 28.70 %, 7 17.82 / 28.54 %, 8 17.77 / 28.73 %
(1.9 MB); order 6 with 200,000 lines of Webster's 1913 prose added 17.29 / 31.23 % (English
text hurts the French collection; 8 MB)."""


def tune(model_dir: Path, lines: int = 200, beam: int = 8, order: int = ORDER,
         cache: Path = REPO / "runs" / "cache") -> dict:
    """Write lm.json and the chosen decoding settings into the card; return the trial table."""
    card_path = model_dir / "card.json"
    card = json.loads(card_path.read_text())
    colls = card["training"]["data"]
    train = LineSet.concat([load_lines(c, "train", card["input"]["height"], cache)
                            for c in colls])
    lm = CharNgramLM.train(train.texts, card["charset"], order=order, min_count=2)
    atomic_write_text(model_dir / "lm.json", lm.to_json())
    rec = Recognizer(model_dir, "cpu", beam=1)
    val = val_subset(colls, rec.height, lines, cache)
    posteriors = run_model(rec, val)
    trials = []
    rec.beam = 1
    trials.append({"beam": 1, "lm_weight": 0.0, "length_bonus": 0.0,
                   "cer": rates_for(rec, posteriors, val.texts).cer})
    rec.beam = beam
    for w, b in itertools.product((0.0, 0.2, 0.35, 0.5), (0.0, 1.0, 2.0)):
        rec.lm_weight, rec.length_bonus = w, b
        trials.append({"beam": beam, "lm_weight": w, "length_bonus": b,
                       "cer": rates_for(rec, posteriors, val.texts).cer})
        print(json.dumps(trials[-1]), flush=True)
    best = min(trials, key=lambda t: t["cer"])
    # Read with the beam by default only where it measured better than greedy.
    default = "beam" if best["beam"] > 1 and best["cer"] < trials[0]["cer"] else "greedy"
    card["decoding"] = {"default": default, "beam": best["beam"],
                        "lm_weight": best["lm_weight"], "length_bonus": best["length_bonus"],
                        "lm": f"character {order}-gram of the training transcriptions (lm.json)",
                        "tuned_on": f"{len(val)} val lines", "trials": trials}
    rec.beam, rec.lm_weight, rec.length_bonus = best["beam"], best["lm_weight"], best["length_bonus"]
    card["decoding"]["val"] = {}  # every val line of each collection, read with these settings
    for coll in colls:
        lines_c = load_lines(coll, "val", rec.height, cache)
        rates = rates_for(rec, run_model(rec, lines_c), lines_c.texts)
        card["decoding"]["val"][coll] = {"lines": rates.lines, "cer": rates.cer, "wer": rates.wer}
    atomic_write_text(card_path, json.dumps(card, ensure_ascii=False, indent=1))
    atomic_write_text(model_dir / "card.md", card_markdown(card))
    return card["decoding"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--beam", type=int, default=8)
    parser.add_argument("--order", type=int, default=ORDER, help="n-gram order of the LM")
    args = parser.parse_args(argv)
    print(json.dumps(tune(args.model_dir, args.lines, args.beam, args.order), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
