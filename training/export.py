"""Export a trained checkpoint as a model folder the engine runs without torch:
``model.onnx`` (dynamic batch and width), ``card.json``, ``card.md`` and ``model.pt``
(state dict + configs, for later fine-tuning)."""

from __future__ import annotations

import io
import json
import platform
import time
import warnings
from pathlib import Path

import torch

from engine.atomic import atomic_write_bytes, atomic_write_text
from training.network import HtrJandNet, checkpoint_model, count_parameters

OPSET = 17
FORMAT_VERSION = 1


def load_checkpoint_model(path: str | Path) -> tuple[HtrJandNet, dict]:
    """The network of a checkpoint (eval mode) and the checkpoint dict."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    return checkpoint_model(ck), ck


def onnx_bytes(model: HtrJandNet) -> bytes:
    """The model as ONNX: inputs ``image`` (B,1,H,W) float32 and ``widths`` (B,) int64,
    output ``log_probs`` (B,T,C)."""
    h = model.cfg.input_height
    wf = model.cfg.width_factor
    x = torch.zeros(2, 1, h, 40 * wf)
    widths = torch.tensor([40 * wf, 30 * wf], dtype=torch.int64)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        _export(model, x, widths, buf)
    return buf.getvalue()


def _export(model: HtrJandNet, x: torch.Tensor, widths: torch.Tensor, buf: io.BytesIO) -> None:
    torch.onnx.export(
        model, (x, widths), buf, input_names=["image", "widths"], output_names=["log_probs"],
        dynamic_axes={"image": {0: "batch", 3: "width"}, "widths": {0: "batch"},
                      "log_probs": {0: "batch", 1: "frames"}},
        opset_version=OPSET, dynamo=False,
    )


def export_model_folder(checkpoint: str | Path, out_dir: str | Path, *, name: str,
                        cache_dir: Path | None = None, val_metrics: dict | None = None,
                        extra: dict | None = None) -> Path:
    """Write the model folder for ``checkpoint`` into ``out_dir``; returns the folder.

    Val CER/WER per collection are recomputed on the val splits unless ``val_metrics`` is given.
    """
    model, ck = load_checkpoint_model(checkpoint)
    cfg = ck["train_config"]
    # Read the runs this one continued before anything is written: the parent may be the very
    # model folder being replaced. Their epochs and time count too.
    init = init_chain(cfg.get("init"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "model.onnx", onnx_bytes(model))
    pt = io.BytesIO()
    torch.save({"model": model.state_dict(), "net": ck["net"], "charset": ck["charset"],
                "train_config": ck["train_config"]}, pt)
    atomic_write_bytes(out / "model.pt", pt.getvalue())
    if val_metrics is None:
        val_metrics = evaluate_checkpoint(model, ck, cache_dir)
    history = ck.get("history", [])
    card = {
        "name": name,
        "version": time.strftime("%Y.%m.%d"),
        "format_version": FORMAT_VERSION,
        "architecture": "HTR-JAND: gated-conv+SE encoder, combined self/proxima attention, CTC",
        "role": "student distilled from a teacher" if cfg.get("teacher") else cfg["model"],
        "config": ck["net"],
        "charset": ck["charset"],
        "num_classes": len(ck["charset"]) + 1,
        "blank_index": 0,
        "input": {"height": model.cfg.input_height, "normalize": "1 - grey/255 (ink = 1)",
                  "pad_value": 0.0, "width_factor": model.cfg.width_factor,
                  "inputs": ["image (B,1,H,W) float32", "widths (B,) int64"],
                  "output": "log_probs (B,T,C) float32"},
        "onnx_opset": OPSET,
        "parameters": count_parameters(model),
        "training": {"data": list(cfg["collections"]), "train_split": cfg["train_split"],
                     "val_split (model selection)": cfg["val_split"],
                     "excluded": ["cremma-abrege (fine-tuning set)"],
                     "epochs": ck["epoch"], "steps": ck["step"],
                     "cpu_time_s": round(ck["elapsed"], 1), "threads": cfg["threads"],
                     "device": cfg.get("device", "cpu"), "gpu": _gpu_name(ck),
                     "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                     "seed": cfg["seed"], "teacher": cfg.get("teacher"),
                     "config": cfg, "history": history, "initialised_from": init},
        "metrics": {"val": val_metrics, "decoding": "greedy"},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    atomic_write_text(out / "card.json", json.dumps(card, ensure_ascii=False, indent=1))
    atomic_write_text(out / "card.md", card_markdown(card))
    return out


def evaluate_checkpoint(model: HtrJandNet, ck: dict, cache_dir: Path | None) -> dict:
    """Val CER/WER per collection (greedy decoding, PyTorch)."""
    from engine.metrics import ErrorRates
    from training.batching import bucket_batches, to_tensor_batch
    from training.charset import Charset
    from training.data import REPO, load_lines
    from training.trainer import greedy_texts

    cfg, charset = ck["train_config"], Charset(ck["charset"])
    out: dict[str, dict] = {}
    total = ErrorRates()
    for coll in cfg["collections"]:
        lines = load_lines(coll, cfg["val_split"], model.cfg.input_height,
                           cache_dir or REPO / "runs" / "cache")
        rates = ErrorRates()
        with torch.no_grad():
            for b in bucket_batches([im.shape[1] for im in lines.images], 32, 64000, None):
                x, w = to_tensor_batch([lines.images[i] for i in b], model.cfg.width_factor)
                for i, hyp in zip(b, greedy_texts(model(x, w), model.frames(w), charset)):
                    rates.add(lines.texts[i], hyp)
                    total.add(lines.texts[i], hyp)
        out[coll] = {"cer": round(rates.cer, 4), "wer": round(rates.wer, 4), "lines": rates.lines}
    out["all"] = {"cer": round(total.cer, 4), "wer": round(total.wer, 4), "lines": total.lines}
    return out


def card_markdown(card: dict) -> str:
    """The human-readable model card."""
    t = card["training"]
    rows = "\n".join(f"| {k} | {v['cer']:.2%} | {v['wer']:.2%} | {v['lines']} |"
                     for k, v in card["metrics"]["val"].items())
    return f"""# {card['name']} ({card['version']})

