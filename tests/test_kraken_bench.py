"""benchmarks/kraken.sh and its helper, without kraken: the script parses, and the line export
writes kraken's ``path`` format (PNG + .gt.txt, manifests) from the engine's cut lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark_modules import load_benchmark

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "kraken.sh"


def load_helper():
    return load_benchmark("kraken_lines")


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    out = subprocess.run(["bash", str(SCRIPT), "--help"], check=True, capture_output=True,
                         text=True).stdout
    assert "recognition" in out and "finetune" in out and "set -euo" not in out


def test_helper_imports_only_stdlib_at_top() -> None:
    """The kraken venv runs the same file: no project or third-party import at module level."""
    text = (REPO / "benchmarks" / "kraken_lines.py").read_text()
    top = [ln for ln in text.splitlines() if ln.startswith(("import ", "from "))]
    assert all(ln.split()[1].split(".")[0] in {"__future__", "argparse", "json", "os", "sys",
                                               "time", "pathlib"} for ln in top), top


def test_export_writes_path_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = load_helper()
    from training import data

    def fake_lines(collection: str, split: str, height: int, cache_dir: Path, root=None):
        n = {"train": 3, "val": 4, "finetune": 5, "test": 2}[split]
        images = [np.full((height, 10 + i), 255 - i, dtype=np.uint8) for i in range(n)]
        texts = [f"{collection} {split} {i} é" for i in range(n)]
        return data.LineSet(images, texts, [f"{collection}/p/{i}" for i in range(n)])

    monkeypatch.setattr(data, "load_lines", fake_lines)
    out = tmp_path / "lines"
    summary = helper.export_sets(out, 20, tmp_path / "cache", [2, 50], eval_lines=[2, 0])
    assert summary == {"train": 6, "val-hooker": 4, "val-poilus": 4, "cremma-finetune": 5,
                       "cremma-test": 2}
    train = (out / "train.txt").read_text().split()
    assert len(train) == 6 and all(Path(p).is_absolute() for p in train)
    first = Path(train[0])
    assert Image.open(first).size == (10, 20)
    assert first.with_suffix(".gt.txt").read_text(encoding="utf-8") == "hooker train 0 é\n"
    assert Path(train[3]).with_suffix(".gt.txt").read_text(encoding="utf-8").startswith("poilus")
    assert len((out / "cremma-finetune-2.txt").read_text().split()) == 2
    assert len((out / "cremma-finetune-50.txt").read_text().split()) == 5
    assert len((out / "val-hooker-2.txt").read_text().split()) == 2
    assert not (out / "val-hooker-0.txt").exists()
    # a second call reuses what is there
    monkeypatch.setattr(data, "load_lines", lambda *a, **k: pytest.fail("re-cut"))
    assert helper.export_sets(out, 20, tmp_path / "cache", [2])["train"] == 6


def test_evenly() -> None:
    helper = load_helper()
    assert helper.evenly(10, 0) == list(range(10))
    assert helper.evenly(10, 5) == [0, 2, 4, 6, 8]
    assert helper.evenly(3, 5) == [0, 1, 2]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
