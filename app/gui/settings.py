"""Settings of the window, kept with QSettings: device, model, fast reading, recent projects,
autosave delay, post-correction suggestions, warm-up of the recognizer."""

from __future__ import annotations

from PySide6.QtCore import QSettings

DEVICES = ("auto", "cpu", "gpu")
MAX_RECENT = 10


class Settings:
    """Typed access to the QSettings store (pass one in tests to keep them out of the user's)."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings("HTR-JAND", "HTR-JAND Studio")

    @property
    def device(self) -> str:
        value = str(self.store.value("recognition/device", "auto"))
        return value if value in DEVICES else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self.store.setValue("recognition/device", value if value in DEVICES else "auto")

    @property
    def model_dir(self) -> str:
        """The recognition model folder; empty means the engine's default model."""
        return str(self.store.value("recognition/model_dir", "") or "")

    @model_dir.setter
    def model_dir(self, value: str) -> None:
        self.store.setValue("recognition/model_dir", value or "")

    @property
    def fast_reading(self) -> bool:
        """Greedy CTC decoding instead of the model's tuned one (beam search + character LM for
        the bundled model): faster, more errors. Off unless turned on."""
        value = self.store.value("recognition/fast_reading", False)
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1")

    @fast_reading.setter
    def fast_reading(self, value: bool) -> None:
        self.store.setValue("recognition/fast_reading", bool(value))

    @property
    def beam(self) -> int | None:
        """The recognizer's beam width for these settings: 1 (greedy) for fast reading, else
        None (the model's own default decoding)."""
        return 1 if self.fast_reading else None

    @property
    def warm_up(self) -> bool:
        """Whether the recognition model and its LMs are loaded in the background when a
        project opens (on until turned off: the first page then reads as fast as the next;
        off keeps their memory free until a page is read)."""
        value = self.store.value("recognition/warm_up", True)
        return value if isinstance(value, bool) else str(value).lower() not in ("false", "0")

    @warm_up.setter
    def warm_up(self, value: bool) -> None:
        self.store.setValue("recognition/warm_up", bool(value))

    @property
    def autosave_ms(self) -> int:
        try:
            return max(200, int(self.store.value("editing/autosave_ms", 1500)))
        except (TypeError, ValueError):
            return 1500

    @autosave_ms.setter
    def autosave_ms(self, value: int) -> None:
        self.store.setValue("editing/autosave_ms", int(value))

    @property
    def low_confidence(self) -> float:
        try:
            return float(self.store.value("editing/low_confidence", 0.8))
        except (TypeError, ValueError):
            return 0.8

    @property
    def show_suggestions(self) -> bool:
        """Whether post-correction suggestions are computed and shown (on until turned off)."""
        value = self.store.value("editing/show_suggestions", True)
        return value if isinstance(value, bool) else str(value).lower() not in ("false", "0")

    @show_suggestions.setter
    def show_suggestions(self, value: bool) -> None:
        self.store.setValue("editing/show_suggestions", bool(value))

    @property
    def show_welcome(self) -> bool:
        """Whether the welcome screen opens at start (True until the person turns it off)."""
        value = self.store.value("welcome/show", True)
        return value if isinstance(value, bool) else str(value).lower() not in ("false", "0")

    @show_welcome.setter
    def show_welcome(self, value: bool) -> None:
        self.store.setValue("welcome/show", bool(value))

    def recent_projects(self) -> list[str]:
        value = self.store.value("recent/projects", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> None:
        items = [p for p in self.recent_projects() if p != path]
        self.store.setValue("recent/projects", [path, *items][:MAX_RECENT])

    def sync(self) -> None:
        self.store.sync()
