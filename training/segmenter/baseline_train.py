"""Train the baseline U-Net on the training splits' pages, on the CPU, within a time budget.

    python -m training.segmenter.baseline_train --run-dir runs/segmenter --minutes 50 \
        --out resources/models/segmentation/baselines

Random crops of the pages (``pagemaps.random_crop``) are the training examples; the loss is
binary cross-entropy on both maps plus a Dice term on the thin baseline map. A fixed set of crops
from the val splits picks the best checkpoint. ``last.pt`` is written at every check, and a run
started again with the same ``--run-dir`` resumes from it (the time already spent counts).

``--init`` continues an earlier model (a model folder such as the bundled one, or a ``best.pt``)
with a fresh optimiser and schedule; its card records what it continued, so the total training
stays on record:

    python -m training.segmenter.baseline_train --run-dir runs/segmenter-2 --minutes 50 \
        --init resources/models/segmentation/baselines --out resources/models/segmentation/baselines
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from engine.atomic import atomic_write_bytes, atomic_write_text
from training.segmenter.pagemaps import CropConfig, load_pages, random_crop
from training.segmenter.unet import DEFAULT_CHANNELS, BaselineUNet

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = ("hooker", "poilus")


def split_files(data: Path, split: str) -> list[Path]:
    files = []
    for name in COLLECTIONS:
        lines = (data / name / f"split_{split}.txt").read_text(encoding="utf-8").splitlines()
        files += [data / name / ln.strip() for ln in lines if ln.strip()]
    return files


def cached_pages(data: Path, split: str, cache: Path, log) -> list:
    """Page maps of a split, prepared once and kept in ``cache`` (a pickle)."""
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    pages = load_pages(split_files(data, split), progress=log)
    atomic_write_bytes(cache, pickle.dumps(pages, protocol=pickle.HIGHEST_PROTOCOL))
    return pages


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE on both maps (baseline positives weighted up) + soft Dice on the baseline map."""
    bl_logit, bl = logits[:, 0], target[:, 0]
    bce_bl = F.binary_cross_entropy_with_logits(bl_logit, bl, pos_weight=torch.tensor(3.0))
    p = torch.sigmoid(bl_logit)
    dice = 1 - (2 * (p * bl).sum() + 1) / (p.sum() + bl.sum() + 1)
    bce_line = F.binary_cross_entropy_with_logits(logits[:, 1], target[:, 1])
    return bce_bl + dice + bce_line


