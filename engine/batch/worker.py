"""What runs on a batch worker: one page through the pipeline, models loaded once per process.

Workers keep one :class:`~engine.pipeline.PagePipeline` per set of options in a module-level
cache, so a worker process loads its models on its first page and reuses them for every later
page. Workers only read inputs and return bytes; the client writes every output, so a worker
that dies midway leaves nothing behind and a page re-run elsewhere is still written once.
"""

from __future__ import annotations

import threading
import traceback

from engine.errors import HtrError
from engine.pipeline import PagePipeline, PipelineOptions

_PIPELINES: dict[PipelineOptions, PagePipeline] = {}
_LOCK = threading.Lock()


def pipeline_for(options: PipelineOptions) -> PagePipeline:
    """This process's pipeline for ``options`` (built, and its OpenCV threads set, once)."""
    with _LOCK:
        pipeline = _PIPELINES.get(options)
        if pipeline is None:
            if options.threads:
                import cv2

                cv2.setNumThreads(options.threads)
            pipeline = _PIPELINES[options] = PagePipeline(options)
        return pipeline


def process_page(options: PipelineOptions, image: str) -> dict:
    """Process one page; a result dict, never an exception (a bad page must not stop a batch).

    ``{"ok": True, "xml": bytes, "txt": bytes, "lines": n, "timings": {...}}`` or
    ``{"ok": False, "reason": "..."}``.
    """
    try:
        result = pipeline_for(options).process(image)
    except HtrError as exc:
        return {"ok": False, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - recorded with its type, never hidden
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        return {"ok": False, "reason": f"internal error {type(exc).__name__}: {exc}{where}"}
    return {"ok": True, "xml": result.xml, "txt": result.txt, "lines": result.lines,
            "timings": result.timings}


def noop(value: int) -> int:
    """A task that does nothing: benchmarks measure the scheduler's own cost with it."""
    return value
