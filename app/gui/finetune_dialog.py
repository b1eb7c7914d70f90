""""Train on my corrections": how many corrected lines there are and the expected time, then a
training in a child process with a progress bar, the live held-back CER and Cancel; at the end
CER before -> after with "Use this model" and "Re-recognise the lines not yet corrected".

Opened with :func:`open_for` (one dialog per window). Corrections are saved before the training
starts, since the child process reads the project from disk.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from app.gui import finetune_runner, job_actions, jobs
from app.gui.job_results import merge_recognition
from app.gui.project_model import INFO
from app.gui.workers import Job
from engine.errors import HtrError

SECONDS_PER_LINE = 0.05  # cutting a corrected line out of its page, measured order
OVERHEAD_S = 30  # starting Python + torch, loading the model, writing the version
TITLE = "Training on my corrections"


def count_corrections(model) -> tuple[int, int, int]:
    """(corrected lines, pages with some, read lines not corrected) of the open project, in
    memory where loaded."""
    from training.corrections import corrected_lines, read_lines

    lines = pages = read = 0
    if model.project is None:
        return 0, 0, 0
    for entry in model.entries:
        page = model.pages.get(entry.stem)
        if page is None:
            if not entry.readable or not entry.has_transcription:
                continue
            try:
                page = model.project.load_page(entry)
            except HtrError:
                continue
        n = len(corrected_lines(page))
        lines += n
        pages += bool(n)
        read += len(read_lines(page))
    return lines, pages, read


def expected_seconds(lines: int, minutes: float) -> float:
    return 60 * minutes + OVERHEAD_S + SECONDS_PER_LINE * lines


class FinetuneDialog(QDialog):
    def __init__(self, window) -> None:
        super().__init__(window)
        from training.corrections import MIN_LINES

        self.window_ = window
        self.result: dict | None = None
        self.running = False
        self.setWindowTitle("Train on my corrections")
        self.lines, self.pages, self.read = count_corrections(window.model)
        self.readings = QCheckBox("Fewer than 20 corrections: learn from the lines as they "
                                  "were read (self-training)")
        self.readings.setToolTip(
            "Adapts the model to this hand before you correct it: the model learns its own "
            "readings of the lines nobody corrected, errors and all. Measured on a new hand "
            "with no corrections: 12 % fewer character errors. Once 20 lines are corrected, "
            "only those are learnt: 25 corrected lines alone did better than with the readings.")
        self.readings.toggled.connect(self._update_summary)
        self.readings.toggled.connect(lambda _on: self._set_running(self.running))
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.minutes = QDoubleSpinBox(suffix=" min", minimum=0.5, maximum=120.0, singleStep=1.0,
                                      decimals=1)
        self.minutes.setValue(5.0)
        self.minutes.valueChanged.connect(self._update_summary)
        folder = window.model.project.folder.name if window.model.project else "model"
        self.name = QLineEdit(f"{folder}-{time.strftime('%Y%m%d-%H%M')}")
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_model)
        self.rerecognize_button = QPushButton("Re-recognise the lines not yet corrected")
        self.rerecognize_button.clicked.connect(self.rerecognize)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        form = QFormLayout()
        form.addRow("Training time:", self.minutes)
        form.addRow("Name of the new model:", self.name)
        form.addRow("", self.readings)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.use_button,
                  self.rerecognize_button, close):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.outcome)
        layout.addLayout(buttons)
        self.min_lines = MIN_LINES
        self.unavailable = finetune_runner.training_unavailable()
        runner = window.runner
        runner.progressed.connect(self._progressed)
        runner.ended.connect(self._ended)
        self._update_summary()
        self._set_running(False)

    # -- state -------------------------------------------------------------------------------
    def _measured_on(self) -> str | None:
        """What the held-back lines will be ("corrected" or "read"), None when there are too
        few lines to train (``training.corrections.held_back_kind``)."""
        from training.corrections import held_back_kind

        kind = held_back_kind(self.lines, self.read if self.readings.isChecked() else 0)
        return {"corrections": "corrected", "readings": "read"}.get(kind)

    def _update_summary(self) -> None:
        from engine.progress import format_duration

        measured = self._measured_on()
        read = self.read if measured == "read" else 0
        if measured is None:
            text = (f"{self.lines} corrected line(s) in this project; training needs at least "
                    f"{self.min_lines} (every 10th, at least 10, is held back to measure the "
                    f"result). Correct {self.min_lines - self.lines} more line(s) first"
                    + (f", or let it learn from the {self.read} line(s) read and not corrected."
                       if self.read >= self.min_lines else "."))
        else:
            pool = self.lines if measured == "corrected" else read
            held = max(10, pool // 10)
            secs = expected_seconds(self.lines + read, self.minutes.value())
            text = (f"{self.lines} corrected lines on {self.pages} page(s)"
                    + (f" and {read} read lines not corrected" if read else "")
                    + f": {self.lines + read - held} to learn from, {held} {measured} ones held "
                    f"back to measure the error rate"
                    + (" (against the model's own readings: agreement, not accuracy)"
                       if measured == "read" else "")
                    + f". Expected time: about {format_duration(secs)}. The current model is "
                    "kept; the result is a new model version.")
        if self.unavailable:
            text += f"\n\n{self.unavailable}"
        self.summary.setText(text)

    def _set_running(self, running: bool) -> None:
        self.running = running
        can_start = (not running and self._measured_on() is not None and not self.unavailable)
        self.start_button.setEnabled(can_start)
        self.cancel_button.setEnabled(running)
        self.minutes.setEnabled(not running)
        self.name.setEnabled(not running)
        self.readings.setEnabled(not running and self.lines < self.min_lines)
        self.use_button.setVisible(self.result is not None)
        self.rerecognize_button.setVisible(self.result is not None)

    # -- training ----------------------------------------------------------------------------
    def command(self) -> list[str]:
        model = self.window_.model
        base = self.window_.settings.model_dir or None
        return finetune_runner.child_command(
            [str(model.project.folder)], self.name.text().strip() or "my-model",
            self.minutes.value(), base,
            extra=["--with-readings"] if self._measured_on() == "read" else None)

    def start(self) -> bool:
        if self.running or self.window_.model.project is None:
            return False
        if not self.window_.model.save_all():
            self.status.setText("Some corrections could not be saved; training waits until "
                                "they are (see the message above the page).")
            return False
        self.result = None
        self.outcome.setText("")
        job = Job(finetune_runner.finetune_job(self.command()), TITLE)
        if not job_actions.start(self.window_, job, on_finished=self._finished):
            self.status.setText("Another job is running; cancel it or wait, then start again.")
            return False
        self.bar.setValue(0)
        self.status.setText("Starting the training process…")
        self._set_running(True)
        return True

    def cancel(self) -> None:
        if self.running:
            self.window_.runner.cancel()
            self.status.setText("Cancelling… (no model is written)")

    def _progressed(self, percent: int, text: str) -> None:
        if self.running:
            self.bar.setValue(percent)
            self.status.setText(text)

    def _finished(self, result: dict) -> None:
        self.result = result
        before, after = result["cer_before"], result["cer_after"]
        change = (after - before) / before if before else 0.0
        against = (" (read, not corrected: agreement with the model's own readings)"
                   if result.get("held_back_of") == "readings" else "")
        self.outcome.setText(
            f"Character error rate on the {result['held_back_lines']} held-back lines{against}: "
            f"{before:.1%} → {after:.1%} ({change:+.0%}). New model version "
            f"\"{result['name']}\", trained {result['seconds'] / 60:.1f} min on "
            f"{result['train_lines']} lines.")

    def _ended(self, outcome: str, message: str) -> None:
        if not self.running or not message.startswith(TITLE):
            return
        self.bar.setValue(100 if outcome == "finished" else self.bar.value())
        self.status.setText({"finished": "Done.",
                             "cancelled": "Cancelled; no model was written.",
                             }.get(outcome, message))
        self._set_running(False)

    # -- after -------------------------------------------------------------------------------
    def use_model(self) -> None:
        if self.result is None:
            return
        settings = self.window_.settings
        settings.model_dir = self.result["model_dir"]
        settings.sync()
        self.window_.messages.show_message(
            INFO, f"Recognition now uses \"{self.result['name']}\"; Settings switch back in "
                  "one click.")

    def rerecognize(self) -> bool:
        """Recognise every line of the project that a person has not corrected, with the new
        model (corrected lines are never touched)."""
        if self.result is None:
            return False
        model = self.window_.model
        tasks = jobs.tasks_for(model, [e.stem for e in model.entries if e.readable])
        fn = jobs.recognize(model.project, tasks, self.result["model_dir"],
                            self.window_.settings.device, self.window_.settings.beam)
        return job_actions.start(self.window_, Job(fn, f"Re-recognising {len(tasks)} page(s)"),
                                 lambda stem, page: merge_recognition(model, stem, page))


def open_for(window) -> FinetuneDialog | None:
    """Show the window's fine-tuning dialog (one per window); None without a project."""
    if window.model.project is None:
        window.messages.show_message(INFO, "Open a project first: training learns from the "
                                           "lines corrected in it.")
        return None
    dialog = getattr(window, "_finetune_dialog", None)
    if dialog is None or (not dialog.running and not dialog.isVisible()):
        if dialog is not None:
            dialog.deleteLater()
        dialog = FinetuneDialog(window)
        window._finetune_dialog = dialog
    dialog.show()
    dialog.raise_()
    return dialog
