"""Fine-tuning a recognizer on a person's corrected lines, within a time budget.

    result = finetune(["letters/"], FinetuneConfig(minutes=5), name="letters-hand")

What one run does (``run_finetune``):

1. the corrected lines of the inputs (``training.corrections``), every 10th (at least 10) held
   back to measure the character error rate (CER) before and after and to stop early;
2. the base model (a model folder with ``model.pt``, or a checkpoint); characters of the
   corrections it lacks extend its output layer, the old rows kept;
3. training with the base training's augmentation, AdamW with warm-up and cosine decay over the
   time budget, a guard against forgetting — distillation from the frozen base model
   ("kd", needs no data) with replayed synthetic lines (the default "kd+synthetic": bundled
   handwriting fonts, text drawn from the base's character LM) or base training lines
   ("replay", "kd+replay", when ``shared/data`` is there), or none — and the best held-back
   state kept (the start included, so the held-back CER never gets worse);
4. on the "distill" path (when a teacher checkpoint exists) the teacher is fine-tuned first and
   the student learns from it for the rest of the same budget;
5. a new version in the user's model store (``training.finetune_version``).

``python -m training.finetune --json ...`` runs the same and prints JSON lines of progress: the
window runs it as a child process so that torch is only ever imported there.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import CancelledError, HtrError, ModelError
from engine.metrics import ErrorRates
from engine.progress import CancelToken, ProgressCallback, no_progress
from training.augment import augment
from training.batching import bucket_batches, to_tensor_batch
from training.charset import Charset, ctc_frames_needed
from training.data import REPO, LineSet
from training.finetune_config import (
    DEFAULT_PATH,
    GUARDS,
    PATHS,
    REPLAY_GUARDS,
    FinetuneConfig,
    add_arguments,
    config_from_args,
)
from training.network import HtrJandNet, checkpoint_model
from training.trainer import greedy_texts


# -- models -----------------------------------------------------------------------------------
@dataclass
class BaseModel:
    """A network to start from, its characters and where it came from."""

    net: HtrJandNet
    charset: list[str]
    ckpt: dict
    source: Path
    card: dict | None = None


def load_base(source: str | Path) -> BaseModel:
    """A model folder (its ``model.pt``) or a training checkpoint (``*.pt``), eval mode."""
    path = Path(source)
    card = None
    if path.is_dir():
        from engine.models import load_card

        card = load_card(path)
        if not (path / "model.pt").is_file():
            raise ModelError(f"{path} has no model.pt (PyTorch weights), so it cannot be "
                             "trained further; choose a model exported by HTR-JAND Studio.")
        pt = path / "model.pt"
    elif path.is_file():
        pt = path
    else:
        raise ModelError(f"base model {path} does not exist")
    try:
        ck = torch.load(pt, map_location="cpu", weights_only=False)
        net = checkpoint_model(ck)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{pt} cannot be loaded as HTR-JAND weights: {exc}") from exc
    return BaseModel(net, list(ck["charset"]), ck, path, card)


def find_teacher(base: BaseModel, explicit: str | Path | None = None) -> Path | None:
    """The teacher checkpoint for the distill path: ``explicit``, ``teacher.pt`` in the model
    folder, or the card's ``training.teacher`` when that file exists; None otherwise."""
    candidates = [Path(explicit)] if explicit else []
    if base.source.is_dir():
        candidates.append(base.source / "teacher.pt")
    t = ((base.card or {}).get("training") or {}).get("teacher") or \
        (base.ckpt.get("train_config") or {}).get("teacher")
    if t:
        candidates += [Path(t), REPO / t]
    found = next((c for c in candidates if c.is_file()), None)
    if explicit and found != Path(explicit):
        raise ModelError(f"teacher {explicit} does not exist")
    return found


def extend_output_layer(net: HtrJandNet, extra: int) -> HtrJandNet:
    """A copy of ``net`` with ``extra`` more output classes; the old rows are kept and the new
    ones start improbable (bias at the lowest old bias), so the outputs do not change."""
    if extra <= 0:
        return copy.deepcopy(net)
    cfg = replace(net.cfg, num_classes=net.cfg.num_classes + extra)
    out = HtrJandNet(cfg)
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("head.")}
    out.load_state_dict(state, strict=False)
    with torch.no_grad():
        old_w, old_b = net.head.weight, net.head.bias
        out.head.weight[: old_w.shape[0]] = old_w
        out.head.bias[: old_b.shape[0]] = old_b
        out.head.weight[old_w.shape[0]:].normal_(0.0, float(old_w.std()) * 0.1)
        out.head.bias[old_b.shape[0]:] = float(old_b.min()) - 2.0
    return out.train(net.training)


