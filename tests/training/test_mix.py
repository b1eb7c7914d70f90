"""Mixing trained networks with their start (training.mix): WiSE-FT and uniform soups."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from engine.errors import HtrError  # noqa: E402
from training.export import comparison_text  # noqa: E402
from training.mix import main, mix, soup  # noqa: E402
from training.network import STUDENT, HtrJandNet  # noqa: E402
from training.ship_phase import card_extra  # noqa: E402

SMALL = replace(STUDENT, num_classes=6, channels=(4, 4, 6, 6), d_model=16, ffn=32, heads=2,
                layers=1).with_width_factor(4)
CHARSET = list("abcde")


def _checkpoint(net: HtrJandNet, **more) -> dict:
    return {"model": {k: v.clone() for k, v in net.state_dict().items()},
            "net": net.cfg.to_dict(), "charset": CHARSET, **more}


def _start_and_runs(n: int = 2) -> tuple[dict, list[dict]]:
    """A start and ``n`` runs that moved its weights (and BatchNorm statistics) apart."""
    torch.manual_seed(0)
    start = HtrJandNet(SMALL).eval()
    runs = []
    for i in range(n):
        net = HtrJandNet(SMALL).eval()
        net.load_state_dict(start.state_dict())
        with torch.no_grad():
            for value in net.state_dict().values():
                if torch.is_floating_point(value):
                    value.add_(torch.randn_like(value) * 0.1)
        runs.append(_checkpoint(net, epoch=5 + i, step=100, elapsed=600.0, best_cer=0.3 - i / 100,
                                train_config={"init": "runs/grow/start.pt", "threads": 1},
                                history=[{"epoch": 5 + i}], ema={}, opt={}, rng={}))
    return _checkpoint(start), runs


def _weight(ck_or_net, name: str = "collapse.weight") -> torch.Tensor:
    state = ck_or_net["model"] if isinstance(ck_or_net, dict) else ck_or_net.state_dict()
    return state[name]


def test_alpha_runs_from_the_start_to_the_trained_weights() -> None:
    start, runs = _start_and_runs(1)
    assert torch.allclose(_weight(mix(start, runs, 1.0)), _weight(runs[0]))
    assert torch.allclose(_weight(mix(start, runs, 0.0)), _weight(start))
    half = mix(start, runs, 0.5)
    for name in ("collapse.weight", "encoder.0.norm.running_mean"):
        assert torch.allclose(_weight(half, name), (_weight(start, name) + _weight(runs[0], name)) / 2)
    assert not torch.allclose(_weight(half), _weight(start))  # the check can fail


def test_a_soup_is_the_mean_of_the_runs() -> None:
    _, runs = _start_and_runs(3)
    mean = (_weight(runs[0]) + _weight(runs[1]) + _weight(runs[2])) / 3
    assert torch.allclose(_weight(soup(runs)), mean, atol=1e-6)
    # the runs' own weights are left as they were
    assert not torch.allclose(_weight(runs[0]), mean)


def test_networks_that_cannot_be_averaged_are_refused() -> None:
    start, runs = _start_and_runs(2)
    wider = HtrJandNet(replace(SMALL, channels=(4, 4, 6, 8)))
    with pytest.raises(HtrError, match="grow the start"):
        mix(_checkpoint(wider), runs, 0.5)
    with pytest.raises(HtrError, match="charset"):
        mix({**start, "charset": list("abcdz")}, runs, 0.5)
    runs[1]["train_config"] = {"init": "runs/grow/another.pt"}
    with pytest.raises(HtrError, match="one start"):
        mix(start, runs, 0.5)
    with pytest.raises(HtrError, match="alpha"):
        mix(start, runs[:1], 1.5)
    with pytest.raises(HtrError, match="no trained run"):
        mix(start, [], 0.5)


def test_command_writes_a_checkpoint_ship_phase_takes(tmp_path, monkeypatch, capsys) -> None:
    start, runs = _start_and_runs(2)
    paths = [tmp_path / "start.pt", tmp_path / "a.pt", tmp_path / "b.pt"]
    for path, ck in zip(paths, [start, *runs]):
        torch.save(ck, path)
    val = {"hooker": {"cer": 0.2, "wer": 0.5, "lines": 3}, "all": {"cer": 0.25, "wer": 0.5,
                                                                    "lines": 4}}
    monkeypatch.setattr("training.export.evaluate_checkpoint", lambda net, ck, cache: val)
    out = tmp_path / "mixed" / "best.pt"
    assert main([*map(str, paths), "--alpha", "0.7", "--out", str(out)]) == 0
    assert "greedy val CER: hooker 20.00%, all 25.00%" in capsys.readouterr().out
    ck = torch.load(out, weights_only=False)
    assert ck["best_cer"] == 0.25 and ck["val"] == val
    assert ck["epoch"] == 11 and ck["step"] == 200 and ck["elapsed"] == 1200.0
    assert ck["history"] == [{"epoch": 5, "run": 1}, {"epoch": 6, "run": 2}]  # both runs'
    assert not {"ema", "opt", "rng"} & set(ck)  # no resuming a mix
    assert ck["mixed"] == {"start": str(paths[0]), "runs": [str(p) for p in paths[1:]],
                           "alpha": 0.7, "runs_val_cer_greedy": [0.3, 0.29]}
    expected = 0.7 * (_weight(runs[0]) + _weight(runs[1])) / 2 + 0.3 * _weight(start)
    assert torch.allclose(_weight(ck), expected, atol=1e-6)
    parent = {"name": "htrjand-student", "distillation_comparison": {
        "budget_min_per_phase": 48.0, "shipped": "student-phase10", "note": "n",
        "val_cer_greedy": {"student-alone": 0.35}}}
    comp = card_extra(ck, parent, 11, "cmd")["distillation_comparison"]
    assert comp["phase11"]["minutes"] == 20.0 and comp["phase11"]["val_cer_greedy"] == 0.25
    assert comp["phase11"]["mixed"] == {"alpha": 0.7, "runs": 2,
                                        "runs_val_cer_greedy": [0.3, 0.29]}
    assert ("Mixed weight by weight: 0.7 of the mean of 2 runs (greedy 30.00%, 29.00%), 0.3 "
            "of their start.") in comparison_text({"distillation_comparison": comp})


def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys) -> None:
    start, runs = _start_and_runs(1)
    torch.save(start, tmp_path / "start.pt")
    torch.save(runs[0], tmp_path / "a.pt")
    out = tmp_path / "best.pt"
    assert main([str(tmp_path / "start.pt"), str(tmp_path / "missing.pt"), "--out", str(out),
                 "--no-eval"]) == 2
    assert main([str(tmp_path / "start.pt"), str(tmp_path / "a.pt"), "--alpha", "2", "--out",
                 str(out), "--no-eval"]) == 2
    assert "alpha must lie in [0, 1]" in capsys.readouterr().err
    assert not out.exists()


def test_the_card_names_a_mix_whose_runs_had_no_greedy_figure() -> None:
    from training.export import _phase_text

    text = _phase_text(11, {"continues": "student-phase10", "minutes": 1, "threads": 1,
                            "val_cer_greedy": 0.2, "mixed": {"alpha": 0.7, "runs": 1,
                                                             "runs_val_cer_greedy": [None]}})
    assert "Mixed weight by weight: 0.7 of the trained weights, 0.3 of their start." in text
