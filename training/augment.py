"""Augmentation of line images that mimics real scans: warps, stroke width, blur, noise,
contrast and bleed-through. Works on uint8 greyscale lines, ink dark on light paper."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class AugmentConfig:
    """Probabilities and ranges of each transform."""

    p_affine: float = 0.6
    rotate_deg: float = 2.0
    shear: float = 0.3
    stretch: float = 0.12
    p_elastic: float = 0.3
    elastic_px: float = 2.0
    p_morph: float = 0.3
    p_blur: float = 0.3
    p_contrast: float = 0.5
    p_noise: float = 0.4
    p_bleed: float = 0.2


def affine(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Small rotation, horizontal shear and width stretch; the height stays fixed."""
    h, w = img.shape
    angle = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    shear = rng.uniform(-cfg.shear, cfg.shear)
    sx = 1.0 + rng.uniform(-cfg.stretch, cfg.stretch)
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[c * sx, -s + shear, 0.0], [s * sx, c, 0.0]])
    new_w = max(2, int(round(w * sx + abs(shear) * h)))
    # keep the centre of the line at the centre of the output
    centre_in = np.array([w / 2, h / 2])
    m[:, 2] = np.array([new_w / 2, h / 2]) - m[:, :2] @ centre_in
    return cv2.warpAffine(img, m, (new_w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=int(np.median(img)))


def elastic(img: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Smooth random displacement field (a coarse grid upsampled), as in hand tremor."""
    h, w = img.shape
    gh, gw = 3, max(2, w // 32)
    dx = cv2.resize(rng.normal(0, amplitude, (gh, gw)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.normal(0, amplitude, (gh, gw)).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def bleed_through(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Faint mirrored, blurred copy of the ink, as the verso showing through thin paper."""
    ghost = cv2.GaussianBlur(img[:, ::-1], (0, 0), rng.uniform(1.0, 2.5))
    alpha = rng.uniform(0.1, 0.35)
    darker = 255.0 - alpha * (255.0 - ghost.astype(np.float32))
    return np.minimum(img.astype(np.float32), darker).astype(np.uint8)


def augment(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None
            ) -> np.ndarray:
    """A randomly degraded copy of ``img`` (same height, width may change slightly)."""
    cfg = cfg or AugmentConfig()
    out = np.ascontiguousarray(img)
    if rng.random() < cfg.p_affine:
        out = affine(out, rng, cfg)
    if rng.random() < cfg.p_elastic:
        out = elastic(out, rng, cfg.elastic_px)
    if rng.random() < cfg.p_morph:
        kernel = np.ones((2, 2), np.uint8)
        # erode = min filter = thicker dark strokes; dilate = thinner
        out = cv2.erode(out, kernel) if rng.random() < 0.5 else cv2.dilate(out, kernel)
    if rng.random() < cfg.p_bleed:
        out = bleed_through(out, rng)
    if rng.random() < cfg.p_blur:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.2))
    f = out.astype(np.float32)
    if rng.random() < cfg.p_contrast:
        f = (f - 128.0) * rng.uniform(0.6, 1.3) + 128.0 + rng.uniform(-30, 30)
    if rng.random() < cfg.p_noise:
        f = f + rng.normal(0, rng.uniform(3, 15), f.shape)
    return np.clip(f, 0, 255).astype(np.uint8)


# --- several processes --------------------------------------------------------------------
def _augment_chunk(indices: list[int], seed: int, cfg: AugmentConfig) -> list[np.ndarray]:
    from training.forkpool import worker_state

    images = worker_state()
    rng = np.random.default_rng(seed)
    return [augment(images[i], rng, cfg) for i in indices]


class ParallelAugmenter:
    """Augments a fixed list of images in ``workers`` forked processes, so that a GPU is
    not kept waiting for one CPU core. The images are inherited by the workers once (no
    copy per epoch); each chunk has its own seed drawn from the caller's generator, so a
    run is reproducible for a given number of workers."""

    CHUNK = 64

    def __init__(self, images: list[np.ndarray], workers: int) -> None:
        from training.forkpool import ForkPool

        self.workers = ForkPool(workers, images)

    def augment(self, indices: list[int], rng: np.random.Generator, cfg: AugmentConfig
                ) -> list[np.ndarray]:
        """Augmented copies of ``images[i]`` for each index, in order."""
        chunks = [indices[i:i + self.CHUNK] for i in range(0, len(indices), self.CHUNK)]
        seeds = rng.integers(0, 2**63 - 1, len(chunks)).tolist()
        parts = self.workers.pool.starmap(_augment_chunk,
                                          [(c, s, cfg) for c, s in zip(chunks, seeds)])
        return [im for part in parts for im in part]

    def close(self) -> None:
        self.workers.close()
