"""Fine-tuning mechanics on a tiny untrained model and a drawn page: corrected lines only,
held-back CER, new characters, a new version per run, cancel, one training at a time,
the distill path. Runs of a few seconds: the mechanics, not the accuracy (see benchmarks)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.document import Origin  # noqa: E402
from engine.errors import CancelledError, HtrError  # noqa: E402
from finetune_fixtures import line_texts, make_project, make_tiny_model  # noqa: E402
from training.corrections import (MIN_LINES, collect_corrections,  # noqa: E402
                                  holdout_split)
from training.finetune import (FinetuneConfig, extend_output_layer, load_base,  # noqa: E402
                               new_characters, run_finetune)

FAST = dict(minutes=0.04, threads=1, eval_interval_s=0.5, warmup_steps=2, synthetic_pool=24)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("base") / "tiny-base",
                           list(" abcdefghijklmnopqrstuvw"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    # 24 corrected lines, one with characters the base lacks (x, y, z), and 2 model lines
    return make_project(tmp_path_factory.mktemp("proj") / "letters",
                        line_texts(23) + ["xyz lazy"])


def test_holdout_every_tenth_at_least_ten() -> None:
    train, held = holdout_split(200)
    assert len(held) == 20 and not set(train) & set(held) and len(train) + len(held) == 200
    train, held = holdout_split(25)
    assert len(held) == 10 and len(train) == 15
    assert held == sorted(held) and held[-1] < 25
    with pytest.raises(HtrError, match=f"3 corrected line.*at least {MIN_LINES}"):
        holdout_split(3)
    with pytest.raises(HtrError, match=f"0 corrected line.*at least {MIN_LINES}"):
        holdout_split(0)


def test_only_corrected_lines_are_collected(project: Path) -> None:
    lines, report = collect_corrections([project], 64)
    assert len(lines) == 24 and report.lines == 24 and report.pages_with_corrections == 1
    assert "model text" not in lines.texts
    assert all(im.shape[0] == 64 and im.dtype == np.uint8 for im in lines.images)
    again, _ = collect_corrections([project / "page1.png"], 64)  # a page file works too
    assert again.texts == lines.texts


def test_read_lines_are_collected_apart_only_when_asked_and_needed(project: Path,
                                                                   tmp_path: Path) -> None:
    """Read lines come back apart, cut like the corrected ones, only with ``readings`` and
    only where too few lines are corrected in all the inputs to train without them."""
    from training.corrections import collect_lines

    few = make_project(tmp_path / "few", line_texts(5))
    lines, read, report = collect_lines([few], 64, readings=True)
    assert len(lines) == 5 and read.texts == ["model text"] * 2 and report.readings == 2
    assert all(im.shape[0] == 64 for im in read.images)
    _, none, report = collect_lines([few], 64)
    assert len(none) == 0 and report.readings == 0
    lines, none, report = collect_lines([project], 64, readings=True)  # 24 corrected
    assert len(lines) == 24 and len(none) == 0 and report.readings == 0
    spread = make_project(tmp_path / "spread", line_texts(12))  # 12 + 12 over two pages
    make_project(spread, line_texts(12), stem="page2")
    lines, none, report = collect_lines([spread], 64, readings=True)
    assert len(lines) == 24 and len(none) == 0 and report.pages_with_corrections == 2


def test_read_lines_are_learnt_and_held_back_only_without_enough_corrections(base_dir) -> None:
    """Self-training: read lines are used only where too few lines are corrected to train
    on; then they join the corrected ones and read ones are held back (the result says so);
    too few of both is refused with the counts."""
    from training.data import LineSet
    from training.finetune import prepare

    def lines(n: int, text: str) -> LineSet:
        return LineSet([np.zeros((64, 50), np.uint8)] * n, [text] * n,
                       [f"p/s/{text}{i}" for i in range(n)])

    base = load_base(base_dir)
    _, _, train, held, of = prepare(lines(25, "fixed"), base, lines(40, "read"))
    assert of == "corrections" and set(held.texts) == {"fixed"} and len(held) == 10
    assert set(train.texts) == {"fixed"} and len(train) == 15
    _, _, train, held, of = prepare(lines(5, "fixed"), base, lines(40, "read"))
    assert of == "readings" and set(held.texts) == {"read"} and len(held) == 10
    assert train.texts.count("fixed") == 5 and train.texts.count("read") == 30
    _, _, train, held, of = prepare(lines(25, "fixed"), base)
    assert of == "corrections" and len(train) == 15
    with pytest.raises(HtrError, match="5 corrected and 12 read line.*at least 20"):
        prepare(lines(5, "fixed"), base, lines(12, "read"))


def test_a_hand_with_few_corrections_is_learnt_from_its_readings(base_dir, store,
                                                                 tmp_path) -> None:
    """4 corrected and 25 read lines: refused without --with-readings, a version with it,
    whose card says that the held-back lines were read ones; the LM learns only corrections."""
    from app.commands.finetune import result_table

    few = make_project(tmp_path / "few", line_texts(4), extra_model_lines=25)
    with pytest.raises(HtrError, match="4 corrected line"):
        run_finetune([few], FinetuneConfig(**FAST), "few", base_dir)
    result = run_finetune([few], FinetuneConfig(**FAST, readings=True), "few", base_dir)
    ft = json.loads((Path(result["model_dir"]) / "card.json").read_text())["finetune"]
    assert ft["lines_used"] == 4 and ft["reading_lines"] == 25
    assert ft["held_back_of"] == "readings" and ft["held_back_lines"] == 10
    assert ft["train_lines"] == 4 + 15 and ft["config"]["readings"] is True
    table = result_table(result)
    assert "4 corrected lines and 25 read ones" in table and "agreement" in table


def test_with_readings_option() -> None:
    import argparse

    from training.finetune_config import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert not config_from_args(parser.parse_args(["p", "--name", "n"])).readings
    assert config_from_args(parser.parse_args(["p", "--name", "n", "--with-readings"])).readings


def test_new_characters_extend_the_output_layer_keeping_old_rows(base_dir: Path) -> None:
    base = load_base(base_dir)
    added = new_characters(base.charset, ["abc", "zéx"])
    assert added == ["z", "é", "x"]
    bigger = extend_output_layer(base.net, len(added))
    assert bigger.head.weight.shape[0] == base.net.head.weight.shape[0] + 3
    assert torch.equal(bigger.head.weight[:-3], base.net.head.weight)
    x = torch.rand(2, 1, 64, 160)
    widths = torch.tensor([160, 120])
    old, new = base.net(x, widths), bigger(x, widths)
    assert torch.equal(old.argmax(-1), new.argmax(-1))  # same reading before training


def test_a_run_creates_a_new_version_and_never_overwrites(project, base_dir, store) -> None:
    from engine.models import list_models
    from engine.recognition import Recognizer

    base_files = {p.name: p.read_bytes() for p in base_dir.iterdir()}
    seen = []
    cfg = FinetuneConfig(**FAST)
    first = run_finetune([project], cfg, "letters hand", base_dir,
                         progress=lambda d, t, m="": seen.append(m))
    assert Path(first["model_dir"]) == store / "letters-hand"
    assert any("held-back CER" in m for m in seen)
    card = json.loads((store / "letters-hand" / "card.json").read_text())
    ft = card["finetune"]
    assert ft["parent"]["name"] == "tiny-base" and ft["lines_used"] == 24
    assert ft["held_back_lines"] == 10 and ft["train_lines"] == 14
    assert sorted(ft["new_characters"]) == ["x", "y", "z"]
    assert card["charset"][:-3] == list(" abcdefghijklmnopqrstuvw")
    assert ft["cer_after"] <= ft["cer_before"]  # the best held-back state is kept
    assert ft["training_s"] > 0 and ft["date"] and ft["path"] == "direct"
    for name in ("model.onnx", "model.pt", "card.json"):
        assert (store / "letters-hand" / name).is_file()
    rec = Recognizer(store / "letters-hand", device="cpu")  # the engine runs the new version
    assert len(rec.model.charset) == 27
    second = run_finetune([project], cfg, "letters hand", store / "letters-hand")
    assert second["name"] == "letters-hand-2"  # a new folder, the first one untouched
    card2 = json.loads((store / "letters-hand-2" / "card.json").read_text())
    assert card2["finetune"]["new_characters"] == []  # x, y, z are known by now
    assert card2["finetune"]["parent"]["name"] == "letters-hand"
    assert {p.name: p.read_bytes() for p in base_dir.iterdir()} == base_files
    assert sorted(m.name for m in list_models() if m.source == "user") == \
        ["letters-hand", "letters-hand-2"]
    assert not [p for p in store.iterdir() if p.name.startswith(".staging")]


def test_version_reads_with_the_parent_lm_adapted_to_the_corrections(project, base_dir, store,
                                                                      tmp_path) -> None:
    """A parent that reads with beam search and a character LM passes both on: the version's
    lm.json counts the corrected lines on top of the parent's, and it survives export/import."""
    import shutil

    from engine import model_store
    from engine.recognition import Recognizer
    from engine.recognition.lm import CharNgramLM

    parent = tmp_path / "lm-base"
    shutil.copytree(base_dir, parent)
    card = json.loads((parent / "card.json").read_text())
    parent_lm = CharNgramLM.train(["a plain base text"], card["charset"], order=3)
    (parent / "lm.json").write_text(parent_lm.to_json())
    (parent / "lm-plain.json.gz").write_bytes(parent_lm.to_bytes(compress=True))
    digits_lm = CharNgramLM.train(["0123 4567 8901 2345"], card["charset"], order=3)
    (parent / "lm-digits.json.gz").write_bytes(digits_lm.to_bytes(compress=True))
    from engine.recognition.word_lm import WordBigramLM

    parent_words = WordBigramLM.train(["a plain base text"])
    (parent / "lm-plain-words.json.gz").write_bytes(parent_words.to_bytes())
    card["decoding"] = {"default": "beam", "beam": 4, "lm_weight": 0.3, "length_bonus": 0.5,
                        "lm": "character 3-gram",
                        "lms": [{"name": "plain", "file": "lm-plain.json.gz", "lm_weight": 0.6,
                                 "length_bonus": 1.0, "text": "a plain base text",
                                 "words": {"file": "lm-plain-words.json.gz", "weight": 0.5,
                                           "bonus": 1.0, "nbest": 4}},
                                {"name": "digits", "file": "lm-digits.json.gz", "lm_weight": 0.2,
                                 "length_bonus": 0.0}]}
    (parent / "card.json").write_text(json.dumps(card))
    result = run_finetune([project], FinetuneConfig(**FAST, corrections_lm_weight=3), "lm hand",
                          parent)
    folder = Path(result["model_dir"])
    dec = json.loads((folder / "card.json").read_text())["decoding"]
    assert dec["default"] == "beam" and dec["beam"] == 4 and dec["lm_weight"] == 0.3
    assert "24 corrected lines counted 3x" in dec["lm"]
    assert result["guard"] == "kd+synthetic"  # the parent's LM wrote the replayed lines
    version_lm = CharNgramLM.load(folder / "lm.json")
    assert "x" in version_lm.vocab  # the new characters are in the LM's vocabulary
    assert version_lm.prob("laz", "y") > parent_lm.prob("laz", "y")
    rec = Recognizer(folder, device="cpu")
    assert rec.beam == 4
    assert rec.decoding == ("beam 4 + character LM per page (plain + words, digits, "
                            "plain+corrections + words)")
    assert "beam 4" in (folder / "card.md").read_text()
    # the parent's per-language LMs come as they were (given the new characters), and a copy of
    # the one the corrections fit (letters, not digits) learns them, with that one's weights
    assert [(lang.name, lang.lm_weight) for lang in rec.languages] == [
        ("plain", 0.6), ("digits", 0.2), ("plain+corrections", 0.6)]
    assert rec.languages[0].lm.counts == parent_lm.counts and "x" in rec.languages[0].lm.vocab
    assert rec.languages[1].lm.counts == digits_lm.counts
    assert rec.languages[2].lm.prob("laz", "y") > parent_lm.prob("laz", "y")
    assert dec["lms"][2]["file"] == "lm-plain-corrections.json.gz"
    assert "corrected lines counted 3x" in dec["lms"][2]["text"]
    # word LMs likewise: the parent's as it was, the corrections' copy learning the lines
    assert rec.languages[0].words.bigrams == parent_words.bigrams
    assert rec.languages[1].words is None
    mine = rec.languages[2]
    assert (mine.word_weight, mine.word_bonus, mine.nbest) == (0.5, 1.0, 4)
    assert mine.words.total > parent_words.total
    assert dec["lms"][2]["words"]["file"] == "lm-plain-corrections-words.json.gz"
    zipped = model_store.export_zip(folder.name, tmp_path / "out.zip")
    imported = model_store.import_zip(zipped, "shared lm hand")
    assert (imported / "lm.json").is_file() and (imported / "lm-plain-corrections.json.gz").is_file()
    assert (imported / "lm-plain-corrections-words.json.gz").is_file()
    assert Recognizer(imported, device="cpu").languages[2].name == "plain+corrections"


