"""The PyInstaller build, end to end (slow: minutes). Run it with

    pytest -m slow tests/app/test_build_frozen.py

It builds ``build.spec`` into a temporary folder, then runs the built programs: ``htrjand
--version``, ``htrjand info`` and ``htrjand recognize`` on the sample (same text as the unfrozen
command), ``htrjand batch`` with a worker process, the window offscreen opening the sample
project and closing cleanly, a clear message
when the build holds no model, a second window start handing its files to the first, and nothing
written into the build folder. Fine-tuning from the build: ``htrjand finetune`` on a project of
corrected lines (two cremma-abrege pages with their ground truth from ``../shared/data``, or a
drawn page without it) writes a new model version (model.onnx, card.json) into a private user
store, which the built ``htrjand recognize`` then reads with; and the window's own route (its
job running ``htrjand --finetune-child --json``) does the same. ``HTRJAND_BUILT=DIR`` tests an
existing build instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.formats import read_document

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "samples" / "poilus"
SAMPLE_XML = SAMPLE / "ground-truth" / "TestamentsDePoilus_will_AN_0191-0.xml"
EXE = ".exe" if sys.platform == "win32" else ""
# Two pages of ../shared/data/cremma-abrege (23 lines each, ground truth beside each image).
CREMMA_PAGES = ("SIL-39088003186632_abreygeydesdesc00acad_0008",
                "SIL-39088003186632_abreygeydesdesc00acad_0038")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The built folder (holding htrjand-studio and htrjand)."""
    if os.environ.get("HTRJAND_BUILT"):
        return Path(os.environ["HTRJAND_BUILT"])
    pytest.importorskip("PyInstaller")
    work = tmp_path_factory.mktemp("pyinstaller")
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(work / "dist"), "--workpath", str(work / "build"),
               str(REPO / "build.spec")]
    if sys.platform != "win32":
        command = ["nice", "-n", "19", *command]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work / "dist" / "htrjand-studio"


@pytest.fixture
def env(tmp_path) -> dict:
    """A user of their own: home, data and settings folders in tmp; offscreen Qt."""
    home = tmp_path / "home"
    home.mkdir()
    return {**os.environ, "HOME": str(home), "USERPROFILE": str(home),
            "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_RUNTIME_DIR": str(home / "run"), "QT_QPA_PLATFORM": "offscreen",
            "HTRJAND_INSTANCE": f"htrjand-frozen-{os.getpid()}-{tmp_path.name}"}


def run(args, env, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env,
                          timeout=timeout, **kwargs)


