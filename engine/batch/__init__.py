"""Whole collections: the page pipeline mapped over many pages with Dask distributed.

    >>> from engine.batch import BatchOptions, run_batch
    >>> summary = run_batch(["scans/"], "out/", BatchOptions(segment=True, recognize=True),
    ...                     progress=print)                     # doctest: +SKIP
    >>> summary.done, summary.skipped, summary.failed           # doctest: +SKIP

Outputs go to ``out/page/<stem>.xml`` and ``out/txt/<stem>.txt`` (atomic); ``out/manifest.jsonl``
makes re-runs skip finished pages and redo changed ones; ``out/summary.json`` says what happened.
``BatchOptions(in_place=True)`` updates a project's own ``page/<stem>.xml`` instead (manifest and
summary in ``project/.htrjand/``, see :mod:`engine.batch.layout`): the window's whole-project run
(:mod:`app.gui.project_run`) calls it from a job thread with its progress, Cancel and ``on_page``.
"""

from engine.batch.plan import PageTask, Plan, plan_batch
from engine.batch.runner import BatchOptions, run_batch
from engine.batch.summary import Summary

__all__ = ["BatchOptions", "PageTask", "Plan", "Summary", "plan_batch", "run_batch"]
