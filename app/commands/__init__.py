"""Registry of ``htrjand`` sub-commands; each module exposes ``register(subparsers)``."""

from __future__ import annotations

import importlib
from types import ModuleType

_NAMES = ["info", "export", "lines", "train", "recognize", "evaluate", "batch", "segment", "eval_seg",
          "models", "finetune"]

COMMAND_MODULES: list[ModuleType] = [importlib.import_module(f"app.commands.{n}") for n in _NAMES]
