"""Export a trained T5 post-corrector (transformers ``save_pretrained`` folder) as the model
folder the engine runs without torch (``engine.postcorrect``):

- ``encoder.onnx``: ``input_ids``, ``attention_mask`` (B,S) int64 → ``hidden`` (B,S,D);
- ``decoder.onnx``: ``decoder_input_ids`` (B,T), ``hidden``, ``attention_mask`` → ``logits``
  (B,T,V), the full prefix at once (forced scoring of a whole line);
- ``decoder_cross.onnx`` + ``decoder_step.onnx`` (unless ``cache=False``): greedy steps with a
  key/value cache — ``hidden`` → ``cross_key``/``cross_value`` (layers,B,heads,S,d_kv) once per
  batch, then one token per call with the self-attention cache (layers,B,heads,P,d_kv) in and
  out, grown by one (``CACHE_NOTE`` says why);
- ``weights.bin``: the graphs' weights, each distinct tensor once (ONNX external data), so the
  decoder shared by three graphs is stored once;
- ``card.json`` and ``card.md``.

    python -m training.postcorrect.export --hf runs/postcorrect/t5 \\
        --out resources/models/htrjand-postcorrect

The folder is built in a hidden staging folder beside ``out`` and renamed into place only when
complete, so an interrupted export never leaves a half model where the engine looks for one.
ONNX Runtime's logits from the written files are compared with PyTorch's (full prefix, and step
by step through the cache) before anything is renamed; the largest difference is recorded in the
card and over ``MAX_ABS_DIFF`` the export is refused.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.errors import HtrError, ModelError, StorageError
from engine.postcorrect import tokens
from training.network import count_parameters

OPSET = 17  # as the recognizer's export (training/export.py)
NAME = "htrjand-postcorrect"
DEFAULT_THRESHOLDS = {"gain": 1.0, "max_confidence": 0.9, "max_edit": 0.3}
"""Used when no tuned thresholds are given (the card says so): cautious, not tuned."""
MAX_OUTPUT_BYTES = tokens.MAX_LINE_BYTES + 32
MAX_ABS_DIFF = 1e-3  # ONNX vs PyTorch logits above this: the export is refused
ENCODER, DECODER = "encoder.onnx", "decoder.onnx"
DECODER_CROSS, DECODER_STEP = "decoder_cross.onnx", "decoder_step.onnx"
WEIGHTS = "weights.bin"  # the graphs' weights, each stored once (ONNX external data)
CACHE_NOTE = ("greedy steps that rerun the whole prefix cost 3.8x the CPU time of cached steps "
              "on a 30-line Poilus page (2.6 M-parameter T5, 36-byte lines; 1.93 vs 0.51 s on "
              "one thread), and more for longer lines and larger models")
"""Why the cached decoder is exported (recorded in the card); ``python benchmarks/postcorrect.py
--model DIR`` with and without ``--no-cache`` measures it again for a given model."""


class _Encoder(nn.Module):
    """``input_ids``, ``attention_mask`` → the encoder's last hidden state."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  return_dict=True).last_hidden_state


class _Decoder(nn.Module):
    """The full decoder prefix → logits of every position (the model's own forward, so output
    scaling and the LM head are exactly as in training)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, decoder_input_ids: torch.Tensor, hidden: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(encoder_outputs=(hidden,), attention_mask=attention_mask,
                          decoder_input_ids=decoder_input_ids, use_cache=False,
                          return_dict=True).logits


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, H*K) → (B, H, L, K)."""
    return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


