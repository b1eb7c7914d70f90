"""Fast checks of build.spec (no PyInstaller run): it parses, builds two programs named
htrjand-studio and htrjand into one folder from app/launcher.py, carries resources/, every
command module and the fine-tuning trainer (torch left out only with HTRJAND_WITHOUT_TORCH=1),
drops the parts of torch nothing loads; the frozen paths of engine.resources, and the built
program running the trainer for the window (``htrjand --finetune-child``)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "build.spec"


class Recorder:
    """Stands in for one of PyInstaller's spec classes and keeps its arguments."""

    made: list["Recorder"] = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.scripts = ["script"]
        self.pure = list(getattr(Recorder, "pure_in", None) or [("pure", "pure.py", "PYMODULE")])
        self.binaries = list(getattr(Recorder, "binaries_in", []))
        self.datas = list(getattr(Recorder, "datas_in", []))
        Recorder.made.append(self)


def run_spec(monkeypatch, with_torch: bool = True, datas=(), binaries=(), pure=None) -> dict:
    if with_torch:
        monkeypatch.delenv("HTRJAND_WITHOUT_TORCH", raising=False)
    else:
        monkeypatch.setenv("HTRJAND_WITHOUT_TORCH", "1")
    monkeypatch.setattr(Recorder, "datas_in", list(datas), raising=False)
    monkeypatch.setattr(Recorder, "binaries_in", list(binaries), raising=False)
    monkeypatch.setattr(Recorder, "pure_in", pure, raising=False)
    kinds = {}
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT"):
        kinds[kind] = type(kind, (Recorder,), {})
    Recorder.made = []
    namespace = {**kinds, "SPECPATH": str(REPO), "__file__": str(SPEC), "__name__": "spec"}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    made: dict[str, list[Recorder]] = {k: [] for k in kinds}
    for obj in Recorder.made:
        made[type(obj).__name__].append(obj)
    return made


def test_spec_builds_two_programs_into_one_folder(monkeypatch):
    made = run_spec(monkeypatch)
    (analysis,) = made["Analysis"]
    scripts = [Path(s) for s in analysis.args[0]]
    assert scripts == [REPO / "app" / "launcher.py"] and scripts[0].is_file()
    names = {exe.kwargs["name"]: exe for exe in made["EXE"]}
    assert set(names) == {"htrjand-studio", "htrjand"}
    assert names["htrjand"].kwargs["console"] is True
    assert all(exe.kwargs["exclude_binaries"] for exe in made["EXE"])  # one folder
    (collect,) = made["COLLECT"]
    assert collect.kwargs["name"] == "htrjand-studio"
    assert set(collect.args[:2]) == set(made["EXE"])


def test_spec_carries_resources_and_every_command(monkeypatch):
    (analysis,) = run_spec(monkeypatch)["Analysis"]
    datas = analysis.kwargs["datas"]
    assert (str(REPO / "resources"), "resources") in datas
    assert (REPO / "resources" / "samples" / "poilus").is_dir()
    hidden = analysis.kwargs["hiddenimports"]
    from app.commands import _NAMES

    for name in _NAMES:
        assert f"app.commands.{name}" in hidden
    for module in hidden:
        assert importlib.util.find_spec(module) is not None, module
    assert str(REPO) in analysis.kwargs["pathex"]


def test_the_trainer_is_in_unless_left_out(monkeypatch):
    (full,) = run_spec(monkeypatch)["Analysis"]
    for needed in ("torch", "onnx", "sympy", "training", "onnxruntime", "PySide6.QtGui",
                   "PySide6.QtWidgets", "PySide6.QtNetwork"):
        assert not any(e == needed or needed.startswith(e + ".")
                       for e in full.kwargs["excludes"]), needed
    assert "training.finetune" in full.kwargs["hiddenimports"]
    assert "transformers" in full.kwargs["excludes"]  # the T5 trainer is not part of the app
    (slim,) = run_spec(monkeypatch, with_torch=False)["Analysis"]
    assert "torch" in slim.kwargs["excludes"] and "onnx" in slim.kwargs["excludes"]
    assert "training.finetune" not in slim.kwargs["hiddenimports"]
    assert "onnxruntime" not in slim.kwargs["excludes"]


