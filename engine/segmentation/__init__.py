"""Page segmentation: a page image becomes text regions and text lines in reading order.

    >>> from engine.segmentation import segment_file
    >>> page = segment_file("letter.jpg")          # doctest: +SKIP
    >>> [len(r.lines) for r in page.regions]        # doctest: +SKIP

Every line gets a baseline and a polygon in page pixels. A learned baseline segmenter (an ONNX
model folder, see ``engine.segmentation.learned``) is used when one is given or bundled;
otherwise — and whenever it cannot be loaded — the classical segmenter runs.
"""

from __future__ import annotations

from engine.segmentation.page_builder import segment_file, segment_page

__all__ = ["segment_page", "segment_file"]
