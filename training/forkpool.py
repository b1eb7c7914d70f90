"""A process pool whose workers inherit one read-only state by ``fork`` (no copy per task):
the line images of an epoch to augment, or the T5's example generator. Used to keep a GPU fed
from several CPU cores."""

from __future__ import annotations

import multiprocessing

import cv2

_STATE: object = None


def _init(state: object) -> None:
    global _STATE
    _STATE = state
    cv2.setNumThreads(1)


def worker_state() -> object:
    """The state the pool was created with (inside a worker)."""
    return _STATE


class ForkPool:
    """``workers`` forked processes sharing ``state``; ``pool`` is the multiprocessing pool."""

    def __init__(self, workers: int, state: object) -> None:
        # A child forked while OpenCV's thread pool exists deadlocks in its first cv2 call:
        # the pool is shut down across the fork and restored afterwards.
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            self.pool = multiprocessing.get_context("fork").Pool(
                workers, initializer=_init, initargs=(state,))
        finally:
            cv2.setNumThreads(threads)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
