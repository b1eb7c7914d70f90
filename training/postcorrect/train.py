"""Train the byte-level T5 post-corrector from scratch, export it and tune its thresholds.

    python -m training.postcorrect.train --minutes 45 --out resources/models/htrjand-postcorrect

Steps (each resumes from what ``--runs`` already holds):

1. pairs: the recognizer's real errors on the train splits (``training.postcorrect.pairs``):
   the shipped student on heavily augmented lines (two seeds) and on clean lines, and earlier
   checkpoints of the base training (``runs/recipe/*/best.pt``, when present) on clean lines;
2. confusions measured on those pairs (``training.postcorrect.noise``) and applied to more clean
   text (transcriptions, Webster's 1913 prose, frequency-drawn English and French words): half
   of every batch is such synthetic noise;
3. a transformers ``T5ForConditionalGeneration`` (byte ids, ``engine.postcorrect.tokens``) trained
   with AdamW for ``--minutes``; one page in 20 of the train pairs is held out and the held-out
   CER after correction picks the best state (the val splits are never used for training);
4. export to ONNX (``training.postcorrect.export``) and thresholds tuned on the val splits so
   that accepting every suggestion lowers CER on each collection (``training.postcorrect.tune``).

Needs the ``train`` extras (torch, transformers) and, for the synthetic text, Debian's
``dict-gcide``, ``wbritish``, ``wfrench`` and the ``wordfreq`` package (each optional).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import zlib
from pathlib import Path

import torch

from engine.metrics import ErrorRates
from engine.postcorrect import tokens
from training.data import REPO
from training.postcorrect.noise import Confusions, TextSource
from training.postcorrect.pairs import (
    RecognizedLine,
    checkpoint_lines,
    recognized_lines,
)

BUNDLED_STUDENT = REPO / "resources" / "models" / "htrjand-student"
COLLECTIONS = ("hooker", "poilus")
EARLY_CHECKPOINTS = ("student", "teacher", "student-kd")
MODEL_SIZES = {
    "small": dict(d_model=256, d_kv=64, d_ff=768, num_layers=4, num_decoder_layers=2,
                  num_heads=4),
    "compact": dict(d_model=192, d_kv=48, d_ff=512, num_layers=3, num_decoder_layers=2,
                    num_heads=4),
    "tiny": dict(d_model=128, d_kv=32, d_ff=384, num_layers=3, num_decoder_layers=2,
                 num_heads=4),
}


def t5_config(size: str = "small"):
    from transformers import T5Config

    return T5Config(vocab_size=tokens.VOCAB_SIZE, feed_forward_proj="gated-gelu",
                    dropout_rate=0.1, pad_token_id=tokens.PAD, eos_token_id=tokens.EOS,
                    decoder_start_token_id=tokens.PAD, tie_word_embeddings=True,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128,
                    **MODEL_SIZES[size])


# -- data -------------------------------------------------------------------------------------
def build_pairs(runs: Path, recipe: Path, threads: int = 0) -> list[RecognizedLine]:
    """All real-error pairs of the train splits (cached under ``runs/pairs``)."""
    folder = runs / "pairs"
    out: list[RecognizedLine] = []
    for coll in COLLECTIONS:
        out += recognized_lines(coll, "train", BUNDLED_STUDENT, threads=threads,
                                cache=folder / f"{coll}-bundled-clean.jsonl")
        for seed in (1, 2):
            out += recognized_lines(coll, "train", BUNDLED_STUDENT, augment_seed=seed,
                                    threads=threads,
                                    cache=folder / f"{coll}-bundled-aug{seed}.jsonl")
        for name in EARLY_CHECKPOINTS:
            ckpt = recipe / name / "best.pt"
            if ckpt.is_file() or (folder / f"{coll}-{name}.jsonl").is_file():
                out += checkpoint_lines(coll, "train", ckpt, threads=threads,
                                        cache=folder / f"{coll}-{name}.jsonl")
    return out


def held_out(line: RecognizedLine) -> bool:
    """One page in 20 of the train split is kept out of T5 training to pick the best state."""
    return zlib.crc32(f"{line.collection}/{line.page}".encode()) % 20 == 0


class Batches:
    """Training examples: real pairs and synthetic noise, half and half, as id lists."""

    def __init__(self, pairs: list[RecognizedLine], confusions: Confusions, source: TextSource,
                 rng: random.Random, synthetic_share: float = 0.5) -> None:
        self.pairs, self.conf, self.source, self.rng = pairs, confusions, source, rng
        self.synthetic_share = synthetic_share

    def example(self) -> tuple[list[int], list[int]] | None:
        if self.rng.random() < self.synthetic_share:
            clean = self.source.line()
            noisy = self.conf.corrupt(clean, self.rng)
            context = "" if self.rng.random() < 0.3 else self.conf.corrupt(
                self.source.line(), self.rng)
            src, tgt = tokens.encode_input(noisy, context), clean
        else:
            pair = self.rng.choice(self.pairs)
            src, tgt = tokens.encode_input(pair.text, pair.context), pair.gt
        target = tokens.encode_target(tgt)
        if src is None or len(target) > tokens.MAX_LINE_BYTES:
            return None
        return src, target

    def copy_example(self, max_chars: int) -> tuple[list[int], list[int]]:
        """A clean line of ``max_chars / 2 .. max_chars`` characters in, the same line out: the
        copy warm-up. T5 has no absolute positions, so copying bytes must be learnt by
        aligning content, which short lines teach in minutes and long noisy pairs do not."""
        while True:
            text = self.source.line()[:self.rng.randint(max(1, max_chars // 2), max_chars)]
            src = tokens.encode_input(text, "")
            if text and src is not None:
                return src, tokens.encode_target(text)

    def copy_batch(self, max_tokens: int, max_chars: int) -> dict[str, torch.Tensor]:
        return collate(self.items(max_tokens, lambda: self.copy_example(max_chars)))

    def batch(self, max_tokens: int) -> dict[str, torch.Tensor]:
        return collate(self.items(max_tokens))

    def items(self, max_tokens: int, make=None) -> list[tuple[list[int], list[int]]]:
        """Examples (``make()``, default ``example``) until the longest one times their number
        would pass ``max_tokens``."""
        make = make or self.example
        items: list[tuple[list[int], list[int]]] = []
        longest = 0
        while True:
            ex = make()
            if ex is None:
                continue
            longest = max(longest, len(ex[0]) + len(ex[1]))
            if items and longest * (len(items) + 1) > max_tokens:
                break
            items.append(ex)
        return items


def _feeder_items(seed: int, k: int, max_tokens: int) -> list[tuple[list[int], list[int]]]:
    from training.forkpool import worker_state

    batches: Batches = worker_state()  # type: ignore[assignment]
    batches.rng.seed(seed * 1_000_003 + k)  # the text source shares this generator
    return batches.items(max_tokens)


class BatchFeeder:
    """Batches built ahead in forked processes, so that a GPU does not wait for the Python
    noise generator (about 40 ms per 16k-token batch on one core). Batch ``k`` is drawn from
    its own seed, so a run (and a resumed one) is reproducible for any number of workers."""

    def __init__(self, batches: Batches, workers: int, seed: int, max_tokens: int,
                 start: int = 0) -> None:
        from collections import deque

        from training.forkpool import ForkPool

        self.workers = ForkPool(workers, batches)
        self.seed, self.max_tokens, self.k = seed, max_tokens, start
        self.pending: deque = deque()
        for _ in range(2 * workers):
            self._submit()

    def _submit(self) -> None:
        self.pending.append(self.workers.pool.apply_async(
            _feeder_items, (self.seed, self.k, self.max_tokens)))
        self.k += 1

    def next(self) -> dict[str, torch.Tensor]:
        items = self.pending.popleft().get()
        self._submit()
        return collate(items)

    def close(self) -> None:
        self.workers.close()


def collate(items: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    s = max(len(a) for a, _ in items)
    t = max(len(b) for _, b in items)
    ids = torch.full((len(items), s), tokens.PAD, dtype=torch.long)
    mask = torch.zeros((len(items), s), dtype=torch.long)
    labels = torch.full((len(items), t), -100, dtype=torch.long)
    for k, (a, b) in enumerate(items):
        ids[k, :len(a)] = torch.tensor(a)
        mask[k, :len(a)] = 1
        labels[k, :len(b)] = torch.tensor(b)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@torch.no_grad()
def correct(model, lines: list[RecognizedLine], batch: int = 48) -> list[str]:
    """Greedy corrections of ``lines`` by ``model`` (raw text where it gives nothing usable)."""
    model.eval()
    device = next(model.parameters()).device
    out: list[str] = []
    for k in range(0, len(lines), batch):
        chunk = lines[k:k + batch]
        enc = [tokens.encode_input(ln.text, ln.context) or [tokens.SEP, tokens.EOS]
               for ln in chunk]
        data = collate([(e, [tokens.EOS]) for e in enc])
        gen = model.generate(input_ids=data["input_ids"].to(device),
                             attention_mask=data["attention_mask"].to(device),
                             max_new_tokens=min(tokens.MAX_LINE_BYTES,
                                                max(len(e) for e in enc) + 16),
                             do_sample=False, num_beams=1)
        for ln, ids in zip(chunk, gen.tolist()):
            text = tokens.decode(ids[1:])
            out.append(text if text is not None else ln.text)
    model.train()
    return out


def held_out_cer(model, lines: list[RecognizedLine]) -> tuple[float, float]:
    """(raw CER, CER after greedy correction of every line) on ``lines``."""
    fixed = correct(model, lines)
    raw, after = ErrorRates(), ErrorRates()
    for ln, text in zip(lines, fixed):
        raw.add(ln.gt, ln.text)
        after.add(ln.gt, text)
    return raw.cer, after.cer


# -- training ---------------------------------------------------------------------------------
def train(runs: Path, minutes: float, size: str, threads: int, seed: int,
          max_tokens: int, lr: float, eval_every_min: float, held_lines: int,
          device: str = "cpu", workers: int = 0, init: Path | None = None,
          copy_minutes: float = 0.0) -> Path:
    """Train (resuming from ``runs/t5/last``); returns the folder of the best state. ``init``:
    start a new run from an earlier model (an exported post-corrector folder, rebuilt from its
    ONNX graphs, or a transformers folder) instead of from scratch."""
    from transformers import T5ForConditionalGeneration

    from training.trainer import pick_device

    dev = pick_device(device)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    pairs = build_pairs(runs, REPO / "runs" / "recipe", threads=threads)
    train_pairs = [p for p in pairs if not held_out(p)]
    held = [p for p in pairs if held_out(p)]
    rng.shuffle(held)
    held = held[:held_lines]
    confusions = Confusions.measure([(p.gt, p.text) for p in train_pairs])
    source = TextSource(sorted({p.gt for p in train_pairs}), rng,
                        cache=runs / "text-source.json.gz")
    batches = Batches(train_pairs, confusions, source, rng)
    last, _, state_path = _t5_paths(runs)
    saved = torch.load(state_path, map_location="cpu", weights_only=False) \
        if state_path.is_file() else None
    state = saved["state"] if saved else {"step": 0, "elapsed": 0.0, "best": math.inf,
                                          "history": []}
    # Forked before the model touches a GPU; the workers only build examples.
    feeder = BatchFeeder(batches, workers, seed, max_tokens, state["step"]) \
        if workers > 1 else None
    try:
        if (last / "config.json").is_file():
            model = T5ForConditionalGeneration.from_pretrained(last)
        elif init is not None and (init / "encoder.onnx").is_file():
            from training.postcorrect.from_onnx import t5_from_exported

            model = t5_from_exported(init)
        elif init is not None:
            model = T5ForConditionalGeneration.from_pretrained(init)
        else:
            model = T5ForConditionalGeneration(t5_config(size))
        model.to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        if saved:
            opt.load_state_dict(saved["opt"])
        params = sum(p.numel() for p in model.parameters())
        print(f"[t5] {params:,} parameters on {dev}; {len(train_pairs)} real pairs "
              f"({len(held)} held out); {len(source.prose)} prose lines", flush=True)
        _loop(model, opt, batches, feeder, held, state, runs, dev, minutes, lr, max_tokens,
              eval_every_min, copy_minutes)
    finally:
        if feeder is not None:
            feeder.close()
    summary = {"parameters": params, "size": size if init is None else None,
               "config": model.config.to_diff_dict(), "init": str(init) if init else None,
               "copy_warmup_min": copy_minutes,
               "steps": state["step"], "cpu_minutes": round(state["elapsed"] / 60, 1),
               "threads": threads, "device": str(dev), "batch_workers": workers,
               "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
               "max_tokens_per_batch": max_tokens, "lr": lr, "seed": seed,
               "real_pairs": len(train_pairs), "held_out_pairs": len(held),
               "synthetic_share": batches.synthetic_share,
               "confusions_chars": confusions.chars,
               "mean_line_cer_of_pairs": round(sum(confusions.line_cer)
                                               / max(1, len(confusions.line_cer)), 4),
               "prose_lines": len(source.prose), "best_held_out_cer": state["best"],
               "history": state["history"]}
    (runs / "t5" / "summary.json").write_text(json.dumps(summary, indent=1))
    return _t5_paths(runs)[1]


def _t5_paths(runs: Path) -> tuple[Path, Path, Path]:
    """The run's ``last`` and ``best`` model folders and its optimiser state."""
    return runs / "t5" / "last", runs / "t5" / "best", runs / "t5" / "state.pt"


