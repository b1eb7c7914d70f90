"""Recognise text lines with an exported HTR-JAND model (ONNX Runtime, no torch).

    rec = Recognizer()                      # the bundled default model, CPU or CUDA
    results = rec.recognize_images(lines)   # uint8 greyscale line images
    page = rec.recognize_page(page)         # fills the text of the page's existing lines
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.document import Line, Origin, Page
from engine.progress import CancelToken, ProgressCallback, no_progress
from engine.recognition.ctc import beam_decode, greedy_decode
from engine.recognition.onnx_model import OnnxLineModel


@dataclass
class LineResult:
    """Text of one line, its confidence (mean of the characters') and one per character.
    ``note`` says why a line gave no text (e.g. an empty image)."""

    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)
    note: str | None = None


def default_beam(card: dict) -> int:
    """The beam width a model reads with by default: its card's ``decoding`` says ``"default":
    "beam"`` when beam search (with the model's LM) was measured better on val; else greedy."""
    decoding = card.get("decoding") or {}
    if isinstance(decoding, dict) and decoding.get("default") == "beam":
        try:
            return max(1, int(decoding.get("beam", 8)))
        except (TypeError, ValueError):
            return 8
    return 1


class Recognizer:
    """A loaded recognition model; build once, call on many lines and pages."""

    def __init__(self, model_dir: Path | None = None, device: str = "auto", *,
                 beam: int | None = None, threads: int = 0, batch_size: int = 16,
                 max_batch_pixels: int = 16 * 64 * 1600) -> None:
        """``beam``: CTC beam width; None takes the decoding the model card names as its
        default (:func:`default_beam`), 1 is greedy. ``threads``: ONNX Runtime intra-op threads
        (0 = its default, all cores)."""
        if model_dir is None:
            from engine.models import default_model_dir

            model_dir = default_model_dir()
        self.model = OnnxLineModel(model_dir, device, threads=threads)
        self.beam = default_beam(self.model.card) if beam is None else max(1, int(beam))
        self.lm, self.lm_weight, self.length_bonus = None, 0.0, 0.0
        self._scorer: tuple[object, Callable[[tuple[int, ...], int], float]] | None = None
        lm_path = self.model.dir / "lm.json"
        if lm_path.is_file():  # a character LM for beam search, with weights tuned on val
            from engine.recognition.lm import CharNgramLM

            self.lm = CharNgramLM.load(lm_path)
            tuned = self.model.card.get("decoding", {})
            self.lm_weight = float(tuned.get("lm_weight", 0.0))
            self.length_bonus = float(tuned.get("length_bonus", 0.0))
        self.batch_size = batch_size
        self.max_batch_pixels = max_batch_pixels

    @property
    def decoding(self) -> str:
        """How lines are decoded, in words (for reports and cards)."""
        if self.beam <= 1:
            return "greedy"
        lm = " + character LM" if self.lm is not None and self.lm_weight > 0 else ""
        return f"beam {self.beam}{lm}"

    @property
    def height(self) -> int:
        return self.model.height

    @property
    def card(self) -> dict:
        return self.model.card

    def _lm_scorer(self) -> Callable[[tuple[int, ...], int], float]:
        """log P_LM(label | prefix) for beam search, built once per LM (it follows
        ``self.lm`` when that is replaced, e.g. while tuning)."""
        if self._scorer is None or self._scorer[0] is not self.lm:
            self._scorer = (self.lm, self.lm.label_scorer(self.model.charset))
        return self._scorer[1]

    def _decode(self, log_probs: np.ndarray) -> LineResult:
        if self.beam > 1:
            use_lm = self.lm is not None and self.lm_weight > 0
            labels, confs = beam_decode(log_probs, self.beam, lm=self._lm_scorer() if use_lm else None,
                                        lm_weight=self.lm_weight, length_bonus=self.length_bonus)
        else:
            labels, confs = greedy_decode(log_probs)
        text = "".join(self.model.charset[c - 1] for c in labels)
        if not labels:  # no character: how sure the network is that the line is blank
            conf = float(np.exp(log_probs.max(-1)).mean()) if len(log_probs) else 0.0
            return LineResult("", conf, [])
        return LineResult(text, float(np.mean(confs)), confs)

    def recognize_images(self, images: list[np.ndarray],
                         progress: ProgressCallback = no_progress,
                         cancel: CancelToken | None = None) -> list[LineResult]:
        """One LineResult per image, in order. Unusable images (empty, under 2 pixels) give
        an empty text with confidence 0 and a note; they never stop the batch."""
        prepared = [self.model.prepare(im) for im in images]
        results: list[LineResult | None] = [
            None if p is not None else LineResult("", 0.0, [], "empty or degenerate line image")
            for p in prepared]
        order = sorted((i for i, p in enumerate(prepared) if p is not None),
                       key=lambda i: prepared[i].shape[1])
        done, pos = len(prepared) - len(order), 0  # unusable lines count as done
        while pos < len(order):  # widths ascend, so the last line of a batch is its widest
            batch = [order[pos]]
            pos += 1
            while pos < len(order) and len(batch) < self.batch_size and \
                    prepared[order[pos]].shape[1] * (len(batch) + 1) * self.height \
                    <= self.max_batch_pixels:
                batch.append(order[pos])
                pos += 1
            if cancel is not None:
                cancel.raise_if_cancelled()
            for i, lp in zip(batch, self.model.run([prepared[i] for i in batch])):
                results[i] = self._decode(lp)
            done += len(batch)
            progress(done, len(prepared), "recognising lines")
        return [r for r in results if r is not None]

    def recognize_page(self, page: Page, image: np.ndarray | None = None, *,
                       overwrite: bool = False, progress: ProgressCallback | None = None,
                       cancel: CancelToken | None = None) -> Page:
        """Fill text, confidences and origin=MODEL of the page's lines, in place, and return
        the page. Lines a person corrected (origin PERSON) are kept unless ``overwrite``;
        machine-made text (MODEL, SUGGESTION) is replaced, and a line read again loses its
        stale post-correction suggestion and kept model text.
        Lines whose geometry cannot be cut are left as they were and counted in
        ``page.metadata['recognition_skipped']``."""
        from engine.imaging import load_image
        from engine.recognition.lines import cut_lines

        if image is None:
            image = load_image(page.image_path())
        targets: list[Line] = [ln for ln in page.lines()
                               if overwrite or ln.origin != Origin.PERSON]
        crops, kept, skipped = [], [], 0
        for ln, crop in zip(targets, cut_lines(page, image, self.height, targets)):
            if crop is None:
                skipped += 1
            else:
                crops.append(crop)
                kept.append(ln)
        results = self.recognize_images(crops, progress or no_progress, cancel)
        for ln, res in zip(kept, results):
            ln.text = res.text
            ln.confidence = res.confidence
            ln.char_confidences = list(res.char_confidences)
            ln.origin = Origin.MODEL
            ln.model_text = None  # the text is the model's own now
            ln.suggestion = None  # made for the previous text
        if skipped:
            page.metadata["recognition_skipped"] = str(skipped)
        return page
