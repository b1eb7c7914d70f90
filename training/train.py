"""Train a teacher or a (distilled) student and optionally export it as a model folder.

    python -m training.train --model student --run-dir runs/student --epochs 30 \
        --time-budget-min 80 --export resources/models/htrjand-student

The same options are ``htrjand train ...``. A run folder holds config.json, train.log,
last.pt (resume by re-running the same command) and best.pt (lowest val CER).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.atomic import atomic_write_text
from training.charset import Charset
from training.config import TrainConfig
from training.data import FORBIDDEN_FOR_BASE, REPO, LineSet, load_lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=["teacher", "student", "student-wide"], default="student")
    parser.add_argument("--run-dir", type=Path, default=None, help="default: runs/<model>")
    parser.add_argument("--config", type=Path, help="a TrainConfig JSON; options below override")
    parser.add_argument("--teacher", type=Path, help="teacher checkpoint: distil the student")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's weights")
    parser.add_argument("--collections", nargs="+", default=None)
    parser.add_argument("--repeat", nargs="+", type=collection_repeat, metavar="NAME=N",
                        help="see a collection's train lines N times an epoch (e.g. poilus=2)")
    parser.add_argument("--width-factor", type=int,
                        help="image columns per CTC frame (a power of 2; the network's own: 8)")
    parser.add_argument("--channels", type=int, nargs="+",
                        help="encoder channels per block instead of the model's (e.g. a student "
                             "widened by training.grow: 16 32 48 64)")
    parser.add_argument("--extra-convs", type=int, nargs="+", metavar="N",
                        help="residual gated convs per block after its own (a student deepened "
                             "by training.grow --deepen: 0 0 0 1)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--time-budget-min", type=float)
    parser.add_argument("--max-train-lines", type=int)
    parser.add_argument("--max-val-lines", type=int)
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"],
                        help="where the network trains (default cpu)")
    parser.add_argument("--workers", type=int,
                        help="processes that augment lines, to keep a GPU fed (default 0)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--patience", type=int,
                        help="epochs without a val CER gain before stopping (config default 6)")
    parser.add_argument("--ema-decay", type=float,
                        help="keep, validate and export a moving average of the weights (e.g. 0.999)")
    parser.add_argument("--no-synthetic", action="store_true", help="real lines only")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    parser.add_argument("--export", type=Path, help="write the best model as a model folder")
    parser.add_argument("--name", default="htrjand-student", help="model name in the card")


def collection_repeat(value: str) -> tuple[str, int]:
    """``NAME=N`` of ``--repeat``."""
    name, _, count = value.partition("=")
    try:
        n = int(count)
    except ValueError:
        n = 0
    if not name or n < 1:
        raise argparse.ArgumentTypeError(f"expected NAME=N with N >= 1, not {value!r}")
    return name, n


def build_config(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig.load(args.config) if args.config else TrainConfig(model=args.model)
    cfg.model = args.model
    cfg.run_dir = str(args.run_dir or Path("runs") / args.model)
    for key in ("epochs", "time_budget_min", "max_train_lines", "max_val_lines", "alpha",
                "temperature", "lr", "threads", "seed", "device", "workers", "ema_decay", "patience",
                "width_factor"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if args.collections:
        cfg.collections = tuple(args.collections)
    if args.repeat:
        cfg.repeats = {**cfg.repeats, **dict(args.repeat)}
    if args.channels:
        cfg.channels = tuple(args.channels)
    if args.extra_convs:
        cfg.extra_convs = tuple(args.extra_convs)
    if args.teacher:
        cfg.teacher = str(args.teacher)
    if args.init:
        cfg.init = str(args.init)
    if args.no_synthetic:
        for stage in cfg.curriculum:
            stage.synthetic_ratio = 0.0
    bad = FORBIDDEN_FOR_BASE.intersection(cfg.collections)
    if bad:
        raise SystemExit(f"{sorted(bad)} is the fine-tuning set; the base model never sees it")
    return cfg


def load_data(cfg: TrainConfig, cache_dir: Path) -> tuple[LineSet, LineSet, Charset]:
    """Train and val lines of the configured collections, subsets taken evenly, and the
    charset built from the (whole) training transcriptions."""
    train = LineSet.concat([load_lines(c, cfg.train_split, cfg.height, cache_dir)
                            for c in cfg.collections])
    val = LineSet.concat([load_lines(c, cfg.val_split, cfg.height, cache_dir)
                          for c in cfg.collections])
    charset = Charset.from_texts(train.texts)
    if cfg.max_train_lines and cfg.max_train_lines < len(train):
        step = len(train) / cfg.max_train_lines
        train = train.subset([int(i * step) for i in range(cfg.max_train_lines)])
    if cfg.repeats:  # a smaller collection seen more often (each repeat augmented anew)
        colls = train.collections
        train = train.subset([i for i, c in enumerate(colls)
                              for _ in range(max(1, int(cfg.repeats.get(c, 1))))])
    if cfg.max_val_lines and cfg.max_val_lines < len(val):
        step = len(val) / cfg.max_val_lines
        val = val.subset([int(i * step) for i in range(cfg.max_val_lines)])
    return train, val, charset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    from training.trainer import Trainer

    cfg = build_config(args)
    train, val, charset = load_data(cfg, args.cache_dir)
    trainer = Trainer(cfg, train, val, charset)
    result = trainer.fit()
    atomic_write_text(Path(cfg.run_dir) / "done.json", json.dumps(
        {"best_cer": result["best_cer"], "epochs": result["epochs"],
         "elapsed_s": trainer.elapsed}, indent=1))
    skipped = dict(charset.skipped.most_common(10))
    trainer.log(f"done: best val CER {result['best_cer']:.4f} after {result['epochs']} epochs; "
                f"characters outside the charset skipped: {sum(charset.skipped.values())} "
                f"{json.dumps(skipped, ensure_ascii=False)}")
    if args.export:
        from training.export import export_model_folder

        export_model_folder(Path(cfg.run_dir) / "best.pt", args.export, name=args.name,
                            cache_dir=args.cache_dir)
        trainer.log(f"exported to {args.export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