def test_the_window_program_carries_no_torch(monkeypatch):
    """Both programs share one folder; only the command line (the trainer) carries torch."""
    pure = [(m, f"/src/{m}.py", "PYMODULE") for m in
            ("torch", "torch.nn", "sympy", "onnx", "app.gui.main", "training.finetune",
             "training.corrections", "onnxruntime", "numpy")]
    made = run_spec(monkeypatch, pure=pure)
    archive = {exe.kwargs["name"]: exe.args[0] for exe in made["EXE"]}
    names = {name: {m[0] for m in pyz.args[0]} for name, pyz in archive.items()}
    assert names["htrjand"] == {m[0] for m in pure}
    assert names["htrjand-studio"] == {"app.gui.main", "training.finetune",
                                       "training.corrections", "onnxruntime", "numpy"}
    slim = run_spec(monkeypatch, with_torch=False, pure=pure)
    assert len({id(exe.args[0]) for exe in slim["EXE"]}) == 1  # one archive, nothing to split


def test_unused_parts_of_torch_are_dropped(monkeypatch):
    sep = "\\" if sys.platform == "win32" else "/"
    kept = ["torch/lib/libtorch_cpu.so", "torch/lib/torch_cpu.dll", "torch/bin/torch_shm_manager",
            "torch/_inductor/config.py", "torch/utils/_config_module.py", "onnx/defs/x.proto",
            "PySide6/Qt/lib/libQt6Core.so.6", "cv2/cv2.abi3.so", "resources/models/m/card.json"]
    dropped = ["torch/test/test_api", "torch/include/ATen/ATen.h", "torch/bin/test_jit",
               "torch/bin/protoc", "torch/lib/libtorchbind_test.so", "torch/lib/libc10.a",
               "torch/lib/torch_cpu.lib", "torch/share/cmake/Torch/TorchConfig.cmake",
               "torch/lib/libjitbackend_test.so", "torch/_C/__init__.pyi"]
    entries = [(name.replace("/", sep), "/src/" + name, "DATA") for name in kept + dropped]
    (analysis,) = run_spec(monkeypatch, datas=entries, binaries=entries)["Analysis"]
    for left in (analysis.datas, analysis.binaries):
        assert sorted(e[0].replace(sep, "/") for e in left) == sorted(kept)


def test_the_built_program_runs_the_trainer(monkeypatch, tmp_path):
    from app import launcher
    from app.gui import finetune_runner

    cli = tmp_path / "htrjand"
    cli.write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "htrjand-studio"))
    command = finetune_runner.child_command(["/p"], "mine", 0.5, None, 1)
    assert command[:3] == [str(cli), launcher.TRAINER_FLAG, "--json"]
    if importlib.util.find_spec("torch") is not None:
        assert finetune_runner.training_unavailable() is None  # found, not imported
    seen = []
    trainer = types.ModuleType("training.finetune")  # the real one would import torch here
    trainer.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "training.finetune", trainer)
    monkeypatch.setattr(sys, "argv", [str(cli), *command[1:]])
    assert launcher.main() == 0
    assert seen == [command[2:]]
    monkeypatch.setattr(finetune_runner, "_trainer_bundled", lambda: False)
    assert "slim build" in finetune_runner.training_unavailable()


def test_launcher_picks_the_program_by_its_name(monkeypatch):
    from app import launcher

    called = []
    monkeypatch.setattr("app.gui.main.main", lambda: called.append("gui") or 0)
    monkeypatch.setattr("app.cli.main", lambda: called.append("cli") or 0)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    for exe, expected in (("/opt/h/htrjand-studio", "gui"), ("C:/h/htrjand-studio.exe", "gui"),
                          ("/opt/h/htrjand", "cli"), ("C:/h/HTRJAND.EXE", "cli")):
        monkeypatch.setattr(sys, "executable", exe)
        assert launcher.main() == 0
        assert called.pop() == expected, exe


def test_resources_unfrozen_frozen_and_overridden(monkeypatch, tmp_path):
    from engine import models, resources

    monkeypatch.delenv(resources.RESOURCES_ENV, raising=False)
    assert resources.resources_dir() == REPO / "resources"
    assert resources.resource_path("models") == models.bundled_models_dir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.is_frozen()
    sample = resources.resource_path("samples", "poilus")
    assert sample == tmp_path / "resources" / "samples" / "poilus"
    monkeypatch.setenv(resources.RESOURCES_ENV, str(tmp_path / "elsewhere"))
    assert resources.resources_dir() == tmp_path / "elsewhere"


@pytest.mark.parametrize("name", ["pyproject.toml"])
def test_pyinstaller_is_a_dev_dependency(name):
    text = (REPO / name).read_text(encoding="utf-8")
    dev = next(line for line in text.splitlines() if line.startswith("dev = "))
    assert "pyinstaller" in dev