class _DecoderCross(nn.Module):
    """The encoder's hidden states → every decoder layer's cross-attention keys and values,
    ``(layers, B, heads, S, d_kv)`` each: computed once per batch instead of once per step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.blocks = model.decoder.block
        self.heads = model.config.num_heads

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keys, values = [], []
        for block in self.blocks:
            att = block.layer[1].EncDecAttention
            keys.append(_heads(att.k(hidden), self.heads))
            values.append(_heads(att.v(hidden), self.heads))
        return torch.stack(keys), torch.stack(values)


class _DecoderStep(nn.Module):
    """One greedy step with a key/value cache: the last token of each row, the cached self-
    attention keys and values of the earlier positions ``(layers, B, heads, P, d_kv)`` and the
    cross-attention ones → the next token's logits ``(B, V)`` and the cache grown by one.

    The same computation as the transformers T5 decoder (pre-norm blocks, unscaled attention,
    relative position bias of the first block shared by all, the model's output scaling and LM
    head), written out so that the cache is plain tensors the ONNX graph can take and give."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.decoder = model.decoder
        self.lm_head = model.lm_head
        cfg = model.config
        self.heads = cfg.num_heads
        self.buckets = cfg.relative_attention_num_buckets
        self.max_distance = cfg.relative_attention_max_distance
        self.scale = (cfg.d_model ** -0.5) if getattr(cfg, "scale_decoder_outputs",
                                                       cfg.tie_word_embeddings) else 1.0

    def forward(self, decoder_input_ids: torch.Tensor, attention_mask: torch.Tensor,
                cross_key: torch.Tensor, cross_value: torch.Tensor, self_key: torch.Tensor,
                self_value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.decoder.embed_tokens(decoder_input_ids)  # (B, 1, D)
        first = self.decoder.block[0].layer[0].SelfAttention
        keys = torch.arange(self_key.shape[3] + 1, dtype=torch.long)
        rel = keys - keys[-1]  # memory position - query position (<= 0)
        bucket = first._relative_position_bucket(rel, bidirectional=False,
                                                 num_buckets=self.buckets,
                                                 max_distance=self.max_distance)
        self_bias = first.relative_attention_bias(bucket).t()[None, :, None, :]  # (1,H,1,P+1)
        cross_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * \
            torch.finfo(x.dtype).min  # (B,1,1,S)
        new_keys, new_values = [], []
        for i, block in enumerate(self.decoder.block):
            sa = block.layer[0]
            h = sa.layer_norm(x)
            att = sa.SelfAttention
            k = torch.cat([self_key[i], _heads(att.k(h), self.heads)], dim=2)
            v = torch.cat([self_value[i], _heads(att.v(h), self.heads)], dim=2)
            new_keys.append(k)
            new_values.append(v)
            scores = _heads(att.q(h), self.heads) @ k.transpose(2, 3) + self_bias
            out = torch.softmax(scores.float(), dim=-1).type_as(scores) @ v
            x = x + att.o(out.transpose(1, 2).reshape(x.shape[0], 1, -1))
            ca = block.layer[1]
            h = ca.layer_norm(x)
            att = ca.EncDecAttention
            scores = _heads(att.q(h), self.heads) @ cross_key[i].transpose(2, 3) + cross_bias
            out = torch.softmax(scores.float(), dim=-1).type_as(scores) @ cross_value[i]
            x = x + att.o(out.transpose(1, 2).reshape(x.shape[0], 1, -1))
            x = block.layer[2](x)  # feed-forward with its own norm and residual
        x = self.decoder.final_layer_norm(x) * self.scale
        return self.lm_head(x)[:, 0], torch.stack(new_keys), torch.stack(new_values)


def load_hf_model(hf_dir: str | Path) -> nn.Module:
    """The T5 of a ``save_pretrained`` folder (eval mode), checked against the token ids of
    ``engine.postcorrect.tokens``; ModelError when it is missing or does not match."""
    from transformers import T5ForConditionalGeneration

    folder = Path(hf_dir)
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} is not a transformers model folder: config.json is missing")
    try:
        model = T5ForConditionalGeneration.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: the T5 cannot be loaded: {exc}") from exc
    cfg = model.config
    expected = {"vocab_size": tokens.VOCAB_SIZE, "pad_token_id": tokens.PAD,
                "eos_token_id": tokens.EOS, "decoder_start_token_id": tokens.PAD}
    wrong = {k: getattr(cfg, k, None) for k, v in expected.items() if getattr(cfg, k, None) != v}
    if wrong:
        raise ModelError(f"{folder}: the T5 does not use the byte token ids the engine expects "
                         f"(expected {expected}, got {wrong})")
    return model.eval()


