"""The training loop: curriculum epochs over width-bucketed batches, AdamW with warm-up and
cosine decay, gradient clipping, optional distillation, per-epoch validation CER, checkpoints
(``last.pt`` to resume, ``best.pt`` by val CER), early stopping and a per-epoch log."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from engine.metrics import ErrorRates
from training.augment import ParallelAugmenter, augment
from training.batching import bucket_batches, to_tensor_batch
from training.charset import Charset, ctc_frames_needed
from training.config import TrainConfig
from training.data import LineSet
from training.distill import kd_loss, load_teacher
from training.network import CONFIGS, HtrJandNet, NetConfig, count_parameters
from training.synthetic import SyntheticLines


def greedy_texts(log_probs: torch.Tensor, frames: torch.Tensor, charset: Charset) -> list[str]:
    """Best-path CTC decoding of a batch: argmax, collapse repeats, drop blanks."""
    best = log_probs.argmax(-1).tolist()
    out = []
    for seq, n in zip(best, frames.tolist()):
        labels = [c for i, c in enumerate(seq[:n]) if c != 0 and (i == 0 or c != seq[i - 1])]
        out.append(charset.decode(labels))
    return out


def pick_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (an error when torch sees no GPU) or ``auto``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: this torch sees no CUDA GPU")
    return torch.device(name)


class Trainer:
    """Owns model, optimiser, data and run folder of one training run."""

    def __init__(self, cfg: TrainConfig, train: LineSet, val: LineSet, charset: Charset) -> None:
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.cfg, self.train, self.val, self.charset = cfg, train, val, charset
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        net = replace(CONFIGS[cfg.model], num_classes=charset.num_classes, input_height=cfg.height)
        if cfg.width_factor:
            net = net.with_width_factor(cfg.width_factor)
        if cfg.channels:
            net = replace(net, channels=tuple(cfg.channels))
        if cfg.extra_convs:
            net = replace(net, extra_convs=tuple(cfg.extra_convs))
        self.device = pick_device(cfg.device)
        # Forked before the GPU is touched: the workers only augment images.
        self.augmenter = ParallelAugmenter(train.images, cfg.workers) if cfg.workers > 1 else None
        self.model = HtrJandNet(net).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.ema: AveragedModel | None = None
        self.teacher = load_teacher(cfg.teacher, charset.chars) if cfg.teacher else None
        if self.teacher is not None:
            if self.teacher.cfg.width_factor != net.width_factor:
                raise ValueError(f"teacher {cfg.teacher} has width factor "
                                 f"{self.teacher.cfg.width_factor}, the student {net.width_factor}:"
                                 " their frames would not align for distillation")
            self.teacher.to(self.device)
        self.rng = np.random.default_rng(cfg.seed)
        self.synth = SyntheticLines(train.texts, cfg.height, seed=cfg.seed)
        if not self.synth.available:
            self.log(f"synthetic lines off: {self.synth.reason}")
        self.targets = [charset.encode(t) for t in train.texts]
        self.epoch, self.step, self.elapsed = 0, 0, 0.0
        self.best_cer, self.bad_epochs, self.history = math.inf, 0, []
        self.plateau_scale = 1.0
        self.epoch_start: float | None = None
        if (self.run_dir / "last.pt").is_file():
            self.resume(self.run_dir / "last.pt")
        elif cfg.init:
            ck = torch.load(cfg.init, map_location="cpu", weights_only=False)
            if list(ck["charset"]) != charset.chars:
                raise ValueError(f"{cfg.init}: checkpoint charset differs from the data's")
            self.model.load_state_dict(ck["model"])
            was = NetConfig.from_dict(ck["net"]).width_factor
            self.log(f"initialised from {cfg.init}" + (
                f" (width factor {was} -> {net.width_factor})" if was != net.width_factor else ""))
        if cfg.ema_decay > 0 and self.ema is None:
            self.ema = self._new_ema()
        (self.run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        self.log(f"{cfg.model}: {count_parameters(self.model)} parameters, "
                 f"{charset.num_classes} classes, {len(train)} train / {len(val)} val lines"
                 + (f", distilled from {cfg.teacher}" if cfg.teacher else "")
                 + f", on {self.device}" + (f", {cfg.workers} augmenting processes"
                                            if self.augmenter else ""))

    def _new_ema(self) -> AveragedModel:
        """A running average of the weights (batch-norm statistics included), starting from the
        current ones: the average of a noisy stretch of training often reads better than its end."""
        return AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(self.cfg.ema_decay),
                             use_buffers=True)

    def log(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, flush=True)
        with open(self.run_dir / "train.log", "a") as fh:
            fh.write(line + "\n")

    # --- schedule -------------------------------------------------------------------------
    def progress(self, steps_per_epoch: int) -> float:
        """Fraction of the run done, by epochs or by the time budget, whichever is further."""
        frac = self.step / max(1, self.cfg.epochs * steps_per_epoch)
        if self.cfg.time_budget_min:
            live = self.elapsed + (time.time() - self.epoch_start if self.epoch_start else 0.0)
            frac = max(frac, live / (60 * self.cfg.time_budget_min))
        return min(1.0, frac)

    def set_lr(self, steps_per_epoch: int) -> float:
        warm = min(1.0, (self.step + 1) / self.cfg.warmup_steps)
        if self.cfg.schedule == "cosine":
            decay = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * self.progress(steps_per_epoch)))
        else:
            decay = self.plateau_scale
        lr = self.cfg.lr * warm * decay
        for group in self.opt.param_groups:
            group["lr"] = lr
        return lr

    # --- one epoch ------------------------------------------------------------------------
    def epoch_samples(self) -> tuple[list[np.ndarray], list[list[int]]]:
        """Images and targets of this epoch by its curriculum stage (real + synthetic)."""
        stage = self.cfg.stage_for_epoch(self.epoch)
        keep = [i for i, tgt in enumerate(self.targets)
                if tgt and not (stage.max_chars and len(tgt) > stage.max_chars)]
        targets = [self.targets[i] for i in keep]
        if not stage.augment:
            images = [self.train.images[i] for i in keep]
        elif self.augmenter is not None:
            images = self.augmenter.augment(keep, self.rng, self.cfg.augment)
        else:
            images = [augment(self.train.images[i], self.rng, self.cfg.augment) for i in keep]
        if self.synth.available and stage.synthetic_ratio > 0:
            n = int(len(images) * stage.synthetic_ratio / (1 - stage.synthetic_ratio))
            for _ in range(n):
                img, text = self.synth.render(stage.max_chars)
                tgt = self.charset.encode(text)
                if tgt:
                    images.append(augment(img, self.rng, self.cfg.augment))
                    targets.append(tgt)
        return images, targets

    def train_epoch(self, deadline: float | None) -> float:
        self.model.train()
        start = time.time()  # preparing the epoch's samples counts as training time
        images, targets = self.epoch_samples()
        wf = self.model.cfg.width_factor
        keep = [i for i, (im, t) in enumerate(zip(images, targets))
                if ctc_frames_needed(t) <= -(-im.shape[1] // wf)]
        batches = bucket_batches([images[i].shape[1] for i in keep], self.cfg.batch_size,
                                 self.cfg.max_batch_pixels // self.cfg.height, self.rng)
        total, count = 0.0, 0
        self.epoch_start = start
        for b in batches:
            idx = [keep[i] for i in b]
            x, widths = to_tensor_batch([images[i] for i in idx], wf)
            x, widths = x.to(self.device), widths.to(self.device)
            tgts = [targets[i] for i in idx]
            lr = self.set_lr(len(batches))
            logits = self.model.logits(x, widths)
            frames = self.model.frames(widths)
            log_probs = F.log_softmax(logits, -1)
            loss = F.ctc_loss(log_probs.transpose(0, 1),
                              torch.tensor(sum(tgts, []), device=self.device), frames,
                              torch.tensor([len(t) for t in tgts], device=self.device),
                              blank=0, zero_infinity=True)
            if self.teacher is not None:
                with torch.no_grad():
                    t_logits = self.teacher.logits(x, widths)
                loss = self.cfg.alpha * loss + (1 - self.cfg.alpha) * kd_loss(
                    logits, t_logits, frames, self.cfg.temperature)
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
            self.opt.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            self.step += 1
            total += loss.item() * len(idx)
            count += len(idx)
            if self.step % 50 == 0:
                self.log(f"  step {self.step} loss {total / count:.3f} lr {lr:.2e}")
            if deadline and time.time() - start + self.elapsed > deadline:
                break
        self.elapsed += time.time() - start
        self.epoch_start = None
        return total / max(1, count)

    @torch.no_grad()
    def evaluate(self, lines: LineSet, model: HtrJandNet | None = None
                 ) -> tuple[dict[str, ErrorRates], list[str]]:
        """Per-collection error rates and the hypotheses of ``model`` (default: the trained
        network), greedy decoding, eval mode."""
        model = model or self.model
        model.eval()
        wf = model.cfg.width_factor
        hyps: list[str] = [""] * len(lines)
        for b in bucket_batches([im.shape[1] for im in lines.images], 32, 32 * 2000, None):
            x, widths = to_tensor_batch([lines.images[i] for i in b], wf)
            x, widths = x.to(self.device), widths.to(self.device)
            lp = model(x, widths)
            for i, text in zip(b, greedy_texts(lp, model.frames(widths), self.charset)):
                hyps[i] = text
        rates: dict[str, ErrorRates] = {}
        for coll, ref, hyp in zip(lines.collections, lines.texts, hyps):
            rates.setdefault(coll, ErrorRates()).add(ref, hyp)
            rates.setdefault("all", ErrorRates()).add(ref, hyp)
        return rates, hyps

    # --- checkpoints ----------------------------------------------------------------------
    def state(self, weights: str = "model") -> dict:
        """Everything to resume; ``weights="ema"`` stores the averaged weights as the model
        (for best.pt, which export reads), the trained ones stay under "raw"."""
        model = self.model.state_dict()
        extra: dict = {}
        if self.ema is not None:
            averaged = self.ema.module.state_dict()
            extra = {"ema": averaged, "ema_n": int(self.ema.n_averaged)}
            if weights == "ema":
                model, extra["raw"] = averaged, model
        return {"model": model, **extra, "opt": self.opt.state_dict(),
                "net": self.model.cfg.to_dict(), "charset": self.charset.chars,
                "train_config": self.cfg.to_dict(), "epoch": self.epoch, "step": self.step,
                "elapsed": self.elapsed, "best_cer": self.best_cer, "bad_epochs": self.bad_epochs,
                "history": self.history, "plateau_scale": self.plateau_scale,
                "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "hardware": (torch.cuda.get_device_name(self.device)
                             if self.device.type == "cuda" else "cpu")}

    def save(self, name: str, weights: str = "model") -> None:
        tmp = self.run_dir / f".{name}.tmp"
        torch.save(self.state(weights), tmp)
        tmp.replace(self.run_dir / name)

    def resume(self, path: Path) -> None:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if list(ck["charset"]) != self.charset.chars:
            raise ValueError(f"{path}: checkpoint charset differs from the data's")
        self.model.load_state_dict(ck.get("raw", ck["model"]))
        self.opt.load_state_dict(ck["opt"])
        if self.cfg.ema_decay > 0:
            self.ema = self._new_ema()
            if "ema" in ck:
                self.ema.module.load_state_dict(ck["ema"])
                self.ema.n_averaged.fill_(ck.get("ema_n", 1))
        for key in ("epoch", "step", "elapsed", "best_cer", "bad_epochs", "history",
                    "plateau_scale"):
            setattr(self, key, ck[key])
        self.rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        self.log(f"resumed from {path} at epoch {self.epoch}, step {self.step}")

    # --- the run --------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train until the epoch count, the time budget or early stopping; returns history."""
        try:
            return self._fit()
        finally:
            if self.augmenter is not None:
                self.augmenter.close()

    def _fit(self) -> dict:
        budget = 60 * self.cfg.time_budget_min if self.cfg.time_budget_min else None
        while self.epoch < self.cfg.epochs and self.bad_epochs < self.cfg.patience:
            if budget and self.elapsed >= budget:
                self.log("time budget spent")
                break
            t0 = time.time()
            stage = self.cfg.stage_for_epoch(self.epoch).name
            loss = self.train_epoch(budget)
            train_s = time.time() - t0
            rates, _ = self.evaluate(self.val)
            raw_cer = rates["all"].cer
            if self.ema is not None:  # the average decides: best.pt, early stopping
                rates, _ = self.evaluate(self.val, self.ema.module)
            self.epoch += 1
            cer = rates["all"].cer
            row = {"epoch": self.epoch, "stage": stage, "loss": round(loss, 4),
                   "val_cer": round(cer, 4), "val_wer": round(rates["all"].wer, 4),
                   **{f"cer_{k}": round(v.cer, 4) for k, v in rates.items() if k != "all"},
                   **({"raw_val_cer": round(raw_cer, 4)} if self.ema is not None else {}),
                   "train_s": round(train_s, 1), "elapsed_s": round(self.elapsed, 1),
                   "lr": self.opt.param_groups[0]["lr"]}
            self.history.append(row)
            if cer < self.best_cer - 1e-4:
                self.best_cer, self.bad_epochs = cer, 0
                self.save("best.pt", "ema" if self.ema is not None else "model")
            else:
                self.bad_epochs += 1
                self.plateau_scale *= 0.5 if self.cfg.schedule == "plateau" else 1.0
            self.save("last.pt")
            self.log(json.dumps(row))
        return {"best_cer": self.best_cer, "epochs": self.epoch, "history": self.history}
