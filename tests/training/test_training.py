"""Training pieces on tiny data: charset, augmentation, synthetic lines, batching, a few steps
that must learn, distillation loss, checkpoint resume."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.augment import augment  # noqa: E402
from training.batching import bucket_batches, to_tensor_batch  # noqa: E402
from training.charset import Charset, ctc_frames_needed  # noqa: E402
from training.config import Stage, TrainConfig  # noqa: E402
from training.data import LineSet  # noqa: E402
from training.distill import kd_loss  # noqa: E402
from training.synthetic import SyntheticLines, find_handwriting_fonts  # noqa: E402

TEXTS = ["the cat sat", "on a mat", "dear sir", "yours truly"]


def test_charset_normalises_and_counts_unknown_characters() -> None:
    cs = Charset.from_texts(["cafe\u0301\u00a0x"])  # NFD é and NBSP
    assert cs.chars == sorted([" ", "a", "c", "f", "x", "\u00e9"])
    labels = cs.encode("café zx")
    assert cs.decode(labels) == "café x"
    assert cs.skipped["z"] == 1
    assert ctc_frames_needed([1, 1, 2]) == 4


def test_augment_keeps_height_and_dtype() -> None:
    rng = np.random.default_rng(0)
    img = np.full((64, 300), 230, np.uint8)
    img[20:40, 50:250] = 20
    for _ in range(10):
        out = augment(img, rng)
        assert out.shape[0] == 64 and out.dtype == np.uint8 and 200 < out.shape[1] < 400


def test_parallel_augmenter_is_reproducible_and_keeps_order() -> None:
    from training.augment import AugmentConfig, ParallelAugmenter

    imgs = [np.full((64, 100 + 2 * k), 230, np.uint8) for k in range(150)]
    for k, im in enumerate(imgs):
        im[20:44, :] = k  # each image's own ink value marks it
    aug = ParallelAugmenter(imgs, 2)
    try:
        cfg = AugmentConfig(p_noise=0.0, p_contrast=0.0, p_blur=0.0, p_bleed=0.0, p_morph=0.0,
                            p_elastic=0.0)
        order = [149, 3, 77] + list(range(100))
        a = aug.augment(order, np.random.default_rng(5), cfg)
        b = aug.augment(order, np.random.default_rng(5), cfg)
    finally:
        aug.close()
    assert len(a) == len(order)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for i, out in zip(order, a):
        assert out.shape[0] == 64 and abs(int(out.min()) - i) <= 2  # the right image, in order


def test_cuda_device_refused_clearly_without_a_gpu() -> None:
    from training.trainer import pick_device

    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")


def test_synthetic_lines_or_clear_reason() -> None:
    syn = SyntheticLines(TEXTS, 64, seed=0)
    if not find_handwriting_fonts():
        assert not syn.available and "fonts" in syn.reason
        return
    img, text = syn.render(max_chars=8)
    assert img.shape[0] == 64 and img.dtype == np.uint8 and 0 < len(text) <= 8
    assert img.min() < 120 < img.max()  # some ink on paper
    assert SyntheticLines(TEXTS, 64, fonts=[]).available is False


def test_synthetic_lines_keep_accents_with_the_bundled_fonts() -> None:
    """Several bundled fonts lack accented letters: a text is drawn with a font that has all
    of its characters, so no word loses its accent (its label would teach a wrong spelling)."""
    fonts = find_handwriting_fonts(system=False)
    pangram = "the quick brown fox jumps over the lazy dog"
    syn = SyntheticLines(["déjà vu été", "là où", pangram], 64, fonts=fonts, seed=3)
    assert syn.available and any("é" not in glyphs for _, glyphs in syn.fonts)
    for _ in range(40):
        _, text = syn.render()
        assert set(text.split()) <= {"déjà", "vu", "été", "là", "où", *pangram.split()}


def test_bucketing_groups_similar_widths() -> None:
    widths = [100, 900, 110, 880, 105, 890]
    batches = bucket_batches(widths, 3, 10_000, None)
    assert sorted(map(sorted, batches)) == [[0, 2, 4], [1, 3, 5]]
    x, w = to_tensor_batch([np.zeros((64, 10), np.uint8), np.full((64, 3), 255, np.uint8)], 8)
    assert x.shape == (2, 1, 64, 16) and w.tolist() == [10, 3]
    assert float(x[0, ..., :10].min()) == 1.0 and float(x[1].max()) == 0.0  # ink = 1, padding = 0


def _tiny_lines() -> LineSet:
    rng = np.random.default_rng(0)
    imgs = []
    for t in TEXTS:  # one dark blob per character: learnable in a few steps
        img = np.full((64, 16 * len(t) + 16), 240, np.uint8)
        for k, ch in enumerate(t):
            if ch != " ":
                y = 10 + (ord(ch) * 7) % 40
                img[y:y + 12, 8 + 16 * k: 18 + 16 * k] = rng.integers(0, 40)
        imgs.append(img)
    return LineSet(imgs, list(TEXTS), [f"toy/p/{i}" for i in range(4)])


def test_a_few_steps_learn_and_resume(tmp_path) -> None:
    from training.trainer import Trainer

    lines = _tiny_lines()
    cfg = TrainConfig(model="student", run_dir=str(tmp_path / "run"), epochs=3, batch_size=4,
                      warmup_steps=1, lr=3e-3, threads=1,
                      curriculum=[Stage("toy", 1000, augment=False)])
    trainer = Trainer(cfg, lines, lines, Charset.from_texts(TEXTS))
    losses = [trainer.train_epoch(None) for _ in range(25)]
    assert losses[-1] < 0.6 * losses[0]
    result = trainer.fit()
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "best.pt").is_file()
    assert result["epochs"] == 3 and "val_cer" in result["history"][0]
    again = Trainer(cfg, lines, lines, Charset.from_texts(TEXTS))  # resumes from last.pt
    assert again.epoch == 3 and again.step == trainer.step


def test_moving_average_is_validated_kept_and_resumed(tmp_path) -> None:
    import torch

    from training.trainer import Trainer

    lines = _tiny_lines()
    cfg = TrainConfig(model="student", run_dir=str(tmp_path / "run"), epochs=2, batch_size=4,
                      warmup_steps=1, lr=3e-3, threads=1, ema_decay=0.9,
                      curriculum=[Stage("toy", 1000, augment=False)])
    trainer = Trainer(cfg, lines, lines, Charset.from_texts(TEXTS))
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.fit()
    raw, averaged = trainer.model.state_dict(), trainer.ema.module.state_dict()
    key = next(k for k, v in start.items() if v.is_floating_point() and v.numel() > 1)
    # the average lies between the start and the trained weights: neither one nor the other
    assert not torch.equal(averaged[key], raw[key]) and not torch.equal(averaged[key], start[key])
    assert "raw_val_cer" in result["history"][0]
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["best_cer"] == min(r["val_cer"] for r in result["history"])
    again = Trainer(cfg, lines, lines, Charset.from_texts(TEXTS))  # resumes from last.pt
    assert torch.equal(again.model.state_dict()[key], raw[key])
    assert torch.equal(again.ema.module.state_dict()[key], averaged[key])
    assert int(again.ema.n_averaged) == trainer.step


def test_augmenting_processes_feed_the_same_training(tmp_path) -> None:
    from training.trainer import Trainer

    lines = _tiny_lines()
    cfg = TrainConfig(model="student", run_dir=str(tmp_path / "run"), epochs=2, batch_size=4,
                      warmup_steps=1, lr=3e-3, threads=1, workers=2,
                      curriculum=[Stage("toy", 1000, synthetic_ratio=0.0)])
    trainer = Trainer(cfg, lines, lines, Charset.from_texts(TEXTS))
    images, targets = trainer.epoch_samples()
    assert len(images) == len(targets) == len(lines)
    assert all(im.shape[0] == 64 and im.dtype == np.uint8 for im in images)
    result = trainer.fit()  # closes the worker pool
    assert result["epochs"] == 2 and trainer.augmenter is not None


def test_kd_loss_zero_for_equal_logits_and_masks_padding() -> None:
    a = torch.randn(2, 5, 7)
    frames = torch.tensor([5, 2])
    assert float(kd_loss(a, a.clone(), frames, 3.0)) == pytest.approx(0.0, abs=1e-6)
    b = a.clone()
    b[1, 3:] += 10  # differences in padding frames are ignored
    assert float(kd_loss(a, b, frames, 3.0)) == pytest.approx(0.0, abs=1e-6)
    b[0, 0] += 5
    assert float(kd_loss(a, b, frames, 3.0)) > 0


def test_command_line_options_override_the_config(tmp_path) -> None:
    import argparse

    from training.train import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = build_config(parser.parse_args(["--run-dir", str(tmp_path), "--patience", "20",
                                          "--ema-decay", "0.999", "--lr", "2e-4"]))
    assert (cfg.patience, cfg.ema_decay, cfg.lr) == (20, 0.999, 2e-4)
    assert build_config(parser.parse_args([])).patience == TrainConfig().patience


def test_repeat_shows_a_collection_more_often(tmp_path) -> None:
    """``--repeat poilus=2``: each Poilus train line twice an epoch, Hooker's once, val and the
    charset unchanged; a malformed value is refused."""
    import argparse

    from training.data import LineSet, write_cache
    from training.train import add_arguments, build_config, load_data

    img = np.full((64, 40), 255, np.uint8)
    for coll, texts in (("hooker", ["ab", "cd", "ef"]), ("poilus", ["gh"])):
        for split in ("train", "val"):
            write_cache(LineSet([img] * len(texts), texts,
                                [f"{coll}/p/{i}" for i in range(len(texts))]),
                        coll, split, 64, tmp_path)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = build_config(parser.parse_args(["--run-dir", str(tmp_path), "--repeat", "poilus=2"]))
    assert cfg.repeats == {"poilus": 2} and TrainConfig.from_dict(cfg.to_dict()).repeats == cfg.repeats
    train, val, charset = load_data(cfg, tmp_path)
    assert sorted(train.texts) == ["ab", "cd", "ef", "gh", "gh"] and len(val) == 4
    assert load_data(build_config(parser.parse_args([])), tmp_path)[2].chars == charset.chars
    with pytest.raises(SystemExit):
        parser.parse_args(["--repeat", "poilus"])


def test_width_factor_from_the_command_line_and_a_checkpoint(tmp_path) -> None:
    """``--width-factor 4`` trains denser frames, starting from a factor-8 checkpoint's weights;
    a teacher of another factor is refused (its frames would not align)."""
    import argparse

    from training.train import add_arguments, build_config
    from training.trainer import Trainer

    lines = _tiny_lines()
    charset = Charset.from_texts(TEXTS)
    base = TrainConfig(model="student", run_dir=str(tmp_path / "base"), epochs=1, batch_size=4,
                       warmup_steps=1, threads=1, curriculum=[Stage("toy", 1000, augment=False)])
    Trainer(base, lines, lines, charset).fit()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--run-dir", str(tmp_path / "dense"), "--width-factor", "4",
                              "--init", str(tmp_path / "base" / "best.pt")])
    cfg = build_config(args)
    cfg.epochs, cfg.batch_size, cfg.threads, cfg.curriculum = 1, 4, 1, base.curriculum
    dense = Trainer(cfg, lines, lines, charset)
    assert dense.model.cfg.width_factor == 4
    assert "width factor 8 -> 4" in (tmp_path / "dense" / "train.log").read_text()
    dense.fit()
    saved = torch.load(tmp_path / "dense" / "best.pt", weights_only=False)
    assert tuple(saved["net"]["strides"][2]) == (2, 1)
    cfg.run_dir, cfg.init, cfg.teacher = str(tmp_path / "kd"), None, str(tmp_path / "base" / "best.pt")
    with pytest.raises(ValueError, match="width factor"):
        Trainer(cfg, lines, lines, charset)


def test_a_grown_checkpoint_trains_with_its_channels(tmp_path) -> None:
    """``training.grow`` widens a trained student; ``--channels`` trains the wider network from
    it, and the run's checkpoints carry the new widths."""
    import argparse

    from training.grow import main as grow
    from training.train import add_arguments, build_config
    from training.trainer import Trainer

    lines = _tiny_lines()
    charset = Charset.from_texts(TEXTS)
    base = TrainConfig(model="student", run_dir=str(tmp_path / "base"), epochs=1, batch_size=4,
                       warmup_steps=1, threads=1, curriculum=[Stage("toy", 1000, augment=False)])
    Trainer(base, lines, lines, charset).fit()
    grown = tmp_path / "grown.pt"
    assert grow([str(tmp_path / "base" / "best.pt"), "--channels", "16", "32", "48", "64",
                 "--out", str(grown)]) == 0
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = build_config(parser.parse_args(["--run-dir", str(tmp_path / "wide"), "--init",
                                          str(grown), "--channels", "16", "32", "48", "64"]))
    cfg.epochs, cfg.batch_size, cfg.threads, cfg.curriculum = 1, 4, 1, base.curriculum
    wide = Trainer(cfg, lines, lines, charset)
    assert wide.model.cfg.channels == (16, 32, 48, 64)
    wide.fit()
    saved = torch.load(tmp_path / "wide" / "best.pt", weights_only=False)
    assert tuple(saved["net"]["channels"]) == (16, 32, 48, 64)
    cfg.run_dir, cfg.channels = str(tmp_path / "narrow"), None  # the student's own widths
    with pytest.raises(RuntimeError):  # the grown weights do not fit
        Trainer(cfg, lines, lines, charset)
