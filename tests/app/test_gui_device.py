"""Settings Auto/CPU/GPU → ONNX Runtime providers; a GPU that fails falls back to the CPU with a
note the window shows. Tested on the CPU by simulating the CUDA provider's failure."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from app.gui import jobs
from engine import device
from engine.errors import ModelError


class FakeSession:
    def __init__(self, providers):
        self.providers = providers

    def get_providers(self):
        return self.providers


def _builder(calls, fail_on_gpu=None, gpu_providers=("CUDAExecutionProvider",)):
    def build(dev):
        calls.append(dev)
        if dev in ("gpu", "cuda", "auto") and fail_on_gpu is not None:
            raise fail_on_gpu
        providers = list(gpu_providers) if dev != "cpu" else []
        return FakeSession(providers + ["CPUExecutionProvider"])
    return build


def test_cpu_is_cpu_without_note():
    calls = []
    built, note = device.with_cpu_fallback(_builder(calls), "cpu")
    assert calls == ["cpu"] and note is None


def test_auto_without_cuda_provider_is_quietly_cpu(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    calls = []
    _, note = device.with_cpu_fallback(_builder(calls, gpu_providers=()), "auto")
    assert calls == ["auto"] and note is None


def test_gpu_whose_provider_raises_falls_back_with_note(monkeypatch):
    calls = []
    failure = RuntimeError("libcudnn.so.9: cannot open shared object file")
    built, note = device.with_cpu_fallback(_builder(calls, fail_on_gpu=failure), "gpu")
    assert calls == ["gpu", "cpu"]
    assert built.get_providers() == ["CPUExecutionProvider"]
    assert "GPU could not be used" in note and "libcudnn" in note and "CPU" in note


def test_gpu_silently_dropped_by_onnxruntime_is_noticed(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    calls = []
    _, note = device.with_cpu_fallback(_builder(calls, gpu_providers=()), "auto")
    assert calls == ["auto"] and "did not load" in note


def test_gpu_working_gives_no_note():
    _, note = device.with_cpu_fallback(_builder([]), "gpu")
    assert note is None


def test_errors_unrelated_to_the_gpu_still_raise():
    def build(dev):
        raise ModelError("card.json is missing")
    with pytest.raises(ModelError, match="card.json"):
        device.with_cpu_fallback(build, "gpu")


def test_real_model_with_a_failing_cuda_provider(toy_model_dir, monkeypatch):
    """ONNX Runtime is told CUDA exists (it does not here): the recognizer still loads, on the
    CPU, and the note says why."""
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    recognizer, note = jobs.make_recognizer(str(toy_model_dir), "gpu")
    assert recognizer.model.session.get_providers() == ["CPUExecutionProvider"]
    assert note and "GPU could not be used" in note


def test_window_shows_the_fallback_note(qtbot, window, project_dir, toy_model_dir, monkeypatch):
    from engine.recognition import onnx_model

    def no_cuda(dev):
        if dev in ("gpu", "cuda"):
            raise ModelError("CUDA provider failed to initialise (simulated)")
        return ["CPUExecutionProvider"]
    monkeypatch.setattr(onnx_model, "choose_providers", no_cuda)
    window.settings.device = "gpu"
    window.settings.model_dir = str(toy_model_dir)
    assert window.open_paths([str(project_dir)])
    with qtbot.waitSignal(window.runner.ended, timeout=120_000) as ended:
        window.actions["recognize_page"].trigger()
    assert ended.args[0] == "finished", ended.args
    assert any(level == "warning" and "simulated" in text and "runs on the CPU" in text
               for level, text in window.messages.history)