def _sample_inputs(batch: int = 2, src: int = 11, tgt: int = 7, seed: int = 0):
    """Token ids with a padded row: the export's example and the agreement check's input."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(tokens.OFFSET, tokens.OFFSET + 128, size=(batch, src)).astype(np.int64)
    mask = np.ones((batch, src), np.int64)
    if batch > 1:
        ids[-1, src - 3:] = tokens.PAD
        mask[-1, src - 3:] = 0
    dec = rng.integers(tokens.OFFSET, tokens.OFFSET + 128, size=(batch, tgt)).astype(np.int64)
    dec[:, 0] = tokens.PAD  # the decoder start token
    return ids, mask, dec


def _to_onnx(module: nn.Module, args: tuple, input_names: list[str], output_names: list[str],
             dynamic_axes: dict) -> bytes:
    """One module as ONNX bytes, exported as the recognizer is (TorchScript tracer, opset 17).

    The wrapper is put in eval mode first: the exporter restores the module's mode afterwards,
    and a wrapper left in training mode would switch the T5's dropout on for good."""
    module.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation / tracer notices
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, args, buf, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
    return buf.getvalue()


def _empty_cache(model: nn.Module, batch: int, length: int = 0) -> torch.Tensor:
    cfg = model.config
    return torch.zeros(cfg.num_decoder_layers, batch, cfg.num_heads, length, cfg.d_kv)


def onnx_models(model: nn.Module, *, cache: bool = True) -> dict[str, bytes]:
    """The ONNX files of the model folder, by file name, with dynamic batch and lengths:
    ``encoder.onnx`` and ``decoder.onnx`` (full prefix), and with ``cache`` also
    ``decoder_cross.onnx`` (cross-attention keys/values, once per batch) and
    ``decoder_step.onnx`` (one token with a self-attention cache)."""
    ids, mask, dec = (torch.from_numpy(a) for a in _sample_inputs())
    src = {0: "batch", 1: "source"}
    out: dict[str, bytes] = {}
    with torch.no_grad():
        hidden = _Encoder(model)(ids, mask)
        out[ENCODER] = _to_onnx(_Encoder(model), (ids, mask), ["input_ids", "attention_mask"],
                                ["hidden"], {"input_ids": src, "attention_mask": src,
                                             "hidden": src})
        out[DECODER] = _to_onnx(_Decoder(model), (dec, hidden, mask),
                                ["decoder_input_ids", "hidden", "attention_mask"], ["logits"],
                                {"decoder_input_ids": {0: "batch", 1: "target"},
                                 "hidden": src, "attention_mask": src,
                                 "logits": {0: "batch", 1: "target"}})
        if not cache:
            return out
        cross_key, cross_value = _DecoderCross(model)(hidden)
        kv = {1: "batch", 3: "source"}
        out[DECODER_CROSS] = _to_onnx(_DecoderCross(model), (hidden,), ["hidden"],
                                      ["cross_key", "cross_value"],
                                      {"hidden": src, "cross_key": kv, "cross_value": kv})
        batch = ids.shape[0]
        past = _empty_cache(model, batch, 3)
        past_axes = {1: "batch", 3: "past"}
        new_axes = {1: "batch", 3: "past_plus_one"}
        out[DECODER_STEP] = _to_onnx(
            _DecoderStep(model), (dec[:, :1], mask, cross_key, cross_value, past, past),
            ["decoder_input_ids", "attention_mask", "cross_key", "cross_value", "self_key",
             "self_value"], ["logits", "new_self_key", "new_self_value"],
            {"decoder_input_ids": {0: "batch"}, "attention_mask": src, "cross_key": kv,
             "cross_value": kv, "self_key": past_axes, "self_value": past_axes,
             "logits": {0: "batch"}, "new_self_key": new_axes, "new_self_value": new_axes})
    return out


