"""The HTR-JAND line recognizer: gated-conv + SE encoder, combined attention, CTC head.

Teacher and student are two configurations (``TEACHER``, ``STUDENT``) of the one ``HtrJandNet``.
Input: float images (B, 1, H, W), ink = 1 and background = 0 (``1 - grey/255``), plus the true
width of each image in the batch (padding is masked in attention). Output: log-probabilities
(B, T, charset + 1) with T = W / ``width_factor``; class 0 is the CTC blank.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class NetConfig:
    """Shape of the network; ``num_classes`` counts the CTC blank."""

    num_classes: int = 100
    input_height: int = 64
    channels: tuple[int, ...] = (16, 32, 48, 64)
    # (height, width) stride of each block's first conv; heights must reduce input_height to
    # collapse_height, widths multiply to width_factor.
    strides: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 2), (2, 1))
    se_reduction: int = 4
    conv_dropout: float = 0.1
    d_model: int = 192
    heads: int = 4
    ffn: int = 512
    layers: int = 2
    window: int = 12  # proxima attention: each frame sees +-window neighbours
    dropout: float = 0.1
    # residual gated convs after each block's own (depth, e.g. grown by training.grow
    # --deepen); empty: none
    extra_convs: tuple[int, ...] = ()

    @property
    def width_factor(self) -> int:
        return math.prod(s[1] for s in self.strides)

    @property
    def extra_per_block(self) -> tuple[int, ...]:
        """``extra_convs`` with one count for every block (zeros when none were given)."""
        return self.extra_convs or (0,) * len(self.channels)

    @property
    def collapse_height(self) -> int:
        return self.input_height // math.prod(s[0] for s in self.strides)

    def with_width_factor(self, factor: int) -> "NetConfig":
        """The same network with ``factor`` image columns per output frame: the first blocks
        halve the width, the later ones keep it. No weight changes shape, so a checkpoint of
        one factor initialises another (denser frames give CTC room on tightly written lines)."""
        halvings = int(math.log2(factor)) if factor >= 1 else -1
        if factor < 1 or 2 ** halvings != factor or halvings > len(self.strides):
            raise ValueError(f"width factor {factor} is not a power of 2 up to "
                             f"{2 ** len(self.strides)}")
        strides = tuple((h, 2 if i < halvings else 1) for i, (h, _) in enumerate(self.strides))
        return replace(self, strides=strides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "NetConfig":
        data = dict(data)
        data["channels"] = tuple(data["channels"])
        data["strides"] = tuple(tuple(s) for s in data["strides"])
        data["extra_convs"] = tuple(data.get("extra_convs", ()))
        return cls(**data)


TEACHER = NetConfig(channels=(16, 32, 48, 64), d_model=192, heads=4, ffn=640, layers=2)
STUDENT = NetConfig(channels=(12, 24, 32, 48), d_model=128, heads=4, ffn=512, layers=2)
STUDENT_WIDE = NetConfig(channels=(24, 48, 64, 96), d_model=128, heads=4, ffn=512, layers=1)
"""A student of the same size (about 0.75 M parameters) that spends half of them on the
convolutions instead of 14 %: one attention layer instead of two. An experiment (session 11,
docs/recognition.md), not the shipped network."""
CONFIGS = {"teacher": TEACHER, "student": STUDENT, "student-wide": STUDENT_WIDE}


class FullGatedConv2d(nn.Module):
    """Convolution with 2C outputs split into h and g; returns h * sigmoid(g)."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, g = self.conv(x).chunk(2, dim=1)
        return h * torch.sigmoid(g)


