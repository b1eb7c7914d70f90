"""Whole collections: the page pipeline mapped over many pages with Dask distributed.

    >>> from engine.batch import BatchOptions, run_batch
    >>> summary = run_batch(["scans/"], "out/", BatchOptions(segment=True, recognize=True),
    ...                     progress=print)                     # doctest: +SKIP
    >>> summary.done, summary.skipped, summary.failed           # doctest: +SKIP

Outputs go to ``out/page/<stem>.xml`` and ``out/txt/<stem>.txt`` (atomic); ``out/manifest.jsonl``
makes re-runs skip finished pages and redo changed ones; ``out/summary.json`` says what happened.
The GUI's "whole project" run can call :func:`run_batch` from a worker thread with its progress
callback and CancelToken; the local worker processes keep the page work out of the GUI process.
"""

from engine.batch.plan import PageTask, Plan, plan_batch
from engine.batch.runner import BatchOptions, run_batch
from engine.batch.summary import Summary

__all__ = ["BatchOptions", "PageTask", "Plan", "Summary", "plan_batch", "run_batch"]