def test_synthetic_replay_lines_come_from_the_bundled_fonts_and_the_lm(base_dir,
                                                                        tmp_path) -> None:
    """kd+synthetic renders lines with the bundled fonts (present on every installation) from
    text drawn from the base's LM; without an LM the guard falls back to kd + anchor."""
    import shutil

    from engine.recognition.lm import CharNgramLM
    from training.finetune import _guard, guard_replay
    from training.synthetic import find_handwriting_fonts

    assert len(find_handwriting_fonts(system=False)) >= 5
    cfg = FinetuneConfig(**FAST)
    assert cfg.guard == "kd+synthetic"
    base = load_base(base_dir)
    assert guard_replay(cfg, base) is None  # the tiny base has no lm.json
    assert _guard(cfg, base.net, 64, None)[2] == "kd+anchor"
    parent = tmp_path / "lm-base"
    shutil.copytree(base_dir, parent)
    charset = json.loads((parent / "card.json").read_text())["charset"]
    (parent / "lm.json").write_text(CharNgramLM.train(
        ["the quick brown fox jumps over a lazy dog", "a cat sat on the mat"], charset,
        order=3).to_json())
    lines = guard_replay(cfg, load_base(parent))
    assert len(lines) == 24 and {im.shape[0] for im in lines.images} == {64}
    assert all(t and set(t) <= set(charset) for t in lines.texts)
    assert all(im.dtype == np.uint8 and int(im.max()) - int(im.min()) > 40
               for im in lines.images)  # ink drawn on paper
    assert _guard(cfg, base.net, 64, lines)[2] == "kd+synthetic"  # no anchor with replay


