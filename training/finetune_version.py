"""Writing a fine-tuned network as a new version of the user's model store.

The folder is the same as a bundled model's (``model.onnx``, ``model.pt``, ``card.json``,
``card.md``), built in a staging folder and renamed into place only when complete
(``engine.model_store``), so nothing half written is ever listed and nothing is overwritten.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import torch

from engine import model_store
from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.recognition.lm import CharNgramLM, language_lm_file
from engine.recognition.recognizer import best_language, default_beam, load_language_lms
from engine.recognition.word_lm import WordBigramLM
from training.charset import Charset
from training.export import FORMAT_VERSION, OPSET, onnx_bytes
from training.network import HtrJandNet, count_parameters


ARCHITECTURE = "HTR-JAND: gated-conv+SE encoder, combined self/proxima attention, CTC"


def version_card(net: HtrJandNet, charset: Charset, base, cfg, result: dict, name: str) -> dict:
    """The card of a fine-tuned version: the base card's fields, plus ``finetune`` (parent,
    lines used, training time, held-back CER before -> after, date)."""
    parent_card = base.card or {}
    parent = {"name": parent_card.get("name", base.source.stem), "path": str(base.source),
              "version": parent_card.get("version"), "created": parent_card.get("created")}
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    finetune = {
        "parent": parent, "lines_used": result["lines_used"],
        "reading_lines": result.get("reading_lines", 0),
        "held_back_of": result.get("held_back_of", "corrections"),
        "train_lines": result["train_lines"], "held_back_lines": result["held_back_lines"],
        "pages": result.get("pages"), "new_characters": result["new_characters"],
        "training_s": result["seconds"], "wall_s": result.get("wall_s"),
        "budget_min": cfg.minutes, "path": result["path"], "guard": result["guard"],
        "interpolate": result.get("interpolate", 1.0),
        "steps": result["steps"], "epochs": result["epochs"], "stopped": result["stopped"],
        "cer_before": result["cer_before"], "cer_after": result["cer_after"],
        "wer_before": result["wer_before"], "wer_after": result["wer_after"],
        "teacher": result.get("teacher"), "config": cfg.to_dict(),
        "history": result.get("history", []), "date": created,
    }
    return {
        "name": name,
        "version": time.strftime("%Y.%m.%d-%H%M%S"),
        "format_version": FORMAT_VERSION,
        "architecture": parent_card.get("architecture", ARCHITECTURE),
        "role": f"{parent_card.get('role', 'student')}, fine-tuned on a person's corrections",
        "config": net.cfg.to_dict(),
        "charset": charset.chars,
        "num_classes": charset.num_classes,
        "blank_index": 0,
        "input": {**(parent_card.get("input") or {}), "height": net.cfg.input_height,
                  "width_factor": net.cfg.width_factor},
        "onnx_opset": OPSET,
        "parameters": count_parameters(net),
        "training": parent_card.get("training", {}),
        "metrics": {"held_back": {"cer_before": result["cer_before"],
                                  "cer_after": result["cer_after"],
                                  "lines": result["held_back_lines"]},
                    "parent_val": (parent_card.get("metrics") or {}).get("val"),
                    "decoding": "greedy"},
        "finetune": finetune,
        "created": created,
    }


def card_markdown(card: dict) -> str:
    ft = card["finetune"]
    new = "".join(ft["new_characters"]) or "none"
    return f"""# {card['name']} ({card['version']})

Fine-tuned from **{ft['parent']['name']}** on {model_store.finetune_lines_text(ft)}, path {ft['path']},
guard against forgetting {ft['guard']}, weights {_share(ft)};
{ft['training_s'] / 60:.1f} min of training
({ft['stopped']}). New characters: {new}.

| held-back lines | CER | WER |
|---|---|---|
| before | {ft['cer_before']:.2%} | {ft['wer_before']:.2%} |
| after | {ft['cer_after']:.2%} | {ft['wer_after']:.2%} |

(Greedy decoding.) {_decoding_line(card)}

Created {card['created']}.
"""


def _share(ft: dict) -> str:
    alpha = float(ft.get("interpolate", 1.0))
    return "as fine-tuned" if alpha >= 1 else \
        f"{alpha:.0%} fine-tuned + {1 - alpha:.0%} parent (interpolated)"


def _decoding_line(card: dict) -> str:
    if default_beam(card) <= 1:
        return "The version reads greedily."
    dec = card["decoding"]
    return (f"The version reads with beam {dec.get('beam')} and a {dec.get('lm')} "
            f"(LM weight {dec.get('lm_weight')}, length bonus {dec.get('length_bonus')}).")


VersionLM = tuple[dict, CharNgramLM, WordBigramLM | None]
"""A version's per-language LM: its card entry, the character LM, the word LM (or None)."""


