"""An exported recognizer run by ONNX Runtime: loads and checks a model folder, turns line
images into the network's input, and runs batches of lines of similar width."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.errors import ModelError
from engine.models import load_card

MAX_ASPECT = 80  # wider lines (after scaling to the model height) are squeezed to this ratio


def choose_providers(device: str) -> list[str]:
    """ONNX Runtime providers for ``device`` in ("auto", "cpu", "cuda")."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    device = device.lower()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device in ("cuda", "gpu"):
        if "CUDAExecutionProvider" not in available:
            raise ModelError("device 'cuda' asked but ONNX Runtime has no CUDA provider here "
                             "(install onnxruntime-gpu, or use device 'cpu')")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "auto":
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]
    raise ModelError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'")


def make_session(onnx_path: Path, device: str = "auto", threads: int = 0):
    """An ONNX Runtime session for ``onnx_path`` on ``device`` with ``threads`` intra-op
    threads (0 = ONNX Runtime's default); ModelError for a missing, corrupt or non-ONNX file."""
    import onnxruntime as ort

    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path.parent}: {onnx_path.name} is missing")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=choose_providers(device))
    except ModelError:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"{onnx_path} cannot be loaded (corrupt or not ONNX): {exc}") from exc


class OnnxLineModel:
    """One loaded model folder: its card, charset and ONNX Runtime session."""

    def __init__(self, model_dir: str | Path, device: str = "auto", threads: int = 0) -> None:
        self.dir = Path(model_dir)
        self.card = load_card(self.dir)
        self.charset: list[str] = self.card["charset"]
        self.height: int = self.card["input"]["height"]
        self.width_factor: int = int(self.card["input"].get("width_factor", 8))
        onnx_path = self.dir / "model.onnx"
        self.session = make_session(onnx_path, device, threads)
        names = [i.name for i in self.session.get_inputs()]
        if names != ["image", "widths"]:
            raise ModelError(f"{onnx_path}: inputs {names}, expected ['image', 'widths']")
        classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.charset) + 1:
            raise ModelError(f"{self.dir}: the network outputs {classes} classes but the card's "
                             f"charset has {len(self.charset)} characters + blank")
        self.providers = self.session.get_providers()

    def prepare(self, image: np.ndarray) -> np.ndarray | None:
        """A uint8 line of the model height (aspect kept, width capped at MAX_ASPECT x height);
        None for an unusable image (empty, or under 2 pixels either way)."""
        img = np.asarray(image)
        if img.ndim == 3:
            img = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        if img.ndim != 2 or img.shape[0] < 2 or img.shape[1] < 2:
            return None
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        h, w = img.shape
        new_w = max(2, min(int(round(w * self.height / h)), MAX_ASPECT * self.height))
        if (h, w) != (self.height, new_w):
            img = cv2.resize(img, (new_w, self.height), interpolation=cv2.INTER_AREA
                             if h > self.height else cv2.INTER_LINEAR)
        return img

    def inputs(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The network's inputs for one batch of prepared line images: ink as 1, padded on
        the right to a multiple of the width factor, and each line's own width."""
        widths = [im.shape[1] for im in images]
        wmax = -(-max(widths) // self.width_factor) * self.width_factor
        batch = np.zeros((len(images), 1, self.height, wmax), np.float32)
        for k, im in enumerate(images):
            batch[k, 0, :, : im.shape[1]] = 1.0 - im.astype(np.float32) / 255.0
        return {"image": batch, "widths": np.asarray(widths, dtype=np.int64)}

    def run(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Log-posteriors (frames, classes) of each prepared line image, one batch."""
        feeds = self.inputs(images)
        out = self.session.run(None, feeds)[0]
        frames = [max(1, -(-int(w) // self.width_factor)) for w in feeds["widths"]]
        return [out[k, :n] for k, n in enumerate(frames)]
