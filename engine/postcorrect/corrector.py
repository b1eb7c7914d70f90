"""The T5 post-corrector run by ONNX Runtime (numpy only, no torch): greedy corrections of
recognized lines, each scored against the raw line so that only likely improvements are offered.

    corrector, note = load_postcorrector()          # the bundled model, or (None, why not)
    for line, item in page_inputs(page):
        ...
    suggestions = corrector.suggest([item for _, item in pairs])

Lines are sorted by length and run in batches: the encoder once per batch, then greedy decoding
with the full-prefix decoder (rows that reached their end leave the batch). Each changed line is
then scored by forced decoding of both the raw text and the correction: ``gain`` is the
difference of their log-probabilities. A suggestion passes when it changes the line, gains at
least ``thresholds["gain"]`` nats, touches a character the recognizer was unsure of
(``changed_confidence <= thresholds["max_confidence"]``) and rewrites at most
``thresholds["max_edit"]`` of the line (edit distance over its length; a small model that
rewrites half a line is hallucinating, not correcting).
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from engine.document import Line, Origin, Page, normalize_text
from engine.errors import ModelError
from engine.models import POSTCORRECT_KIND as KIND
from engine.models import read_card_json
from engine.postcorrect import tokens

DEFAULT_NAME = "htrjand-postcorrect"
SPAN = tuple[str, int, int, int, int]


@dataclass
class LineInput:
    """One line to correct: its recognized text, the previous line's text as context, and the
    recognizer's confidence of each character of ``text`` (None when unknown)."""

    text: str
    context: str = ""
    char_confidences: Sequence[float] | None = None


@dataclass
class Candidate:
    """The corrector's output for one line (see the module docstring for the fields' use)."""

    raw: str
    text: str
    gain: float
    changed_confidence: float
    spans: list[SPAN] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.text != self.raw

    @property
    def edit_ratio(self) -> float:
        """Edit distance from the raw line to the candidate over the raw line's length."""
        return Levenshtein.distance(self.raw, self.text) / max(1, len(self.raw))


def default_postcorrect_dir() -> Path:
    """The bundled post-correction model folder (it may be absent)."""
    from engine.models import bundled_models_dir

    return bundled_models_dir() / DEFAULT_NAME


def resolve_postcorrect_dir(model_dir: str | os.PathLike[str] | None = None) -> Path:
    """The post-correction model folder to use: ``model_dir``, or the bundled one; checked
    (card and files present) without loading anything. ModelError says what is missing."""
    folder = Path(model_dir).expanduser() if model_dir is not None else default_postcorrect_dir()
    if model_dir is None and not folder.is_dir():
        raise ModelError(f"no post-correction model is installed ({folder} does not exist); "
                         "pass a post-correction model folder, or run without post-correction")
    card = load_postcorrect_card(folder)
    for name in model_files(card):
        if not (folder / name).is_file():
            raise ModelError(f"{folder}: {name} is missing")
    return folder.resolve()


def load_postcorrect_card(model_dir: str | os.PathLike[str]) -> dict:
    """The card of a post-correction model folder, checked; ModelError otherwise."""
    path, card = read_card_json(model_dir, "post-correction model")
    if card.get("kind") != KIND:
        raise ModelError(f"{path}: not a post-correction model card (kind must be {KIND!r})")
    tok = card.get("tokenizer")
    expected = {"pad": tokens.PAD, "eos": tokens.EOS, "offset": tokens.OFFSET,
                "sep": tokens.SEP, "vocab_size": tokens.VOCAB_SIZE}
    if not isinstance(tok, dict) or any(tok.get(k) != v for k, v in expected.items()):
        raise ModelError(f"{path}: the tokenizer {tok} is not the byte tokenizer this version "
                         f"runs ({expected})")
    th = card.get("thresholds")
    if not isinstance(th, dict) or not all(
            isinstance(th.get(k), (int, float)) for k in ("gain", "max_confidence")):
        raise ModelError(f"{path}: 'thresholds' needs numbers 'gain' and 'max_confidence'")
    if not isinstance(th.get("max_edit", 1.0), (int, float)):
        raise ModelError(f"{path}: the threshold 'max_edit' must be a number")
    for key in ("max_context_bytes", "max_line_bytes", "max_output_bytes"):
        value = card.get(key)
        if not isinstance(value, int) or value < 0:
            raise ModelError(f"{path}: {key!r} must be a whole number of bytes")
    onnx = card.get("onnx")
    if not isinstance(onnx, dict) or not all(
            isinstance(onnx.get(k), str) for k in ("encoder", "decoder")):
        raise ModelError(f"{path}: 'onnx' must name the encoder and decoder files")
    if onnx.get("cache") and not all(
            isinstance(onnx.get(k), str) for k in ("decoder_cross", "decoder_step")):
        raise ModelError(f"{path}: a cached decoder needs 'decoder_cross' and 'decoder_step'")
    card.setdefault("name", Path(model_dir).name)
    return card