class SqueezeExcite(nn.Module):
    """Channel re-weighting from globally pooled features (Hu et al.)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` (B, 1, 1, W), 1 on real columns: padding does not enter the pooling."""
        if mask is None:
            s = x.mean(dim=(2, 3))
        else:
            s = (x * mask).sum(dim=(2, 3)) / (mask.sum(dim=(2, 3)) * x.shape[2]).clamp(min=1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s[:, :, None, None]


class ResidualGatedConv(nn.Module):
    """``x + h * sigmoid(g)``: a gated conv that adds to its input. With its h half zero it is
    the identity, so it can deepen a trained network without changing what it computes."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gated = FullGatedConv2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gated(x)


class GatedBlock(nn.Module):
    """Strided conv -> PReLU -> BatchNorm -> gated conv (-> residual gated convs) -> SE ->
    dropout."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int], se_red: int, drop: float,
                 extra: int = 0):
        super().__init__()
        self.stride_w = stride[1]
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.act = nn.PReLU(cout)
        self.norm = nn.BatchNorm2d(cout)
        self.gated = FullGatedConv2d(cout)
        self.extra = nn.ModuleList(ResidualGatedConv(cout) for _ in range(extra))
        self.se = SqueezeExcite(cout, se_red)
        self.drop = nn.Dropout2d(drop) if drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` is zero beyond each line's width (``mask``); so is the output, so a line
        gives the same result alone or padded in a batch."""
        mask = mask[..., :: self.stride_w]
        x = self.norm(self.act(self.conv(x))) * mask
        x = self.gated(x)
        if len(self.extra):  # masked before and after each: each must see zero padding
            x = x * mask
            for conv in self.extra:
                x = conv(x) * mask
        return self.drop(self.se(x, mask)) * mask, mask


class Attention(nn.Module):
    """Multi-head attention over frames with an additive bias/mask (B or 1, heads, T, T)."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = d // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = (q @ k.transpose(-1, -2)) * self.scale + bias
        attn = torch.softmax(scores, dim=-1)
        return self.out((attn @ v).transpose(1, 2).reshape(b, t, d))


class CombinedAttentionLayer(nn.Module):
    """Global self-attention and local "proxima" attention, fused by a learned sigmoid gate,
    then residual + LayerNorm + feed-forward + LayerNorm."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.window = cfg.window
        self.global_attn = Attention(d, cfg.heads)
        self.local_attn = Attention(d, cfg.heads)
        self.rel_bias = nn.Parameter(torch.zeros(cfg.heads, 2 * cfg.window + 1))
        self.gate = nn.Linear(2 * d, d)
        self.norm1 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, cfg.ffn), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ffn, d)
        )
        self.norm2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.dropout)

    def local_bias(self, t: int, device: torch.device) -> torch.Tensor:
        """(1, heads, T, T): learned relative-position bias inside the window, -inf-like outside."""
        pos = torch.arange(t, device=device)
        rel = pos[None, :] - pos[:, None]
        inside = rel.abs() <= self.window
        idx = rel.clamp(-self.window, self.window) + self.window
        bias = self.rel_bias[:, idx]
        return torch.where(inside[None], bias, torch.full_like(bias, -1e4))[None]

    def forward(self, x: torch.Tensor, pad_bias: torch.Tensor) -> torch.Tensor:
        g = self.global_attn(x, pad_bias)
        p = self.local_attn(x, pad_bias + self.local_bias(x.shape[1], x.device))
        gate = torch.sigmoid(self.gate(torch.cat([g, p], dim=-1)))
        x = self.norm1(x + self.drop(gate * g + (1 - gate) * p))
        return self.norm2(x + self.drop(self.ffn(x)))


def sinusoid(t: int, d: int, device: torch.device) -> torch.Tensor:
    """(T, d) sinusoidal position code, computed for any length (ONNX-friendly)."""
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / d))
    ang = pos * freq[None, :]
    return torch.stack([torch.sin(ang), torch.cos(ang)], dim=-1).reshape(t, d)


class HtrJandNet(nn.Module):
    """The HTR-JAND recognizer; see the module docstring for inputs and outputs."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        if cfg.collapse_height < 1 or cfg.input_height % math.prod(s[0] for s in cfg.strides):
            raise ValueError(f"strides do not fit input height {cfg.input_height}")
        if len(cfg.channels) != len(cfg.strides):
            raise ValueError(f"{len(cfg.channels)} channel counts for {len(cfg.strides)} blocks")
        extra = cfg.extra_per_block
        if len(extra) != len(cfg.channels) or min(extra) < 0:
            raise ValueError(f"extra convs {cfg.extra_convs} do not fit {len(cfg.channels)} blocks")
        self.cfg = cfg
        blocks, cin = [], 1
        for cout, stride, n in zip(cfg.channels, cfg.strides, extra):
            blocks.append(GatedBlock(cin, cout, stride, cfg.se_reduction, cfg.conv_dropout, n))
            cin = cout
        self.encoder = nn.ModuleList(blocks)
        # Strided "downsampling to height 1": one conv spanning the remaining height.
        self.collapse = nn.Conv2d(cin, cfg.d_model, (cfg.collapse_height, 1))
        self.layers = nn.ModuleList(CombinedAttentionLayer(cfg) for _ in range(cfg.layers))
        self.head = nn.Linear(cfg.d_model, cfg.num_classes)

    def frames(self, widths: torch.Tensor) -> torch.Tensor:
        """Number of valid output frames for images of the given widths."""
        return torch.div(widths + self.cfg.width_factor - 1, self.cfg.width_factor,
                         rounding_mode="floor").clamp(min=1)

    def logits(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores (B, T, classes)."""
        cols = torch.arange(images.shape[3], device=images.device)
        mask = (cols[None, :] < widths[:, None]).to(images.dtype)[:, None, None, :]
        x = images * mask
        for block in self.encoder:
            x, mask = block(x, mask)
        x = self.collapse(x).squeeze(2).transpose(1, 2)  # (B, T, d)
        t = x.shape[1]
        valid = torch.arange(t, device=x.device)[None, :] < self.frames(widths)[:, None]
        pad_bias = torch.where(valid, 0.0, -1e4)[:, None, None, :].to(x.dtype)
        x = x + sinusoid(t, self.cfg.d_model, x.device)[None]
        for layer in self.layers:
            x = layer(x, pad_bias)
        return self.head(x)

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(images, widths), dim=-1)


def checkpoint_model(ck: dict) -> HtrJandNet:
    """The network of a loaded checkpoint dict (its ``net`` shape, ``model`` weights), eval mode."""
    model = HtrJandNet(NetConfig.from_dict(ck["net"]))
    model.load_state_dict(ck["model"])
    return model.eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
