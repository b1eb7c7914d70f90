"""A second start while the window runs hands its files to the first and exits; a socket left
by a crashed instance does not block the next start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.gui.single_instance import ABSENT, SingleInstance, default_name

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def name(tmp_path) -> str:
    return f"htrjand-test-{os.getpid()}-{time.monotonic_ns() % 10**9}"


def test_second_start_hands_its_files_to_the_running_window(qtbot, window, name, project_dir):
    first = SingleInstance(name)
    assert first.listen()
    first.received.connect(window.receive_paths)
    env = {**os.environ, "HTRJAND_INSTANCE": name, "QT_QPA_PLATFORM": "offscreen"}
    with qtbot.waitSignal(first.received, timeout=60_000) as got:
        second = subprocess.Popen([sys.executable, "-m", "app.gui", str(project_dir)], cwd=REPO,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        deadline = time.monotonic() + 60
        while second.poll() is None and time.monotonic() < deadline:
            qtbot.wait(50)  # the first instance answers from its event loop
    if second.poll() is None:
        second.kill()
    out, _ = second.communicate(timeout=10)
    first.close()
    # Let Qt delete the server and its answered sockets inside the event loop, not Python's
    # garbage collector after the test (one CI run crashed in pytest-qt's event processing
    # right after this test).
    first.deleteLater()
    qtbot.wait(100)
    assert second.returncode == 0, out
    assert "already running" in out
    assert got.args == [[str(project_dir)]]
    assert window.model.project is not None
    assert window.model.project.folder.resolve() == project_dir.resolve()


def test_nobody_listening_means_send_fails(qtbot, name):
    assert SingleInstance(name).send(["x"], timeout_ms=100) == ABSENT


def test_stale_name_is_taken_over(qtbot, name):
    first = SingleInstance(name)
    assert first.listen()
    # A second server on the same name (as after a crash left the socket behind) still starts.
    second = SingleInstance(name)
    assert second.listen()
    second.close()
    first.close()


def test_default_name_is_per_user_and_short():
    assert default_name() == default_name()
    assert default_name().startswith("htrjand-studio-") and len(default_name()) < 40


def test_a_running_instance_that_does_not_answer_gets_a_clear_message(qtbot, name, monkeypatch,
                                                                      settings):
    from PySide6.QtNetwork import QLocalServer
    from PySide6.QtWidgets import QMessageBox

    from app.gui import main as gui_main
    from app.gui import single_instance

    busy = QLocalServer()
    assert busy.listen(name)  # holds the name, never answers
    monkeypatch.setattr(single_instance, "ANSWER_MS", 300)
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    monkeypatch.setenv("HTRJAND_INSTANCE", name)
    assert gui_main.main(["htrjand-studio"], settings) == 1
    busy.close()
    assert shown and "already running but does not answer" in shown[0]
