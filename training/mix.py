"""Average trained networks with the start they continued, weight by weight (WiSE-FT, soups).

A run that continued a network from a grown start (``training.grow``: the start computes its
parent's function) can be averaged with that start: ``alpha`` of the trained weights and
``1 - alpha`` of the start's (Wortsman et al., "Robust fine-tuning of zero-shot models",
2022). Several runs from the same start (other seeds) are first averaged with each other, a
uniform "model soup" (Wortsman et al., 2022). Weights of networks trained from one start lie
in one basin, so their average reads like them — often better on data unlike the training
lines (session 14: Poilus val, whose hands no training line has).

    python -m training.mix runs/grow/grown3.pt runs/p12-grown3/best.pt --alpha 0.5 \\
        --out runs/p12-mix05/best.pt
    python -m training.ship_phase runs/p12-mix05 --phase 11 ...

The output is a training checkpoint like the runs' (the first run's, its epochs, steps and CPU
time summed over the runs) with the mixed weights, its greedy val CER as ``best_cer`` and what
was mixed under ``mixed``; ``training.export``/``ship_phase`` take it as a run's best.pt.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import torch

from engine.atomic import atomic_write_bytes
from engine.errors import HtrError
from training import export
from training.finetune import interpolate_weights
from training.network import HtrJandNet, checkpoint_model

# a run's state for resuming it: a mixed network is not resumed
DROPPED = ("ema", "ema_n", "raw", "opt", "rng", "torch_rng", "bad_epochs", "plateau_scale")


def check_compatible(start: dict, runs: list[dict]) -> None:
    """Refuse networks that cannot be averaged: another architecture or charset, or runs
    that continued different checkpoints."""
    if not runs:
        raise HtrError("no trained run to mix")
    for i, ck in enumerate(runs, 1):
        if ck["net"] != start["net"]:
            raise HtrError(f"run {i} is another network than the start "
                           f"(channels {ck['net'].get('channels')} against "
                           f"{start['net'].get('channels')}): grow the start first")
        if list(ck["charset"]) != list(start["charset"]):
            raise HtrError(f"run {i} has another charset than the start")
    inits = {(ck.get("train_config") or {}).get("init") for ck in runs}
    if len(inits) > 1:
        raise HtrError(f"the runs continued different checkpoints ({sorted(map(str, inits))}): "
                       "a soup needs one start")


def soup(runs: list[dict]) -> HtrJandNet:
    """The runs' mean network (floating-point tensors averaged; counters from the first)."""
    net = checkpoint_model(runs[0])
    if len(runs) == 1:
        return net
    state = net.state_dict()
    for ck in runs[1:]:
        for name, value in ck["model"].items():
            if torch.is_floating_point(state[name]):
                state[name].add_(value)
    for value in state.values():
        if torch.is_floating_point(value):
            value.div_(len(runs))
    return net


def mix(start: dict, runs: list[dict], alpha: float) -> HtrJandNet:
    """``alpha`` · (mean of the runs) + (1 - ``alpha``) · start, weight by weight."""
    if not 0.0 <= alpha <= 1.0:
        raise HtrError(f"alpha must lie in [0, 1], not {alpha}")
    check_compatible(start, runs)
    return interpolate_weights(soup(runs), checkpoint_model(start), alpha)


def mixed_checkpoint(net: HtrJandNet, runs: list[dict], start_path: str,
                     run_paths: list[str], alpha: float, val: dict | None) -> dict:
    """The first run's checkpoint with the mixed weights: epochs, steps and CPU time summed
    over the runs (all of them went into it), every run's epochs in the history (each row
    with its run's number, from 1), the mix recorded, the greedy val CER as ``best_cer``
    where measured."""
    out = {k: v for k, v in runs[0].items() if k not in DROPPED}
    out["model"] = net.state_dict()
    for key in ("epoch", "step"):
        out[key] = sum(int(ck.get(key, 0)) for ck in runs)
    out["elapsed"] = sum(float(ck.get("elapsed", 0.0)) for ck in runs)
    out["history"] = [{**row, "run": i} for i, ck in enumerate(runs, 1)
                      for row in ck.get("history", [])]
    out["mixed"] = {"start": start_path, "runs": run_paths, "alpha": alpha,
                    "runs_val_cer_greedy": [ck.get("best_cer") for ck in runs]}
    if val is not None:
        out["val"] = val
        out["best_cer"] = val["all"]["cer"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("start", type=Path, help="the checkpoint the runs continued "
                        "(e.g. a grown one)")
    parser.add_argument("runs", type=Path, nargs="+", help="trained checkpoints (best.pt)")
    parser.add_argument("--alpha", type=float, default=0.5,
                        help="share of the trained weights (default 0.5)")
    parser.add_argument("--out", type=Path, required=True, help="the mixed checkpoint")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="line cache for the val reading (default runs/cache)")
    parser.add_argument("--no-eval", action="store_true",
                        help="do not read the val lines (no best_cer: ship_phase needs one)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the reading")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        start = torch.load(args.start, map_location="cpu", weights_only=False)
        runs = [torch.load(p, map_location="cpu", weights_only=False) for p in args.runs]
        net = mix(start, runs, args.alpha)
    except (HtrError, OSError, KeyError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    val = None
    if not args.no_eval:
        val = export.evaluate_checkpoint(net, runs[0], args.cache_dir)
    ck = mixed_checkpoint(net, runs, str(args.start), [str(p) for p in args.runs], args.alpha,
                          val)
    buf = io.BytesIO()
    torch.save(ck, buf)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, buf.getvalue())
    before = export.percents(ck["mixed"]["runs_val_cer_greedy"])
    print(f"{len(runs)} run(s) (greedy val {before or '?'}) mixed with {args.start}, "
          f"alpha {args.alpha}: -> {args.out}")
    if val is not None:
        print("greedy val CER: " + ", ".join(f"{c} {r['cer']:.2%}" for c, r in val.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
