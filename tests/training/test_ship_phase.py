"""Shipping a continuation as the student's next phase: the card keeps every earlier phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import HtrError
from training.export import comparison_text
from training.ship_phase import app_val, card_extra, main

PARENT = {
    "name": "htrjand-student", "charset": ["a", "b"],
    "recipe": "python -m training.recipe --runs runs/recipe",
    "distillation_comparison": {
        "budget_min_per_phase": 48.0, "shipped": "student-phase9", "note": "alone or distilled",
        "val_cer_greedy": {"student-alone": 0.35, "student-kd": 0.40},
        "phase3": {"continues": "student-alone", "minutes": 100.0, "threads": 1,
                   "val_cer_greedy": 0.27},
        "phase9": {"continues": "student-phase8", "minutes": 120.0, "threads": 2,
                   "val_cer_greedy": 0.2315}},
    "runs_training_min": {"student-phase9": 120.0},
    "metrics": {"val": {"hooker": {"cer": 0.21}, "poilus": {"cer": 0.32}, "all": {"cer": 0.2315}}},
    "decoding": {"val": {"hooker": {"cer": 0.155}, "poilus": {"cer": 0.248}}},
}


def _checkpoint(device: str = "cpu") -> dict:
    return {"train_config": {"threads": 1, "device": device}, "elapsed": 88.2 * 60,
            "best_cer": 0.22901, "hardware": "NVIDIA H200" if device == "cuda" else "cpu"}


def test_next_phase_is_added_and_shipped_without_touching_the_parent_card() -> None:
    before = json.dumps(PARENT, sort_keys=True)
    extra = card_extra(_checkpoint(), PARENT, 10, "python -m training.train --seed 10")
    comp = extra["distillation_comparison"]
    assert comp["phase10"] == {"continues": "student-phase9", "minutes": 88.2, "threads": 1,
                               "val_cer_greedy": 0.229,
                               "command": "python -m training.train --seed 10"}
    assert comp["shipped"] == "student-phase10" and comp["phase9"] == PARENT[
        "distillation_comparison"]["phase9"]
    assert extra["runs_training_min"] == {"student-phase9": 120.0, "student-phase10": 88.2}
    assert extra["recipe"] == PARENT["recipe"]
    assert json.dumps(PARENT, sort_keys=True) == before
    text = comparison_text({"distillation_comparison": comp})
    assert text.index("Phase 9:") < text.index("Phase 10:")
    assert "Shipped: student-phase10" in text


def test_a_phase_of_several_runs_counts_and_lists_them_all() -> None:
    first = {**_checkpoint(), "elapsed": 80.0 * 60, "best_cer": 0.2279}
    comp = card_extra(_checkpoint(), PARENT, 10, "cmd", [("p10-grown", first)])[
        "distillation_comparison"]
    assert comp["phase10"]["minutes"] == 168.2 and comp["phase10"]["val_cer_greedy"] == 0.229
    assert comp["phase10"]["runs"] == [
        {"run": "p10-grown", "minutes": 80.0, "val_cer_greedy": 0.2279},
        {"run": "last", "minutes": 88.2, "val_cer_greedy": 0.229}]
    assert "Runs in a row: p10-grown 80 min, 22.79%; last 88.2 min, 22.90%." in \
        comparison_text({"distillation_comparison": comp})


def test_a_gpu_phase_records_its_hardware() -> None:
    entry = card_extra(_checkpoint("cuda"), PARENT, 10, "cmd")["distillation_comparison"]["phase10"]
    assert entry["hardware"] == "NVIDIA H200" and "threads" not in entry


def test_a_phase_number_already_used_is_refused() -> None:
    with pytest.raises(HtrError, match="phase9"):
        card_extra(_checkpoint(), PARENT, 9, "cmd")


def test_app_val_reads_the_decoding_figures_or_else_the_greedy_ones() -> None:
    assert app_val(PARENT) == {"hooker": 0.155, "poilus": 0.248}
    greedy = {k: v for k, v in PARENT.items() if k != "decoding"}
    assert app_val(greedy) == {"hooker": 0.21, "poilus": 0.32}


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "new"
    assert main([str(tmp_path / "no-run"), "--phase", "10", "--out", str(out),
                 "--command", "cmd"]) == 2
    assert "best.pt is missing" in capsys.readouterr().err
    assert not out.exists()
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"x")
    parent = tmp_path / "parent"
    assert main([str(run), "--phase", "10", "--out", str(parent), "--parent", str(parent),
                 "--command", "cmd"]) == 2
    assert "must not be the parent" in capsys.readouterr().err
