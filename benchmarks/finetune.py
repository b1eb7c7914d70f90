"""Fine-tuning on a new hand: CER on cremma-abrege's test pages before and after fine-tuning on
the first 25/50/100/200 lines of its pool (``split_finetune.txt``), for each path and guard
against forgetting, plus the CER change on the base collections' val splits (forgetting).
Test CER is printed greedy (the network alone) and as the application reads it: the version's
beam search with the parent's character LM adapted to the corrected lines.

    nice -n 19 python benchmarks/finetune.py --minutes 5 --sizes 25 50 100 200 \
        --runs direct:kd+synthetic direct:kd direct:replay distill:kd+synthetic \
        --json runs/finetune-bench.json

``--readings`` measures self-training: the rest of the pool is given as well, with the texts
the base reads there (``--sizes 0 --readings``: no corrected line). Fine-tuning uses read lines
only where fewer than 20 lines are corrected (``FinetuneConfig.readings``), so larger sizes
measure the corrected lines alone.

Each run gets the same time budget and threads (default 2, as on an archivist's laptop). The
base is the bundled student (or ``--base``: a model folder or a training checkpoint); the teacher
for the distill path is ``--teacher`` or the one the base names. cremma-abrege is never seen by
the base model (``training.data.FORBIDDEN_FOR_BASE``). Lines are cut once and cached under
``runs/cache`` by ``training.data.load_lines``.

kraken's ``ketos train --load`` on the same lines: ``benchmarks/kraken.sh finetune --lines N
--minutes M`` (kraken in its own venv; its pretrained base model cannot be downloaded here, so
the model of ``benchmarks/kraken.sh recognition`` stands in unless ``--base`` names one).
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def evenly(lines, n: int | None):
    if not n or n >= len(lines):
        return lines
    step = len(lines) / n
    return lines.subset([int(i * step) for i in range(n)])


def decoded_cer(folder: Path, lines, threads: int) -> float:
    """CER of a model folder on ``lines`` read as the application reads them (the folder's
    default decoding: beam search + character LM where its card says so)."""
    from engine.metrics import ErrorRates
    from engine.recognition import Recognizer

    rec = Recognizer(folder, "cpu", threads=threads)
    rates = ErrorRates()
    for ref, res in zip(lines.texts, rec.recognize_images(list(lines.images), pages=lines.pages)):
        rates.add(ref, res.text)
    return rates.cer


def version_cers(net, charset, base, texts: list[str], weight: int, line_sets: list,
                 threads: int) -> list[float | None]:
    """``decoded_cer`` on each of ``line_sets`` of the fine-tuned network as its version folder
    would hold it (ONNX, the parent's LM adapted to ``texts`` with ``weight``), exported once;
    None for each set when the base has no tuned decoding (or the set is empty)."""
    import tempfile

    from training.export import onnx_bytes
    from training.finetune_version import version_lm, write_language_lms

    adapted = version_lm(base, charset, texts, weight)
    if adapted is None:
        return [None] * len(line_sets)
    lm, decoding, languages = adapted
    with tempfile.TemporaryDirectory(prefix="htrjand-ftbench-") as tmp:
        folder = Path(tmp)
        (folder / "model.onnx").write_bytes(onnx_bytes(net.eval()))
        (folder / "lm.json").write_text(lm.to_json())
        write_language_lms(folder, languages)
        card = {**base.card, "charset": charset.chars, "num_classes": charset.num_classes,
                "decoding": decoding}
        (folder / "card.json").write_text(json.dumps(card, ensure_ascii=False))
        return [decoded_cer(folder, s, threads) if len(s) else None for s in line_sets]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, help="model folder or checkpoint (default: bundled)")
    parser.add_argument("--teacher", type=Path, help="teacher checkpoint for the distill path")
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--runs", nargs="+",
                        default=["direct:kd+synthetic", "direct:kd", "distill:kd+synthetic"],
                        help="PATH:GUARD pairs (paths direct/distill, guards kd+synthetic/"
                             "kd/replay/kd+replay/none)")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--guard-weight", type=float,
                        help="share of the loss given to distillation from the base model "
                             "(default: FinetuneConfig's)")
    parser.add_argument("--anchor-weight", type=float,
                        help="L2-SP pull towards the base weights where nothing is replayed "
                             "(default: FinetuneConfig's; 0: off)")
    parser.add_argument("--freeze-encoder", action="store_true",
                        help="train only the attention layers and the head")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, help="also stop each run after this many steps: "
                        "equal work when the machine is shared and wall time means little")
    parser.add_argument("--val-lines", type=int, default=300,
                        help="base val lines (evenly sampled) to measure forgetting; 0: skip")
    parser.add_argument("--test-lines", type=int, default=0, help="subsample the test (0: all)")
    parser.add_argument("--readings", action="store_true",
                        help="self-training: the pool lines after the first N (all of them "
                             "for size 0) are given too, with the base's readings as they "
                             "were read (FinetuneConfig.readings)")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--interpolate", type=float, nargs="+", metavar="ALPHA",
                        help="WiSE-FT shares of the fine-tuned weights to measure, each on the "
                             "same fine-tuned network (default: FinetuneConfig's)")
    parser.add_argument("--encoder-interpolate", type=float, nargs="+", metavar="ALPHA",
                        help="also measure each --interpolate share with the convolutional "
                             "encoder mixed at these shares instead (e.g. 1: keep its "
                             "fine-tuned weights)")
    parser.add_argument("--lm-weights", type=int, nargs="*", default=[],
                        help="also read the test with the parent LM adapted with these weights "
                             "of the corrected lines (0: the parent LM as it is), to choose "
                             "FinetuneConfig.corrections_lm_weight")
    args = parser.parse_args(argv)

    import torch

    from training.charset import Charset
    from training.data import LineSet, load_lines
    from training.finetune import (
        FinetuneConfig,
        evaluate,
        find_teacher,
        finetune_lines,
        guard_replay,
        interpolate_weights,
        load_base,
    )
    from training.finetune_config import REPLAY_GUARDS

    torch.set_num_threads(args.threads)
    if args.base is None:
        from engine.models import bundled_models_dir

        args.base = bundled_models_dir() / "htrjand-student"
    base = load_base(args.base)
    height = base.net.cfg.input_height
    teacher = find_teacher(base, args.teacher)
    pool = load_lines("cremma-abrege", "finetune", height, args.cache_dir)
    test = evenly(load_lines("cremma-abrege", "test", height, args.cache_dir), args.test_lines)
    val = LineSet([], [], [])
    if args.val_lines:
        val = evenly(LineSet.concat([load_lines(c, "val", height, args.cache_dir)
                                     for c in ("hooker", "poilus")]), args.val_lines)
    base_cs = Charset(base.charset)
    test_before = evaluate(base.net, test, base_cs)[0].cer
    val_before = evaluate(base.net, val, base_cs)[0].cer if len(val) else float("nan")
    test_dec_before = val_dec_before = None
    if args.base.is_dir():
        test_dec_before = decoded_cer(args.base, test, args.threads)
        val_dec_before = decoded_cer(args.base, val, args.threads) if len(val) else None
    print(f"base {args.base}: test CER {test_before:.2%} ({len(test)} lines; "
          + (f"{test_dec_before:.2%} with its default decoding" if test_dec_before is not None
             else "greedy only") + f"), base val CER {val_before:.2%} ({len(val)} lines); "
          f"teacher {teacher}", flush=True)
    read_pool = None
    if args.readings:
        if not args.base.is_dir():
            raise SystemExit("--readings needs a model folder as --base (it reads the pool)")
        from engine.recognition import Recognizer

        rec = Recognizer(args.base, "cpu", threads=args.threads)
        texts = [r.text for r in rec.recognize_images(list(pool.images), pages=pool.pages)]
        read_pool = LineSet(list(pool.images), texts, list(pool.sources))
        from engine.metrics import ErrorRates

        rates = ErrorRates()
        for ref, hyp in zip(pool.texts, texts):
            rates.add(ref, hyp)
        print(f"pool as the base reads it: {rates.cer:.2%} CER ({len(pool)} lines)", flush=True)
    replays: dict = {}
    rows = []
    for size in args.sizes:
        lines = pool.subset(list(range(min(size, len(pool)))))
        readings = (read_pool.subset(list(range(len(lines), len(pool))))
                    if read_pool is not None else None)
        for spec in args.runs:
            path, guard = spec.split(":")
            if path == "distill" and teacher is None:
                print(f"{size} {spec}: skipped, no teacher", flush=True)
                continue
            kind = "synthetic" if guard == "kd+synthetic" else "base"  # what gets replayed
            if guard in REPLAY_GUARDS and kind not in replays:  # (rendered/sampled once)
                replays[kind] = guard_replay(replace(FinetuneConfig(), guard=guard), base,
                                             args.cache_dir)
            cfg = FinetuneConfig(minutes=args.minutes, path=path, guard=guard,
                                 threads=args.threads, max_steps=args.steps)
            if args.guard_weight is not None:
                cfg = replace(cfg, guard_weight=args.guard_weight)
            if args.anchor_weight is not None:
                cfg = replace(cfg, anchor_weight=args.anchor_weight)
            cfg = replace(cfg, freeze_encoder=args.freeze_encoder)
            alphas = args.interpolate or [cfg.interpolate]
            cfg = replace(cfg, interpolate=1.0)  # each alpha is applied below, to copies
            t0 = time.time()
            trained, charset, res = finetune_lines(lines, base, cfg, teacher=teacher,
                                                   replay=replays.get(kind), readings=readings)
            wall = time.time() - t0
            mixes = [(a, e) for a in alphas for e in [None, *(args.encoder_interpolate or [])]]
            for alpha, enc_alpha in mixes:
                net = interpolate_weights(copy.deepcopy(trained), base.net, alpha, enc_alpha)
                test_after = evaluate(net, test, charset)[0].cer
                val_after = evaluate(net, val, charset)[0].cer if len(val) else float("nan")
                test_dec_after = val_dec_after = None
                by_weight = {}
                if test_dec_before is not None:
                    test_dec_after, val_dec_after = version_cers(
                        net, charset, base, lines.texts, cfg.corrections_lm_weight,
                        [test, val], args.threads)
                    by_weight = {w: _round(version_cers(net, charset, base, lines.texts, w,
                                                        [test], args.threads)[0])
                                 for w in args.lm_weights}
                row = {"lines": size, "readings": res["reading_lines"], "path": path,
                       "guard": res["guard"], "interpolate": alpha,
                       "encoder_interpolate": enc_alpha,
                       "held_before": res["cer_before"], "held_after": res["cer_after"],
                       "test_before": round(test_before, 4), "test_after": round(test_after, 4),
                       "test_rel": round((test_after - test_before) / test_before, 4),
                       "test_decoded_before": _round(test_dec_before),
                       "test_decoded_after": _round(test_dec_after),
                       "test_decoded_by_lm_weight": by_weight,
                       "val_before": round(val_before, 4), "val_after": round(val_after, 4),
                       "val_decoded_before": _round(val_dec_before),
                       "val_decoded_after": _round(val_dec_after),
                       "train_s": res["seconds"], "wall_s": round(wall, 1),
                       "steps": res["steps"], "stopped": res["stopped"],
                       "minutes": args.minutes, "threads": args.threads,
                       "guard_weight": cfg.guard_weight, "anchor_weight": cfg.anchor_weight,
                       "freeze_encoder": cfg.freeze_encoder}
                rows.append(row)
                print(json.dumps(row), flush=True)
            if args.json:  # after every run, so a long benchmark keeps what it measured
                from engine.atomic import atomic_write_text

                args.json.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(args.json, json.dumps(rows, indent=1))
    print()
    print("| lines | path | guard | α | held-back CER (α 1) | test CER before → after | rel. | "
          "base val CER (forgetting) | test CER, beam + LM (the version's decoding) | "
          "base val CER, beam + LM | train s | steps |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        enc = r.get("encoder_interpolate")
        read = f" + {r['readings']} read" if r.get("readings") else ""
        print(f"| {r['lines']}{read} | {r['path']} | {r['guard']} | {r['interpolate']:g}"
              f"{'' if enc is None else f' (encoder {enc:g})'} | "
              f"{r['held_before']:.1%} → {r['held_after']:.1%} | "
              f"{r['test_before']:.1%} → {r['test_after']:.1%} | {r['test_rel']:+.0%} | "
              f"{_change(r['val_before'], r['val_after'])} | "
              f"{_change(r.get('test_decoded_before'), r.get('test_decoded_after'), True)} | "
              f"{_change(r.get('val_decoded_before'), r.get('val_decoded_after'))} | "
              f"{r['train_s']:.0f} | {r['steps']} |")
    return 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _change(before: float | None, after: float | None, relative: bool = False) -> str:
    """"b → a" with the relative change (test) or the change in points (forgetting)."""
    if before is None or after is None or before != before:  # None or NaN
        return "–"
    change = (f"{(after - before) / before:+.0%}" if relative
              else f"{100 * (after - before):+.1f} pt")
    return f"{before:.1%} → {after:.1%} ({change})"


if __name__ == "__main__":
    sys.exit(main())
