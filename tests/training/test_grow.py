"""Growing a trained network's convolutions (training.grow): same function, wider or deeper
encoder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.config import TrainConfig  # noqa: E402
from training.grow import channel_map, deepen, main, max_difference, widen  # noqa: E402
from training.network import STUDENT, HtrJandNet, NetConfig, count_parameters  # noqa: E402

SMALL = replace(STUDENT, num_classes=20, channels=(4, 6, 8, 8), d_model=32, ffn=64, heads=2,
                layers=1).with_width_factor(4)


def trained_like(seed: int = 0) -> HtrJandNet:
    """A small network with non-trivial weights and BatchNorm statistics, as after training."""
    torch.manual_seed(seed)
    model = HtrJandNet(SMALL)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * 0.2)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_channel_map_keeps_the_old_channels_first() -> None:
    m = channel_map(4, 7, np.random.default_rng(0))
    assert m[:4].tolist() == [0, 1, 2, 3] and len(m) == 7 and m.max() < 4
    with pytest.raises(ValueError):
        channel_map(4, 3, np.random.default_rng(0))


def test_widening_keeps_the_function() -> None:
    model = trained_like()
    grown = widen(model, (8, 9, 12, 16), seed=1)
    assert tuple(grown.cfg.channels) == (8, 9, 12, 16)
    assert count_parameters(grown) > count_parameters(model)
    assert max_difference(model, grown) < 1e-4
    assert max_difference(model, HtrJandNet(grown.cfg)) > 1e-2  # the check can fail


def test_noise_moves_the_copies_a_little() -> None:
    model = trained_like()
    noisy = widen(model, (8, 9, 12, 16), seed=1, noise=0.05)
    assert 1e-4 < max_difference(model, noisy) < 1.0
    # the old channels' incoming weights are untouched
    assert torch.equal(noisy.encoder[0].conv.weight[:4], model.encoder[0].conv.weight)


def test_bad_widths_are_refused() -> None:
    model = trained_like()
    with pytest.raises(ValueError, match="shrink"):
        widen(model, (2, 6, 8, 8))
    with pytest.raises(ValueError, match="blocks"):
        widen(model, (8, 8, 8))
    with pytest.raises(ValueError, match="channel counts"):
        HtrJandNet(replace(SMALL, channels=(4, 6, 8)))


def test_deepening_keeps_the_function_and_then_learns() -> None:
    model = trained_like()
    deep = deepen(model, (0, 1, 0, 2), seed=1)
    assert deep.cfg.extra_convs == (0, 1, 0, 2)
    assert [len(b.extra) for b in deep.encoder] == [0, 1, 0, 2]
    assert max_difference(model, deep) == 0.0  # the new convs add exactly nothing
    # ... yet they get a gradient at once (h starts at zero, g does not)
    deep.train()
    images, widths = torch.rand(2, 1, 64, 200), torch.tensor([200, 130])
    deep(images, widths).sum().backward()
    assert float(deep.encoder[3].extra[1].gated.conv.weight.grad.abs().sum()) > 0
    # widening a deepened network copies its extra convs too
    wide = widen(deepen(model, (0, 1, 0, 2)).eval(), (8, 9, 12, 16), seed=2)
    assert wide.cfg.extra_convs == (0, 1, 0, 2) and max_difference(model, wide) < 1e-4
    with pytest.raises(ValueError, match="remove"):
        deepen(deep, (0, 0, 0, 2))
    with pytest.raises(ValueError, match="blocks"):
        deepen(model, (0, 1))
    with pytest.raises(ValueError, match="extra convs"):
        HtrJandNet(replace(SMALL, extra_convs=(1, 1)))


def test_a_deepened_line_reads_the_same_alone_or_padded() -> None:
    """The extra convs are masked: padding in a batch does not leak into a line's frames."""
    torch.manual_seed(0)
    net = HtrJandNet(replace(SMALL, extra_convs=(2, 0, 1, 2))).eval()
    line = torch.rand(1, 1, 64, 120)
    padded = torch.cat([line, torch.rand(1, 1, 64, 80)], dim=3)
    with torch.no_grad():
        alone = net(line, torch.tensor([120]))
        batched = net(padded, torch.tensor([120]))[:, : alone.shape[1]]
    assert float((alone - batched).abs().max()) < 1e-4


def test_command_writes_a_checkpoint_training_can_start_from(tmp_path, capsys) -> None:
    model = trained_like()
    src = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "net": model.cfg.to_dict(),
                "charset": list("abcdefghijklmnopqrs")}, src)
    out = tmp_path / "grown" / "grown.pt"
    assert main([str(src), "--channels", "6", "8", "8", "12", "--out", str(out)]) == 0
    assert "difference without noise" in capsys.readouterr().out
    ck = torch.load(out, weights_only=False)
    net = NetConfig.from_dict(ck["net"])
    assert net.channels == (6, 8, 8, 12) and ck["grown_from"] == str(src)
    again = HtrJandNet(net)
    again.load_state_dict(ck["model"])
    # the training config carries the widths through its JSON round trip
    cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), "channels": [6, 8, 8, 12]})
    assert cfg.channels == (6, 8, 8, 12)
    with pytest.raises(SystemExit):
        main([str(src), "--channels", "2", "8", "8", "12", "--out", str(out)])
    with pytest.raises(SystemExit, match="--deepen"):
        main([str(src), "--out", str(out)])
    # deepened only: the checkpoint's net has the extra conv, and training reads it back
    assert main([str(src), "--deepen", "0", "0", "0", "1", "--out", str(out)]) == 0
    net = NetConfig.from_dict(ck := torch.load(out, weights_only=False)["net"])
    assert net.channels == (4, 6, 8, 8) and net.extra_convs == (0, 0, 0, 1)
    assert NetConfig.from_dict({k: v for k, v in ck.items() if k != "extra_convs"}).extra_convs == ()
    cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), "extra_convs": [0, 0, 0, 1]})
    assert cfg.extra_convs == (0, 0, 0, 1)


def test_a_grown_checkpoint_keeps_its_sources_training_for_the_card(tmp_path) -> None:
    """The card of a run started from a grown network counts what the source had trained,
    even once the source file is gone or replaced."""
    from training.export import init_chain

    model = trained_like()
    src = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "net": model.cfg.to_dict(),
                "charset": list("abcdefghijklmnopqrs"), "epoch": 9, "elapsed": 4008.9,
                "history": [{"epoch": 9}], "train_config": {"init": None}}, src)
    out = tmp_path / "grown.pt"
    assert main([str(src), "--channels", "6", "8", "8", "12", "--out", str(out)]) == 0
    src.unlink()
    chain = init_chain(str(out))
    assert chain["epochs"] == 9 and chain["cpu_time_s"] == 4008.9
    assert chain["chain"] == [str(out), str(src)] and chain["history"] == [{"epoch": 9}]
    assert chain["runs"] == 1  # the grown checkpoint itself is no run