def test_char_lm_samples_text_of_its_vocabulary() -> None:
    from engine.recognition.lm import CharNgramLM

    lm = CharNgramLM.train(["abab abba", "baba ab"], list("ab "), order=3)
    rng = np.random.default_rng(0)
    texts = [lm.sample(rng, 30) for _ in range(20)]
    assert all(0 < len(t) <= 30 and set(t) <= set("ab ") for t in texts)
    again = np.random.default_rng(0)
    assert [lm.sample(again, 30) for _ in range(20)] == texts  # seeded: reproducible
    joined = "".join(texts)
    assert joined.count("ab") > joined.count("aa") + joined.count("bb")  # as trained


def test_cancel_midway_leaves_no_half_model(project, base_dir, store) -> None:
    from engine.progress import CancelToken

    token = CancelToken()

    def progress(done, total, message=""):
        if "step" in message:
            token.cancel()
    # A budget long enough to reach step 5 on a loaded machine; the cancel ends it there.
    with pytest.raises(CancelledError):
        run_finetune([project], FinetuneConfig(**{**FAST, "minutes": 1.0}), "cancelled",
                     base_dir, progress=progress, cancel=token)
    assert not store.exists() or [p.name for p in store.iterdir()] == []


def test_too_few_corrections_say_how_many_are_needed(tmp_path, base_dir, store) -> None:
    few = make_project(tmp_path / "few", line_texts(3))
    with pytest.raises(HtrError, match=r"3 corrected line\(s\) found.*at least 20"):
        run_finetune([few], FinetuneConfig(**FAST), "few", base_dir)
    none = make_project(tmp_path / "none", line_texts(5), origin=Origin.MODEL)
    with pytest.raises(HtrError, match=r"0 corrected line\(s\) found"):
        run_finetune([none], FinetuneConfig(**FAST), "none", base_dir)
    assert not [p for p in store.iterdir() if not p.name.startswith(".")]


