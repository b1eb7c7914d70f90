"""Recognition benchmark: val CER/WER per collection, lines per second and peak memory for
ONNX Runtime vs PyTorch on the same line images, and the model's size on disk.

    python benchmarks/recognition.py [--model DIR] [--threads 2] [--beam N] [--max-lines N]
                                     [--batch-pixels N]

Both backends read greedily (the same decoding, so that the network's speed is compared); ONNX
Runtime also reads with the model's default decoding when that is a beam search (the bundled
model: beam 64 + character and word LMs, what the application uses), or with ``--beam N``; ONNX
Runtime's runs also print how much of a line's time went to decoding (CTC search, LMs, alignment).
Each run is its own process (peak RSS is per process). For the default reading it also prints
the missed / extra / misread characters and the CER by CTC frames per character.
Lines are cut once from the val split pages of ../shared/data (or $HTRJAND_SHARED_DATA) with the
engine's line cutter and handed to both backends; cutting time is reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.metrics import ErrorRates, error_kinds  # noqa: E402

COLLECTIONS = ("hooker", "poilus")


def cut_val_lines(data: Path, height: int, max_lines: int | None, split: str = "val") -> dict:
    """{"images": [...], "texts": [...], "collections": [...], "pages": [...], "cut_s": seconds}
    of the lines of each collection's ``split`` pages (``split_<split>.txt``; val by default,
    train for calibration data that must not be val's), ``max_lines`` spread evenly over them."""
    from engine.formats import read_document
    from engine.imaging import load_image
    from engine.recognition.lines import cut_lines
    from training.data import split_pages

    images, texts, colls, pages, t0 = [], [], [], [], time.perf_counter()
    for coll in COLLECTIONS:
        for path in split_pages(coll, split, data):  # (one page name a line; names may hold spaces)
            name = path.relative_to(data / coll).as_posix()
            page = read_document(path)
            lines = [ln for ln in page.lines() if ln.text.strip()]
            for ln, img in zip(lines, cut_lines(page, load_image(page.image_path()), height,
                                                lines)):
                if img is not None:
                    images.append(img)
                    texts.append(ln.text)
                    colls.append(coll)
                    pages.append(f"{coll}/{name}")
    if max_lines and len(images) > max_lines:
        keep = np.linspace(0, len(images) - 1, max_lines).astype(int)
        images = [images[i] for i in keep]
        texts = [texts[i] for i in keep]
        colls = [colls[i] for i in keep]
        pages = [pages[i] for i in keep]
    return {"images": images, "texts": texts, "collections": colls, "pages": pages,
            "cut_s": time.perf_counter() - t0}


DECODING = [0.0]  # seconds spent decoding the network's outputs (CTC search, LMs, alignment)


