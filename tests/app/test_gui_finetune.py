"""Train on my corrections in the window: the count and expected time, a training in a child
process (torch never imported by the window) with progress and the held-back CER, the result
with "Use this model" and re-recognition that keeps corrections, Cancel without a half model,
one job at a time, the model versions dialog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from app.gui import finetune_dialog, finetune_runner, model_versions  # noqa: E402
from engine.document import Origin  # noqa: E402
from finetune_fixtures import line_texts, make_project, make_tiny_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("base") / "tiny-base")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "letters", line_texts(22), extra_model_lines=3)


def _fast(monkeypatch, minutes: float = 0.05) -> None:
    real = finetune_runner.child_command

    def command(inputs, name, _minutes, base=None, threads=2, extra=None):
        return real(inputs, name, minutes, base, 1, extra)
    monkeypatch.setattr(finetune_runner, "child_command", command)


def test_the_window_never_imports_torch() -> None:
    code = ("import sys; import app.gui.main_window, app.gui.finetune_dialog, "
            "app.gui.finetune_runner, app.gui.model_versions, training.corrections; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False", out.stderr


def test_train_use_and_rerecognise(window, qtbot, project, base_dir, store, monkeypatch) -> None:
    _fast(monkeypatch)
    window.settings.model_dir = str(base_dir)
    assert window.open_paths([str(project)])
    window.actions["finetune"].trigger()
    dialog = window._finetune_dialog
    assert dialog.isVisible() and dialog.lines == 22
    assert "22 corrected lines" in dialog.summary.text()
    assert "Expected time" in dialog.summary.text()
    assert dialog.start_button.isEnabled() and not dialog.use_button.isVisible()
    dialog.name.setText("my hand")
    seen: list[str] = []
    window.runner.progressed.connect(lambda _percent, text: seen.append(text))
    assert dialog.start()
    assert not dialog.start()  # a second training while one runs
    assert not finetune_dialog.FinetuneDialog(window).start()  # nor from another dialog
    qtbot.waitUntil(lambda: not dialog.running, timeout=120000)
    assert dialog.result is not None, dialog.status.text()
    assert any("held-back CER" in t for t in seen)  # the live error rate was shown
    assert "→" in dialog.outcome.text() and "my-hand" in dialog.outcome.text()
    card = json.loads((store / "my-hand" / "card.json").read_text())
    assert card["finetune"]["lines_used"] == 22
    assert dialog.use_button.isVisible() and dialog.rerecognize_button.isVisible()
    dialog.use_button.click()
    assert window.settings.model_dir == str(store / "my-hand")

    page = window.model.page
    corrected = {ln.id: ln.text for ln in page.lines() if ln.origin == Origin.PERSON}
    assert dialog.rerecognize()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=30000)
    after = window.model.page
    assert {ln.id: ln.text for ln in after.lines() if ln.id in corrected} == corrected
    assert all(ln.origin == Origin.PERSON for ln in after.lines() if ln.id in corrected)

    versions = model_versions.open_for(window)
    names = [versions.list.item(i).text() for i in range(versions.list.count())]
    assert any(n.startswith("my-hand (user) ✓") for n in names)
    versions.use_default()
    assert window.settings.model_dir == ""
    row = next(i for i, n in enumerate(names) if n.startswith("my-hand"))
    versions.list.setCurrentRow(row)
    assert "Held-back CER" in versions.card.toPlainText()
    versions.remove_selected(confirm=False)
    assert not (store / "my-hand").exists()
    versions.close()


def test_cancel_leaves_no_half_model(window, qtbot, project, base_dir, store, monkeypatch):
    _fast(monkeypatch, minutes=2)
    window.settings.model_dir = str(base_dir)
    assert window.open_paths([str(project)])
    dialog = finetune_dialog.open_for(window)
    assert dialog.start()
    qtbot.waitUntil(lambda: "step" in dialog.status.text(), timeout=60000)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=15000)
    assert "Cancelled" in dialog.status.text() and dialog.result is None
    assert not store.exists() or [p.name for p in store.iterdir()] == []


def test_too_few_corrections_and_no_project(window, tmp_path, base_dir, store) -> None:
    assert finetune_dialog.open_for(window) is None
    assert "Open a project first" in window.messages.text()
    few = make_project(tmp_path / "few", line_texts(4))
    assert window.open_paths([str(few)])
    dialog = finetune_dialog.open_for(window)
    assert dialog.lines == 4 and not dialog.start_button.isEnabled()
    assert "at least 20" in dialog.summary.text() and "16 more" in dialog.summary.text()


def test_few_corrections_can_train_on_the_read_lines(window, tmp_path, store) -> None:
    """4 corrected and 25 read lines: Start waits until self-training is ticked, which says
    what will be held back and passes --with-readings to the training process."""
    few = make_project(tmp_path / "few", line_texts(4), extra_model_lines=25)
    assert window.open_paths([str(few)])
    dialog = finetune_dialog.open_for(window)
    assert (dialog.lines, dialog.read) == (4, 25) and not dialog.start_button.isEnabled()
    assert "25 line(s) read and not corrected" in dialog.summary.text()
    assert "--with-readings" not in dialog.command()
    dialog.readings.setChecked(True)
    assert dialog.start_button.isEnabled()
    text = dialog.summary.text()
    assert "4 corrected lines on 1 page(s) and 25 read lines not corrected" in text
    assert "19 to learn from, 10 read ones held back" in text and "agreement" in text
    assert dialog.command()[-1] == "--with-readings"
    dialog.readings.setChecked(False)
    assert not dialog.start_button.isEnabled()


def test_enough_corrections_leave_the_read_lines_out(window, project, store) -> None:
    assert window.open_paths([str(project)])
    dialog = finetune_dialog.open_for(window)
    assert (dialog.lines, dialog.read) == (22, 3) and not dialog.readings.isEnabled()
    dialog.readings.setChecked(True)
    assert "read lines" not in dialog.summary.text() and "--with-readings" not in dialog.command()


def test_training_unavailable_is_explained(window, project, monkeypatch) -> None:
    monkeypatch.setattr(finetune_runner, "training_unavailable", lambda: "needs PyTorch")
    assert window.open_paths([str(project)])
    dialog = finetune_dialog.open_for(window)
    assert not dialog.start_button.isEnabled() and "needs PyTorch" in dialog.summary.text()


def test_closing_the_window_stops_the_training(window, qtbot, project, base_dir, store,
                                               monkeypatch) -> None:
    _fast(monkeypatch, minutes=2)
    window.settings.model_dir = str(base_dir)
    assert window.open_paths([str(project)])
    dialog = finetune_dialog.open_for(window)
    assert dialog.start()
    qtbot.waitUntil(lambda: "step" in dialog.status.text(), timeout=60000)
    window.close()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=15000)
    assert not [p for p in store.iterdir() if not p.name.startswith(".")]  # no model at all