def version_lm(base, charset: Charset, texts: list[str], weight: int
               ) -> tuple[CharNgramLM, dict, list[VersionLM]] | None:
    """The character LMs and decoding settings of a version: the parent's LM adapted to the
    corrected lines (``CharNgramLM.adapted``) with the parent's tuned decoding settings (its
    default included), and the parent's per-language LMs (card entry, LM, word LM or None) as
    they were, plus a copy of the one that fits the corrected lines best adapted the same way
    (its word LM too); None when the parent has no LM or no tuned decoding (the version then
    reads greedily)."""
    decoding = (base.card or {}).get("decoding")
    lm_path = base.source / "lm.json" if base.source.is_dir() else None
    if not isinstance(decoding, dict) or lm_path is None or not lm_path.is_file():
        return None
    texts, weight = list(texts), max(0, weight)
    lm = CharNgramLM.load(lm_path).adapted(texts, weight, vocab=charset.chars)
    settings = {k: decoding[k] for k in ("default", "beam", "lm_weight", "length_bonus")
                if k in decoding}
    added = f", plus the {len(texts)} corrected lines counted {weight}x"
    settings["lm"] = f"{decoding.get('lm', 'the parent model character LM')}{added}"
    settings["tuned_on"] = f"inherited from {(base.card or {}).get('name', base.source.name)}"
    parents = load_language_lms(base.source, base.card)
    entries = decoding.get("lms") or []
    # The parent's LMs stay as they were (pages like the parent's read as before); the one
    # that explains the corrected lines best also comes as a copy that learns them, which the
    # person's own pages then choose.
    languages = [(entry, lang.lm.adapted([], 0, vocab=charset.chars), lang.words)
                 for entry, lang in zip(entries, parents)]
    own = best_language(parents, texts) if weight > 0 else None
    if own is not None:
        entry = entries[parents.index(own)]
        mine = {**entry, "name": f"{entry['name']}+corrections",
                "file": language_lm_file(f"{entry['name']}-corrections"),
                "text": f"{entry.get('text', entry['name'])}{added}"}
        if own.words is not None:
            mine["words"] = {**entry["words"],
                             "file": language_lm_file(f"{entry['name']}-corrections-words"),
                             "text": f"{entry['words'].get('text', 'word bigrams')}{added}"}
        languages.append((mine, own.lm.adapted(texts, weight, vocab=charset.chars),
                          own.words.adapted(texts, weight) if own.words is not None else None))
    if languages:
        settings["lms"] = [entry for entry, _, _ in languages]
    return lm, settings, languages


def write_language_lms(folder: Path, languages: list[VersionLM]) -> None:
    """Write a version's per-language LMs and their word LMs (``version_lm``) into its
    folder."""
    for entry, lm, words_lm in languages:
        atomic_write_bytes(folder / entry["file"], lm.to_bytes(compress=True))
        if words_lm is not None:
            atomic_write_bytes(folder / entry["words"]["file"], words_lm.to_bytes())


def write_version(net: HtrJandNet, charset: Charset, base, cfg, result: dict, name: str,
                  texts: list[str] | None = None) -> Path:
    """Stage and commit the version folder; returns its final path in the store. ``texts``:
    the corrected lines, for the version's language model (``version_lm``)."""
    net = net.eval()
    with model_store.staging() as staged:
        atomic_write_bytes(staged / "model.onnx", onnx_bytes(net))
        pt = io.BytesIO()
        train_config = dict(base.ckpt.get("train_config") or {})
        torch.save({"model": net.state_dict(), "net": net.cfg.to_dict(), "charset": charset.chars,
                    "train_config": train_config, "finetune": cfg.to_dict()}, pt)
        atomic_write_bytes(staged / "model.pt", pt.getvalue())
        card = version_card(net, charset, base, cfg, result, model_store.slug(name))
        adapted = version_lm(base, charset, list(texts or []), cfg.corrections_lm_weight)
        if adapted is not None:
            lm, card["decoding"], languages = adapted
            atomic_write_text(staged / "lm.json", lm.to_json())
            write_language_lms(staged, languages)
        atomic_write_text(staged / "card.json", json.dumps(card, ensure_ascii=False, indent=1))
        atomic_write_text(staged / "card.md", card_markdown(card))
        return model_store.commit(staged, name)
