"""The welcome screen of the first start: open the sample page and see it transcribed.

The sample is copied into the user's data folder first (the install folder may be read-only);
segmentation and recognition run as one ordinary background job of the window. Without an
installed model the screen says so and offers segmentation only.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QDialog, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout)

from app.gui import job_actions, startup
from app.gui.project_model import ERROR, WARNING
from engine.errors import HtrError

INTRO = (
    "<h2>Welcome to HTR-JAND Studio</h2>"
    "<p>Open a folder of page images (<b>File → Open Folder</b>), let the page be segmented into "
    "lines and transcribed, then correct the text line by line; every correction is saved as "
    "PAGE-XML beside the images.</p>"
    "<p>To see it work, try the sample: the will of Marcel Langlais (1891–1915), a page of the "
    "<i>Testaments de Poilus</i> (© Archives nationales, CC-BY 4.0).</p>")


class WelcomeDialog(QDialog):
    """Not modal: the window stays usable behind it."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Welcome")
        self.problem = startup.model_problem()
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.RichText)
        self.note = QLabel(self.problem or "")
        self.note.setWordWrap(True)
        self.note.setObjectName("model-note")
        self.note.setStyleSheet("color: #8a5a00;")
        self.note.setVisible(bool(self.problem))
        run_text = ("Open the Sample and &Transcribe It" if self.problem is None
                    else "Open the Sample and &Segment It")
        self.run_button = QPushButton(run_text)
        self.run_button.setDefault(True)
        self.open_button = QPushButton("Open the Sample &Only")
        self.folder_button = QPushButton("Open a &Folder…")
        close = QPushButton("&Close")
        self.show_at_start = QCheckBox("Show this screen at start")
        self.show_at_start.setChecked(window.settings.show_welcome)
        self.run_button.clicked.connect(lambda: self.open_sample(run=True))
        self.open_button.clicked.connect(lambda: self.open_sample(run=False))
        self.folder_button.clicked.connect(self._open_folder)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.open_button, self.folder_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        layout.addWidget(self.show_at_start)
        self.resize(640, self.sizeHint().height())

    def open_sample(self, run: bool = True) -> bool:
        """Copy the sample to the user's folder, open it, and (``run``) start the job that
        segments and — with a model — transcribes it. False when nothing could be opened."""
        window = self.window_
        try:
            folder = startup.sample_project()
        except HtrError as exc:
            window.messages.show_message(ERROR, str(exc))
            return False
        if not window.open_paths([str(folder)]):
            return False
        self.close()
        if not run:
            return True
        if self.problem is None:
            return job_actions.recognize(window, "page")  # segments first when it has no lines
        window.messages.show_message(WARNING, self.problem)
        if window.model.lines():
            return False  # already segmented: nothing to do without a model
        return job_actions.segment(window, "page")

    def _open_folder(self) -> None:
        self.close()
        self.window_.open_folder_dialog()

    def closeEvent(self, event) -> None:
        self.window_.settings.show_welcome = self.show_at_start.isChecked()
        super().closeEvent(event)


def show_welcome(window) -> WelcomeDialog:
    dialog = WelcomeDialog(window)
    window.welcome = dialog
    dialog.show()
    return dialog
