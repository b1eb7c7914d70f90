"""Int8 quantization benchmark: does an 8-bit copy of the student's ONNX file read as well as
the float one, and how much faster and smaller is it?

    python benchmarks/quantize.py [--model DIR] [--threads 2] [--calibration-lines 256] [--keep DIR]

Makes two quantized copies of the model folder with ONNX Runtime's quantization tools:
``dynamic-matmul`` (weights of the attention's MatMul/Gemm nodes in int8, activations
quantized on the fly; convolutions stay float, since ONNX Runtime's ConvInteger is slower than
its float Conv on the CPU) and ``static-qdq`` (Conv and MatMul nodes with int8 weights per
channel and uint8 activations, their ranges calibrated by MinMax on train lines, never val).
Then each folder, the float one first, goes through ``benchmarks/recognition.py`` (val CER/WER
per collection greedy and as the application reads, lines per second, peak memory, file sizes),
whose summary lines are printed one model after the other. ``--keep DIR`` keeps the quantized
folders there (default: a temporary folder, removed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recognition import cut_val_lines  # noqa: E402


def calibration_feeds(model_dir: Path, data: Path, lines: int) -> list[dict]:
    """Network inputs for calibration: ``lines`` train lines (spread over the collections'
    train pages), prepared as the engine prepares them, in batches of 16 of similar width."""
    from engine.recognition.onnx_model import OnnxLineModel

    model = OnnxLineModel(model_dir, "cpu")
    cut = cut_val_lines(data, model.height, lines, split="train")
    images = sorted((im for im in map(model.prepare, cut["images"]) if im is not None),
                    key=lambda im: im.shape[1])
    return [model.inputs(images[s:s + 16]) for s in range(0, len(images), 16)]


def quantized_folders(model_dir: Path, out: Path, feeds: list[dict]) -> list[Path]:
    """The ``dynamic-matmul`` and ``static-qdq`` copies of ``model_dir`` under ``out``."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self.left, None)

    pre = out / "preprocessed.onnx"  # (symbolic shape inference fails on the dynamic width)
    quant_pre_process(str(model_dir / "model.onnx"), str(pre), skip_symbolic_shape=True)
    folders = []
    for name in ("dynamic-matmul", "static-qdq"):
        folder = out / name
        shutil.copytree(model_dir, folder, ignore=shutil.ignore_patterns("model.onnx"))
        if name == "dynamic-matmul":
            quantize_dynamic(str(pre), str(folder / "model.onnx"), per_channel=True,
                             op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)
        else:
            quantize_static(str(pre), str(folder / "model.onnx"), Reader(),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            op_types_to_quantize=["Conv", "MatMul"],
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        folders.append(folder)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration-lines", type=int, default=256)
    parser.add_argument("--keep", type=Path, help="keep the quantized folders here")
    args = parser.parse_args()
    from engine.models import default_model_dir
    from training.data import shared_data_dir

    model = (args.model or default_model_dir()).resolve()
    data = shared_data_dir()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        feeds = calibration_feeds(model, data, args.calibration_lines)
        here = Path.cwd()
        os.chdir(out)  # (the quantization tools may leave scratch files in the working folder)
        try:
            folders = quantized_folders(model, out.resolve(), feeds)
        finally:
            os.chdir(here)
        for folder in [model] + folders:
            done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "recognition.py"),
                                   "--model", str(folder), "--threads", str(args.threads)],
                                  capture_output=True, text=True)
            report = done.stdout.split("errors of")[0].strip()  # the summary, not the error table
            print(f"== {folder.name if folder != model else 'float (as shipped)'}\n{report}"
                  + (f"\nfailed: {done.stderr[-2000:]}" if done.returncode else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