def test_second_training_while_one_runs_is_refused(project, base_dir, store) -> None:
    store.mkdir(parents=True)
    (store / ".training.lock").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(HtrError, match="already running"):
        run_finetune([project], FinetuneConfig(**FAST), "second", base_dir)
    (store / ".training.lock").write_text("999999999")  # a dead one: the lock is stale
    run_finetune([project], FinetuneConfig(**FAST), "after", base_dir)
    assert not (store / ".training.lock").exists()


def test_distill_path_with_a_teacher(project, base_dir, store, tmp_path) -> None:
    teacher = make_tiny_model(tmp_path / "teacher", list(" abcdefghijklmnopqrstuvw"),
                              wide=True, seed=1)
    # bounded by steps, not by FAST's 2.4 s, so that a loaded machine still trains the teacher
    cfg = FinetuneConfig(**{**FAST, "path": "distill", "minutes": 2.0, "max_steps": 8})
    result = run_finetune([project], cfg, "distilled", base_dir, teacher / "model.pt")
    assert result["path"] == "distill" and result["teacher"]["steps"] > 0
    assert result["cer_after"] <= result["cer_before"]
    card = json.loads((store / "distilled" / "card.json").read_text())
    assert card["finetune"]["path"] == "distill"



def test_frozen_encoder_and_weight_anchor(project, base_dir) -> None:
    """freeze_encoder keeps the convolutions out of the optimiser; the L2-SP anchor adds
    exactly weight * sum((theta - theta_base)^2) to the loss."""
    from training.batching import to_tensor_batch
    from training.finetune import FineTuner

    from training.charset import Charset

    lines, _ = collect_corrections([project], 64)
    base = load_base(base_dir)
    lines = lines.subset([i for i, t in enumerate(lines.texts) if set(t) <= set(base.charset)])
    charset = Charset(base.charset)
    frozen = FineTuner(load_base(base_dir).net, charset, lines, lines,
                       FinetuneConfig(freeze_encoder=True, **FAST))
    optimised = {id(p) for g in frozen.opt.param_groups for p in g["params"]}
    assert all(id(p) not in optimised and not p.requires_grad
               for p in frozen.net.encoder.parameters())
    assert all(id(p) in optimised for p in frozen.net.head.parameters())

    net = load_base(base_dir).net
    plain = FineTuner(net, charset, lines, lines, FinetuneConfig(anchor_weight=0.0, **FAST))
    anchored = FineTuner(net, charset, lines, lines,
                         FinetuneConfig(anchor_weight=0.5, **FAST))
    net.eval()
    x, widths = to_tensor_batch(lines.images[:2], net.cfg.width_factor)
    tgts = [charset.encode(t) for t in lines.texts[:2]]
    with torch.no_grad():
        assert float(anchored._loss(x, widths, tgts)) == pytest.approx(
            float(plain._loss(x, widths, tgts)))  # at the anchor: no pull
        net.head.bias.add_(0.1)  # move one tensor away from the base
        pull = 0.5 * 0.01 * net.head.bias.numel()
        assert float(anchored._loss(x, widths, tgts)) == pytest.approx(
            float(plain._loss(x, widths, tgts)) + pull, rel=1e-4)
    replaying = FineTuner(net, charset, lines, lines, FinetuneConfig(**FAST), replay=lines)
    assert anchored.anchor and not replaying.anchor  # replayed base lines replace the anchor


