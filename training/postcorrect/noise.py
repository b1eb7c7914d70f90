"""Synthetic recognizer errors: confusions measured on real output, applied to more text.

``Confusions.measure`` aligns ground truth with recognized text (difflib opcodes) and counts,
for each ground-truth segment of one to three characters, what the recognizer wrote instead
(``"m" -> "rn"``, ``"e" -> ""``, ``"" -> "i"`` …) and how often each character was read
correctly. ``Confusions.corrupt`` walks a clean line and replaces segments by drawing from those
counts, scaled so that the line's error rate follows the measured distribution of per-line CER:
the synthetic lines look like this recognizer's output on text it never saw.

``text_corpus`` gathers clean lines of the right languages and periods: Webster's 1913
dictionary (Debian ``dict-gcide``: 19th-century English prose), word sequences drawn by frequency
from ``wordfreq`` (English and French), and the word lists ``wbritish`` / ``wfrench``.
"""

from __future__ import annotations

import difflib
import gzip
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_bytes
from engine.document import normalize_text

MAX_SEG = 3
GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
WORDLISTS = {"en": Path("/usr/share/dict/british-english"), "fr": Path("/usr/share/dict/french")}


@dataclass
class Confusions:
    """What the recognizer writes for each ground-truth segment, and how often lines err."""

    subs: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    seen: Counter = field(default_factory=Counter)  # ground-truth segments counted
    insertions: Counter = field(default_factory=Counter)  # text inserted from nothing
    line_cer: list[float] = field(default_factory=list)
    chars: int = 0

    @classmethod
    def measure(cls, pairs: list[tuple[str, str]]) -> Confusions:
        """Count confusions over (ground truth, recognized) pairs."""
        conf = cls()
        for gt, pred in pairs:
            if not gt:
                continue
            conf.chars += len(gt)
            errors = 0
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, gt, pred,
                                                                  autojunk=False).get_opcodes():
                if tag == "equal":
                    for ch in gt[i1:i2]:
                        conf.seen[ch] += 1
                    continue
                errors += max(i2 - i1, j2 - j1)
                src, dst = gt[i1:i2], pred[j1:j2]
                if not src:
                    conf.insertions[dst[:MAX_SEG]] += 1
                elif len(src) <= MAX_SEG:
                    conf.subs[src][dst[:MAX_SEG + 1]] += 1
                    conf.seen[src] += 1
                else:  # a long garbled stretch: count it character by character
                    for k, ch in enumerate(src):
                        conf.subs[ch][dst[k:k + 1]] += 1
                        conf.seen[ch] += 1
            conf.line_cer.append(errors / len(gt))
        return conf

    def error_rate(self, segment: str) -> float:
        """Share of the times ``segment`` was misread (0 when never seen misread)."""
        wrong = sum(self.subs[segment].values()) if segment in self.subs else 0
        return wrong / max(1, self.seen[segment])

    def corrupt(self, text: str, rng: random.Random, scale: float | None = None) -> str:
        """``text`` with this recognizer's kind of errors; ``scale`` multiplies the measured
        error rates (default: drawn so that line CER follows the measured distribution)."""
        if scale is None:
            target = rng.choice(self.line_cer) if self.line_cer else 0.1
            mean = (sum(self.line_cer) / len(self.line_cer)) if self.line_cer else 0.1
            scale = target / mean if mean > 0 else 1.0
        insert_rate = sum(self.insertions.values()) / max(1, self.chars)
        out, i = [], 0
        while i < len(text):
            if self.insertions and rng.random() < insert_rate * scale:
                out.append(_draw(self.insertions, rng))
            done = False
            for n in (3, 2, 1):  # longer confusions first: "m" -> "rn" is learnt as a unit
                seg = text[i:i + n]
                if len(seg) == n and seg in self.subs and \
                        rng.random() < self.error_rate(seg) * scale:
                    out.append(_draw(self.subs[seg], rng))
                    i += n
                    done = True
                    break
            if not done:
                out.append(text[i])
                i += 1
        return "".join(out)


def _draw(counter: Counter, rng: random.Random) -> str:
    keys = list(counter)
    return rng.choices(keys, weights=[counter[k] for k in keys])[0]


# -- clean text ---------------------------------------------------------------------------------
_TAG = re.compile(r"<[^>]*>|\{[^}]*\}|\[[^\]]*\]")


def gcide_lines(path: Path = GCIDE, limit: int = 200_000) -> list[str]:
    """Prose lines of Webster's 1913 definitions (about 60 characters each, like a written
    line): headwords, etymologies and citations left out, markup stripped, 4+ words."""
    if not path.is_file():
        return []
    out: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            if "\\" in raw or "Webster]" in raw or "--" in raw or not raw.startswith("   "):
                continue
            text = normalize_text(_TAG.sub(" ", raw)).strip()
            text = re.sub(r"\s+", " ", text)
            if len(text.split()) >= 4 and not text.startswith(("Syn.", "Note:", "--")) \
                    and sum(ch.isalpha() for ch in text) > 0.7 * len(text.replace(" ", "")):
                out.append(text)
                if len(out) >= limit:
                    break
    return out


def frequency_words(lang: str, n: int = 30_000) -> tuple[list[str], list[float]]:
    """The ``n`` most frequent words of ``lang`` (wordfreq) with their frequencies; falls back
    to the Debian word list with equal weights, or nothing."""
    try:
        from wordfreq import top_n_list, word_frequency

        words = top_n_list(lang, n)
        return words, [word_frequency(w, lang) for w in words]
    except ImportError:
        path = WORDLISTS.get(lang)
        if path is None or not path.is_file():
            return [], []
        words = [w for w in path.read_text(errors="replace").split() if "'" not in w][:n]
        return words, [1.0] * len(words)


class TextSource:
    """Clean lines on demand: real transcriptions, dictionary prose, frequency-drawn words."""

    def __init__(self, transcriptions: list[str], rng: random.Random,
                 cache: Path | None = None) -> None:
        """``cache``: a gzipped JSON of the prose and word lists, read when present, else
        written, so that training on another machine (a GPU without the Debian dictionaries
        or wordfreq) draws from the same text."""
        self.rng = rng
        self.transcriptions = [t for t in transcriptions if t.strip()]
        if cache is not None and Path(cache).is_file():
            with gzip.open(cache, "rt", encoding="utf-8") as fh:
                data = json.load(fh)
            self.prose = data["prose"]
            self.words = {lang: (w, f) for lang, (w, f) in data["words"].items()}
            return
        self.prose = gcide_lines()
        self.words = {lang: frequency_words(lang) for lang in ("en", "fr")}
        if cache is not None:
            buf = gzip.compress(json.dumps({"prose": self.prose, "words": self.words},
                                           ensure_ascii=False).encode("utf-8"))
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(Path(cache), buf)

    def _words_line(self, lang: str) -> str:
        words, weights = self.words[lang]
        if not words:
            return self.rng.choice(self.transcriptions)
        line = " ".join(self.rng.choices(words, weights=weights, k=self.rng.randint(4, 11)))
        if self.rng.random() < 0.5:
            line = line[:1].upper() + line[1:]
        return line + (self.rng.choice([",", ".", ";", ""]) if self.rng.random() < 0.4 else "")

    def line(self) -> str:
        """One clean line: transcriptions 40 %, English prose 25 %, word sequences 35 %."""
        r = self.rng.random()
        if r < 0.40 or (r < 0.65 and not self.prose):
            return self.rng.choice(self.transcriptions)
        if r < 0.65:
            return self.rng.choice(self.prose)
        return self._words_line("en" if r < 0.82 else "fr")
