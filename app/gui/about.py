"""Help → About: the version, the installed model cards, licences and data credits."""

from __future__ import annotations

import json
import platform

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from engine import __version__

CARD_FIELDS = [("version", "Version"), ("architecture", "Architecture"),
               ("parameters", "Parameters"), ("training_data", "Training data"),
               ("metrics", "Metrics"), ("created", "Created")]

CREDITS = """## Licences and credits

- **HTR-JAND Studio** — Apache License 2.0.
- **Sample page** — the will of Marcel Langlais, *Testaments de Poilus*, © Archives nationales /
  Testaments de Poilus project, CC-BY 4.0 (DOI 10.5281/zenodo.10177106).
- **PAGE-XML schemas** (PRImA Research) — Apache License 2.0.
- **Training data** — Testaments de Poilus wills (CC-BY 4.0); the transcriptions of the Hooker
  letters (CC-BY-SA) were used only to train the models and are not distributed with the
  application. The model cards above name the data of each model. The post-corrector also
  learned from text of GCIDE (Webster's 1913 dictionary, GPL), the wbritish / wfrench word
  lists and wordfreq's frequency lists (CC-BY-SA 4.0); none of that text is shipped.
- Built with Qt for Python (PySide6, LGPLv3), ONNX Runtime (MIT), OpenCV (Apache-2.0),
  NumPy (BSD), Pillow (MIT-CMU), lxml (BSD), Shapely (BSD), RapidFuzz (MIT), Dask (BSD),
  platformdirs (MIT).
"""


def _value(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def model_cards_markdown() -> str:
    """The cards of the installed models (card.json fields, then card.md when present)."""
    try:
        from engine.models import bundled_models_dir, list_models

        models = list_models()
    except Exception as exc:  # the About box must open even when the registry cannot be read
        return f"## Recognition models\n\nThe models cannot be listed: {exc}\n"
    out = ["## Recognition models\n"]
    if not models:
        out.append(f"No recognition model is installed (looked in {bundled_models_dir()}).\n")
    for info in models:
        out.append(f"### {info.name} ({info.source})\n")
        if info.error:
            out.append(f"Unusable: {info.error}\n")
            continue
        card = info.card or {}
        for key, label in CARD_FIELDS:
            if key in card:
                out.append(f"- **{label}:** {_value(card[key])}")
        out.append(f"- **Characters:** {len(card.get('charset', []))}")
        out.append(f"- **Folder:** {info.path}\n")
        md = info.path / "card.md"
        if md.is_file():
            try:
                out.append(md.read_text(encoding="utf-8").replace("\n#", "\n###") + "\n")
            except (OSError, UnicodeDecodeError) as exc:
                out.append(f"(card.md unreadable: {exc})\n")
    return "\n".join(out)


def postcorrect_card_markdown() -> str:
    """The bundled (or configured) post-correction model's card.md, or why there is none."""
    out = ["## Post-correction model\n"]
    try:
        from engine.postcorrect import resolve_postcorrect_dir

        folder = resolve_postcorrect_dir(None)
        out.append((folder / "card.md").read_text(encoding="utf-8").replace("\n#", "\n###"))
        out.append(f"\n- **Folder:** {folder}\n")
    except Exception as exc:  # the About box must open whatever state the model is in
        out.append(f"Suggestions are off: {exc}\n")
    return "\n".join(out)


def about_markdown() -> str:
    from PySide6 import __version__ as pyside_version

    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = "not installed"
    head = (f"# HTR-JAND Studio {__version__}\n\nTranscribe historical handwriting on your own "
            f"machine.\n\nPython {platform.python_version()}, Qt for Python {pyside_version}, "
            f"ONNX Runtime {ort}.\n")
    return "\n".join([head, model_cards_markdown(), postcorrect_card_markdown(), CREDITS])


class AboutDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About HTR-JAND Studio")
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setMarkdown(about_markdown())
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(640, 600)
