"""Fast checks of build.spec (no PyInstaller run): it parses, builds two programs named
htrjand-studio and htrjand into one folder from app/launcher.py, carries resources/ and every
command module, leaves torch out by default; and the frozen paths of engine.resources."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "build.spec"


class Recorder:
    """Stands in for one of PyInstaller's spec classes and keeps its arguments."""

    made: list["Recorder"] = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.scripts, self.pure, self.binaries, self.datas = ["script"], ["pure"], [], []
        Recorder.made.append(self)


def run_spec(monkeypatch, with_torch: bool = False) -> dict:
    if with_torch:
        monkeypatch.setenv("HTRJAND_WITH_TORCH", "1")
    else:
        monkeypatch.delenv("HTRJAND_WITH_TORCH", raising=False)
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


def test_torch_is_left_out_unless_asked(monkeypatch):
    (plain,) = run_spec(monkeypatch)["Analysis"]
    assert "torch" in plain.kwargs["excludes"]
    assert "onnxruntime" not in plain.kwargs["excludes"]
    assert not any(e.startswith(("PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtNetwork"))
                   for e in plain.kwargs["excludes"])
    (full,) = run_spec(monkeypatch, with_torch=True)["Analysis"]
    assert "torch" not in full.kwargs["excludes"]


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
