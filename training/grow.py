"""Widen or deepen a trained recognizer's convolutions without changing what it computes
(Net2WiderNet, Net2DeeperNet).

The phase-9 student spent 14 % of its parameters on the convolutions and read its own
training lines at about 10 % CER: it lacked capacity where the reading happens. Training a wider
encoder from scratch costs many CPU hours; growing the trained one starts the wider network
at the trained one's accuracy instead. Each new channel copies an existing one (its incoming
weights, PReLU slope, BatchNorm statistics and SE unit), and every layer reading the copied
channels divides their outgoing weights by the number of copies, so the grown network gives
the same output (Chen, Goodfellow & Shlens, "Net2Net", 2016). A little noise on the copies'
incoming weights lets them drift apart once training goes on (dropout does too). Deepening
adds residual gated convs after a block's own (``--deepen``), each the identity at first.

    python -m training.grow resources/models/htrjand-student/model.pt \\
        --channels 16 32 48 64 --out runs/grown/grown.pt
    python -m training.train --init runs/grown/grown.pt --channels 16 32 48 64 ...
    python -m training.grow model.pt --deepen 0 0 0 1 --out runs/grown/deep.pt
    python -m training.train --init runs/grown/deep.pt --extra-convs 0 0 0 1 ...

Prints the largest difference between the two networks' log-probabilities on random lines
(noise 0: float rounding only).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from training.network import HtrJandNet, checkpoint_model, count_parameters


def channel_map(old: int, new: int, rng: np.random.Generator) -> np.ndarray:
    """For each of ``new`` channels, the old channel it copies: the old ones first, in order,
    then random picks among them."""
    if new < old:
        raise ValueError(f"cannot shrink {old} channels to {new}")
    return np.concatenate([np.arange(old), rng.integers(0, old, new - old)]).astype(np.int64)


def _split(mapping: np.ndarray) -> torch.Tensor:
    """1 / (copies of each new channel's source): the factor for weights reading them."""
    counts = np.bincount(mapping)
    return torch.tensor(1.0 / counts[mapping], dtype=torch.float32)


def widen(model: HtrJandNet, channels: tuple[int, ...], seed: int = 0,
          noise: float = 0.0) -> HtrJandNet:
    """A copy of ``model`` with ``channels`` encoder channels per block (each at least the
    old), computing the same function; ``noise``: Gaussian noise, as a share of each weight
    tensor's standard deviation, added to the incoming weights of the new channels."""
    cfg = model.cfg
    if len(channels) != len(cfg.channels):
        raise ValueError(f"{len(cfg.channels)} blocks, {len(channels)} channel counts given")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    grown = HtrJandNet(replace(cfg, channels=tuple(channels)))
    grown.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith(("encoder.", "collapse."))}, strict=False)
    prev, prev_scale = torch.arange(1), torch.ones(1)  # the image: one channel, no copies
    for old_block, new_block, c_old, c_new in zip(model.encoder, grown.encoder, cfg.channels,
                                                   channels):
        out = torch.from_numpy(channel_map(c_old, c_new, rng))
        scale = _split(out.numpy())
        _copy_conv(old_block.conv, new_block.conv, out, prev, prev_scale)
        new_block.act.weight.data = old_block.act.weight.data[out].clone()
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new_block.norm, name).data = getattr(old_block.norm, name).data[out].clone()
        new_block.norm.num_batches_tracked.data = old_block.norm.num_batches_tracked.data.clone()
        both = torch.cat([out, out + c_old])  # the gated conv's h and g halves
        _copy_conv(old_block.gated.conv, new_block.gated.conv, both, out, scale)
        for old_extra, new_extra in zip(old_block.extra, new_block.extra):
            _copy_conv(old_extra.gated.conv, new_extra.gated.conv, both, out, scale)
        hidden = torch.from_numpy(channel_map(old_block.se.fc1.out_features,
                                              new_block.se.fc1.out_features, rng))
        _copy_linear(old_block.se.fc1, new_block.se.fc1, hidden, out, scale)
        _copy_linear(old_block.se.fc2, new_block.se.fc2, out, hidden, _split(hidden.numpy()))
        if noise > 0 and c_new > c_old:
            fresh = torch.arange(c_old, c_new)
            _add_noise(new_block.conv.weight.data, fresh, noise, gen)
            _add_noise(new_block.gated.conv.weight.data, torch.cat([fresh, fresh + c_new]),
                       noise, gen)
        prev, prev_scale = out, scale
    _copy_conv(model.collapse, grown.collapse, torch.arange(cfg.d_model), prev, prev_scale)
    return grown