@torch.no_grad()
def interpolate_weights(net: HtrJandNet, base_net: HtrJandNet, alpha: float,
                        encoder_alpha: float | None = None) -> HtrJandNet:
    """WiSE-FT, in place: every weight becomes ``alpha`` * fine-tuned + (1 - ``alpha``) * base;
    the convolutional encoder's blocks (``encoder.*``, not the collapse convolution) with
    ``encoder_alpha`` where given (an experiment: keeping the
    encoder fine-tuned gave more gain and as much more forgetting, docs/finetune.md). Output
    rows of characters the base lacks stay as trained. Returns ``net``."""
    if alpha >= 1.0 and (encoder_alpha is None or encoder_alpha >= 1.0):
        return net
    base_state = base_net.state_dict()
    for name, value in net.state_dict().items():  # shares storage with the parameters
        ref = base_state.get(name)
        if ref is None or not torch.is_floating_point(value):
            continue
        share = encoder_alpha if encoder_alpha is not None and name.startswith("encoder.") \
            else alpha
        if share >= 1.0:
            continue
        if ref.shape == value.shape:
            value.mul_(share).add_(ref, alpha=1.0 - share)
        elif ref.dim() and ref.shape[1:] == value.shape[1:]:  # the extended output layer
            value[: ref.shape[0]].mul_(share).add_(ref, alpha=1.0 - share)
    return net


def _interpolated(net: HtrJandNet, base_net: HtrJandNet, alpha: float, held: LineSet,
                  charset: Charset, cer_before: float) -> tuple[HtrJandNet, float, ErrorRates]:
    """``net`` interpolated towards the base with ``alpha``, or with a larger share of the
    fine-tuned weights where that share would leave the held-back CER worse than the base's
    (a version never reads the person's own lines worse than its parent); the share used and
    the held-back rates."""
    trained = {k: v.clone() for k, v in net.state_dict().items()}
    shares = [alpha, (alpha + 1.0) / 2, 1.0] if alpha < 1.0 else [1.0]
    for share in shares:
        net.load_state_dict(trained)
        interpolate_weights(net, base_net, share)
        rates, _ = evaluate(net, held, charset)
        if rates.cer <= cer_before:
            break
    return net, share, rates


def new_characters(charset: list[str], texts: list[str]) -> list[str]:
    """Characters of ``texts`` missing from ``charset``, in order of first appearance."""
    known, out = set(charset), []
    for text in texts:
        for ch in text:
            if ch not in known:
                known.add(ch)
                out.append(ch)
    return out


# -- evaluation -------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(net: HtrJandNet, lines: LineSet, charset: Charset, batch: int = 16
             ) -> tuple[ErrorRates, list[str]]:
    """Error rates and hypotheses of ``net`` on ``lines`` (greedy decoding)."""
    was_training = net.training
    net.eval()
    hyps = [""] * len(lines)
    wf = net.cfg.width_factor
    for b in bucket_batches([im.shape[1] for im in lines.images], batch, batch * 2400, None):
        x, widths = to_tensor_batch([lines.images[i] for i in b], wf)
        for i, text in zip(b, greedy_texts(net(x, widths), net.frames(widths), charset)):
            hyps[i] = text
    net.train(was_training)
    rates = ErrorRates()
    for ref, hyp in zip(lines.texts, hyps):
        rates.add(ref, hyp)
    return rates, hyps