def snapshot(folder: Path) -> set[tuple[str, int]]:
    return {(str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")}


def test_programs_are_there(built):
    assert (built / f"htrjand-studio{EXE}").is_file()
    assert (built / f"htrjand{EXE}").is_file()
    internal = built / "_internal"
    assert (internal / "resources" / "samples" / "poilus" / SAMPLE_XML.relative_to(SAMPLE)).is_file()
    plugins = next(internal.rglob("imageformats"))
    names = " ".join(p.name for p in plugins.iterdir())
    assert "qtiff" in names and "qjpeg" in names
    platforms = " ".join(p.name for p in next(internal.rglob("platforms")).iterdir())
    assert "offscreen" in platforms
    size = sum(p.stat().st_size for p in built.rglob("*")
               if p.is_file() and not p.is_symlink())  # PyInstaller links duplicates
    print(f"\nbuilt folder: {size / 2**20:.0f} MiB")


def test_cli_version_and_info(built, env):
    done = run([built / f"htrjand{EXE}", "--version"], env)
    assert done.returncode == 0 and done.stdout.strip().startswith("htrjand 0.")
    done = run([built / f"htrjand{EXE}", "info", SAMPLE_XML], env)
    assert done.returncode == 0, done.stderr
    assert "16 lines" in done.stdout and "Traceback" not in done.stderr


def test_training_without_torch_is_a_message(built, env, tmp_path):
    if _carries_torch(built):
        pytest.skip("this build carries torch (the default; HTRJAND_WITHOUT_TORCH=1 leaves it out)")
    done = run([built / f"htrjand{EXE}", "train", "--model", "student", "--run-dir",
                tmp_path / "run"], env)
    assert done.returncode == 2, done.stderr
    assert "training needs PyTorch" in done.stderr and "Traceback" not in done.stderr


def test_eval_seg_without_scipy_is_a_message(built, env):
    """The build leaves scipy out: segmentation evaluation says so instead of a traceback."""
    done = run([built / f"htrjand{EXE}", "eval-seg", "--pred", SAMPLE_XML.parent, "--gt",
                SAMPLE_XML.parent], env)
    if (built / "_internal" / "scipy").is_dir():
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 2 and "needs scipy" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def _carries_torch(built: Path) -> bool:
    return (built / "_internal" / "torch").is_dir()


def _texts(path: Path) -> list[str]:
    return [ln.text for ln in read_document(path).lines()]


def test_recognize_gives_the_same_text_as_unfrozen(built, env, tmp_path, request):
    choices = []  # --model arguments: the bundled default model, and a toy export (torch)
    if (REPO / "resources" / "models" / "htrjand-student" / "model.onnx").is_file():
        choices.append([])
    try:
        choices.append(["--model", str(request.getfixturevalue("toy_model_dir"))])
    except pytest.skip.Exception:
        pass
    if not choices:
        pytest.skip("no model bundled and no torch to export a toy one")
    for k, model in enumerate(choices):
        frozen_out, plain_out = tmp_path / f"frozen{k}.xml", tmp_path / f"plain{k}.xml"
        common = [SAMPLE_XML, "--overwrite", "--device", "cpu", *model]
        done = run([built / f"htrjand{EXE}", "recognize", *common, "-o", frozen_out], env)
        assert done.returncode == 0, done.stderr
        done = run([sys.executable, "-m", "app.cli", "recognize", *common, "-o", plain_out],
                   env, cwd=REPO)
        assert done.returncode == 0, done.stderr
        assert _texts(frozen_out) == _texts(plain_out) and len(_texts(frozen_out)) == 16


def test_batch_runs_worker_processes(built, env, tmp_path):
    """``htrjand batch`` starts Dask worker processes: the built program must re-enter as one."""
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(next(SAMPLE.glob("*.jpg")), source)
    done = run([built / f"htrjand{EXE}", "batch", source, "-o", tmp_path / "out", "--segment",
                "--workers", "1"], env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(list((tmp_path / "out" / "page").glob("*.xml"))) == 1


def test_window_opens_the_sample_and_closes_cleanly(built, env, tmp_path):
    project = tmp_path / "poilus"
    shutil.copytree(SAMPLE, project)
    before = snapshot(built)
    done = run([built / f"htrjand-studio{EXE}", "--exit-when-ready", project], env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready 1 page(s)" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert snapshot(built) == before  # nothing written into the install folder


def test_build_without_model_says_so_at_start(built, env):
    models = built / "_internal" / "resources" / "models"
    hidden = models.with_name("models-hidden")
    if models.exists():
        models.rename(hidden)
    try:
        done = run([built / f"htrjand-studio{EXE}", "--exit-when-ready", "--no-welcome"], env,
                   timeout=120)
    finally:
        if hidden.exists():
            hidden.rename(models)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: No recognition model is installed" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def _wait_listening(name: str, process: subprocess.Popen, seconds: float = 60) -> None:
    from PySide6.QtNetwork import QLocalSocket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        socket = QLocalSocket()
        socket.connectToServer(name)
        if socket.waitForConnected(200):
            socket.abort()
            return
        time.sleep(0.2)
    pytest.fail("the first window never listened for a second start")


def test_second_window_start_hands_over(built, env, tmp_path):
    project = tmp_path / "poilus"
    shutil.copytree(SAMPLE, project)
    first = subprocess.Popen([str(built / f"htrjand-studio{EXE}"), "--no-welcome"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_listening(env["HTRJAND_INSTANCE"], first)
        second = run([built / f"htrjand-studio{EXE}", project], env, timeout=60)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "the files were opened in its window" in second.stdout
        assert first.poll() is None  # the first still runs
    finally:
        first.terminate()
        first.communicate(timeout=30)


# -- fine-tuning from the build ----------------------------------------------------------------
@pytest.fixture
def corrected_project(tmp_path) -> Path:
    """A project of lines a person corrected: two cremma-abrege pages with their ground truth
    when ``../shared/data`` (``$HTRJAND_SHARED_DATA``) is there, else one drawn page of 24."""
    project = tmp_path / "corrected"
    shared = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))
    pages = [shared / "cremma-abrege" / f"{stem}{ext}" for stem in CREMMA_PAGES
             for ext in (".jpg", ".xml")]
    if all(p.is_file() for p in pages):
        project.mkdir()
        for p in pages:
            shutil.copy(p, project)
        return project
    from finetune_fixtures import line_texts, make_project

    return make_project(project, line_texts(24), extra_model_lines=0)


def _new_version(store: Path) -> Path:
    (version,) = [p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert (version / "model.onnx").is_file() and (version / "card.json").is_file()
    return version


def test_finetune_from_the_build(built, env, tmp_path, corrected_project):
    store = tmp_path / "models"
    env = {**env, "HTRJAND_USER_MODELS": str(store)}
    done = run([built / f"htrjand{EXE}", "finetune", corrected_project, "--minutes", "0.2",
                "--name", "frozen hand", "--threads", "1"], env, timeout=900)
    if not _carries_torch(built):  # a slim build (HTRJAND_WITHOUT_TORCH=1) says why not
        assert done.returncode == 2 and "fine-tuning needs PyTorch" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        return
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "new model version" in done.stdout
    version = _new_version(store)
    card = json.loads((version / "card.json").read_text(encoding="utf-8"))
    assert card["finetune"]["lines_used"] >= 20
    out = tmp_path / "read.xml"
    done = run([built / f"htrjand{EXE}", "recognize", SAMPLE_XML, "--overwrite", "--device",
                "cpu", "--model", version, "-o", out], env)
    assert done.returncode == 0, done.stderr
    assert len(_texts(out)) == 16


def test_window_finetune_route_from_the_build(built, env, tmp_path, corrected_project,
                                              monkeypatch):
    """What the window's Fine-tune dialog runs, with the built program as the trainer; the new
    version goes to the person's data folder (platformdirs), nothing into the build folder."""
    from types import SimpleNamespace

    from app.gui import finetune_runner
    from engine.progress import CancelToken

    if not _carries_torch(built):
        pytest.skip("a slim build (HTRJAND_WITHOUT_TORCH=1): the window offers no training")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HTRJAND_USER_MODELS", raising=False)
    from engine.models import user_models_dir

    store = user_models_dir()  # platformdirs, in this test's own home folder
    assert Path(env["HOME"]) in store.parents or sys.platform == "win32"
    before = snapshot(built)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(built / f"htrjand-studio{EXE}"))
    command = finetune_runner.child_command([str(corrected_project)], "window hand", 0.1,
                                            threads=1)
    assert command[:2] == [str(built / f"htrjand{EXE}"), "--finetune-child"]
    seen = []
    job = SimpleNamespace(cancel=CancelToken(), progress=lambda *a: seen.append(a))
    result = finetune_runner.finetune_job(command)(job)
    assert result["lines_used"] >= 20 and seen
    assert Path(result["model_dir"]) == _new_version(store)
    assert snapshot(built) == before

