"""The HTR-JAND network: shapes, parameter counts, gated conv, SE and attention behaviour."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from training.network import (  # noqa: E402
    CONFIGS, STUDENT, TEACHER, CombinedAttentionLayer, FullGatedConv2d, HtrJandNet, NetConfig,
    SqueezeExcite, count_parameters)


@pytest.mark.parametrize("name,target", [("teacher", 1.5e6), ("student", 0.75e6),
                                         ("student-wide", 0.75e6)])
def test_parameter_counts(name: str, target: float) -> None:
    model = HtrJandNet(replace(CONFIGS[name], num_classes=100))
    assert abs(count_parameters(model) - target) / target < 0.06


def test_student_is_about_half_the_teacher() -> None:
    t = count_parameters(HtrJandNet(replace(TEACHER, num_classes=100)))
    s = count_parameters(HtrJandNet(replace(STUDENT, num_classes=100)))
    assert 0.4 < s / t < 0.6


def test_wide_student_spends_its_parameters_on_the_convolutions() -> None:
    """The same size as the student, but half of it in the encoder (the student: 14 %)."""
    for name, lo, hi in (("student", 0.1, 0.2), ("student-wide", 0.45, 0.6)):
        model = HtrJandNet(replace(CONFIGS[name], num_classes=100))
        share = count_parameters(model.encoder) / count_parameters(model)
        assert lo < share < hi, (name, share)


def test_output_shape_and_log_probs() -> None:
    torch.manual_seed(0)
    model = HtrJandNet(replace(STUDENT, num_classes=30)).eval()
    x = torch.rand(3, 1, 64, 256)
    out = model(x, torch.tensor([256, 200, 64]))
    assert out.shape == (3, 256 // STUDENT.width_factor, 30)
    assert torch.allclose(out.exp().sum(-1), torch.ones(3, 32), atol=1e-4)
    assert model.frames(torch.tensor([256, 200, 64, 1])).tolist() == [32, 25, 8, 1]


def test_padding_does_not_change_a_line() -> None:
    """Masked attention: a line alone and the same line padded in a batch give one result."""
    torch.manual_seed(0)
    model = HtrJandNet(replace(STUDENT, num_classes=30)).eval()
    line = torch.rand(1, 1, 64, 160)
    alone = model(line, torch.tensor([160]))
    padded = torch.zeros(1, 1, 64, 320)
    padded[..., :160] = line
    together = model(padded, torch.tensor([160]))[:, :20]
    assert torch.allclose(alone, together, atol=1e-4)


def test_gated_conv_gates_with_sigmoid() -> None:
    gate = FullGatedConv2d(4)
    x = torch.randn(2, 4, 8, 8)
    h, g = gate.conv(x).chunk(2, dim=1)
    assert gate.conv.out_channels == 8
    assert torch.allclose(gate(x), h * torch.sigmoid(g))
    with torch.no_grad():  # a strongly negative gate closes the path
        gate.conv.bias[4:] = -100
    assert gate(x).abs().max() < 1e-6 * (1 + h.abs().max())


def test_squeeze_excite_rescales_channels_only() -> None:
    se = SqueezeExcite(8, 4)
    x = torch.rand(2, 8, 5, 7)
    y = se(x)
    ratio = y / x
    assert y.shape == x.shape
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio > 0) & (ratio < 1)).all()


def test_proxima_window_masks_far_frames() -> None:
    layer = CombinedAttentionLayer(replace(STUDENT, window=2))
    bias = layer.local_bias(7, torch.device("cpu"))[0, 0]
    assert bias[3, 5] > -1 and bias[3, 1] > -1
    assert bias[3, 6] < -1e3 and bias[0, 3] < -1e3


def test_config_round_trip_and_bad_height() -> None:
    cfg = replace(TEACHER, num_classes=12)
    assert NetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        HtrJandNet(replace(STUDENT, input_height=40))


def test_width_factor_changes_frames_not_weights() -> None:
    """Width factor 4: the same weights give twice the frames; a bad factor is refused."""
    cfg = replace(STUDENT, num_classes=30)
    dense = cfg.with_width_factor(4)
    assert dense.width_factor == 4 and dense.collapse_height == cfg.collapse_height
    assert dense.strides == ((2, 2), (2, 2), (2, 1), (2, 1))
    assert cfg.with_width_factor(8) == cfg and NetConfig.from_dict(dense.to_dict()) == dense
    model = HtrJandNet(dense).eval()
    model.load_state_dict(HtrJandNet(cfg).state_dict())  # every weight has the same shape
    out = model(torch.rand(2, 1, 64, 256), torch.tensor([256, 100]))
    assert out.shape == (2, 64, 30) and model.frames(torch.tensor([100])).tolist() == [25]
    for bad in (0, 3, 32):
        with pytest.raises(ValueError):
            cfg.with_width_factor(bad)