def deepen(model: HtrJandNet, extra_convs: tuple[int, ...], seed: int = 0) -> HtrJandNet:
    """A copy of ``model`` with ``extra_convs`` residual gated convs per block (each at least
    the old count), computing the same function: each new one starts with its h half zero,
    so it adds nothing until training moves it (Net2DeeperNet, with a residual identity);
    its g half keeps a fresh random init, so h learns from the start."""
    cfg = model.cfg
    old = cfg.extra_per_block
    if len(extra_convs) != len(old):
        raise ValueError(f"{len(old)} blocks, {len(extra_convs)} extra-conv counts given")
    if any(n < o for n, o in zip(extra_convs, old)):
        raise ValueError(f"cannot remove convs: {old} -> {tuple(extra_convs)}")
    with torch.random.fork_rng():  # seeded init of the new convs; the caller's RNG untouched
        torch.manual_seed(seed)
        grown = HtrJandNet(replace(cfg, extra_convs=tuple(extra_convs)))
    # strict=False: only the new convs' weights are missing, and keep their fresh init
    grown.load_state_dict(model.state_dict(), strict=False)
    for block, c, n_old in zip(grown.encoder, cfg.channels, old):
        for conv in list(block.extra)[n_old:]:
            conv.gated.conv.weight.data[:c] = 0.0
            conv.gated.conv.bias.data[:c] = 0.0
    return grown


def _copy_conv(old: torch.nn.Conv2d, new: torch.nn.Conv2d, out: torch.Tensor,
               inp: torch.Tensor, inp_scale: torch.Tensor) -> None:
    new.weight.data = (old.weight.data[out][:, inp] * inp_scale[None, :, None, None]).clone()
    if old.bias is not None:
        new.bias.data = old.bias.data[out].clone()


def _copy_linear(old: torch.nn.Linear, new: torch.nn.Linear, out: torch.Tensor,
                 inp: torch.Tensor, inp_scale: torch.Tensor) -> None:
    new.weight.data = (old.weight.data[out][:, inp] * inp_scale[None, :]).clone()
    new.bias.data = old.bias.data[out].clone()


def _add_noise(weight: torch.Tensor, rows: torch.Tensor, share: float,
               gen: torch.Generator) -> None:
    """Gaussian noise (``share`` of the tensor's standard deviation) on some output channels
    of a conv weight, in place."""
    weight[rows] += torch.randn(weight[rows].shape, generator=gen) * share * float(weight.std())


def max_difference(a: HtrJandNet, b: HtrJandNet, seed: int = 0) -> float:
    """Largest |log-probability| difference of two networks (eval mode) on random lines of
    mixed widths."""
    gen = torch.Generator().manual_seed(seed)
    height = a.cfg.input_height
    widths = torch.tensor([height * 3, height * 7, height * 5])
    images = torch.rand((3, 1, height, int(widths.max())), generator=gen)
    a.eval()
    b.eval()
    with torch.no_grad():
        return float((a(images, widths) - b(images, widths)).abs().max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint or model.pt")
    parser.add_argument("--channels", type=int, nargs="+",
                        help="encoder channels per block (default: the source's)")
    parser.add_argument("--deepen", type=int, nargs="+", metavar="N",
                        help="residual gated convs per block after its own (e.g. 0 0 0 1)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    ck = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = checkpoint_model(ck)
    if not args.channels and not args.deepen:
        raise SystemExit("give --channels, --deepen or both")
    channels = tuple(args.channels or model.cfg.channels)
    try:
        grown = widen(model, channels, args.seed, args.noise)
        exact = widen(model, channels, args.seed, 0.0)
        if args.deepen:
            grown = deepen(grown, tuple(args.deepen), args.seed)
            exact = deepen(exact, tuple(args.deepen), args.seed)
    except ValueError as exc:
        raise SystemExit(f"{args.checkpoint}: {exc}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from training.export import init_chain

    out = {"model": grown.state_dict(), "net": grown.cfg.to_dict(), "charset": ck["charset"],
           "grown_from": str(args.checkpoint),
           # the source's training so far, read now (its file may later be replaced, e.g. a
           # bundled model.pt by the model grown from it): the card's totals count it
           "lineage": init_chain(str(args.checkpoint))}
    if "train_config" in ck:
        out["train_config"] = ck["train_config"]
    torch.save(out, args.out)
    print(f"{args.checkpoint}: {count_parameters(model)} parameters, channels "
          f"{tuple(model.cfg.channels)} -> {args.out}: {count_parameters(grown)}, channels "
          f"{channels}" + (f", extra convs {tuple(args.deepen)}" if args.deepen else "")
          + "; largest log-probability difference without noise "
          f"{max_difference(model, exact):.2e}, with noise {args.noise}: "
          f"{max_difference(model, grown):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