{card['architecture']}; {card['role']}.
{shape_text(card['config'])}.
{card['parameters']:,} parameters, input height {card['input']['height']} px, output frame every
{card['input']['width_factor']} px, {card['num_classes'] - 1} characters + CTC blank.
ONNX opset {card['onnx_opset']}, dynamic batch and width.

## Training
Data: {', '.join(t['data'])} ({t['train_split']} split; {t['val_split (model selection)']} split
for model selection only; cremma-abrege never used). {t['epochs']} epochs, {t['steps']} steps,
{t['cpu_time_s'] / 60:.1f} min of training on {hardware_text(t)}, seed {t['seed']}.
Teacher: {t['teacher'] or 'none'}.{init_text(t)}

## Validation (greedy decoding)
| collection | CER | WER | lines |
|---|---|---|---|
{rows}

{decoding_text(card)}{comparison_text(card)}
Created {card['created']}. Line images come from `engine.recognition.lines.cut_lines`
(`engine.line_image.extract_line` with the region's line spacing), as at recognition time.
"""


def shape_text(net: dict) -> str:
    """The network's shape in words, from its ``NetConfig`` dict (the card's ``config``)."""
    extra = net.get("extra_convs") or ()
    deeper = ", ".join(f"{n} in block {i + 1}" for i, n in enumerate(extra) if n)
    return (f"Encoder channels {'-'.join(str(c) for c in net['channels'])}"
            + (f" (residual gated convs added: {deeper})" if deeper else "")
            + f"; {net['layers']} attention layers, width {net['d_model']}, {net['heads']} heads,"
            f" feed-forward {net['ffn']}, proxima window ±{net['window']} frames")


def _gpu_name(ck: dict) -> str | None:
    hw = ck.get("hardware")
    return hw if hw and hw != "cpu" else None


def hardware_text(training: dict) -> str:
    """Where the run trained: a GPU by name, or the CPU threads."""
    if training.get("gpu"):
        workers = (training.get("config") or {}).get("workers", 0)
        return f"one {training['gpu']} GPU" + (
            f" fed by {workers} augmenting CPU processes" if workers > 1 else "")
    return f"{training['threads']} CPU threads"


def init_chain(path: str | None) -> dict | None:
    """The checkpoint a run continued and, through their own ``init``, every run before it:
    epochs and CPU time summed over the chain, the direct parent's history. ``runs`` counts the
    training runs (a grown checkpoint is none); None where an older card or grown checkpoint
    did not count them."""
    if not path or not Path(path).is_file():
        return None
    out: dict = {"checkpoint": path, "epochs": 0, "cpu_time_s": 0.0, "history": None, "chain": [],
                 "runs": 0}
    seen: set[str] = set()
    while path and Path(path).is_file() and path not in seen:
        seen.add(path)
        ick = torch.load(path, map_location="cpu", weights_only=False)
        out["chain"].append(path)
        if ick.get("lineage"):  # a grown network (training.grow): its source's training
            _add_lineage(out, ick["lineage"])
            break
        if "epoch" not in ick:  # a model folder's model.pt: its card already sums its chain
            _add_model_folder(out, Path(path).parent / "card.json")
            break
        out["epochs"] += int(ick["epoch"])
        out["runs"] = _known_sum(out["runs"], 1)
        out["cpu_time_s"] = round(out["cpu_time_s"] + float(ick["elapsed"]), 1)
        if out["history"] is None:
            out["history"] = ick.get("history", [])
        path = (ick.get("train_config") or {}).get("init")
    return out


def _known_sum(*counts: int | None) -> int | None:
    """The sum of ``counts``, None when one of them is unknown (None)."""
    return None if any(c is None for c in counts) else sum(int(c) for c in counts)


def _add_lineage(out: dict, lineage: dict) -> None:
    """Count the training a grown network's source had (``init_chain`` of it, stored by
    ``training.grow``)."""
    out["epochs"] += int(lineage.get("epochs", 0))
    out["cpu_time_s"] = round(out["cpu_time_s"] + float(lineage.get("cpu_time_s", 0.0)), 1)
    if out["history"] is None:
        out["history"] = lineage.get("history")
    out["chain"].extend(lineage.get("chain", []))
    out["runs"] = _known_sum(out.get("runs"), lineage.get("runs"))
    if lineage.get("model"):
        out["model"] = lineage["model"]


def _add_model_folder(out: dict, card_path: Path) -> None:
    """Count a model folder's training (from its card, with everything it continued)."""
    if not card_path.is_file():
        return
    card = json.loads(card_path.read_text(encoding="utf-8"))
    t = card.get("training", {})
    parent = t.get("initialised_from") or {}
    before = parent.get("runs", 0 if not parent else None)  # None: an older card did not count
    _add_lineage(out, {
        "runs": _known_sum(before, 1),
        "epochs": int(t.get("epochs", 0)) + int(parent.get("epochs", 0)),
        "cpu_time_s": float(t.get("cpu_time_s", 0.0)) + float(parent.get("cpu_time_s", 0.0)),
        "history": t.get("history", []), "chain": parent.get("chain", []),
        "model": f"{card.get('name', '?')} {card.get('version', '')}".strip()})