def fixed_crops(pages: list, n: int, cfg: CropConfig, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    xs, ys = zip(*(random_crop(pages[i % len(pages)], rng, cfg) for i in range(n)))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def evaluate(model: BaselineUNet, x: torch.Tensor, y: torch.Tensor, batch: int = 16) -> dict:
    """Val loss and pixel F1 of the baseline map on fixed crops."""
    model.eval()
    losses, tp, fp, fn = [], 0.0, 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            losses.append(float(loss_fn(out, y[i:i + batch])) * len(out))
            pred = out[:, 0] > 0
            gt = y[i:i + batch, 0] > 0.5
            tp += float((pred & gt).sum())
            fp += float((pred & ~gt).sum())
            fn += float((~pred & gt).sum())
    model.train()
    f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
    return {"val_loss": sum(losses) / len(x), "baseline_pixel_f1": f1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.segmenter.baseline_train", description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--run-dir", type=Path, default=REPO / "runs" / "segmenter")
    parser.add_argument("--minutes", type=float, default=50.0, help="training time budget")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--check-every", type=int, default=100, help="steps between val checks")
    parser.add_argument("--val-crops", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="export the best checkpoint to this model folder")
    parser.add_argument("--init", type=Path,
                        help="start from this model folder's (or checkpoint's) weights")
    args = parser.parse_args(argv)
    command = "python -m training.segmenter.baseline_train " + shlex.join(
        str(a) for a in (sys.argv[1:] if argv is None else argv))

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run = args.run_dir
    run.mkdir(parents=True, exist_ok=True)
    log_path = run / "train.log"

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    train_pages = cached_pages(args.data, "train", run / "pages-train.pkl", log)
    val_pages = cached_pages(args.data, "val", run / "pages-val.pkl", log)
    cfg = CropConfig(size=args.crop)
    val_x, val_y = fixed_crops(val_pages, args.val_crops, cfg)
    model = BaselineUNet(DEFAULT_CHANNELS)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    state = {"step": 0, "elapsed_s": 0.0, "best": math.inf, "history": []}
    last = run / "last.pt"
    if last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        log(f"resumed at step {state['step']} ({state['elapsed_s'] / 60:.1f} min spent)")
    elif args.init:
        weights, state["init"] = initial_weights(args.init)
        model.load_state_dict(weights)
        log(f"initialised from {args.init} ({state['init']['minutes']} min, "
            f"{state['init']['steps']} steps before)")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"U-Net {DEFAULT_CHANNELS}: {n_params} parameters; {len(train_pages)} train / "
        f"{len(val_pages)} val pages; crops {args.crop}, batch {args.batch}, {args.threads} thread(s)")
    rng = np.random.default_rng(args.seed + state["step"])
    budget = args.minutes * 60
    model.train()
    t_mark = time.perf_counter()
    running = []
    while state["elapsed_s"] < budget:
        frac = state["elapsed_s"] / budget
        warm = min(1.0, (state["step"] + 1) / 50)
        for g in opt.param_groups:
            g["lr"] = args.lr * warm * 0.5 * (1 + math.cos(math.pi * frac))
        picks = rng.integers(0, len(train_pages), args.batch)
        xs, ys = zip(*(random_crop(train_pages[i], rng, cfg) for i in picks))
        x, y = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        running.append(loss.item())
        state["step"] += 1
        now = time.perf_counter()
        state["elapsed_s"] += now - t_mark
        t_mark = now
        if state["step"] % args.check_every == 0 or state["elapsed_s"] >= budget:
            metrics = evaluate(model, val_x, val_y)
            entry = {"step": state["step"], "minutes": round(state["elapsed_s"] / 60, 2),
                     "train_loss": round(float(np.mean(running)), 4),
                     **{k: round(v, 4) for k, v in metrics.items()}}
            running = []
            state["history"].append(entry)
            log(json.dumps(entry))
            if metrics["val_loss"] < state["best"]:
                state["best"] = metrics["val_loss"]
                torch.save({"model": model.state_dict(), "channels": DEFAULT_CHANNELS, "entry": entry},
                           run / "best.pt")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, last)
            t_mark = time.perf_counter()  # checks do not count as training time
    atomic_write_text(run / "done.json", json.dumps({"steps": state["step"], "minutes": state["elapsed_s"] / 60,
                                                     "best_val_loss": state["best"]}, indent=1))
    log(f"done: {state['step']} steps, best val loss {state['best']:.4f}")
    if args.out:
        from training.segmenter.baseline_export import export

        export(run / "best.pt", args.out, train_pages=len(train_pages), minutes=state["elapsed_s"] / 60,
               steps=state["step"], threads=args.threads, init=state.get("init"), command=command)
        log(f"exported to {args.out}")
    return 0


def initial_weights(path: Path) -> tuple[dict, dict]:
    """The weights to continue and what they had behind them (minutes, steps, the commands),
    from a model folder (its ``model.pt`` and card) or a training checkpoint."""
    folder = path if path.is_dir() else None
    ck = torch.load(folder / "model.pt" if folder else path, map_location="cpu", weights_only=False)
    if tuple(ck.get("channels", DEFAULT_CHANNELS)) != tuple(DEFAULT_CHANNELS):
        raise SystemExit(f"{path}: channels {ck.get('channels')} differ from {DEFAULT_CHANNELS}")
    info: dict = {"from": str(path), "minutes": 0.0, "steps": 0, "commands": []}
    card = folder / "card.json" if folder else None
    if card and card.is_file():
        t = json.loads(card.read_text(encoding="utf-8")).get("training", {})
        info.update(minutes=float(t.get("total_minutes", t.get("minutes", 0.0))),
                    steps=int(t.get("total_steps", t.get("steps", 0))),
                    commands=[c for c in t.get("commands") or [t.get("command")] if c])
    elif ck.get("entry"):
        info.update(minutes=float(ck["entry"]["minutes"]), steps=int(ck["entry"]["step"]))
    return ck["model"], info


if __name__ == "__main__":
    raise SystemExit(main())