def share_weights(files: dict[str, bytes], min_bytes: int = 1024) -> tuple[dict[str, bytes],
                                                                         bytes]:
    """The graphs with their weights moved into one shared file (``WEIGHTS``), each distinct
    tensor stored once: the cached decoder repeats every weight of the full-prefix one, and
    the folder would otherwise be half as big again. Returns (graphs by name, weights)."""
    import hashlib

    import onnx

    blob = bytearray()
    placed: dict[bytes, tuple[int, int]] = {}
    out: dict[str, bytes] = {}
    for name, data in files.items():
        graph = onnx.load_from_string(data)
        for tensor in graph.graph.initializer:
            raw = tensor.raw_data
            if len(raw) < min_bytes:
                continue
            key = hashlib.sha256(raw).digest()
            if key not in placed:
                blob.extend(b"\0" * (-len(blob) % 64))  # aligned, as ONNX Runtime prefers
                placed[key] = (len(blob), len(raw))
                blob.extend(raw)
            offset, length = placed[key]
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            del tensor.external_data[:]
            for k, v in (("location", WEIGHTS), ("offset", str(offset)), ("length", str(length))):
                entry = tensor.external_data.add()
                entry.key, entry.value = k, v
        out[name] = graph.SerializeToString()
    return out, bytes(blob)


def onnx_vs_pytorch(model: nn.Module, folder: Path) -> float:
    """Largest absolute difference between ONNX Runtime's logits from the model files in
    ``folder`` and PyTorch's, on inputs of other shapes than the export's example (so the
    dynamic axes are exercised too): the full-prefix decoder, and the cached decoder (when
    there is one) run step by step from an empty cache."""
    import onnxruntime as ort

    model.eval()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = {name: ort.InferenceSession(str(folder / name), options,
                                           providers=["CPUExecutionProvider"])
                for name in (ENCODER, DECODER, DECODER_CROSS, DECODER_STEP)
                if (folder / name).is_file()}
    worst = 0.0
    for batch, src, tgt in ((3, 17, 5), (1, 4, 12)):
        ids, mask, dec_ids = _sample_inputs(batch, src, tgt, seed=src)
        hidden = sessions[ENCODER].run(None, {"input_ids": ids, "attention_mask": mask})[0]
        logits = sessions[DECODER].run(None, {"decoder_input_ids": dec_ids, "hidden": hidden,
                                              "attention_mask": mask})[0]
        with torch.no_grad():
            ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                        decoder_input_ids=torch.from_numpy(dec_ids), use_cache=False).logits
        ref = ref.numpy()
        worst = max(worst, float(np.abs(logits - ref).max()))
        if DECODER_STEP not in sessions:
            continue
        cross_key, cross_value = sessions[DECODER_CROSS].run(None, {"hidden": hidden})
        self_key = self_value = _empty_cache(model, batch).numpy()
        for t in range(tgt):
            step, self_key, self_value = sessions[DECODER_STEP].run(None, {
                "decoder_input_ids": dec_ids[:, t:t + 1], "attention_mask": mask,
                "cross_key": cross_key, "cross_value": cross_value, "self_key": self_key,
                "self_value": self_value})
            worst = max(worst, float(np.abs(step - ref[:, t]).max()))
    return worst