def test_anchor_weight_option() -> None:
    import argparse

    from training.finetune_config import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["p", "--name", "n"])
    assert config_from_args(args).anchor_weight == FinetuneConfig().anchor_weight > 0
    assert config_from_args(parser.parse_args(["p", "--name", "n", "--anchor-weight", "0"])
                            ).anchor_weight == 0.0
    with pytest.raises(HtrError, match="anchor-weight"):
        config_from_args(parser.parse_args(["p", "--name", "n", "--anchor-weight", "-1"]))


def test_interpolation_mixes_weights_and_keeps_new_rows(base_dir) -> None:
    """WiSE-FT: alpha * fine-tuned + (1 - alpha) * base on every weight; the rows of new
    characters stay as trained; alpha 1 changes nothing."""
    from training.finetune import interpolate_weights

    base = load_base(base_dir)
    tuned = extend_output_layer(base.net, 2)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(1.0)
    before = {k: v.clone() for k, v in tuned.state_dict().items()}
    assert interpolate_weights(tuned, base.net, 1.0) is tuned
    assert all(torch.equal(v, before[k]) for k, v in tuned.state_dict().items())
    interpolate_weights(tuned, base.net, 0.25)
    ref = base.net.state_dict()
    w = tuned.head.weight
    n = ref["head.weight"].shape[0]
    assert torch.allclose(w[:n], 0.25 * before["head.weight"][:n] + 0.75 * ref["head.weight"])
    assert torch.equal(w[n:], before["head.weight"][n:])  # the new characters' rows
    name = next(k for k in ref if k.endswith("weight") and not k.startswith("head."))
    assert torch.allclose(tuned.state_dict()[name], ref[name] + 0.25)