def model_files(card: dict) -> list[str]:
    """The files of a post-correction model folder besides its card (ONNX graphs, and the
    weights file they share when there is one)."""
    onnx = card["onnx"]
    keys = ("encoder", "decoder", "decoder_cross", "decoder_step", "weights") \
        if onnx.get("cache") else ("encoder", "decoder", "weights")
    return [onnx[k] for k in keys if isinstance(onnx.get(k), str)]


def postcorrector_id(model_dir: str | os.PathLike[str]) -> str:
    """``name@version#hash``: changes whenever the post-corrector's card or weights change
    (batch manifests redo pages when it does)."""
    folder = Path(model_dir)
    card = load_postcorrect_card(folder)
    digest = hashlib.sha256()
    for name in ["card.json"] + model_files(card):
        try:
            with open(folder / name, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise ModelError(f"{folder / name} cannot be read: {exc.strerror or exc}") from exc
    return f"{card['name']}@{card.get('version', '?')}#{digest.hexdigest()[:12]}"


#: A ``gain`` threshold at or above this offers nothing: what tuning writes when no setting kept
#: the suggestions from making a validation collection worse for the current recognizer.
NEVER_GAIN = 1e9
SILENT_NOTE = ("Post-correction suggestions are off: for the current recognizer no setting kept "
               "them from making the validation text worse (see the post-corrector's card).")


class PostCorrector:
    """A loaded post-correction model folder; build once, call on many lines."""

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *, device: str = "cpu",
                 threads: int = 0, batch_size: int = 32,
                 thresholds: dict | None = None) -> None:
        """``threads``: ONNX Runtime intra-op threads (0 = its default, all cores).
        ``thresholds`` overrides the card's (keys ``gain``, ``max_confidence``)."""
        from engine.recognition.onnx_model import make_session

        self.dir = Path(model_dir) if model_dir is not None else default_postcorrect_dir()
        self.card = load_postcorrect_card(self.dir)
        self.encoder = make_session(self.dir / self.card["onnx"]["encoder"], device, threads)
        self.decoder = make_session(self.dir / self.card["onnx"]["decoder"], device, threads)
        self.cross = self.step = None  # the cached decoder, when the model has one
        if self.card["onnx"].get("cache"):
            self.cross = make_session(self.dir / self.card["onnx"]["decoder_cross"], device,
                                      threads)
            self.step = make_session(self.dir / self.card["onnx"]["decoder_step"], device,
                                     threads)
        self._check_io()
        self.thresholds: dict = {**self.card["thresholds"], **(thresholds or {})}
        #: True when the thresholds can pass nothing (tuning found no safe setting).
        self.silent = float(self.thresholds["gain"]) >= NEVER_GAIN
        self.batch_size = max(1, batch_size)
        self.max_context = self.card["max_context_bytes"]
        self.max_line = self.card["max_line_bytes"]
        self.max_output = self.card["max_output_bytes"]
        self.providers = self.encoder.get_providers()
        self._probe()

    @property
    def name(self) -> str:
        return self.card["name"]

    def _check_io(self) -> None:
        enc_in = [i.name for i in self.encoder.get_inputs()]
        dec_in = [i.name for i in self.decoder.get_inputs()]
        if sorted(enc_in) != ["attention_mask", "input_ids"]:
            raise ModelError(f"{self.dir}: encoder inputs {enc_in}, expected input_ids and "
                             "attention_mask")
        if sorted(dec_in) != ["attention_mask", "decoder_input_ids", "hidden"]:
            raise ModelError(f"{self.dir}: decoder inputs {dec_in}, expected "
                             "decoder_input_ids, hidden and attention_mask")
        if self.step is not None:
            step_in = sorted(i.name for i in self.step.get_inputs())
            wanted = sorted(["decoder_input_ids", "attention_mask", "cross_key", "cross_value",
                             "self_key", "self_value"])
            if step_in != wanted or [i.name for i in self.cross.get_inputs()] != ["hidden"]:
                raise ModelError(f"{self.dir}: the cached decoder's inputs {step_in} are not "
                                 f"{wanted}")
        vocab = self.decoder.get_outputs()[0].shape[-1]
        if isinstance(vocab, int) and vocab < tokens.VOCAB_SIZE:
            raise ModelError(f"{self.dir}: the decoder outputs {vocab} token scores, expected "
                             f"{tokens.VOCAB_SIZE}")

    def _probe(self) -> None:
        """Run every graph once on a short line: graphs that load but do not fit together (a
        mismatched file) fail here, with a ModelError, rather than on the first page."""
        ids = [tokens.encode_input("a", "")]
        hidden, mask = self._run_graphs(lambda: self._encode(ids))
        logits = self._run_graphs(lambda: self._logits(np.zeros((1, 2), np.int64), hidden, mask))
        if logits.shape != (1, 2, logits.shape[-1]) or logits.shape[-1] < tokens.VOCAB_SIZE:
            raise ModelError(f"{self.dir}: the decoder gives logits of shape {logits.shape}")
        self._run_graphs(lambda: self._greedy(hidden, mask, [2]))

    def _run_graphs(self, run):
        """``run()``, with ONNX Runtime's own errors turned into a ModelError."""
        try:
            return run()
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.dir}: the post-correction model failed to run "
                             f"(corrupt or mismatched files?): {exc}") from exc

    # -- public API -------------------------------------------------------------------------

    def candidates(self, items: Sequence[LineInput]) -> list[Candidate | None]:
        """One Candidate per item, or None for a line that is not eligible (empty or blank,
        over ``max_line_bytes``, or whose correction is not valid text). ModelError if the
        model fails to run."""
        ids = [self._input_ids(item) for item in items]
        out: list[Candidate | None] = [None] * len(items)
        order = sorted((i for i, x in enumerate(ids) if x is not None), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            cands = self._run_graphs(lambda b=batch: self._run_batch([items[i] for i in b],
                                                                     [ids[i] for i in b]))
            for i, cand in zip(batch, cands):
                out[i] = cand
        return out

    def suggest(self, items: Sequence[LineInput]) -> list[Candidate | None]:
        """The candidates that pass the thresholds (they change the line, gain enough, touch a
        doubtful character and rewrite little); None for every other line."""
        if self.silent:  # nothing can pass: skip the model
            return [None] * len(items)
        return [c if c is not None and self.passes(c) else None for c in self.candidates(items)]

    def score(self, item: LineInput, texts: Sequence[str]) -> list[float]:
        """log P(text | the item's line and context) of each of ``texts`` under the T5 (e.g.
        to rescore the recognizer's n-best readings); -inf for every text when the line is
        not eligible (empty, or over ``max_line_bytes``). ModelError if the model fails."""
        ids = self._input_ids(item)
        if ids is None or not texts:
            return [-math.inf] * len(texts)
        targets = [tokens.encode_target(t) for t in texts]

        def run() -> list[float]:
            hidden, mask = self._encode([ids])
            out: list[float] = []
            for start in range(0, len(targets), self.batch_size):
                chunk = targets[start:start + self.batch_size]
                rows = np.zeros(len(chunk), np.int64)  # the one line's states, once per text
                out += self._log_probs(hidden[rows], mask[rows], chunk).tolist()
            return out

        return self._run_graphs(run)

    def passes(self, cand: Candidate) -> bool:
        """Whether a candidate is offered under the current thresholds."""
        return (cand.text != cand.raw and cand.gain >= float(self.thresholds["gain"])
                and cand.changed_confidence <= float(self.thresholds["max_confidence"])
                and cand.edit_ratio <= float(self.thresholds.get("max_edit", math.inf)))

    # -- internals ----------------------------------------------------------------------------

    def _input_ids(self, item: LineInput) -> list[int] | None:
        """The encoder ids of a line with its context; None for an empty or blank line or one
        over ``max_line_bytes``."""
        text = item.text or ""
        if not text.strip():
            return None
        return tokens.encode_input(text, item.context or "", max_context=self.max_context,
                                   max_line=self.max_line)

    def _encode(self, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Hidden states and attention mask of one batch of encoder inputs."""
        width = max(len(x) for x in ids)
        batch = np.full((len(ids), width), tokens.PAD, np.int64)
        mask = np.zeros((len(ids), width), np.int64)
        for k, x in enumerate(ids):
            batch[k, :len(x)] = x
            mask[k, :len(x)] = 1
        hidden = self.encoder.run(None, {"input_ids": batch, "attention_mask": mask})[0]
        return hidden, mask

    def _logits(self, dec: np.ndarray, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.decoder.run(None, {"decoder_input_ids": dec, "hidden": hidden,
                                       "attention_mask": mask})[0]

    def _greedy(self, hidden: np.ndarray, mask: np.ndarray,
                limits: list[int]) -> list[tuple[list[int], float, bool]]:
        """Greedy output ids of each row, their log-probability, and whether the row ended
        (its ids end with EOS) rather than hitting its length limit. Finished rows leave the
        batch."""
        n = len(limits)
        outputs: list[tuple[list[int], float, bool]] = [([], 0.0, False)] * n
        rows = np.arange(n)
        generated = np.full((n, 1), tokens.PAD, np.int64)  # T5 starts decoding from pad
        log_p = np.zeros(n, np.float64)
        cached = self.step is not None
        if cached:
            cross_key, cross_value = self.cross.run(None, {"hidden": hidden})
            layers, _, heads, _, d_kv = cross_key.shape
            self_key = self_value = np.zeros((layers, n, heads, 0, d_kv), np.float32)
        steps = 0
        while len(rows):
            if cached:
                logits, self_key, self_value = self.step.run(None, {
                    "decoder_input_ids": generated[:, -1:], "attention_mask": mask,
                    "cross_key": cross_key, "cross_value": cross_value,
                    "self_key": self_key, "self_value": self_value})
            else:
                logits = self._logits(generated, hidden, mask)[:, -1]
            nxt = logits.argmax(-1).astype(np.int64)
            log_p += _log_softmax_at(logits, nxt)
            generated = np.concatenate([generated, nxt[:, None]], axis=1)
            steps += 1
            keep = []
            for k, row in enumerate(rows):
                if nxt[k] == tokens.EOS or steps >= limits[row]:
                    outputs[row] = (generated[k, 1:].tolist(), float(log_p[k]),
                                    bool(nxt[k] == tokens.EOS))
                else:
                    keep.append(k)
            if len(keep) < len(rows):
                rows, generated, log_p, mask = rows[keep], generated[keep], log_p[keep], mask[keep]
                if cached:
                    cross_key, cross_value = cross_key[:, keep], cross_value[:, keep]
                    self_key, self_value = self_key[:, keep], self_value[:, keep]
                else:
                    hidden = hidden[keep]
        return outputs

    def _log_probs(self, hidden: np.ndarray, mask: np.ndarray,
                   targets: list[list[int]]) -> np.ndarray:
        """log P(target | input) of each row (targets end with EOS), by forced decoding with
        the full-prefix decoder (every position at once)."""
        width = max(len(t) for t in targets)
        dec = np.full((len(targets), width), tokens.PAD, np.int64)
        gold = np.full((len(targets), width), tokens.PAD, np.int64)
        valid = np.zeros((len(targets), width), bool)
        for k, t in enumerate(targets):
            dec[k, 1:len(t)] = t[:-1]
            gold[k, :len(t)] = t
            valid[k, :len(t)] = True
        picked = _log_softmax_at(self._logits(dec, hidden, mask), gold)
        return np.where(valid, picked, 0.0).sum(-1)

    def _run_batch(self, items: list[LineInput], ids: list[list[int]]) -> list[Candidate | None]:
        hidden, mask = self._encode(ids)
        outputs = self._greedy(hidden, mask, [self._limit(item.text) for item in items])
        texts: list[str | None] = [None] * len(items)
        scores: dict[int, float] = {}  # log P(text) of the changed rows
        to_score: list[tuple[int, str]] = []  # (row, text) needing forced scoring
        for k, out in enumerate(outputs):
            decoded = tokens.decode(out[0]) if out[2] else None  # unended: no suggestion
            if decoded is None:
                continue
            texts[k] = normalize_text(decoded)
            if texts[k] == items[k].text:
                continue
            to_score.append((k, items[k].text))
            if texts[k] == decoded:
                scores[k] = out[1]  # the greedy steps' own log-probability
            else:  # normalisation changed the output: score what is offered
                to_score.append((k, texts[k]))
        raw_scores: dict[int, float] = {}
        if to_score:
            rows = [k for k, _ in to_score]
            got = self._log_probs(hidden[rows], mask[rows],
                                  [tokens.encode_target(t) for _, t in to_score])
            for (k, text), value in zip(to_score, got):
                if text == items[k].text:
                    raw_scores[k] = float(value)
                else:
                    scores[k] = float(value)
        result: list[Candidate | None] = []
        for k, item in enumerate(items):
            if texts[k] is None:
                result.append(None)
                continue
            spans = edit_spans(item.text, texts[k])
            gain = scores[k] - raw_scores[k] if k in raw_scores else 0.0
            result.append(Candidate(item.text, texts[k], gain,
                                    changed_confidence(item.text, spans, item.char_confidences),
                                    spans))
        return result

    def _limit(self, text: str) -> int:
        """Most output tokens (EOS included) for a line: a correction is about as long as the
        line, so a runaway output stops early instead of running to ``max_output_bytes``."""
        size = len(text.encode("utf-8"))
        return min(self.max_output, size + max(8, size // 4)) + 1


def _log_softmax_at(logits: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """log softmax(logits)[..., picked] over the last axis, in float64."""
    logits = logits.astype(np.float64)
    top = logits.max(-1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(-1)) + top[..., 0]
    return np.take_along_axis(logits, picked[..., None], axis=-1)[..., 0] - log_z


def edit_spans(raw: str, text: str) -> list[SPAN]:
    """difflib opcodes turning ``raw`` into ``text``, without the "equal" ones."""
    matcher = difflib.SequenceMatcher(None, raw, text, autojunk=False)
    return [op for op in matcher.get_opcodes() if op[0] != "equal"]


def changed_confidence(raw: str, spans: Sequence[SPAN],
                       confidences: Sequence[float] | None) -> float:
    """The lowest recognizer confidence over the raw characters the edits touch (for a pure
    insertion, the characters either side of it); 1.0 when unknown or nothing changes."""
    if confidences is None or len(confidences) != len(raw) or not spans or not raw:
        return 1.0
    touched: list[float] = []
    for _tag, i1, i2, _j1, _j2 in spans:
        if i2 > i1:
            touched.extend(confidences[i1:i2])
        else:  # an insertion before raw[i1]: its neighbours
            touched.extend(confidences[max(0, i1 - 1):min(len(raw), i1 + 1)])
    return float(min(touched)) if touched else 1.0


def load_postcorrector(model_dir: str | os.PathLike[str] | None = None, *, device: str = "cpu",
                       **kw) -> tuple[PostCorrector | None, str | None]:
    """``(corrector, note)``: the loaded model (note: None, or why the GPU was not used), or
    ``(None, note)`` when the model is missing or unusable — suggestions are then off, and
    recognition goes on without them."""
    from engine.device import with_cpu_fallback

    try:
        corrector, note = with_cpu_fallback(
            lambda d: PostCorrector(model_dir, device=d, **kw), device)
    except ModelError as exc:
        return None, f"Post-correction suggestions are off: {exc}"
    if corrector.silent:  # running it would cost time and never show anything
        return None, SILENT_NOTE
    if note:
        note = note.replace("recognition runs", "post-correction runs")
    return corrector, note


def page_inputs(page: Page) -> list[tuple[Line, LineInput]]:
    """Every line of ``page`` in reading order with its input: its text, its recognizer
    confidences and, as context, the text of the line before it on the page."""
    out: list[tuple[Line, LineInput]] = []
    previous = ""
    for line in page.lines():
        out.append((line, LineInput(line.text or "", previous, line.char_confidences)))
        previous = line.text or ""
    return out


def apply_suggestions(page: Page, corrector: PostCorrector) -> int:
    """Replace the text of machine-read lines by the suggestions that pass the thresholds,
    in place: ``model_text`` keeps the recognizer's text and the origin becomes SUGGESTION.
    Lines a person wrote are never touched. Returns the number of lines changed."""
    pairs = [(ln, item) for ln, item in page_inputs(page) if ln.origin == Origin.MODEL]
    changed = 0
    for (line, _item), cand in zip(pairs, corrector.suggest([item for _, item in pairs])):
        if cand is None:
            continue
        line.model_text = cand.raw
        line.text = cand.text
        line.char_confidences = realign_confidences(line.char_confidences, cand)
        line.origin = Origin.SUGGESTION
        line.suggestion = None
        changed += 1
    return changed


def realign_confidences(confidences: Sequence[float] | None,
                        cand: Candidate) -> list[float] | None:
    """Per-character confidences for ``cand.text``: unchanged characters keep the recognizer's,
    characters the correction wrote get ``changed_confidence`` (still marked as doubtful)."""
    if confidences is None or len(confidences) != len(cand.raw):
        return None
    out = [cand.changed_confidence] * len(cand.text)
    matcher = difflib.SequenceMatcher(None, cand.raw, cand.text, autojunk=False)
    for tag, i1, i2, j1, _j2 in matcher.get_opcodes():
        if tag == "equal":
            out[j1:j1 + i2 - i1] = [float(c) for c in confidences[i1:i2]]
    return out
