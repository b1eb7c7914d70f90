"""Helper of ``benchmarks/kraken.sh``: the kraken comparison's Python steps.

Two interpreters run this file, so it imports only the standard library at the top:

project venv (``.venv``), needs ``engine``/``training``:
    export  --out DIR --height H [--finetune-lines N ...]   line images + .gt.txt for ketos
    budget                                                  minutes our model trained
    ours    --out JSON [--threads 2] [--model DIR]          our val CER and lines/s, same lines
    score   --hyp JSON                                      CER (our metric) of kraken's texts

kraken venv (``runs/kraken/venv``), needs ``kraken``:
    train   --minutes M --clock cpu|wall --log JSON -- KETOS-TRAIN-ARGS...
    speed   --model M --manifest TXT... --out JSON [--threads 2]

Lines are cut by the engine's own cutter (``training.data.load_lines``: polygon mask, scale from
the baseline spacing, NFC text), so kraken trains and is tested on exactly the pixels and texts
our recognizer sees, only at kraken's input height.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (set name, collection, split) exported for ketos; "train" is hooker+poilus train together.
EXPORT_SETS: list[tuple[str, str, str]] = [
    ("train", "hooker", "train"), ("train", "poilus", "train"),
    ("val-hooker", "hooker", "val"), ("val-poilus", "poilus", "val"),
    ("cremma-finetune", "cremma-abrege", "finetune"), ("cremma-test", "cremma-abrege", "test"),
]


# ----------------------------------------------------------------------------- export (project)

def write_line(folder: Path, index: int, image, text: str) -> Path:
    """One ``NNNNNN.png`` + ``NNNNNN.gt.txt`` pair (kraken's ``path`` format); returns the PNG."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{index:06d}.png"
    Image.fromarray(image).save(png)
    png.with_suffix(".gt.txt").write_text(text + "\n", encoding="utf-8")
    return png


def write_manifest(path: Path, images: list[Path]) -> None:
    """A ketos ``-t``/``-e`` manifest: one absolute image path a line (written atomically)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{p.resolve()}\n" for p in images), encoding="utf-8")
    os.replace(tmp, path)


def evenly(n_total: int, n: int | None) -> list[int]:
    """``n`` indices spread evenly over ``range(n_total)`` (all when ``n`` is falsy or larger)."""
    if not n or n >= n_total:
        return list(range(n_total))
    step = n_total / n
    return [int(i * step) for i in range(n)]


def export_sets(out: Path, height: int, cache_dir: Path, finetune_lines: list[int],
                sets: list[tuple[str, str, str]] | None = None, root: Path | None = None,
                eval_lines: list[int] | None = None) -> dict:
    """Write every set's lines under ``out/<set>/`` and its manifest ``out/<set>.txt``; also
    ``cremma-finetune-<N>.txt`` (first N lines of the pool) and ``<val or test set>-<K>.txt``
    (K lines evenly sampled: quicker model selection and tests in short runs). Idempotent per set."""
    from training.data import load_lines

    sets = sets if sets is not None else EXPORT_SETS
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, int] = {}
    grouped: dict[str, list[tuple[str, str]]] = {}
    for name, coll, split in sets:
        grouped.setdefault(name, []).append((coll, split))
    for name, parts in grouped.items():
        manifest = out / f"{name}.txt"
        stamp = out / f"{name}.json"
        want = {"height": height, "parts": [list(p) for p in parts]}
        if manifest.is_file() and stamp.is_file() and \
                json.loads(stamp.read_text()).get("key") == want:
            pngs = [Path(p) for p in manifest.read_text().split("\n") if p]
        else:
            pngs = []
            for coll, split in parts:
                lines = load_lines(coll, split, height, cache_dir, root)
                for img, text in zip(lines.images, lines.texts):
                    pngs.append(write_line(out / name, len(pngs), img, text))
            write_manifest(manifest, pngs)
            stamp.write_text(json.dumps({"key": want, "lines": len(pngs)}))
        summary[name] = len(pngs)
        if name == "cremma-finetune":
            for n in finetune_lines:
                write_manifest(out / f"{name}-{n}.txt", pngs[:n])
        for k in [k for k in eval_lines or [] if k > 0] if name.startswith(("val-", "cremma-test")) else []:
            write_manifest(out / f"{name}-{k}.txt", [pngs[i] for i in evenly(len(pngs), k)])
    return summary


# ------------------------------------------------------------------------------- ours (project)

def our_training_seconds(card: dict) -> float:
    """Training time of the bundled model, its initialising run included (the card's
    ``cpu_time_s``: the training loops' time on ``threads`` threads, validation excluded)."""
    training = card.get("training", {})
    init = training.get("initialised_from") or {}
    return round(float(training.get("cpu_time_s", 0.0)) + float(init.get("cpu_time_s", 0.0)), 1)


def our_figures(threads: int, height_cache: Path, max_lines: int = 0,
                model_dir: Path | None = None) -> dict:
    """Our model (default: the bundled one; e.g. a run trained from scratch for as long as
    kraken) on the same val lines (its own input height): CER per collection, greedy, and
    lines/s with ``threads`` ONNX Runtime threads (after an 8-line warm-up)."""
    sys.path.insert(0, str(REPO))
    from engine.metrics import ErrorRates
    from engine.models import default_model_dir, load_card
    from engine.recognition import Recognizer
    from training.data import load_lines

    model = model_dir or default_model_dir()
    card = load_card(model)
    rec = Recognizer(model, "cpu", beam=1, threads=threads)
    out: dict = {"model": card["name"], "version": card.get("version"), "threads": threads,
                 "training_s": our_training_seconds(card),
                 "training_threads": card.get("training", {}).get("threads"), "val": {}}
    images, texts, colls = [], [], []
    for coll in ("hooker", "poilus"):
        lines = load_lines(coll, "val", card["input"]["height"], height_cache)
        keep = evenly(len(lines), max_lines)
        images += [lines.images[i] for i in keep]
        texts += [lines.texts[i] for i in keep]
        colls += [coll] * len(keep)
    rec.recognize_images(images[:8])
    t0 = time.perf_counter()
    hyps = [r.text for r in rec.recognize_images(images)]
    seconds = time.perf_counter() - t0
    rates: dict[str, ErrorRates] = {}
    for coll, ref, hyp in zip(colls, texts, hyps):
        rates.setdefault(coll, ErrorRates()).add(ref, hyp)
        rates.setdefault("all", ErrorRates()).add(ref, hyp)
    out["val"] = {k: {"cer": round(v.cer, 4), "lines": v.lines} for k, v in rates.items()}
    out["lines_per_s"] = round(len(images) / seconds, 1)
    return out


def score_hypotheses(hyp_file: Path) -> dict:
    """CER with our metric (``engine.metrics.ErrorRates``) of kraken's texts per manifest."""
    sys.path.insert(0, str(REPO))
    from engine.metrics import ErrorRates

    blob = json.loads(hyp_file.read_text())
    result = {}
    for name, rows in blob["sets"].items():
        rates = ErrorRates()
        for row in rows:
            rates.add(row["ref"], row["hyp"])
        result[name] = {"cer": round(rates.cer, 4), "wer": round(rates.wer, 4),
                        "lines": rates.lines}
    return result


# --------------------------------------------------------------------------------- kraken venv

def ketos_train(argv: list[str], minutes: float, clock: str, log: Path) -> int:
    """Run ``ketos train ARGV`` in this process with a time budget counted like our trainer's
    (``training.trainer``: the training loop only, data loading included, validation and setup
    excluded). A Lightning callback stops fitting once the loop has used ``minutes`` of process
    CPU time (``clock=cpu``: all threads summed, robust on a shared machine) or of wall time;
    Lightning then validates once more and kraken writes ``best_<score>.<format>`` as usual.
    ``--workers 0`` in ARGV keeps data loading in this process, so it is counted."""
    import kraken.train.utils as kraken_train_utils
    import lightning.pytorch as pl
    from kraken.ketos import cli

    budget = minutes * 60.0
    now = time.process_time if clock == "cpu" else time.perf_counter
    state = {"used": 0.0, "mark": None, "steps": 0, "val_passes": 0, "stopped": False,
             "setup_cpu": None, "wall0": time.perf_counter(), "train_wall0": None}

    def spent() -> float:
        return state["used"] + (now() - state["mark"] if state["mark"] is not None else 0.0)

    class Budget(pl.Callback):
        """Counts training-loop time (paused during validation) and stops at the budget."""

        def on_train_start(self, trainer, pl_module) -> None:
            state["setup_cpu"] = time.process_time()
            state["train_wall0"] = time.perf_counter()
            state["mark"] = now()

        def on_validation_start(self, trainer, pl_module) -> None:
            if state["mark"] is not None:
                state["used"], state["mark"] = spent(), None

        def on_validation_end(self, trainer, pl_module) -> None:
            state["val_passes"] += 1
            if state["train_wall0"] is not None and not trainer.should_stop:
                state["mark"] = now()

        def on_train_batch_end(self, trainer, *args, **kwargs) -> None:
            state["steps"] += 1
            if spent() >= budget and not trainer.should_stop:
                state["stopped"] = True
                trainer.should_stop = True

    original = kraken_train_utils.KrakenTrainer.__init__

    def patched(self, *args, **kwargs) -> None:
        callbacks = kwargs.get("callbacks") or []
        kwargs["callbacks"] = [*(callbacks if isinstance(callbacks, list) else [callbacks]),
                               Budget()]
        original(self, *args, **kwargs)

    kraken_train_utils.KrakenTrainer.__init__ = patched
    rc = 0
    try:
        cli.main(args=["-d", "cpu", *argv], prog_name="ketos", standalone_mode=False)
    except AttributeError as exc:  # best_model_score is None: no validation ran
        print(f"kraken_lines: no validation finished within the budget ({exc}); "
              "raise --minutes or lower --freq", file=sys.stderr)
        rc = 3
    except SystemExit as exc:
        rc = int(exc.code or 0)
    log.write_text(json.dumps({
        "clock": clock, "budget_s": budget, "train_s": round(spent(), 1),
        "setup_cpu_s": round(state["setup_cpu"] or 0.0, 1),
        "cpu_s": round(time.process_time(), 1),
        "wall_s": round(time.perf_counter() - state["wall0"], 1), "steps": state["steps"],
        "val_passes": state["val_passes"], "stopped_by_budget": state["stopped"], "rc": rc}))
    return rc


def kraken_speed(model: Path, manifests: list[Path], threads: int, out: Path,
                 max_lines: int = 0) -> dict:
    """Recognise every line of the manifests with kraken's Python API (one bbox line per image,
    greedy CTC, ``threads`` torch threads, no line-extraction workers) and time it. Writes the
    texts (for ``score``) and returns lines/s."""
    import torch
    from kraken.configs import RecognitionInferenceConfig
    from kraken.containers import BBoxLine, Segmentation
    from kraken.tasks import RecognitionTaskModel
    from PIL import Image

    torch.set_num_threads(threads)
    net = RecognitionTaskModel.load_model(model)
    config = RecognitionInferenceConfig(num_line_workers=0)
    jobs: list[tuple[str, Path, str]] = []
    for manifest in manifests:
        pngs = [Path(p) for p in manifest.read_text().split("\n") if p]
        for i in evenly(len(pngs), max_lines):
            ref = pngs[i].with_suffix(".gt.txt").read_text(encoding="utf-8").rstrip("\n")
            jobs.append((manifest.stem, pngs[i], ref))

    def recognise(png: Path) -> str:
        im = Image.open(png)
        im.load()
        seg = Segmentation(type="bbox", imagename=str(png), text_direction="horizontal-lr",
                           script_detection=False,
                           lines=[BBoxLine(id="l", bbox=(0, 0, im.width, im.height))])
        return "".join(r.prediction for r in net.predict(im, seg, config))

    for _, png, _ in jobs[:8]:
        recognise(png)  # warm-up
    sets: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for name, png, ref in jobs:
        sets.setdefault(name, []).append({"ref": ref, "hyp": recognise(png)})
    seconds = time.perf_counter() - t0
    result = {"lines": len(jobs), "seconds": round(seconds, 2), "threads": threads,
              "lines_per_s": round(len(jobs) / seconds, 2), "sets": sets}
    out.write_text(json.dumps(result, ensure_ascii=False))
    return result


# ------------------------------------------------------------------------------------------ CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    p.add_argument("--finetune-lines", type=int, nargs="*", default=[])
    p.add_argument("--eval-lines", type=int, nargs="*", default=[])
    p = sub.add_parser("ours")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-lines", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    p.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    sub.add_parser("budget", help="minutes our bundled model trained (default kraken budget)")
    p = sub.add_parser("score")
    p.add_argument("--hyp", type=Path, required=True)
    p = sub.add_parser("train")
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("ketos_args", nargs=argparse.REMAINDER)
    p = sub.add_parser("speed")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--manifest", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-lines", type=int, default=0)
    args = parser.parse_args(argv)

    if args.cmd == "export":
        sys.path.insert(0, str(REPO))
        summary = export_sets(args.out, args.height, args.cache_dir, args.finetune_lines,
                              eval_lines=args.eval_lines)
        print(json.dumps(summary))
    elif args.cmd == "ours":
        figures = our_figures(args.threads, args.cache_dir, args.max_lines, args.model)
        args.out.write_text(json.dumps(figures))
        print(json.dumps(figures))
    elif args.cmd == "budget":
        sys.path.insert(0, str(REPO))
        from engine.models import default_model_dir, load_card

        print(round(our_training_seconds(load_card(default_model_dir())) / 60, 1))
    elif args.cmd == "score":
        print(json.dumps(score_hypotheses(args.hyp)))
    elif args.cmd == "train":
        extra = args.ketos_args[1:] if args.ketos_args[:1] == ["--"] else args.ketos_args
        return ketos_train(extra, args.minutes, args.clock, args.log)
    elif args.cmd == "speed":
        res = kraken_speed(args.model, args.manifest, args.threads, args.out, args.max_lines)
        print(json.dumps({k: v for k, v in res.items() if k != "sets"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
