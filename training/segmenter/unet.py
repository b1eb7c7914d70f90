"""A compact U-Net that maps a page (at a normalised line spacing) to baseline and line maps.

Input: ``(N, 1, H, W)`` ink intensity (``1 - grey / 255``), H and W multiples of
``2 ** depth``. Output: ``(N, 2, H, W)`` logits — channel 0 the baselines (a few pixels thick),
channel 1 the text-line area (the union of the ground-truth line polygons). Sizes are kept small
so that a page runs in well under a second on two CPU cores and training fits in an hour.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_CHANNELS = (16, 32, 48, 64, 96)
OUTPUTS = ("baseline", "line")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class BaselineUNet(nn.Module):
    """Encoder of ``len(channels)`` levels (each halves the size), decoder with skip links."""

    def __init__(self, channels: tuple[int, ...] = DEFAULT_CHANNELS) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.down = nn.ModuleList()
        c_prev = 1
        for c in self.channels:
            self.down.append(_block(c_prev, c))
            c_prev = c
        self.up = nn.ModuleList()
        for c_skip in reversed(self.channels[:-1]):
            self.up.append(_block(c_prev + c_skip, c_skip))
            c_prev = c_skip
        self.head = nn.Conv2d(c_prev, len(OUTPUTS), 1)

    @property
    def stride(self) -> int:
        return 2 ** (len(self.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)
