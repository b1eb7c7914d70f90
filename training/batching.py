"""Width-bucketed batches: lines of similar width together, so little padding is computed."""

from __future__ import annotations

import numpy as np
import torch


def bucket_batches(widths: list[int], batch_size: int, max_pixels_width: int,
                   rng: np.random.Generator | None) -> list[list[int]]:
    """Index batches of similar widths; ``max_pixels_width`` caps batch_len * widest line.
    With ``rng`` the order inside width-neighbourhoods and of batches is shuffled."""
    w = np.asarray(widths, dtype=np.float64)
    keys = w * (1 + rng.uniform(-0.1, 0.1, len(w))) if rng is not None else w
    order = np.argsort(keys, kind="stable")
    batches, cur, widest = [], [], 0
    for i in order:
        wi = int(w[i])
        if cur and (len(cur) >= batch_size or max(widest, wi) * (len(cur) + 1) > max_pixels_width):
            batches.append(cur)
            cur, widest = [], 0
        cur.append(int(i))
        widest = max(widest, wi)
    if cur:
        batches.append(cur)
    if rng is not None:
        rng.shuffle(batches)
    return batches


def to_tensor_batch(images: list[np.ndarray], multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1, H, W) float32 with ink = 1 (``1 - grey/255``), zero-padded on the right to a
    multiple of ``multiple``; and the true widths (B,) int64."""
    h = images[0].shape[0]
    widths = [im.shape[1] for im in images]
    wmax = -(-max(widths) // multiple) * multiple
    batch = np.zeros((len(images), 1, h, wmax), np.float32)
    for k, im in enumerate(images):
        batch[k, 0, :, : im.shape[1]] = 1.0 - im.astype(np.float32) / 255.0
    return torch.from_numpy(batch), torch.tensor(widths, dtype=torch.int64)
