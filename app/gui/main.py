"""Entry point of the window: ``python -m app.gui [folder | files...]`` or ``htrjand-studio``.

One window per user: a second start hands its files to the running window and exits (see
:mod:`app.gui.single_instance`). The first start opens the welcome screen. Options for scripts:
``--no-welcome``; ``--exit-when-ready`` prints ``ready`` once the window is usable, then closes it
(the start-up benchmark and the build test use it).
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.gui.settings import Settings
from app.gui.single_instance import HANDED, SILENT, SingleInstance

INSTANCE_ENV = "HTRJAND_INSTANCE"  # another instance name (tests, several profiles)
OPTIONS = ("--no-welcome", "--exit-when-ready")


def _say(text: str) -> None:
    """A line on stdout when there is one (a windowed Windows build has none)."""
    if sys.stdout is not None:
        print(text, flush=True)


def _report_ready_and_close(window) -> None:
    """For scripts: what the window shows (pages, messages), then close it."""
    _say(f"ready {len(window.model.entries)} page(s)")
    for level, text in window.messages.history:
        _say(f"{level}: {text}")
    window.close()


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Open the window (on the folder or files named in ``argv[1:]``) and run until it closes."""
    argv = list(sys.argv if argv is None else argv)
    options = {a for a in argv[1:] if a in OPTIONS}
    paths = [os.path.abspath(a) for a in argv[1:] if not a.startswith("-")]
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("HTR-JAND Studio")
    app.setOrganizationName("HTR-JAND")
    instance = SingleInstance(os.environ.get(INSTANCE_ENV) or None)
    sent = instance.send(paths)
    if sent == HANDED:
        _say("HTR-JAND Studio is already running"
             + (": the files were opened in its window." if paths else "; it was brought forward."))
        return 0
    if sent == SILENT or not instance.listen():
        text = ("HTR-JAND Studio is already running but does not answer (it may be busy). "
                "Wait a moment or close it, then start again.")
        _say(text)
        QMessageBox.warning(None, "HTR-JAND Studio", text)
        return 1
    from app.gui import startup
    from app.gui.main_window import MainWindow
    from app.gui.project_model import WARNING

    try:
        window = MainWindow(settings)
        instance.received.connect(window.receive_paths)
        if paths:
            window.open_paths(paths)
        window.show()
        problem = startup.model_problem()
        if problem and window.messages.isHidden():  # a problem opening the files comes first
            window.messages.show_message(WARNING, problem)
        if not paths and "--no-welcome" not in options and window.settings.show_welcome:
            window.welcome_dialog()
        if "--exit-when-ready" in options:
            QTimer.singleShot(0, lambda: _report_ready_and_close(window))
        return app.exec()
    finally:
        instance.close()


if __name__ == "__main__":
    sys.exit(main())