def restricted_kd(student_logits: torch.Tensor, ref_logits: torch.Tensor, frames: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """KD towards a reference that may know fewer classes (a base without the new characters):
    both distributions over the reference's classes only, so new characters are not punished."""
    from training.distill import kd_loss

    return kd_loss(student_logits[..., : ref_logits.shape[-1]], ref_logits, frames, temperature)


# -- the training loop ------------------------------------------------------------------------
@dataclass
class Reference:
    """A frozen network whose outputs the trained one is pulled towards, with a loss weight."""

    net: HtrJandNet
    weight: float


class FineTuner:
    """Trains one network on corrected lines for a time budget, keeping the best held-back
    state (the starting state counts: the held-back CER never ends worse than it began)."""

    def __init__(self, net: HtrJandNet, charset: Charset, train: LineSet, held: LineSet,
                 cfg: FinetuneConfig, *, references: list[Reference] | None = None,
                 replay: LineSet | None = None, label: str = "student") -> None:
        self.net, self.charset, self.cfg, self.label = net, charset, cfg, label
        self.train, self.held, self.replay = train, held, replay
        self.references = references or []
        self.rng = np.random.default_rng(cfg.seed)
        self.targets = [charset.encode(t) for t in train.texts]
        self.replay_targets = [charset.encode(t) for t in replay.texts] if replay else []
        if cfg.freeze_encoder:
            for p in net.encoder.parameters():
                p.requires_grad_(False)
        trained = [p for p in net.parameters() if p.requires_grad]
        # L2-SP: the starting weights (after any new output rows) as the anchor, where no base
        # lines are replayed (with replay it only cost gain; see FinetuneConfig).
        self.anchor = [(p, p.detach().clone()) for p in trained] \
            if cfg.anchor_weight > 0 and not self.replay_targets else []
        self.opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = self.epochs = self.evaluations = 0
        self.history: list[dict] = []
        self.stopped = ""

    def _set_lr(self, frac: float) -> None:
        warm = min(1.0, (self.step + 1) / max(1, self.cfg.warmup_steps))
        decay = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr * warm * decay

    def _train_mode(self) -> None:
        self.net.train()
        if self.cfg.freeze_batchnorm:
            for m in self.net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()

    def _epoch_samples(self) -> tuple[list[np.ndarray], list[list[int]], list[bool]]:
        """Augmented corrected lines plus a sample of replayed base lines (flagged)."""
        images, targets, replayed = [], [], []
        for img, tgt in zip(self.train.images, self.targets):
            if tgt:
                images.append(augment(img, self.rng, self.cfg.augment))
                targets.append(tgt)
                replayed.append(False)
        if self.replay is not None and len(self.replay):
            n = min(len(self.replay), round(len(images) * self.cfg.replay_ratio))
            for i in self.rng.choice(len(self.replay), n, replace=False):
                if self.replay_targets[i]:
                    images.append(augment(self.replay.images[i], self.rng, self.cfg.augment))
                    targets.append(self.replay_targets[i])
                    replayed.append(True)
        return images, targets, replayed

    def _loss(self, x: torch.Tensor, widths: torch.Tensor, tgts: list[list[int]]) -> torch.Tensor:
        logits = self.net.logits(x, widths)
        frames = self.net.frames(widths)
        flat = torch.tensor([c for t in tgts for c in t])
        ctc = F.ctc_loss(F.log_softmax(logits, -1).transpose(0, 1), flat, frames,
                         torch.tensor([len(t) for t in tgts]), blank=0, zero_infinity=True)
        ref_weight = sum(r.weight for r in self.references)
        loss = (1.0 - ref_weight) * ctc
        for ref in self.references:
            with torch.no_grad():
                ref_logits = ref.net.logits(x, widths)
            loss = loss + ref.weight * restricted_kd(logits, ref_logits, frames,
                                                     self.cfg.temperature)
        if self.anchor:
            loss = loss + self.cfg.anchor_weight * sum(((p - p0) ** 2).sum()
                                                       for p, p0 in self.anchor)
        return loss

    def run(self, seconds: float, progress: ProgressCallback = no_progress,
            cancel: CancelToken | None = None, cer_before: float | None = None,
            max_steps: int | None = None) -> dict:
        """Train for ``seconds`` or ``max_steps`` (or until early stopping); the best state is
        loaded at the end. Returns held-back CER before and after, steps, epochs, time and why
        it stopped."""
        torch.manual_seed(self.cfg.seed)
        start = time.monotonic()
        if cer_before is None:
            cer_before = evaluate(self.net, self.held, self.charset)[0].cer
        best_cer, best_state, bad = cer_before, copy.deepcopy(self.net.state_dict()), 0
        last_eval = start
        wf = self.net.cfg.width_factor
        cer_now = cer_before
        progress(0, int(seconds), f"{self.label}: held-back CER {cer_before:.1%} before training")
        while True:
            images, targets, _ = self._epoch_samples()
            keep = [i for i, (im, t) in enumerate(zip(images, targets))
                    if ctc_frames_needed(t) <= -(-im.shape[1] // wf)]
            if not keep:
                raise HtrError("No corrected line is long enough for its text to be learnt "
                               "(check the line polygons).")
            batches = bucket_batches([images[i].shape[1] for i in keep], self.cfg.batch_size,
                                     self.cfg.batch_size * 2400, self.rng)
            out_of_time = False
            self._train_mode()
            for b in batches:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                elapsed = time.monotonic() - start
                if elapsed >= seconds or (max_steps is not None and self.step >= max_steps):
                    out_of_time = True
                    break
                idx = [keep[i] for i in b]
                x, widths = to_tensor_batch([images[i] for i in idx], wf)
                self._set_lr(max(elapsed / seconds,
                                 self.step / max_steps if max_steps else 0.0))
                loss = self._loss(x, widths, [targets[i] for i in idx])
                self.opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [p for p in self.net.parameters() if p.requires_grad], self.cfg.clip_norm)
                self.opt.step()
                self.step += 1
                if self.step % 5 == 0:
                    progress(int(min(elapsed, seconds)), int(seconds),
                             f"{self.label}: step {self.step}, loss {loss.item():.2f}, "
                             f"held-back CER {cer_now:.1%}")
            if not out_of_time:
                self.epochs += 1
            now = time.monotonic()
            if out_of_time or now - last_eval >= self.cfg.eval_interval_s:
                cer_now = evaluate(self.net, self.held, self.charset)[0].cer
                self.evaluations += 1
                last_eval = time.monotonic()
                self.history.append({"step": self.step, "epoch": self.epochs,
                                     "elapsed_s": round(last_eval - start, 1),
                                     "held_cer": round(cer_now, 4)})
                if cer_now < best_cer - 1e-6:
                    best_cer, best_state, bad = cer_now, copy.deepcopy(self.net.state_dict()), 0
                else:
                    bad += 1
                progress(int(min(last_eval - start, seconds)), int(seconds),
                         f"{self.label}: held-back CER {cer_now:.1%} (best {best_cer:.1%})")
            if out_of_time:
                self.stopped = "time budget" if max_steps is None or self.step < max_steps \
                    else f"{max_steps} steps"
                break
            if bad >= self.cfg.patience:
                self.stopped = f"early stop ({self.cfg.patience} checks without gain)"
                break
        self.net.load_state_dict(best_state)
        self.net.eval()
        return {"cer_before": cer_before, "cer_after": best_cer, "steps": self.step,
                "epochs": self.epochs, "seconds": round(time.monotonic() - start, 1),
                "stopped": self.stopped, "history": self.history}


# -- the two paths ----------------------------------------------------------------------------
def replay_lines(cfg: FinetuneConfig, height: int, root: Path | None = None,
                 cache_dir: Path | None = None) -> LineSet | None:
    """A seeded sample of the base training lines (train splits of ``shared/data``), or None
    when the data is not there (a person's laptop): the guard then relies on KD only."""
    from training.data import load_lines, shared_data_dir

    base = root or shared_data_dir()
    sets = []
    for coll in ("hooker", "poilus"):
        if not (base / coll / "split_train.txt").is_file():
            continue
        try:
            sets.append(load_lines(coll, "train", height, cache_dir or REPO / "runs" / "cache",
                                   root))
        except (HtrError, OSError):
            continue
    if not sets:
        return None
    lines = LineSet.concat(sets)
    rng = np.random.default_rng(cfg.seed)
    pick = sorted(rng.choice(len(lines), min(cfg.replay_pool, len(lines)), replace=False))
    return lines.subset([int(i) for i in pick])


def synthetic_replay_lines(cfg: FinetuneConfig, base: BaseModel) -> LineSet | None:
    """``cfg.synthetic_pool`` lines rendered with the bundled handwriting fonts from text drawn
    from the base model's character LM: lines like the base's to replay where its training
    images are not at hand (a person's laptop). None without an LM or usable fonts."""
    from engine.recognition.lm import CharNgramLM
    from training.synthetic import SyntheticLines, find_handwriting_fonts

    lm_path = base.source / "lm.json"
    if not lm_path.is_file():
        return None
    try:
        lm = CharNgramLM.load(lm_path)
    except ModelError:
        return None
    rng = np.random.default_rng(cfg.seed)
    texts = [lm.sample(rng, int(rng.integers(20, 70))) for _ in range(cfg.synthetic_pool)]
    gen = SyntheticLines(texts, base.net.cfg.input_height,
                         fonts=find_handwriting_fonts(system=False), seed=cfg.seed)
    if not gen.available:
        return None
    pairs = [gen.render() for _ in range(cfg.synthetic_pool)]
    return LineSet([im for im, _ in pairs], [t for _, t in pairs],
                   [f"synthetic/replay/{i}" for i in range(len(pairs))])


def guard_replay(cfg: FinetuneConfig, base: BaseModel, cache_dir: Path | None = None
                 ) -> LineSet | None:
    """The lines the configured guard replays: base training lines ("replay", "kd+replay";
    None where the data is absent) or synthetic ones ("kd+synthetic"); None for the others."""
    if cfg.guard in ("replay", "kd+replay"):
        return replay_lines(cfg, base.net.cfg.input_height, cache_dir=cache_dir)
    if cfg.guard == "kd+synthetic":
        return synthetic_replay_lines(cfg, base)
    return None


def _share(steps: int | None, share: float) -> int | None:
    return None if steps is None else max(1, round(steps * share))


def _frozen(net: HtrJandNet) -> HtrJandNet:
    ref = copy.deepcopy(net).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def _guard(cfg: FinetuneConfig, base_net: HtrJandNet, height: int, replay: LineSet | None
           ) -> tuple[list[Reference], LineSet | None, str]:
    """References and replay lines for the configured guard, and the guard actually used."""
    refs: list[Reference] = []
    use_replay = cfg.guard in REPLAY_GUARDS and replay is not None
    if cfg.guard.startswith("kd") or (cfg.guard == "replay" and replay is None):
        refs.append(Reference(_frozen(base_net), cfg.guard_weight))
    replayed = "synthetic" if cfg.guard == "kd+synthetic" else "replay"
    used = "+".join(n for n, on in (("kd", bool(refs)), (replayed, use_replay),
                                    ("anchor", cfg.anchor_weight > 0 and not use_replay))
                    if on) or "none"
    return refs, replay if use_replay else None, used


def train_direct(base: BaseModel, charset: Charset, train: LineSet, held: LineSet,
                 cfg: FinetuneConfig, progress: ProgressCallback, cancel: CancelToken | None,
                 replay: LineSet | None, cer_before: float) -> tuple[HtrJandNet, dict]:
    """The student fine-tuned on the corrections for the whole budget."""
    extra = charset.num_classes - base.net.cfg.num_classes
    net = extend_output_layer(base.net, extra)
    refs, rep, used = _guard(cfg, base.net, net.cfg.input_height, replay)
    tuner = FineTuner(net, charset, train, held, cfg, references=refs, replay=rep)
    result = tuner.run(60 * cfg.minutes, progress, cancel, cer_before, cfg.max_steps)
    return net, {**result, "path": "direct", "guard": used}


def train_distill(base: BaseModel, teacher_path: Path, charset: Charset, train: LineSet,
                  held: LineSet, cfg: FinetuneConfig, progress: ProgressCallback,
                  cancel: CancelToken | None, replay: LineSet | None, cer_before: float
                  ) -> tuple[HtrJandNet, dict]:
    """The teacher fine-tuned on the corrections, then the student trained on them with the
    teacher's posteriors (alpha * CTC + (1 - alpha) * KD), all within the same budget."""
    teacher_base = load_base(teacher_path)
    missing = [c for c in base.charset if c not in teacher_base.charset]
    if teacher_base.charset != base.charset[: len(teacher_base.charset)] or missing:
        raise ModelError(f"teacher {teacher_path} was trained with another charset")
    total = 60 * cfg.minutes
    t_seconds = cfg.teacher_share * total
    extra_t = charset.num_classes - teacher_base.net.cfg.num_classes
    teacher = extend_output_layer(teacher_base.net, extra_t)
    t_refs, t_rep, _ = _guard(cfg, teacher_base.net, teacher.cfg.input_height, replay)

    def t_progress(done: int, _total: int, message: str = "") -> None:
        progress(done, int(total), message)
    t_result = FineTuner(teacher, charset, train, held, cfg, references=t_refs, replay=t_rep,
                         label="teacher").run(t_seconds, t_progress, cancel,
                         max_steps=_share(cfg.max_steps, cfg.teacher_share))
    teacher = _frozen(teacher)
    extra = charset.num_classes - base.net.cfg.num_classes
    net = extend_output_layer(base.net, extra)
    refs = [Reference(teacher, 1.0 - cfg.distill_alpha)]
    s_refs, rep, used = _guard(cfg, base.net, net.cfg.input_height, replay)
    if s_refs:  # the base anchor shares the KD part with the teacher
        refs = [Reference(teacher, (1.0 - cfg.distill_alpha) * (1 - cfg.guard_weight)),
                Reference(s_refs[0].net, (1.0 - cfg.distill_alpha) * cfg.guard_weight)]
    spent = t_result["seconds"]

    def s_progress(done: int, _total: int, message: str = "") -> None:
        progress(int(spent + done), int(total), message)
    result = FineTuner(net, charset, train, held, cfg, references=refs, replay=rep).run(
        max(1.0, total - spent), s_progress, cancel, cer_before,
        _share(cfg.max_steps, 1 - cfg.teacher_share))
    result["seconds"] = round(result["seconds"] + spent, 1)
    result["teacher"] = {k: t_result[k] for k in ("cer_before", "cer_after", "steps", "seconds")}
    result["teacher"]["checkpoint"] = str(teacher_path)
    return net, {**result, "path": "distill", "guard": used}


# -- one run, start to end --------------------------------------------------------------------
def prepare(lines: LineSet, base: BaseModel, readings: LineSet | None = None
            ) -> tuple[Charset, list[str], LineSet, LineSet, str]:
    """The (extended) charset, its new characters, the train / held-back lines and what the
    held-back lines are ("corrections" or "readings"). ``readings`` (self-training: lines the
    recognizer read, texts as read) are used only where too few lines are corrected to train
    on (``MIN_LINES``): then they are learnt from with the corrected ones, and read ones are
    held back, so the result measures agreement with the recognizer's own readings, not
    accuracy. With enough corrections they are left out: added to 25 or 100 corrected lines
    they made the version read a new hand worse (docs/finetune.md, session 13)."""
    from training.corrections import MIN_LINES, held_back_kind, holdout_split

    added = new_characters(base.charset, lines.texts)
    charset = Charset(base.charset + added)
    read = len(readings) if readings is not None else 0
    kind = held_back_kind(len(lines), read)
    if kind is None and read:
        raise HtrError(f"{len(lines)} corrected and {len(readings)} read line(s) found; "
                       f"fine-tuning needs at least {MIN_LINES} of one kind (every 10th, at "
                       "least 10, is held back to measure the result). Correct or recognise "
                       "more lines and try again.")
    if kind != "readings":  # (with too few corrected lines holdout_split says how many more)
        train_idx, held_idx = holdout_split(len(lines))
        return charset, added, lines.subset(train_idx), lines.subset(held_idx), "corrections"
    train_idx, held_idx = holdout_split(len(readings))
    return (charset, added, LineSet.concat([lines, readings.subset(train_idx)]),
            readings.subset(held_idx), "readings")


def finetune_lines(lines: LineSet, base: BaseModel, cfg: FinetuneConfig, *,
                   teacher: Path | None = None, progress: ProgressCallback = no_progress,
                   cancel: CancelToken | None = None, replay: LineSet | None = None,
                   readings: LineSet | None = None) -> tuple[HtrJandNet, Charset, dict]:
    """Fine-tune ``base`` on the corrected ``lines`` (and on ``readings``, see ``prepare``);
    returns the network, its charset and a summary."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    if cfg.path not in PATHS or cfg.guard not in GUARDS:
        raise HtrError(f"unknown path {cfg.path!r} or guard {cfg.guard!r}")
    charset, added, train, held, held_of = prepare(lines, base, readings)
    base_charset = Charset(base.charset)
    before_rates, _ = evaluate(base.net, held, base_charset)
    path = cfg.path if cfg.path != "auto" else (DEFAULT_PATH if teacher else "direct")
    if path == "distill" and teacher is None:
        raise ModelError("the distill path needs a teacher checkpoint (none found)")
    args = (charset, train, held, cfg, progress, cancel, replay, before_rates.cer)
    if path == "distill":
        net, result = train_distill(base, teacher, *args)
    else:
        net, result = train_direct(base, *args)
    net, alpha, after_rates = _interpolated(net, base.net, cfg.interpolate, held, charset,
                                            before_rates.cer)
    result.update({"interpolate": alpha, "lines_used": len(lines),
                   "reading_lines": len(readings) if held_of == "readings" else 0,
                   "held_back_of": held_of, "train_lines": len(train),
                   "held_back_lines": len(held), "new_characters": added,
                   "cer_before": round(before_rates.cer, 4), "cer_after": round(after_rates.cer, 4),
                   "wer_before": round(before_rates.wer, 4), "wer_after": round(after_rates.wer, 4),
                   "held_back_sources": held.sources})
    return net, charset, result


def run_finetune(inputs: list[str | Path], cfg: FinetuneConfig, name: str,
                 base_model: str | Path | None = None, teacher: str | Path | None = None,
                 progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
                 pages: dict | None = None) -> dict:
    """Collect corrections, fine-tune, store a new version; returns the summary with
    ``model_dir``. Nothing is written to the store unless the run completes."""
    from engine import model_store
    from training.corrections import collect_lines
    from training.finetune_version import write_version

    started = time.time()
    model_store.ensure_writable()  # fail before minutes of training, not after
    with model_store.training_lock():
        model_store.clean_stale_staging()
        base_dir = Path(base_model) if base_model else _default_base()
        base = load_base(base_dir)
        teacher_path = find_teacher(base, teacher) if cfg.path != "direct" else None
        lines, readings, report = collect_lines(inputs, base.net.cfg.input_height, progress,
                                                cancel, pages, readings=cfg.readings)
        replay = guard_replay(cfg, base)
        net, charset, result = finetune_lines(lines, base, cfg, teacher=teacher_path,
                                              progress=progress, cancel=cancel, replay=replay,
                                              readings=readings if cfg.readings else None)
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(int(60 * cfg.minutes), int(60 * cfg.minutes), "writing the new model version")
        result["pages"] = report.pages_with_corrections
        result["skipped_lines"] = report.skipped_geometry
        result["wall_s"] = round(time.time() - started, 1)
        folder = write_version(net, charset, base, cfg, result, name, texts=lines.texts)
    result["model_dir"] = str(folder)
    result["name"] = folder.name
    return result


def _default_base() -> Path:
    from engine.models import default_model_dir

    return default_model_dir()


# -- child process ---------------------------------------------------------------------------
def resolve_base(text: str | None) -> Path | None:
    """A model name of the registry, a folder or a checkpoint file."""
    if not text:
        return None
    if Path(text).is_file():
        return Path(text)
    from engine.model_store import resolve

    return resolve(text).path


def _emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _watch_stdin(cancel: CancelToken) -> None:
    """The parent asks to cancel by writing a line "cancel" (or by closing stdin)."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    cancel.cancel()


def main(argv: list[str] | None = None) -> int:
    """``python -m training.finetune --json ...``: JSON lines on stdout (events progress,
    result, cancelled, error); exit 0, 130 (cancelled) or 2 (error)."""
    parser = argparse.ArgumentParser(prog="python -m training.finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="JSON lines; cancel via stdin")
    args = parser.parse_args(argv)
    cancel = CancelToken()
    if args.json:
        threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True).start()

    def progress(done: int, total: int, message: str = "") -> None:
        if args.json:
            _emit({"event": "progress", "done": done, "total": total, "message": message})
        else:
            print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)
    try:
        result = run_finetune(args.inputs, config_from_args(args), args.name,
                              resolve_base(args.base), args.teacher, progress, cancel)
    except CancelledError:
        _emit({"event": "cancelled"}) if args.json else print("cancelled", file=sys.stderr)
        return 130
    except HtrError as exc:
        _emit({"event": "error", "message": str(exc)}) if args.json else \
            print(f"error: {exc}", file=sys.stderr)
        return 2
    _emit({"event": "result", **{k: v for k, v in result.items() if k != "history"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
