"""The result of a batch (pages done, skipped, failed, time per stage) and its progress rate."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.pipeline import STAGES
from engine.progress import format_duration

SUMMARY_NAME = "summary.json"


@dataclass
class Summary:
    """What a batch did. ``failures`` lists ``{"page": image path, "reason": text}``."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    workers: int = 0
    scheduler: str = "local"
    model: str | None = None
    options: dict = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)

    def add_failure(self, page: Path | str, reason: str) -> None:
        self.failed += 1
        self.failures.append({"page": str(page), "reason": reason})

    def add_timings(self, timings: dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    @property
    def pages_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        stages = {s: {"total_s": round(self.stage_seconds[s], 3),
                      "per_page_s": round(self.stage_seconds[s] / self.done, 4)
                      if self.done else None}
                  for s in STAGES if s in self.stage_seconds}
        return {"total": self.total, "done": self.done, "skipped": self.skipped,
                "failed": self.failed, "cancelled": self.cancelled,
                "seconds": round(self.seconds, 3),
                "pages_per_second": round(self.pages_per_second, 3),
                "workers": self.workers, "scheduler": self.scheduler, "model": self.model,
                "options": self.options, "stages": stages, "failures": self.failures}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def write(self, out_dir: Path) -> Path:
        """``OUT/summary.json``, atomically."""
        return atomic_write_text(Path(out_dir) / SUMMARY_NAME, self.to_json() + "\n")


class Rate:
    """Pages per second and time left, over the pages processed in this run (not skipped)."""

    def __init__(self, total: int, clock=time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.start = clock()
        self.processed = 0

    def message(self, finished: int) -> str:
        """``"2.4 pages/s, ETA 1m05s"`` once the first page is processed."""
        elapsed = self.clock() - self.start
        if self.processed == 0 or elapsed <= 0:
            return "starting"
        rate = self.processed / elapsed
        left = max(self.total - finished, 0) / rate
        return f"{rate:.2f} pages/s, ETA {format_duration(left)}"