def make_card(model: nn.Module, *, thresholds: dict | None, max_abs_diff: float,
              cache: bool = True, extra: dict | None = None) -> dict:
    """The card of the exported model (``extra`` — training, evaluation, ... — wins)."""
    cfg = model.config.to_dict()
    cfg.pop("transformers_version", None)
    card = {
        "name": NAME,
        "kind": "postcorrect",
        "version": time.strftime("%Y.%m.%d"),
        "architecture": (f"T5 (transformers T5ForConditionalGeneration) at byte level, trained "
                         f"from scratch: d_model {cfg.get('d_model')}, "
                         f"{cfg.get('num_layers')}+{cfg.get('num_decoder_layers')} layers, "
                         f"{cfg.get('num_heads')} heads"),
        "tokenizer": {"type": "byt5", "pad": tokens.PAD, "eos": tokens.EOS, "unk": tokens.UNK,
                      "offset": tokens.OFFSET, "sep": tokens.SEP,
                      "vocab_size": tokens.VOCAB_SIZE},
        "max_context_bytes": tokens.MAX_CONTEXT_BYTES,
        "max_line_bytes": tokens.MAX_LINE_BYTES,
        "max_output_bytes": MAX_OUTPUT_BYTES,
        "thresholds": dict(thresholds if thresholds is not None else DEFAULT_THRESHOLDS),
        "thresholds_tuned": thresholds is not None,
        "onnx": {"encoder": ENCODER, "decoder": DECODER, "cache": cache, "weights": WEIGHTS,
                 **({"decoder_cross": DECODER_CROSS, "decoder_step": DECODER_STEP,
                     "why_cache": CACHE_NOTE} if cache else {}),
                 "opset": OPSET, "max_abs_diff_vs_pytorch": float(f"{max_abs_diff:.3g}")},
        "parameters": count_parameters(model),
        "config": cfg,
        "training": {},
        "evaluation": {},
        "exported": {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                     "torch": torch.__version__},
    }
    card.update(extra or {})
    return card


def card_markdown(card: dict) -> str:
    """The human-readable model card."""
    th = card["thresholds"]
    tuned = ("tuned on the val splits" if card.get("thresholds_tuned")
             else "defaults, not tuned")
    evaluation = card.get("evaluation") or {}
    evaluation = evaluation.get("val", evaluation)  # tune.py's entry keeps them under "val"
    rows = "\n".join(
        f"| {k} | {_pct(v.get('cer_raw'))} | {_pct(v.get('cer_accepted'))} | "
        f"{v.get('suggestions_per_100_lines', '')} | {_pct(v.get('precision'))} |"
        for k, v in evaluation.items() if isinstance(v, dict))
    table = ("| collection | CER raw | CER, all suggestions accepted | suggestions / 100 lines "
             "| precision |\n|---|---|---|---|---|\n" + rows + "\n") if rows else \
        "No evaluation recorded in this card.\n"
    training = card.get("training") or {}
    train_text = json.dumps(training, ensure_ascii=False, indent=1) if training else "not recorded"
    return f"""# {card['name']} ({card['version']})

Post-corrector of the recognizer's lines: {card['architecture']}.
{card['parameters']:,} parameters. Input: the previous line (last {card['max_context_bytes']}
bytes) as context, a separator, then the line (at most {card['max_line_bytes']} bytes; longer
lines are left alone); output: the corrected line. Byte tokens as ByT5 (pad 0, eos 1, unk 2,
bytes from 3, separator 259).

ONNX opset {card['onnx']['opset']}: `{card['onnx']['encoder']}` (once per line batch) and
`{card['onnx']['decoder']}` (full prefix: forced scoring), {cache_text(card['onnx'])}; greedy
decoding.
Largest ONNX vs PyTorch logit difference at export: {card['onnx']['max_abs_diff_vs_pytorch']}.

## When a suggestion is offered
Only when the T5's log-probability gain over the raw line is at least {th['gain']} nats, the
recognizer's lowest confidence on the changed characters is at most {th['max_confidence']}
and the suggestion rewrites at most {th.get('max_edit', 1.0)} of the line (edit distance over
its length) ({tuned}). A gain of 1e9 means the model offers nothing: no thresholds made its
suggestions safe on the val splits.

## Evaluation
{table}
## Training
```
{train_text}
```
"""


def cache_text(onnx: dict) -> str:
    """How the card's model decodes, in words."""
    if not onnx.get("cache"):
        return "no key/value cache (greedy steps rerun the full prefix)"
    return (f"`{onnx['decoder_cross']}` + `{onnx['decoder_step']}` (greedy steps with a "
            f"key/value cache: {onnx.get('why_cache', '')})")


def _pct(value) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else ""