def timed(fn):
    """``fn``, its time added to DECODING."""
    def inner(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            DECODING[0] += time.perf_counter() - t0
    return inner


def run_backend(backend: str, model: Path, lines_file: Path, threads: int, beam: int,
                batch_pixels: int | None = None) -> dict:
    """Recognise the saved lines with one backend (called in a child process); ONNX Runtime
    with ``batch_pixels`` pixels a batch at most (None: the Recognizer's default)."""
    blob = np.load(lines_file, allow_pickle=True)
    images, pages = list(blob["images"]), [str(p) for p in blob["pages"]]
    if backend == "onnxruntime":
        from engine.recognition import Recognizer

        rec = Recognizer(model, "cpu", beam=beam, threads=threads, max_batch_pixels=batch_pixels)
        rec.recognize_images(images[:8])  # warm-up
        rec._decode_lines, rec.language_of = timed(rec._decode_lines), timed(rec.language_of)
        t0 = time.perf_counter()
        texts = [r.text for r in rec.recognize_images(images, pages=pages)]
    else:
        import torch

        from training.batching import to_tensor_batch
        from training.charset import Charset
        from training.network import checkpoint_model
        from training.trainer import greedy_texts

        torch.set_num_threads(threads)
        ck = torch.load(model / "model.pt", map_location="cpu", weights_only=False)
        net = checkpoint_model(ck)
        charset = Charset(ck["charset"])
        order = sorted(range(len(images)), key=lambda i: images[i].shape[1])
        texts = [""] * len(images)
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(order), 16):
                idx = order[s:s + 16]
                x, w = to_tensor_batch([images[i] for i in idx], net.cfg.width_factor)
                for i, t in zip(idx, greedy_texts(net(x, w), net.frames(w), charset)):
                    texts[i] = t
    seconds = time.perf_counter() - t0
    return {"backend": backend, "texts": texts, "seconds": seconds, "decode_s": DECODING[0],
            "lines_per_s": len(images) / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def error_rates(lines: dict, hyps: list[str]) -> dict[str, ErrorRates]:
    """CER and WER of ``hyps`` per collection of ``lines`` and for them all (``"all"``)."""
    rates: dict[str, ErrorRates] = {}
    for coll, ref, hyp in zip(lines["collections"], lines["texts"], hyps):
        rates.setdefault(coll, ErrorRates()).add(ref, hyp)
        rates.setdefault("all", ErrorRates()).add(ref, hyp)
    return rates


def save_lines(lines: dict, path: Path) -> None:
    """The cut line images and their pages in an ``.npz`` file for the child processes."""
    arr = np.empty(len(lines["images"]), dtype=object)
    arr[:] = lines["images"]
    np.savez(path, images=arr, pages=np.array(lines["pages"]))


def run_child(backend: str, model: Path, lines_file: Path, threads: int, beam: int,
              batch_pixels: int | None = None) -> dict | None:
    """``run_backend`` in a process of its own (peak RSS is per process); None, with its
    error printed, when the child fails."""
    cmd = [sys.executable, __file__, "--model", str(model), "--threads", str(threads),
           "--beam", str(beam), "--backend", backend, "--lines-file", str(lines_file)]
    cmd += ["--batch-pixels", str(batch_pixels)] if batch_pixels else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"{backend} beam {beam}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def density_table(lines: dict, hyps: list[str], width_factor: int, bins: int = 5) -> list[str]:
    """Per collection: missed, extra and misread characters (share of the reference), then the
    CER of the lines in ``bins`` equal groups by CTC frames per reference character (image
    width / ``width_factor`` / characters): do tightly written lines lose characters?"""
    out = []
    for coll in COLLECTIONS:
        idx = [i for i, c in enumerate(lines["collections"]) if c == coll]
        if not idx:
            continue
        kinds = {"insert": 0, "delete": 0, "replace": 0}
        rows = []
        for i in idx:
            ref = lines["texts"][i]
            counts = error_kinds(ref, hyps[i])
            kinds = {k: kinds[k] + counts[k] for k in kinds}
            frames = -(-lines["images"][i].shape[1] // width_factor)
            rows.append((frames / max(1, len(ref)), sum(counts.values()), counts["delete"],
                         len(ref)))
        chars = sum(r[3] for r in rows)
        out.append(f"{coll}: missed {kinds['delete'] / chars:.2%}, extra "
                   f"{kinds['insert'] / chars:.2%}, misread {kinds['replace'] / chars:.2%} "
                   "of the characters; by frames per character:")
        rows.sort()
        for b in range(bins):
            part = rows[b * len(rows) // bins:(b + 1) * len(rows) // bins]
            n = sum(r[3] for r in part)
            if part:
                out.append(f"  {part[0][0]:.2f}-{part[-1][0]:.2f}: CER {sum(r[1] for r in part) / n:.2%}"
                           f", missed {sum(r[2] for r in part) / n:.2%} ({len(part)} lines)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam", type=int,
                        help="also read with this beam width (default: the model's decoding)")
    parser.add_argument("--max-lines", type=int)
    parser.add_argument("--batch-pixels", type=int,
                        help="pixels in one ONNX Runtime batch at most (default: the Recognizer's)")
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--lines-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from engine.models import default_model_dir, load_card

    model = args.model or default_model_dir()
    if args.backend:  # child process
        print(json.dumps(run_backend(args.backend, model, args.lines_file, args.threads,
                                     args.beam, args.batch_pixels), ensure_ascii=False))
        return 0
    card = load_card(model)
    from engine.recognition.recognizer import default_beam

    beam = args.beam or default_beam(card)
    runs = [("onnxruntime", 1), ("pytorch", 1)] + ([("onnxruntime", beam)] if beam > 1 else [])
    data = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))
    lines = cut_val_lines(data, card["input"]["height"], args.max_lines)
    n = len(lines["images"])
    with tempfile.TemporaryDirectory() as tmp:
        lines_file = Path(tmp) / "lines.npz"
        save_lines(lines, lines_file)
        results = {}
        for backend, width in runs:
            got = run_child(backend, model, lines_file, args.threads, width, args.batch_pixels)
            if got is not None:
                results[f"{backend} {'greedy' if width <= 1 else f'beam {width}'}"] = got
    print(f"model {card['name']} ({model}): {card.get('parameters', '?')} parameters, "
          f"input height {card['input']['height']}")
    sizes = {p.name: p.stat().st_size for p in model.iterdir() if p.is_file()}
    print("size on disk: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(sizes.items()))
          + f"; folder {sum(sizes.values()) / 1e6:.2f} MB")
    print(f"{n} val lines, cut in {lines['cut_s']:.1f} s ({n / lines['cut_s']:.1f} lines/s); "
          f"{args.threads} threads" + (f"; beam {beam} with the model's LM weights"
                                       if beam > 1 else ""))
    for backend, r in results.items():
        per = "  ".join(f"{k}: CER {v.cer:.2%} WER {v.wer:.2%} ({v.lines} lines)"
                        for k, v in error_rates(lines, r["texts"]).items())
        print(f"{backend:20s} {r['lines_per_s']:7.1f} lines/s  peak RSS {r['peak_rss_mb']:6.0f} "
              f"MB  {per}")
        if r.get("decode_s"):
            print(f"{'':20s} of which decoding {1000 * r['decode_s'] / n:.1f} ms a line, the rest "
                  f"{1000 * (r['seconds'] - r['decode_s']) / n:.1f} ms (network, batching)")
    if results:  # the last run is the application's own reading
        name, r = list(results.items())[-1]
        print(f"errors of {name}, width factor {card['input'].get('width_factor', 8)}:")
        print("\n".join(density_table(lines, r["texts"], card["input"].get("width_factor", 8))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
