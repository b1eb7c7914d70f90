"""Rebuild the PyTorch T5 of an exported post-correction model from its ONNX graphs, so that a
shipped corrector can be trained further (its training checkpoint need not survive).

The export (``training.postcorrect.export``) keeps every weight: named initializers
(``model.shared.weight``, layer norms, relative-attention biases) carry their parameter names,
and each linear layer is a ``MatMul`` node named after its module (``/encoder/block.0/layer.0/
SelfAttention/q/MatMul``) whose constant input is the transposed weight. ``card.json``'s
``config`` is the transformers configuration.

    model = t5_from_exported(Path("resources/models/htrjand-postcorrect"))
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from engine.errors import ModelError

GRAPHS = ("encoder.onnx", "decoder.onnx")  # between them: every weight of the model


def _parameter_name(node_name: str) -> str:
    """The weight of the module a node belongs to: ``/model/decoder/block.0/layer.1/
    EncDecAttention/k/MatMul`` -> ``decoder.block.0.layer.1.EncDecAttention.k.weight``."""
    module = node_name.strip("/").rsplit("/", 1)[0].removeprefix("model/")
    return module.replace("/", ".") + ".weight"


def exported_weights(folder: Path) -> dict[str, np.ndarray]:
    """Every weight of the exported graphs by its transformers parameter name: each constant
    input of a node is the weight of that node's module (the export may give one initializer,
    under one name, to several modules whose weights are equal), MatMul weights transposed;
    named initializers fill in the rest."""
    weights: dict[str, np.ndarray] = {}
    for graph_name in GRAPHS:
        path = folder / graph_name
        try:
            graph = onnx.load(str(path)).graph  # external data (weights.bin) read beside it
        except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
            raise ModelError(f"{path}: cannot be read as an ONNX graph: {exc}") from exc
        inits = {i.name: i for i in graph.initializer}
        for node in graph.node:  # equal weights exported once, aliased by Identity nodes
            if node.op_type == "Identity" and node.input[0] in inits:
                inits[node.output[0]] = inits[node.input[0]]
        for node in graph.node:
            if node.op_type == "Identity" or not node.name:
                continue
            for name in node.input:
                if name in inits:
                    value = numpy_helper.to_array(inits[name])
                    weights.setdefault(_parameter_name(node.name),
                                       value.T if node.op_type == "MatMul" else value)
        for name, init in inits.items():
            if not name.startswith("onnx::"):
                weights.setdefault(name.removeprefix("model."), numpy_helper.to_array(init))
    return weights


def t5_from_exported(folder: Path):
    """The ``T5ForConditionalGeneration`` whose export is ``folder``; ModelError when a weight
    of the model is missing from the graphs (a changed export format)."""
    from transformers import T5Config, T5ForConditionalGeneration

    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    model = T5ForConditionalGeneration(T5Config.from_dict(card["config"]))
    weights = exported_weights(folder)
    state = model.state_dict()
    missing = [k for k in state if k not in weights and not _tied(k, model)]
    if missing:
        raise ModelError(f"{folder}: the exported graphs lack {len(missing)} weights "
                         f"(e.g. {missing[0]}); the model cannot be rebuilt")
    loaded = {k: torch.from_numpy(np.array(weights[k], dtype=np.float32)) for k in state
              if k in weights}
    model.load_state_dict(loaded, strict=False)
    model.tie_weights()
    return model.eval()


def _tied(name: str, model) -> bool:
    """Weights that are copies of the shared embedding (tied) need no entry of their own."""
    tied = model.config.tie_word_embeddings
    return tied and name in ("lm_head.weight", "encoder.embed_tokens.weight",
                             "decoder.embed_tokens.weight")
