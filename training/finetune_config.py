"""Settings of a fine-tuning run and its command-line options, without torch (the CLI and the
window read them before any training starts)."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.errors import HtrError
from training.augment import AugmentConfig

GUARDS = ("kd+synthetic", "kd", "replay", "kd+replay", "none")
REPLAY_GUARDS = ("replay", "kd+replay", "kd+synthetic")  # guards that replay lines
PATHS = ("auto", "direct", "distill")


@dataclass
class FinetuneConfig:
    """Everything that decides a fine-tuning run (saved in the version's card)."""

    minutes: float = 5.0  # training time budget (cutting lines and export come on top)
    path: str = "auto"  # "direct", "distill" (needs a teacher) or "auto" (see DEFAULT_PATH)
    # Against forgetting (GUARDS): distillation from the base model ("kd") on the corrected
    # lines, plus replayed lines: the base training lines ("kd+replay", only where
    # shared/data is on the machine) or synthetic lines ("kd+synthetic": the bundled
    # handwriting fonts writing text drawn from the base's character LM, so it works on any
    # laptop). Without replayed lines (no data, no LM or no fonts) the guard falls back to "kd"
    # plus the anchor below. Measured (benchmarks/finetune.py, 100 lines, 376 steps, alpha
    # 0.6; test CER change / base val change, beam + LM; docs/finetune.md): kd+anchor -34 % /
    # +1.2 pt, kd+synthetic -30 % / +0.8 pt (with the training texts and 19 system fonts
    # instead of LM text and the 11 bundled fonts: -34 % / +0.9 pt).
    guard: str = "kd+synthetic"
    lr: float = 3e-4
    warmup_steps: int = 20
    batch_size: int = 8
    clip_norm: float = 5.0
    weight_decay: float = 0.01
    guard_weight: float = 0.3  # share of the loss given to distillation from the base model
    temperature: float = 2.0
    distill_alpha: float = 0.5  # CTC share of the student's loss on the distill path
    teacher_share: float = 0.4  # of the budget spent fine-tuning the teacher (distill path)
    replay_ratio: float = 0.5  # replayed base lines per corrected line in each epoch
    replay_pool: int = 400  # base training lines sampled once for replay
    synthetic_pool: int = 1500  # synthetic lines rendered once for "kd+synthetic"
    eval_interval_s: float = 10.0  # held-back CER at most this often (and at each epoch's end)
    patience: int = 8  # held-back evaluations without gain before stopping early
    freeze_batchnorm: bool = True  # keep the base's normalisation statistics (tiny data)
    # L2-SP against forgetting: loss += w * sum((theta - theta_base)^2), where no base lines are
    # replayed. Measured (benchmarks/finetune.py, 100 lines, 5 min): kd alone -49 % test CER /
    # +7.2 pt base val; w = 0.01 -44 % / +3.7 pt; w = 0.03 -40 % / +2.9 pt; with kd+replay it
    # only cost gain (-46 % -> -41 %, +1.9 pt both), so it is left out there.
    anchor_weight: float = 0.01
    freeze_encoder: bool = False  # train only the attention layers and the head
    # WiSE-FT against forgetting: the version's weights are alpha * fine-tuned + (1 - alpha) *
    # base (new output rows as trained); 1.0 keeps the fine-tuned weights as they are. Measured
    # on the phase-6 student (benchmarks/finetune.py --interpolate, 100 lines, 5 min, 2 idle
    # threads, kd+synthetic; test CER change / base val change, greedy and with beam + LM, the
    # application's reading): 1.0 -47 % / +5.6 pt, -50 % / +4.0 pt; 0.6 -34 % / +1.8,
    # -41 % / +1.3; 0.5 -30 % / +0.9, -38 % / +0.8 (25 lines: -18 % / +0.6, -22 % / +0.8).
    # 0.5 is the share that keeps both the 30 % gain and the 1-point forgetting targets as
    # the application reads. (Phase 5, kd+anchor: 0.6 -32 % / +1.4, -34 % / +1.3.)
    interpolate: float = 0.5
    # The version reads with its parent's beam search and character LM, the LM's counts plus
    # this many times those of the corrected lines (the hand's spelling and abbreviations).
    # Measured on cremma-abrege test (docs/finetune.md), test CER after 25 / 100 lines: greedy
    # 18.2 / 15.1 %, parent LM 15.4 / 13.2 %, corrections x1 15.2 / 12.2 %, x5 14.9 / 12.2 %,
    # x20 15.1 / 12.0 %.
    corrections_lm_weight: int = 5
    # Self-training, where fewer than 20 lines are corrected: learn from the lines the
    # recognizer read and nobody corrected, their texts as read (errors and all). Measured on
    # cremma-abrege (a hand the base never saw; benchmarks/finetune.py --readings,
    # docs/finetune.md), 5 minutes, as the application reads: with no corrections, its 323
    # pool lines as read (18.7 % CER) took the test pages from 19.2 % to 16.8 % (-12 %), base
    # val +0.5 pt. Added to 25 or 100 corrected lines they read worse than those alone
    # (16.2 % against 15.3 %, 15.0 % against 13.2 %), so with 20 or more corrections they are
    # not used.
    readings: bool = False
    threads: int = 2
    seed: int = 0
    max_steps: int | None = None  # also stop after this many steps (benchmarks on a busy machine)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return asdict(self)


#: The path "auto" takes when a teacher is available: "direct" or "distill". Set from the
#: measurements of benchmarks/finetune.py (see its docstring): with 100 cremma-abrege lines and
#: 5 minutes on 2 threads, direct:kd took test CER 35.3 % -> 16.3 %, distill:kd -> 18.0 %.
DEFAULT_PATH = "direct"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PROJECT_OR_PAGES",
                        help="project folders, page images or PAGE-XML/ALTO files")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time (default 5)")
    parser.add_argument("--name", required=True, help="name of the new model version")
    parser.add_argument("--base", help="model to start from (name, folder or .pt; default: the "
                                       "current default model)")
    parser.add_argument("--path", choices=PATHS, default="auto",
                        help="direct fine-tuning, or teacher fine-tuning + distillation")
    parser.add_argument("--guard", choices=GUARDS, default=FinetuneConfig.guard,
                        help="against forgetting (default %(default)s)")
    parser.add_argument("--anchor-weight", type=float, default=FinetuneConfig.anchor_weight,
                        help="pull towards the base weights where no base lines are replayed "
                             "(more: less forgetting, less gain; 0: off; default %(default)s)")
    parser.add_argument("--interpolate", type=float, default=FinetuneConfig.interpolate,
                        metavar="ALPHA",
                        help="keep ALPHA of the fine-tuned weights and 1-ALPHA of the base's "
                             "(less: less forgetting, less gain; default %(default)s)")
    parser.add_argument("--with-readings", action="store_true",
                        help="where fewer than 20 lines are corrected, also learn from the "
                             "lines the model read and nobody corrected, as read (self-"
                             "training; the held-back lines are then read ones). With 20 or "
                             "more corrections only those are learnt: they read better")
    parser.add_argument("--teacher", type=Path, help="teacher checkpoint for --path distill")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    if not args.minutes or args.minutes <= 0:
        raise HtrError("--minutes must be positive")
    if args.anchor_weight < 0:
        raise HtrError("--anchor-weight must not be negative")
    if not 0 < args.interpolate <= 1:
        raise HtrError("--interpolate must lie in (0, 1]: the share of the fine-tuned weights")
    return FinetuneConfig(minutes=args.minutes, path=args.path, guard=args.guard,
                          anchor_weight=args.anchor_weight, interpolate=args.interpolate,
                          readings=args.with_readings,
                          threads=args.threads, seed=args.seed)