def init_text(training: dict) -> str:
    """One sentence on the checkpoint this run continued, if any."""
    init = training.get("initialised_from")
    if not init:
        return ""
    total = (training["cpu_time_s"] + init["cpu_time_s"]) / 60
    before = f"{init['runs']} runs, " if (init.get("runs") or 0) > 1 else ""
    then = f"then {init['model']}; " if init.get("model") else ""
    return (f"\nContinued from {init['checkpoint']} ({then}{before}{init['epochs']} epochs, "
            f"{init['cpu_time_s'] / 60:.1f} min): {training['epochs'] + init['epochs']} epochs "
            f"and {total:.1f} min of training in all.")


def comparison_text(card: dict) -> str:
    """Distilled vs alone, and how to rebuild the model, when the recipe made it."""
    comp = card.get("distillation_comparison")
    if not comp:
        return ""
    rows = "\n".join(f"| {k} | {v:.2%} |" for k, v in comp["val_cer_greedy"].items())
    winner = (comp.get("phase3") or {}).get("continues", comp["shipped"])
    then = "".join(_phase_text(int(k[5:]), comp[k]) for k in
                   sorted((k for k in comp if k.startswith("phase") and k[5:].isdigit()),
                          key=lambda k: int(k[5:])))
    return (f"## Distillation vs alone (same CPU time, {comp['budget_min_per_phase']} min per "
            f"phase)\n| run | best val CER (greedy) |\n|---|---|\n{rows}\n\nPhase-2 winner: "
            f"{winner}. {comp['note']}.{then}\n\nShipped: {comp['shipped']}. "
            f"Rebuild: `{card.get('recipe', '')}`\n")


