"""Take a screenshot of the real window for the README: ``python -m app.gui.screenshot OUT.png``.

Run it under a display (``xvfb-run -s "-screen 0 1440x900x24" python -m app.gui.screenshot
docs/screenshot.png``). The window opens a copy of the bundled Poilus sample page with its ground
truth, selects a line, and the screen area of the window is saved as PNG.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.gui.main_window import MainWindow
from app.gui.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "samples" / "poilus"


def _sample_project(folder: Path) -> Path:
    """The bundled sample page with its ground truth, plus the will's second page when the
    shared data is at hand (same will, same CC-BY 4.0 licence)."""
    image = next(SAMPLE.glob("*.jpg"))
    shutil.copy(image, folder / image.name)
    shutil.copy(SAMPLE / "ground-truth" / f"{image.stem}.xml", folder / f"{image.stem}.xml")
    shared = Path(os.environ.get("HTRJAND_SHARED_DATA", REPO.parent / "shared" / "data"))
    second = shared / "poilus" / "data" / "batch-1" / image.name.replace("-0.jpg", "-1.jpg")
    if second.is_file() and second.with_suffix(".xml").is_file():
        shutil.copy(second, folder / second.name)
        shutil.copy(second.with_suffix(".xml"), folder / second.with_suffix(".xml").name)
    return folder


def take(out: Path, line: int = 4, size: tuple[int, int] = (1400, 860)) -> Path:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
        window = MainWindow(settings)
        window.resize(*size)
        window.move(0, 0)
        window.show()
        (tmp_path / "Testaments de Poilus").mkdir()
        project = _sample_project(tmp_path / "Testaments de Poilus")
        window.open_paths([str(project)])
        window.model.step_line(line)
        window.view.zoom(1.6)
        window.view.set_current_line(window.model.current_line_id)
        window.editor.field.setFocus()

        def grab() -> None:
            screen = window.screen()
            pixmap = screen.grabWindow(window.winId()) if screen is not None else window.grab()
            if pixmap.isNull() or pixmap.width() < 50:
                pixmap = window.grab()
            out.parent.mkdir(parents=True, exist_ok=True)
            pixmap.save(str(out), "PNG")
            window.close()
            app.quit()

        QTimer.singleShot(1200, grab)
        app.exec()
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m app.gui.screenshot OUT.png", file=sys.stderr)
        return 2
    path = take(Path(argv[0]))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