COPY_STAGES = ((0.45, 12), (0.65, 24), (1.0, 60))
"""The copy warm-up's stages: (share of its minutes, longest line in characters). Measured on
pure copying with the tiny T5 (1 CPU thread): lines of up to 60 characters from the start left
the loss at 2.0 nats per byte after 4 minutes; 2.5 minutes at 12, 1 at 24 and 2 at 60 brought
it to 0.26 on 60-character lines."""


def copy_limit(elapsed: float, copy_s: float) -> int | None:
    """The longest copy-warm-up line at ``elapsed`` seconds; None once the warm-up is over."""
    if elapsed >= copy_s:
        return None
    for share, chars in COPY_STAGES:
        if elapsed < share * copy_s:
            return chars
    return COPY_STAGES[-1][1]


def _loop(model, opt, batches: Batches, feeder: BatchFeeder | None, held: list[RecognizedLine],
          state: dict, runs: Path, dev: torch.device, minutes: float, lr: float,
          max_tokens: int, eval_every_min: float, copy_minutes: float = 0.0) -> None:
    """Steps until the time budget: cosine rate, held-out CER every ``eval_every_min``,
    ``best`` / ``last`` states and the optimiser saved at each evaluation and at the end. The
    first ``copy_minutes`` train on copying clean lines only (``copy_limit``)."""
    last, best, state_path = _t5_paths(runs)
    budget = minutes * 60
    warmup = 300
    model.train()
    started = time.monotonic() - state["elapsed"]
    next_eval = state["elapsed"] + eval_every_min * 60
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= budget:
            break
        progress = min(1.0, elapsed / budget)
        scale = min(1.0, (state["step"] + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr * max(scale, 0.02)
        limit = copy_limit(elapsed, copy_minutes * 60)
        if limit is not None:
            data = batches.copy_batch(max_tokens, limit)
        else:
            data = feeder.next() if feeder is not None else batches.batch(max_tokens)
        loss = model(**{k: v.to(dev) for k, v in data.items()}).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] += 1
        if state["step"] % 50 == 0:
            print(f"[t5] step {state['step']} loss {loss.item():.3f} "
                  f"{elapsed / 60:.1f}/{minutes:.0f} min", flush=True)
        if elapsed >= next_eval or time.monotonic() - started >= budget:
            state["elapsed"] = time.monotonic() - started
            raw, after = held_out_cer(model, held)
            state["history"].append({"step": state["step"], "minutes": round(elapsed / 60, 1),
                                     "loss": round(loss.item(), 4), "held_raw_cer": raw,
                                     "held_corrected_cer": after})
            print(f"[t5] held-out CER raw {raw:.4f} -> corrected {after:.4f}", flush=True)
            if after < state["best"]:
                state["best"] = after
                model.save_pretrained(best)
            model.save_pretrained(last)
            torch.save({"opt": opt.state_dict(), "state": state}, state_path)
            next_eval = elapsed + eval_every_min * 60
    state["elapsed"] = time.monotonic() - started
    raw, after = held_out_cer(model, held)
    state["history"].append({"step": state["step"], "minutes": round(state["elapsed"] / 60, 1),
                             "held_raw_cer": raw, "held_corrected_cer": after})
    if after < state["best"] or not (best / "config.json").is_file():
        state["best"] = after
        model.save_pretrained(best)
    model.save_pretrained(last)
    torch.save({"opt": opt.state_dict(), "state": state}, state_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "postcorrect")
    parser.add_argument("--out", type=Path, help="export the best state here and tune it")
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--size", choices=sorted(MODEL_SIZES), default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=6000,
                        help="input + target ids per batch")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=float, default=8.0, help="minutes")
    parser.add_argument("--held-lines", type=int, default=400)
    parser.add_argument("--pairs-only", action="store_true",
                        help="build the pairs (and the cached text source) and stop")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                        help="where T5 trains (default cpu)")
    parser.add_argument("--copy-minutes", type=float, default=0.0,
                        help="first train this many minutes on copying clean lines, short ones "
                             "first (COPY_STAGES), so that the T5 learns to attend to its input")
    parser.add_argument("--init", type=Path, metavar="DIR",
                        help="continue an earlier model (an exported post-corrector folder such "
                             "as the bundled one, or a transformers folder) instead of starting "
                             "from scratch; --size is then ignored")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that build batches, to keep a GPU fed (default 0)")
    args = parser.parse_args(argv)
    if args.pairs_only:
        pairs = build_pairs(args.runs, REPO / "runs" / "recipe", args.threads)
        source = TextSource([p.gt for p in pairs], random.Random(args.seed),
                            cache=args.runs / "text-source.json.gz")
        print(len(pairs), "pairs;", len(source.prose), "prose lines")
        return 0
    best = train(args.runs, args.minutes, args.size, args.threads, args.seed, args.max_tokens,
                 args.lr, args.eval_every, args.held_lines, args.device, args.workers,
                 args.init, args.copy_minutes)
    if args.out:
        from training.postcorrect.tune import export_and_tune

        export_and_tune(best, args.out, runs=args.runs,
                        training=json.loads((args.runs / "t5" / "summary.json").read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