def percents(shares: list[float | None]) -> str:
    """The measured shares as "22.40%, 22.34%" (missing ones left out; "" when none):
    the greedy figures of a mix's runs, in the card and in ``training.mix``'s printout."""
    return ", ".join(f"{c:.2%}" for c in shares if c is not None)


def _phase_text(n: int, phase: dict) -> str:
    """One continuation of the recipe's winner (phase 3 on, CPU or GPU)."""
    where = (f"on one {phase['hardware']} GPU" if phase.get("hardware")
             else f"on {phase['threads']} CPU thread{'s' if phase['threads'] != 1 else ''}"
             if phase.get("threads") else "alone")
    text = (f"\n\nPhase {n}: {phase['continues']} continued for {phase['minutes']:g} min {where}: "
            f"best val CER {phase['val_cer_greedy']:.2%}.")
    if phase.get("runs"):
        text += " Runs in a row: " + "; ".join(
            f"{r['run']} {r['minutes']:g} min, {r['val_cer_greedy']:.2%}" for r in phase["runs"]) + "."
    if phase.get("mixed"):
        m = phase["mixed"]
        runs = "the trained weights" if m["runs"] == 1 else f"the mean of {m['runs']} runs"
        greedy = percents(m["runs_val_cer_greedy"])
        text += (f" Mixed weight by weight: {m['alpha']:g} of {runs}"
                 + (f" (greedy {greedy})" if greedy else "") + f", {1 - m['alpha']:g} of their start.")
    if phase.get("command"):
        text += f" Command: `{phase['command']}`."
    if phase.get("data_note"):
        text += f" Note: {phase['data_note']}."
    return text


def _word_lm_text(words: dict | None) -> str:
    if not words:
        return "–"
    return (f"{words['file']} ({words.get('text', 'word bigrams')}): weight {words['weight']}, "
            f"bonus {words['bonus']} per word, {words.get('nbest', 8)} best readings")


def decoding_text(card: dict) -> str:
    """The beam-search section of the card, when settings were tuned."""
    dec = card.get("decoding")
    if not dec:
        return ""
    greedy = next((t["cer"] for t in dec["trials"] if t["beam"] == 1), None)
    best = min(t["cer"] for t in dec["trials"])
    default = ("the model reads with it by default (`--beam 1` or the window's fast reading "
               "for greedy)" if dec.get("default") == "beam" else "greedy is the default")
    text = (f"## Beam search\nBeam {dec['beam']} with a {dec['lm']}, LM weight "
            f"{dec['lm_weight']}, length bonus {dec['length_bonus']}: CER {best:.2%} vs greedy "
            f"{greedy:.2%} on {dec['tuned_on']} (the lines the weights were chosen on"
            + (f", with beam {dec['tuned_at_beam']}" if dec.get("tuned_at_beam", dec["beam"])
               != dec["beam"] else "")
            + f"); {default}.\n")
    if dec.get("lms"):
        langs = dec.get("languages") or {}
        text += ("\nEach page is read with the one of these per-collection LMs that best explains "
                 "its greedy reading" + (f" (CER {langs['cer']:.2%} on the same lines)" if "cer" in langs
                                         else "") + ":\n\n| LM | text | LM weight | length bonus "
                 "| word LM (reranks the best readings) |\n|---|---|---|---|---|\n" + "".join(
                     f"| {e['file']} | {e.get('text', '')} | {e['lm_weight']} | {e['length_bonus']} "
                     f"| {_word_lm_text(e.get('words'))} |\n" for e in dec["lms"]))
    if dec.get("val"):
        text += "\n| collection | val lines | CER | WER |\n|---|---|---|---|\n" + "".join(
            f"| {c} | {r['lines']} | {r['cer']:.2%} | {r['wer']:.2%} |\n"
            for c, r in dec["val"].items()) + "\n"
    return text
