"""Move line caches to another machine (a rented or lent GPU) when the page scans cannot go.

    python -m training.cache_pack pack lines.zip --splits train val --quality 80
    python -m training.cache_pack unpack lines.zip          # on the other machine

``pack`` stores every cached line of the chosen collections and splits as a WebP image in one
zip (about a tenth of the raw cache at quality 80); ``unpack`` decodes it into the same cache
files ``training.data.load_lines`` reads, so training there runs unchanged. WebP below
quality 101 is lossy: the quality is written into each unpacked index (``packed``) so the
difference is on record. Quality 101 is lossless (and several times larger).
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

from engine.atomic import atomic_write_bytes
from engine.errors import HtrError
from training.data import REPO, LineSet, cache_paths, load_lines, write_cache


def encode(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise HtrError("WebP encoding failed")
    return buf.tobytes()


def pack(out: Path, collections: list[str], splits: list[str], height: int, quality: int,
         cache_dir: Path) -> dict:
    """Write the zip; returns {stem: (lines, raw bytes, packed bytes)}."""
    import io

    buf = io.BytesIO()
    sizes = {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for coll in collections:
            for split in splits:
                lines = load_lines(coll, split, height, cache_dir)
                blobs = [encode(im, quality) for im in lines.images]
                index = json.loads(cache_paths(cache_dir, coll, split, height)[1].read_text())
                index.pop("offsets", None)
                index["blob_sizes"] = [len(b) for b in blobs]
                index["packed"] = {"codec": "webp", "quality": quality}
                stem = f"{coll}-{split}-h{height}"
                zf.writestr(f"{stem}.json", json.dumps(index, ensure_ascii=False))
                zf.writestr(f"{stem}.webp", b"".join(blobs))
                sizes[stem] = (len(lines), sum(im.size for im in lines.images),
                               sum(map(len, blobs)))
    atomic_write_bytes(out, buf.getvalue())
    return sizes


def unpack(src: Path, cache_dir: Path) -> dict:
    """Decode every set of the zip into ``cache_dir``; returns {stem: lines}."""
    counts = {}
    with zipfile.ZipFile(src) as zf:
        for name in sorted(n for n in zf.namelist() if n.endswith(".json")):
            stem = name[:-5]
            index = json.loads(zf.read(name))
            data = zf.read(f"{stem}.webp")
            height = int(index["height"])
            images, pos = [], 0
            for size, width in zip(index["blob_sizes"], index["widths"]):
                img = cv2.imdecode(np.frombuffer(data[pos:pos + size], np.uint8),
                                   cv2.IMREAD_GRAYSCALE)
                pos += size
                if img is None or img.shape != (height, width):
                    raise HtrError(f"{src}: {stem}: a line does not decode to {height}x{width}")
                images.append(img)
            lines = LineSet(images, index["texts"], index["sources"])
            extra = {k: v for k, v in index.items()
                     if k not in ("collection", "split", "height", "widths", "texts",
                                  "sources", "blob_sizes")}
            write_cache(lines, index["collection"], index["split"], height, cache_dir, extra)
            counts[stem] = len(lines)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.cache_pack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="line caches -> one zip of WebP lines")
    p.add_argument("out", type=Path)
    p.add_argument("--collections", nargs="+", default=["hooker", "poilus"])
    p.add_argument("--splits", nargs="+", default=["train", "val"])
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--quality", type=int, default=80, help="WebP quality, 101 = lossless")
    u = sub.add_parser("unpack", help="zip -> line caches")
    u.add_argument("src", type=Path)
    for sp in (p, u):
        sp.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "cache")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "pack":
            for stem, (n, raw, packed) in pack(args.out, args.collections, args.splits,
                                               args.height, args.quality, args.cache_dir).items():
                print(f"{stem}: {n} lines, {raw / 1e6:.1f} MB -> {packed / 1e6:.1f} MB")
        else:
            for stem, n in unpack(args.src, args.cache_dir).items():
                print(f"{stem}: {n} lines")
    except (HtrError, OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
