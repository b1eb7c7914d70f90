"""Entry point of the window: ``python -m app.gui [folder | files...]`` or ``htrjand-studio``."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from app.gui.main_window import APP_NAME, MainWindow
from app.gui.settings import Settings


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Open the window (on the folder or files named in ``argv[1:]``) and run until it closes."""
    argv = list(sys.argv if argv is None else argv)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("HTR-JAND")
    window = MainWindow(settings)
    paths = [a for a in argv[1:] if not a.startswith("-")]
    if paths:
        window.open_paths(paths)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
