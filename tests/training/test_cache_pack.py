"""Line caches packed as WebP and unpacked elsewhere: the same lines, texts and order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.cache_pack import main, pack, unpack
from training.data import LineSet, load_lines, write_cache


def _lines() -> LineSet:
    rng = np.random.default_rng(0)
    imgs = []
    for k in range(5):
        im = np.full((64, 40 + 30 * k), 225, np.uint8)
        im[20:44, 5:-5] = rng.integers(0, 60, (24, im.shape[1] - 10))
        imgs.append(im)
    return LineSet(imgs, [f"line {k} é" for k in range(5)], [f"toy/p1/l{k}" for k in range(5)])


@pytest.mark.parametrize("quality, tolerance", [(101, 0), (80, 40)])
def test_pack_unpack_round_trip(tmp_path, quality, tolerance) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    lines = _lines()
    write_cache(lines, "toy", "train", 64, src, {"pages": 1})
    sizes = pack(tmp_path / "p.zip", ["toy"], ["train"], 64, quality, src)
    assert sizes["toy-train-h64"][0] == 5
    assert unpack(tmp_path / "p.zip", dst) == {"toy-train-h64": 5}
    back = load_lines("toy", "train", 64, dst)
    assert back.texts == lines.texts and back.sources == lines.sources
    for a, b in zip(lines.images, back.images):
        assert a.shape == b.shape
        assert np.abs(a.astype(int) - b.astype(int)).mean() <= tolerance
    index = json.loads((dst / "toy-train-h64.json").read_text())
    assert index["packed"] == {"codec": "webp", "quality": quality} and index["pages"] == 1


def test_unpack_refuses_a_broken_pack(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    assert main(["unpack", str(bad), "--cache-dir", str(tmp_path / "c")]) == 1
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
