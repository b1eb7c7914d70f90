"""Recognise text lines with an exported HTR-JAND model (ONNX Runtime, no torch).

    rec = Recognizer()                      # the bundled default model, CPU or CUDA
    results = rec.recognize_images(lines)   # uint8 greyscale line images (one page's)
    page = rec.recognize_page(page)         # fills the text of the page's existing lines

A model trained on collections in several languages may carry one character LM per
collection (card ``decoding.lms``) beside the pooled ``lm.json``: beam search then reads each
call's lines — one page — with the LM that best explains their greedy reading, since a page is
written in one language and a French will read with an English-heavy LM loses characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from engine.device import CUDA_PROVIDER
from engine.document import Line, Origin, Page
from engine.errors import ModelError
from engine.progress import CancelToken, ProgressCallback, no_progress
from engine.recognition.ctc import align_confidences_lines, beam_nbest_lines, greedy_decode
from engine.recognition.lm import LANGUAGE_LM_FILE, CharLabelScorer, CharNgramLM
from engine.recognition.word_lm import WordBigramLM, rerank
from engine.recognition.onnx_model import OnnxLineModel


@dataclass
class LineResult:
    """Text of one line, its confidence (mean of the characters') and one per character.
    ``note`` says why a line gave no text (e.g. an empty image)."""

    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)
    note: str | None = None


@dataclass
class LanguageLM:
    """One of a model's per-language character LMs with the beam-search weights tuned for it,
    and optionally a word LM that reranks the beam's ``nbest`` best readings
    (``fused score + word_weight * log P_words + word_bonus * words``)."""

    name: str
    lm: CharNgramLM
    lm_weight: float
    length_bonus: float
    words: WordBigramLM | None = None
    word_weight: float = 0.0
    word_bonus: float = 0.0
    nbest: int = 8


class LanguageFiles(NamedTuple):
    """Where a card's per-language LM (and its word LM, if any) lies, with its weights."""

    name: str
    path: Path
    lm_weight: float
    length_bonus: float
    words: Path | None = None
    word_weight: float = 0.0
    word_bonus: float = 0.0
    nbest: int = 8


def language_lm_files(model_dir: Path, card: dict) -> list[LanguageFiles]:
    """The files and weights of each per-language LM a card's ``decoding.lms`` lists (with
    its word LM when the entry has ``words``); ModelError for an unusable entry, a file
    outside ``model_dir`` or a missing one (checked at once; the LMs themselves are read when
    first needed)."""
    entries = (card.get("decoding") or {}).get("lms") or []
    out = []
    for entry in entries:
        try:
            name, file = str(entry["name"]), str(entry["file"])
            weights = (float(entry["lm_weight"]), float(entry["length_bonus"]))
            word = entry.get("words")
            if word is not None:
                word_file = str(word["file"])
                word_weights = (float(word["weight"]), float(word["bonus"]),
                                max(1, int(word.get("nbest", 8))))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{model_dir}: card.json lists an unusable language LM ({entry!r}): {exc}") from exc
        for each in [file] + ([word_file] if word is not None else []):
            if LANGUAGE_LM_FILE.fullmatch(each) is None:
                raise ModelError(f"{model_dir}: card.json names a language LM outside the model folder: {each!r}")
            if not (model_dir / each).is_file():
                raise ModelError(f"{model_dir}: the language LM {each} that card.json lists is missing")
        words_part = (model_dir / word_file, *word_weights) if word is not None else ()
        out.append(LanguageFiles(name, model_dir / file, *weights, *words_part))
    return out


def read_language_lms(files: list[LanguageFiles]) -> list[LanguageLM]:
    """The LMs of ``language_lm_files``, read from disk."""
    return [LanguageLM(f.name, CharNgramLM.load(f.path), f.lm_weight, f.length_bonus,
                       WordBigramLM.load(f.words) if f.words is not None else None,
                       f.word_weight, f.word_bonus, f.nbest)
            for f in files]


def best_language(languages: list[LanguageLM], texts: list[str]) -> LanguageLM | None:
    """The LM of ``languages`` that gives ``texts`` (one page's readings, or one hand's
    corrected lines) the highest probability; None when there is none to choose or nothing
    to judge by."""
    if not languages or not any(texts):
        return None
    return max(languages, key=lambda lang: float(lang.lm.text_log_probs(texts).sum()))


def load_language_lms(model_dir: Path, card: dict) -> list[LanguageLM]:
    """The per-language LMs a card's ``decoding.lms`` lists, read."""
    return read_language_lms(language_lm_files(model_dir, card))


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


DECODE_BATCH = 32
"""Lines beam search reads side by side (``beam_nbest_lines``; in ``decode_lines`` the lines of
all pages that chose one LM): the same readings in about half the decoding time of the old
one-by-one search (``docs/recognition.md``, session 22). The prefix trie they share holds one
LM row per LM state met (8 bytes a label, room made by doubling; since session 23, not one per
node): memory, not time, bounds the batch (beam 64: 533 MB peak over val as the application
reads, against 493 MB at beam 32)."""


CPU_BATCH_PIXELS = 16 * 64 * 400
"""Pixels one ONNX Runtime batch holds at most on the CPU. The network's activations grow with
the batch and the runtime's memory arena keeps the largest it met: over val, greedy, 2 threads,
226 MB peak at this budget against 327 MB at 16 * 64 * 1600 (the default before), at about the
same speed (median 100.5 against 103.1 lines/s, four runs each in turn), while half this budget
read at 83.8 (``python benchmarks/batching.py``)."""
GPU_BATCH_PIXELS = 16 * 64 * 1600
"""The same with the CUDA provider: the budget of before, kept (the activations live in the
GPU's memory, and a GPU is kept busy by wide batches; not measured on one)."""


class Recognizer:
    """A loaded recognition model; build once, call on many lines and pages."""

    def __init__(self, model_dir: Path | None = None, device: str = "auto", *,
                 beam: int | None = None, threads: int = 0, batch_size: int = 16,
                 max_batch_pixels: int | None = None) -> None:
        """``beam``: CTC beam width; None takes the decoding the model card names as its
        default (:func:`default_beam`), 1 is greedy. ``threads``: ONNX Runtime intra-op threads
        (0 = its default, all cores). A batch holds ``batch_size`` lines and
        ``max_batch_pixels`` pixels at most (None: ``CPU_BATCH_PIXELS``, or
        ``GPU_BATCH_PIXELS`` when the session runs on CUDA)."""
        if model_dir is None:
            from engine.models import default_model_dir

            model_dir = default_model_dir()
        self.model = OnnxLineModel(model_dir, device, threads=threads)
        self.beam = default_beam(self.model.card) if beam is None else max(1, int(beam))
        self._lm: CharNgramLM | None = None
        self.lm_weight, self.length_bonus = 0.0, 0.0
        self._scorers: dict[int, tuple[CharNgramLM, CharLabelScorer]] = {}
        self._language_files = language_lm_files(self.model.dir, self.model.card)
        self._languages: list[LanguageLM] | None = None  # read on first use (beam search only)
        lm_path = self.model.dir / "lm.json"
        self._lm_path: Path | None = None  # the pooled LM, read on first use (``lm``)
        if lm_path.is_file():  # a character LM for beam search, with weights tuned on val
            self._lm_path = lm_path
            tuned = self.model.card.get("decoding", {})
            self.lm_weight = float(tuned.get("lm_weight", 0.0))
            self.length_bonus = float(tuned.get("length_bonus", 0.0))
        self.batch_size = batch_size
        on_gpu = CUDA_PROVIDER in self.model.providers
        self.max_batch_pixels = max_batch_pixels or (GPU_BATCH_PIXELS if on_gpu else CPU_BATCH_PIXELS)

    @property
    def decoding(self) -> str:
        """How lines are decoded, in words (for reports and cards)."""
        if self.beam <= 1:
            return "greedy"
        names = [f.name + (" + words" if f.words else "") for f in self._language_files] \
            if self._languages is None \
            else [lang.name + (" + words" if lang.words else "") for lang in self._languages]
        if names:
            return f"beam {self.beam} + character LM per page ({', '.join(names)})"
        pooled = self._lm is not None or self._lm_path is not None
        lm = " + character LM" if pooled and self.lm_weight > 0 else ""
        return f"beam {self.beam}{lm}"

    @property
    def lm(self) -> CharNgramLM | None:
        """The pooled character LM (``lm.json``; None without one), read from disk the first
        time beam search needs it: with per-language LMs only pages with no greedy text do."""
        if self._lm is None and self._lm_path is not None:
            self._lm = CharNgramLM.load(self._lm_path)
        return self._lm

    @lm.setter
    def lm(self, value: CharNgramLM | None) -> None:
        self._lm, self._lm_path = value, None

    @property
    def languages(self) -> list[LanguageLM]:
        """The model's per-language LMs (none: the pooled ``lm`` reads every page); read from
        disk the first time beam search needs them, so greedy reading never loads them."""
        if self._languages is None:
            self._languages = read_language_lms(self._language_files)
        return self._languages

    @languages.setter
    def languages(self, value: list[LanguageLM]) -> None:
        self._languages = list(value)

    @property
    def height(self) -> int:
        return self.model.height

    @property
    def card(self) -> dict:
        return self.model.card

    def _lm_scorer(self, lm: CharNgramLM) -> CharLabelScorer:
        """log P_LM(label | prefix) for beam search, built once per LM (``self.lm`` may be
        replaced, e.g. while tuning)."""
        held = self._scorers.get(id(lm))
        if held is None or held[0] is not lm:
            if len(self._scorers) > 2 * len(self.languages) + 4:  # replaced LMs: forget them
                self._scorers.clear()
            held = self._scorers[id(lm)] = (lm, lm.label_scorer(self.model.charset))
        return held[1]

    def choose_language(self, greedy_texts: list[str]) -> LanguageLM | None:
        """The per-language LM that best explains these greedy readings (the lines of one
        page) — None when the model has none or nothing was read."""
        return best_language(self.languages, greedy_texts)

    def _text(self, labels: list[int]) -> str:
        """The characters of CTC labels (1 + charset index)."""
        return "".join(self.model.charset[c - 1] for c in labels)

    def language_of(self, posteriors: list[np.ndarray]) -> LanguageLM | None:
        """The per-language LM for the lines of one page, chosen by their greedy readings
        (None without beam search or per-language LMs)."""
        if self.beam <= 1 or not self.languages:
            return None
        return self.choose_language([self._text(greedy_decode(lp)[0]) for lp in posteriors])

    def _fusion(self, language: LanguageLM | None) -> dict:
        """Beam search's LM keywords: ``language``'s LM and weights (default: the pooled
        ``self.lm``); no LM when it has none or its weight is 0."""
        lm, weight, bonus = ((language.lm, language.lm_weight, language.length_bonus)
                             if language is not None
                             else (self.lm, self.lm_weight, self.length_bonus))
        use_lm = lm is not None and weight > 0
        return {"lm": self._lm_scorer(lm) if use_lm else None, "lm_weight": weight,
                "length_bonus": bonus}

    def nbest(self, log_probs: np.ndarray, language: LanguageLM | None = None,
              n: int = 8) -> list[tuple[str, float]]:
        """The ``n`` best readings of one line by beam search (width at least ``n``) with the
        same LM fusion and word-LM reranking as :meth:`_decode`, best first, each with its
        score: what a rescorer (e.g. the post-corrector) may choose from."""
        return self.nbest_lines([log_probs], language, n)[0]

    def nbest_lines(self, posteriors: list[np.ndarray], language: LanguageLM | None = None,
                    n: int = 8) -> list[list[tuple[str, float]]]:
        """:meth:`nbest` of several lines, searched side by side (faster than one by one)."""
        return [[(self._text(labels), score) for labels, score in ranked]
                for ranked in self._ranked_lines(posteriors, language, n)]

    def _ranked_lines(self, posteriors: list[np.ndarray], language: LanguageLM | None,
                      n: int) -> list[list[tuple[list[int], float]]]:
        """Each line's best labellings by beam search with their fused scores; with
        ``language``'s word LM, its ``nbest`` best (at least ``n``) reranked by the word
        score, then the first ``n``. The lines are searched ``DECODE_BATCH`` at a time
        (``beam_nbest_lines``)."""
        reranks = language is not None and language.words is not None
        width = max(n, language.nbest) if reranks else n
        fusion = self._fusion(language)
        found = [ranked for start in range(0, len(posteriors), DECODE_BATCH)
                 for ranked in beam_nbest_lines(posteriors[start:start + DECODE_BATCH],
                                                max(self.beam, width), width, **fusion)]
        out = []
        for ranked in found:
            if reranks:
                order = rerank([(self._text(labels), score) for labels, score in ranked],
                               language.words, language.word_weight, language.word_bonus)
                ranked = [(ranked[i][0], score) for i, score in order]
            out.append(ranked[:n])
        return out

    def _decode(self, log_probs: np.ndarray, language: LanguageLM | None = None) -> LineResult:
        """One line's text (see :meth:`_decode_lines`)."""
        return self._decode_lines([log_probs], language)[0]

    def _decode_lines(self, posteriors: list[np.ndarray],
                      language: LanguageLM | None = None) -> list[LineResult]:
        """Some lines' texts: greedy, or beam search (the lines side by side) with
        ``language``'s LM and weights (default: the pooled ``self.lm``), reranked by its word
        LM when it has one; each character's confidence along the reading's best alignment."""
        if self.beam > 1:
            found = [ranked[0][0] for ranked in self._ranked_lines(posteriors, language, 1)]
            decoded = list(zip(found, align_confidences_lines(posteriors, found)))
        else:
            decoded = [greedy_decode(lp) for lp in posteriors]
        out = []
        for lp, (labels, confs) in zip(posteriors, decoded):
            if not labels:  # no character: how sure the network is that the line is blank
                conf = float(np.exp(lp.max(-1)).mean()) if len(lp) else 0.0
                out.append(LineResult("", conf, []))
            else:
                out.append(LineResult(self._text(labels), float(np.mean(confs)), confs))
        return out

    def decode_lines(self, posteriors: list[np.ndarray], pages: list[str] | None = None,
                     progress: Callable[[int], None] | None = None,
                     cancel: CancelToken | None = None) -> list[LineResult]:
        """Decode the network's outputs of some lines. With per-language LMs and beam search,
        the lines of one page (equal ``pages`` keys; None: all one page) are read with the LM
        their greedy reading chooses (``choose_language``); the lines of all pages that chose
        one LM are searched ``DECODE_BATCH`` at a time. ``progress(n)``: n lines decoded."""
        groups: dict[str, list[int]] = {}
        for i in range(len(posteriors)):
            groups.setdefault(pages[i] if pages is not None else "", []).append(i)
        by_language: dict[int, tuple[LanguageLM | None, list[int]]] = {}
        for idx in groups.values():
            language = self.language_of([posteriors[i] for i in idx])
            by_language.setdefault(id(language), (language, []))[1].extend(idx)
        out: list[LineResult | None] = [None] * len(posteriors)
        for language, idx in by_language.values():
            for start in range(0, len(idx), DECODE_BATCH):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                part = idx[start:start + DECODE_BATCH]
                for i, res in zip(part, self._decode_lines([posteriors[i] for i in part],
                                                           language)):
                    out[i] = res
                if progress is not None:
                    progress(len(part))
        return [r for r in out if r is not None]

    def recognize_images(self, images: list[np.ndarray],
                         progress: ProgressCallback = no_progress,
                         cancel: CancelToken | None = None,
                         pages: list[str] | None = None) -> list[LineResult]:
        """One LineResult per image, in order. Unusable images (empty, under 2 pixels) give
        an empty text with confidence 0 and a note; they never stop the batch. With
        per-language LMs, images with equal ``pages`` keys are one page, read with one LM
        (``decode_lines``; None: all the images are one page's lines)."""
        prepared = [self.model.prepare(im) for im in images]
        results: list[LineResult | None] = [
            None if p is not None else LineResult("", 0.0, [], "empty or degenerate line image")
            for p in prepared]
        order = sorted((i for i, p in enumerate(prepared) if p is not None),
                       key=lambda i: prepared[i].shape[1])
        later = self.beam > 1 and bool(self.languages)  # decoded once each page's language is known
        posteriors: dict[int, np.ndarray] = {}
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
            found = self.model.run([prepared[i] for i in batch])
            if later:
                posteriors.update(zip(batch, found))
            else:
                for i, res in zip(batch, self._decode_lines(found)):
                    results[i] = res
                done += len(batch)
                progress(done, len(prepared), "recognising lines")
        if later:
            keys = list(posteriors)

            def step(n: int) -> None:
                nonlocal done
                done += n
                progress(done, len(prepared), "recognising lines")

            decoded = self.decode_lines([posteriors[i] for i in keys],
                                        [pages[i] for i in keys] if pages is not None else None,
                                        step, cancel)
            for i, res in zip(keys, decoded):
                results[i] = res
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