def test_interpolation_can_keep_the_encoder_fine_tuned(base_dir) -> None:
    """With an encoder share of 1 the convolutions keep their fine-tuned weights while the
    attention layers and the head are mixed."""
    from training.finetune import interpolate_weights

    base = load_base(base_dir)
    tuned = copy.deepcopy(base.net)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(1.0)
    ref = base.net.state_dict()
    interpolate_weights(tuned, base.net, 0.5, encoder_alpha=1.0)
    state = tuned.state_dict()
    conv = next(k for k in ref if k.startswith("encoder.") and k.endswith("conv.weight"))
    assert torch.allclose(state[conv], ref[conv] + 1.0)
    assert torch.allclose(state["head.weight"], ref["head.weight"] + 0.5)


def test_interpolate_option() -> None:
    import argparse

    from training.finetune_config import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["p", "--name", "n"])).interpolate == \
        FinetuneConfig().interpolate
    assert config_from_args(parser.parse_args(["p", "--name", "n", "--interpolate", "0.5"])
                            ).interpolate == 0.5
    for bad in ("0", "1.5"):
        with pytest.raises(HtrError, match="interpolate"):
            config_from_args(parser.parse_args(["p", "--name", "n", "--interpolate", bad]))


def test_interpolation_never_leaves_the_held_back_lines_worse(project, base_dir) -> None:
    """Where the interpolated weights read the held-back lines worse than the parent, a larger
    share of the fine-tuned weights is taken, up to all of it."""
    from training.charset import Charset
    from training.finetune import _interpolated

    lines, _ = collect_corrections([project], 64)
    base = load_base(base_dir)
    held = lines.subset([i for i, t in enumerate(lines.texts) if set(t) <= set(base.charset)])
    tuned = extend_output_layer(base.net, 0)
    charset = Charset(base.charset)
    _, share, _ = _interpolated(tuned, base.net, 0.6, held, charset, float("inf"))
    assert share == 0.6
    _, share, rates = _interpolated(tuned, base.net, 0.6, held, charset, -1.0)  # never good
    assert share == 1.0 and rates.lines == len(held)
