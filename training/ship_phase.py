"""Turn a run that continued the bundled student into its next phase: export the run's best
checkpoint as a model folder whose card keeps the whole history (the recipe's distilled-vs-alone
comparison and every earlier phase, with this one added), then build its LMs and choose their
weights (``training.lm_tune``), and say whether it reads the val lines better than the model it
continued — greedy and as the application reads.

    python -m training.ship_phase runs/p10-strongaug --phase 10 --out runs/ship-phase10 \\
        --command "python -m training.train ..." [--parent resources/models/htrjand-student] \\
        [--before runs/an-earlier-run-of-this-phase]

Nothing in ``--parent`` is touched: once the figures say so, copy the folder over it. Exit
status 0 when the new folder reads better on every val collection as the application reads,
1 when not (the folder is still written, to look at), 2 for bad input.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

from engine.errors import HtrError
from training.data import REPO

DEFAULT_PARENT = REPO / "resources" / "models" / "htrjand-student"


def phase_entry(ck: dict, parent_card: dict, command: str,
                before: list[tuple[str, dict]] = ()) -> dict:
    """The card's record of this phase: what it continued, for how long, where, its best
    greedy val CER and the command that ran it. ``before``: (name, best checkpoint) of the
    earlier runs of a phase made of several in a row (e.g. one, then its network widened and
    trained on); their minutes count too, and each run is listed."""
    cfg = ck["train_config"]
    comp = parent_card.get("distillation_comparison") or {}
    every = [*before, ("last", ck)]
    runs = [{"run": name, "minutes": round(float(c["elapsed"]) / 60, 1),
             "val_cer_greedy": round(float(c["best_cer"]), 4)} for name, c in every]
    entry = {"continues": comp.get("shipped", parent_card.get("name", "?")),
             "minutes": round(sum(float(c["elapsed"]) for _, c in every) / 60, 1),
             "val_cer_greedy": runs[-1]["val_cer_greedy"], "command": command}
    if before:
        entry["runs"] = runs
    if ck.get("mixed"):  # training.mix: the weights are averaged with the start
        mixed = ck["mixed"]
        entry["mixed"] = {"alpha": mixed["alpha"], "runs": len(mixed["runs"]),
                          "runs_val_cer_greedy": mixed["runs_val_cer_greedy"]}
    if cfg.get("device", "cpu") == "cuda":
        entry["hardware"] = ck.get("hardware", "GPU")
    else:
        entry["threads"] = int(cfg["threads"])
    return entry


def card_extra(ck: dict, parent_card: dict, phase: int, command: str,
               before: list[tuple[str, dict]] = ()) -> dict:
    """The parent card's recipe entries carried over, with phase ``phase`` added and shipped."""
    comp = copy.deepcopy(parent_card.get("distillation_comparison") or {})
    key = f"phase{phase}"
    if key in comp:
        raise HtrError(f"the parent card already has a {key}: choose the next phase number")
    entry = phase_entry(ck, parent_card, command, before)
    comp[key] = entry
    comp["shipped"] = f"student-phase{phase}"
    minutes = dict(parent_card.get("runs_training_min") or {})
    minutes[f"student-phase{phase}" + (" (GPU)" if "hardware" in entry else "")] = entry["minutes"]
    extra = {"distillation_comparison": comp, "runs_training_min": minutes}
    if parent_card.get("recipe"):
        extra["recipe"] = parent_card["recipe"]
    return extra


def app_val(card: dict) -> dict[str, float]:
    """Each val collection's CER as the application reads (the card's decoding entry), or the
    greedy figures for a model that reads greedily."""
    val = (card.get("decoding") or {}).get("val") or card["metrics"]["val"]
    return {c: float(r["cer"]) for c, r in val.items() if c != "all"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="the run folder (its best.pt is exported)")
    parser.add_argument("--phase", type=int, required=True, help="this phase's number")
    parser.add_argument("--out", type=Path, required=True, help="the new model folder")
    parser.add_argument("--command", required=True, help="the training command as it ran")
    parser.add_argument("--parent", type=Path, default=DEFAULT_PARENT,
                        help="the model folder the run continued (default: the bundled one)")
    parser.add_argument("--before", type=Path, action="append", default=[],
                        help="an earlier run of this phase, whose best.pt the next one started "
                             "from (repeat, in order); its minutes count too")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    args = parser.parse_args(argv)

    import torch

    from training.export import export_model_folder
    from training.lm_tune import READ_BEAM, tune

    best = args.run_dir / "best.pt"
    try:
        if not best.is_file():
            raise HtrError(f"{best} is missing: the run has not finished an epoch")
        if args.out.resolve() == args.parent.resolve():
            raise HtrError("--out must not be the parent folder: compare first, then copy")
        parent_card = json.loads((args.parent / "card.json").read_text(encoding="utf-8"))
        ck = torch.load(best, map_location="cpu", weights_only=False)
        if list(ck["charset"]) != list(parent_card["charset"]):
            raise HtrError(f"{best}: its charset is not the parent model's")
        before = []
        for run in args.before:
            if not (run / "best.pt").is_file():
                raise HtrError(f"{run / 'best.pt'} is missing")
            before.append((run.name, torch.load(run / "best.pt", map_location="cpu",
                                                weights_only=False)))
        extra = card_extra(ck, parent_card, args.phase, args.command, before)
    except (HtrError, OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    export_model_folder(best, args.out, name=parent_card.get("name", args.out.name),
                        cache_dir=args.cache_dir, extra=extra)
    tune(args.out, beam=READ_BEAM, cache=args.cache_dir, read_beam=READ_BEAM)
    card = json.loads((args.out / "card.json").read_text(encoding="utf-8"))
    old_greedy = parent_card["metrics"]["val"]["all"]["cer"]
    new_greedy = card["metrics"]["val"]["all"]["cer"]
    old, new = app_val(parent_card), app_val(card)
    print(f"greedy, all val lines: {old_greedy:.2%} -> {new_greedy:.2%}")
    for coll in new:
        print(f"{coll} as the application reads: {old.get(coll, float('nan')):.2%} -> "
              f"{new[coll]:.2%}")
    better = all(new[c] < old.get(c, float("inf")) for c in new)
    print("reads better on every val collection" if better else
          "does not read better on every val collection: keep the parent")
    return 0 if better else 1


if __name__ == "__main__":
    sys.exit(main())
