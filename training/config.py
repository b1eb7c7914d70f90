"""Training configuration as dataclasses with defaults, saved as JSON beside each run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.augment import AugmentConfig


@dataclass
class Stage:
    """One curriculum stage: how many epochs, the share of synthetic lines, the longest real
    line admitted (None = all), and whether real lines are augmented."""

    name: str
    epochs: int
    synthetic_ratio: float = 0.0
    max_chars: int | None = None
    augment: bool = True


def default_curriculum() -> list[Stage]:
    """Synthetic + short lines first, then all real lines with a little synthetic left."""
    return [Stage("short+synthetic", 1, synthetic_ratio=0.3, max_chars=40),
            Stage("all-real", 1000, synthetic_ratio=0.1)]


@dataclass
class TrainConfig:
    """Everything that decides a training run; seeded, so a run is reproducible."""

    model: str = "student"  # "teacher" or "student": a config of training.network
    run_dir: str = "runs/student"
    collections: tuple[str, ...] = ("hooker", "poilus")
    train_split: str = "train"
    val_split: str = "val"
    height: int = 64
    width_factor: int | None = None  # image columns per CTC frame; None: the network's own (8)
    channels: tuple[int, ...] | None = None  # encoder channels instead of the model's (a grown net)
    extra_convs: tuple[int, ...] | None = None  # residual gated convs per block (a deepened net)
    epochs: int = 30
    batch_size: int = 16
    max_batch_pixels: int = 16 * 64 * 1200
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    schedule: str = "cosine"  # "cosine" (over epochs or the time budget) or "plateau"
    clip_norm: float = 5.0
    ema_decay: float = 0.0  # > 0: validate and keep an exponential moving average of the weights
    patience: int = 6  # epochs without val CER gain before stopping
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # "cpu", "cuda" or "auto" (cuda when torch sees a GPU)
    workers: int = 0  # processes that augment lines (0: in the training process)
    time_budget_min: float | None = None  # stop (and finish the cosine) after this wall time
    max_train_lines: int | None = None  # a subset, for quick comparisons
    repeats: dict[str, int] = field(default_factory=dict)  # a collection's lines n times an epoch
    max_val_lines: int | None = None
    teacher: str | None = None  # checkpoint of a trained teacher: distillation
    init: str | None = None  # start from this checkpoint's weights (not its optimiser)
    alpha: float = 0.5
    temperature: float = 3.0
    curriculum: list[Stage] = field(default_factory=default_curriculum)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        data["curriculum"] = [Stage(**s) for s in data.get("curriculum", [])] or \
            default_curriculum()
        data["augment"] = AugmentConfig(**data.get("augment", {}))
        data["collections"] = tuple(data.get("collections", ("hooker", "poilus")))
        for key in ("channels", "extra_convs"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def stage_for_epoch(self, epoch: int) -> Stage:
        """The curriculum stage that epoch ``epoch`` (0-based) belongs to."""
        start = 0
        for stage in self.curriculum:
            if epoch < start + stage.epochs:
                return stage
            start += stage.epochs
        return self.curriculum[-1]