def replace_folder(staged: Path, target: Path) -> Path:
    """Put the complete folder ``staged`` at ``target`` (same parent): the old folder, if any,
    is renamed aside first and removed only after the new one is in place."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    try:
        os.rename(staged, target)
    except OSError:
        if old is not None:
            os.rename(old, target)  # put the previous model back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def export_postcorrector(hf_dir: str | Path, out_dir: str | Path, *,
                         thresholds: dict | None = None, card_extra: dict | None = None,
                         cache: bool = True) -> Path:
    """Write the post-correction model folder for the T5 in ``hf_dir`` into ``out_dir``
    (replacing it atomically); returns ``out_dir``.

    ``thresholds``: ``{"gain": nats, "max_confidence": 0..1}`` tuned on the val splits (None:
    cautious defaults, marked untuned). ``card_extra``: more card entries (``training``,
    ``evaluation``, ...). ``cache``: also export the cached decoder (greedy decoding without it
    is far too slow on a CPU; see ``CACHE_NOTE``). ModelError if the T5 is unusable or its ONNX
    export disagrees with it.
    """
    if thresholds is not None and not {"gain", "max_confidence"} <= set(thresholds):
        raise ValueError("thresholds need 'gain' and 'max_confidence'")
    model = load_hf_model(hf_dir)
    files, weights = share_weights(onnx_models(model, cache=cache))
    out = Path(out_dir).resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as exc:
        raise StorageError(f"Could not write into {out.parent}: {exc.strerror or exc}") from exc
    try:
        for name, data in files.items():
            atomic_write_bytes(staged / name, data)
        atomic_write_bytes(staged / WEIGHTS, weights)
        diff = onnx_vs_pytorch(model, staged)  # what is shipped, read back
        if not diff <= MAX_ABS_DIFF:
            raise ModelError(f"the ONNX export of {hf_dir} disagrees with PyTorch (largest "
                             f"logit difference {diff:.3g} > {MAX_ABS_DIFF})")
        card = make_card(model, thresholds=thresholds, max_abs_diff=diff, cache=cache,
                         extra=card_extra)
        atomic_write_text(staged / "card.md", card_markdown(card))
        atomic_write_text(staged / "card.json", json.dumps(card, ensure_ascii=False, indent=1))
        os.chmod(staged, 0o755)
        replace_folder(staged, out)
    except OSError as exc:
        raise StorageError(f"Could not write the model folder {out}: {exc.strerror or exc}") \
            from exc
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.postcorrect.export",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hf", type=Path, required=True, metavar="DIR",
                        help="the T5 folder written by save_pretrained")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="the model folder to write (replaced atomically)")
    parser.add_argument("--gain", type=float, help="threshold: T5 score gain in nats")
    parser.add_argument("--max-confidence", type=float,
                        help="threshold: highest recognizer confidence on changed characters")
    parser.add_argument("--max-edit", type=float, default=1.0,
                        help="threshold: largest share of the line a suggestion may rewrite")
    parser.add_argument("--no-cache", action="store_true",
                        help="export only the full-prefix decoder (slow greedy decoding)")
    parser.add_argument("--card-extra", type=Path, metavar="JSON",
                        help="a JSON file of more card entries (training, evaluation, ...)")
    args = parser.parse_args(argv)
    thresholds = None
    if (args.gain is None) != (args.max_confidence is None):
        parser.error("give both --gain and --max-confidence, or neither")
    if args.gain is not None:
        thresholds = {"gain": args.gain, "max_confidence": args.max_confidence,
                      "max_edit": args.max_edit}
    try:
        extra = json.loads(args.card_extra.read_text(encoding="utf-8")) if args.card_extra \
            else None
        out = export_postcorrector(args.hf, args.out, thresholds=thresholds, card_extra=extra,
                                   cache=not args.no_cache)
    except (HtrError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    print(f"{out}: {card['parameters']:,} parameters, ONNX vs PyTorch max |diff| "
          f"{card['onnx']['max_abs_diff_vs_pytorch']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
