"""Synthetic handwriting-like lines: text sampled from the training transcriptions, rendered
with handwriting-style fonts, random slant, baseline wobble, stroke width and paper tone.

Fonts come from the system (Debian packages fonts-dkg-handwriting, fonts-breip, fonts-bwht,
fonts-femkeklaver, fonts-ecolier-court, fonts-kristi, fonts-dancingscript, fonts-humor-sans,
fonts-joscelyn). Without any, ``SyntheticLines.available`` is False and ``reason`` says why;
training then runs on real lines only.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]
"""System font folders searched after the bundled ``resources/fonts`` (:func:`font_dirs`)."""
FONT_NAMES = ("dkg", "breip", "bwht", "femkeklaver", "ecolier", "kristi", "dancingscript",
              "humor-sans", "joscelyn")


def font_dirs() -> list[Path]:
    """The bundled fonts (OFL, ``resources/fonts``; present on every installation, so that
    fine-tuning on a laptop can render synthetic lines) and then the system's. (Since session
    7 base training renders with the bundled fonts too: its synthetic lines differ from
    earlier runs'.)"""
    from engine.resources import resource_path

    return [resource_path("fonts"), *FONT_DIRS]


def find_handwriting_fonts(system: bool = True) -> list[Path]:
    """Handwriting-style font files bundled (and, with ``system``, installed on this machine),
    each file once."""
    found: list[Path] = []
    names: set[str] = set()
    bundled, *others = font_dirs()
    for base in (bundled, *(others if system else [])):
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                low = str(path).lower()
                if path.suffix.lower() in (".ttf", ".otf") and path.name not in names and \
                        (base == bundled or any(n in low for n in FONT_NAMES)):
                    names.add(path.name)
                    found.append(path)
    return found


def _glyph_set(font: ImageFont.FreeTypeFont, chars: str) -> set[str]:
    """Characters the font draws (not its 'missing glyph' box)."""
    def mask(ch: str) -> bytes:
        return bytes(font.getmask(ch))
    missing = {mask("\uffff"), mask("\U0010fffd")}
    return {ch for ch in chars if ch == " " or mask(ch) not in missing}


class SyntheticLines:
    """Renders random lines of a given height from a pool of texts."""

    def __init__(self, texts: list[str], height: int = 64, fonts: list[Path] | None = None,
                 seed: int = 0) -> None:
        self.height = height
        self.texts = [t for t in texts if t.strip()]
        self.words = sorted({w for t in self.texts for w in t.split()})
        self.rng = np.random.default_rng(seed)
        files = find_handwriting_fonts() if fonts is None else fonts
        all_chars = "".join(sorted({c for t in self.texts for c in t}))
        self.fonts: list[tuple[ImageFont.FreeTypeFont, set[str]]] = []
        for f in files:
            try:
                font = ImageFont.truetype(str(f), size=int(height * 0.55))
            except OSError:
                continue
            glyphs = _glyph_set(font, all_chars)
            if len(glyphs) >= 0.8 * len(set(all_chars)):
                self.fonts.append((font, glyphs))
        self.reason = "" if self.fonts else (
            "no handwriting fonts found (apt-get install fonts-dkg-handwriting fonts-breip "
            "fonts-kristi fonts-dancingscript ...); synthetic lines disabled")

    @property
    def available(self) -> bool:
        return bool(self.fonts) and bool(self.texts)

    def sample_text(self, max_chars: int | None) -> str:
        """A real transcription, or a random run of training words, cut to ``max_chars``."""
        if self.rng.random() < 0.5 or not self.words:
            text = self.texts[self.rng.integers(len(self.texts))]
        else:
            n = int(self.rng.integers(2, 10))
            text = " ".join(self.words[i] for i in self.rng.integers(len(self.words), size=n))
        if max_chars and len(text) > max_chars:
            start = int(self.rng.integers(0, len(text) - max_chars + 1))
            text = text[start:start + max_chars].strip() or text[:max_chars]
        return text

    def render(self, max_chars: int | None = None) -> tuple[np.ndarray, str]:
        """One (uint8 image of fixed height, text) pair; raises RuntimeError without fonts."""
        if not self.available:
            raise RuntimeError(self.reason or "no texts to render")
        rng = self.rng
        text = self.sample_text(max_chars)
        # a font that draws every character of the text (several bundled fonts lack accents,
        # and a dropped "é" would teach a wrong spelling); else any, without what it lacks
        chars = set(text)
        whole = [f for f in self.fonts if chars <= f[1]] or self.fonts
        font, glyphs = whole[rng.integers(len(whole))]
        text = "".join(c for c in text if c in glyphs).strip() or "a"
        x0, y0, x1, y1 = font.getbbox(text)
        pad = 8
        canvas = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 255)
        ink = int(rng.integers(0, 90))
        ImageDraw.Draw(canvas).text((pad - x0, pad - y0), text, font=font, fill=ink,
                                    stroke_width=int(rng.integers(0, 2)), stroke_fill=ink)
        img = np.asarray(canvas)
        h, w = img.shape
        slant = rng.uniform(-0.35, 0.25)
        m = np.array([[1.0, slant, -slant * h / 2], [0.0, 1.0, 0.0]])
        img = cv2.warpAffine(img, m, (w, h), borderValue=255)
        # baseline wobble: shift columns vertically along a slow sine
        amp, period = rng.uniform(0, 3), rng.uniform(150, 600)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        ys = ys + amp * np.sin(xs / period * 2 * np.pi + rng.uniform(0, 6.28)).astype(np.float32)
        img = cv2.remap(img, xs, ys, cv2.INTER_LINEAR, borderValue=255)
        scale = self.height * rng.uniform(0.75, 0.95) / h
        new_w = max(2, int(w * scale * rng.uniform(0.9, 1.1)))
        img = cv2.resize(img, (new_w, max(2, int(h * scale))), interpolation=cv2.INTER_AREA)
        out = np.full((self.height, new_w), 255, np.uint8)
        top = int(rng.integers(0, self.height - img.shape[0] + 1))
        out[top:top + img.shape[0]] = img
        paper = rng.uniform(170, 250)
        out = (out.astype(np.float32) / 255.0 * (paper - ink) + ink).astype(np.uint8)
        return out, text
