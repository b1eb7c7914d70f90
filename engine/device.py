"""Choosing where recognition runs, with a CPU fallback a person is told about.

The engine's :func:`engine.recognition.onnx_model.choose_providers` turns a device name into
ONNX Runtime providers and refuses a GPU that is not there. This module adds what a desktop
application needs on top: when a GPU was asked for (or "auto" picked one) and the CUDA provider
fails — absent, missing CUDA libraries, or silently dropped by ONNX Runtime — build on the CPU
instead and return a note saying why.

    recognizer, note = with_cpu_fallback(lambda d: Recognizer(folder, device=d), "auto")
    if note: show(note)
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")

GPU_NAMES = ("gpu", "cuda")
CUDA_PROVIDER = "CUDAExecutionProvider"


def wants_gpu(device: str) -> bool:
    """True when ``device`` names the GPU explicitly ("gpu" / "cuda")."""
    return device.lower() in GPU_NAMES


def cuda_available() -> bool:
    """True when this ONNX Runtime build offers the CUDA provider (not that it will load)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return CUDA_PROVIDER in ort.get_available_providers()


def session_providers(obj: object) -> list[str] | None:
    """The providers a built recognizer / model / session really uses, when it tells."""
    for path in ("model.session", "session", "model", ""):
        target = obj
        for name in filter(None, path.split(".")):
            target = getattr(target, name, None)
        get = getattr(target, "get_providers", None)
        if callable(get):
            return list(get())
        providers = getattr(target, "providers", None)
        if isinstance(providers, (list, tuple)):
            return list(providers)
    return None


def with_cpu_fallback(build: Callable[[str], T], device: str) -> tuple[T, str | None]:
    """``build(device)``, or ``build("cpu")`` when the GPU could not be used; and a note
    (None when all went as asked). Errors that have nothing to do with the GPU — the CPU build
    fails too — are raised from the CPU attempt."""
    device = (device or "auto").lower()
    gpu_expected = wants_gpu(device) or (device == "auto" and cuda_available())
    if not gpu_expected:  # "cpu", or "auto" on a machine without the CUDA provider
        return build(device), None
    try:
        built = build(device)
    except Exception as exc:  # onnxruntime raises its own types; ModelError when CUDA is absent
        built = build("cpu")
        return built, f"The GPU could not be used ({_short(exc)}); recognition runs on the CPU."
    providers = session_providers(built)
    if providers is not None and CUDA_PROVIDER not in providers:
        # ONNX Runtime drops a CUDA provider that fails to load and goes on with the CPU.
        return built, ("The GPU could not be used (the CUDA provider of ONNX Runtime did not "
                       "load); recognition runs on the CPU.")
    return built, None


def _short(exc: Exception, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
