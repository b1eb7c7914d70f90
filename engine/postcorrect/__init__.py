"""Post-correction of recognized lines by a small byte-level T5 run with ONNX Runtime (no torch).

    from engine.postcorrect import load_postcorrector, page_inputs
    corrector, note = load_postcorrector()      # (None, note) when no usable model is installed
    pairs = page_inputs(page)                   # [(Line, LineInput)] in reading order
    suggestions = corrector.suggest([item for _, item in pairs])   # Candidate or None per line

Token ids are in :mod:`engine.postcorrect.tokens`; the model folder and its card are described
in ``training/postcorrect/export.py``, which writes them.
"""

from engine.postcorrect.corrector import (
    Candidate,
    LineInput,
    PostCorrector,
    apply_suggestions,
    changed_confidence,
    default_postcorrect_dir,
    edit_spans,
    load_postcorrect_card,
    load_postcorrector,
    page_inputs,
    postcorrector_id,
    realign_confidences,
    resolve_postcorrect_dir,
)

__all__ = ["Candidate", "LineInput", "PostCorrector", "apply_suggestions", "changed_confidence",
           "default_postcorrect_dir", "edit_spans", "load_postcorrect_card", "load_postcorrector",
           "page_inputs", "postcorrector_id", "realign_confidences", "resolve_postcorrect_dir"]
