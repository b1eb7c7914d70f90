"""What the background jobs do: segment, recognise, export. Plain functions run by a Job.

They read pages (a copy of the one in memory, or the file on disk) and hand results back with
``job.page_done``; the GUI thread merges them (see :mod:`app.gui.job_results`). The engine's
recognition is imported only when a job runs, so the window works without it.
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from engine.document import Page
from engine.errors import ModelError, StorageError
from engine.project import PageEntry, Project

log = logging.getLogger(__name__)

EXPORT_FOLDERS = {"page": "page-xml", "txt": "txt", "alto": "alto"}
EXPORT_SUFFIXES = {"page": ".xml", "txt": ".txt", "alto": ".xml"}


@dataclass
class PageTask:
    entry: PageEntry
    page: Page | None = None  # a copy of the page in memory; None: read it from disk

    def load(self, project: Project) -> Page:
        return self.page if self.page is not None else project.load_page(self.entry)


def tasks_for(model, stems: list[str]) -> list[PageTask]:
    """Tasks for pages of the open project, with copies of the pages held in memory."""
    tasks = []
    for stem in stems:
        entry = model.project.entry(stem)
        if entry is not None and entry.readable:
            page = model.pages.get(stem)
            tasks.append(PageTask(entry, copy.deepcopy(page) if page is not None else None))
    return tasks


def _sub(job, index: int, count: int):
    """A progress callback for page ``index`` of ``count`` that reports to the whole job."""
    def report(done: int, total: int, message: str = "") -> None:
        part = done / total if total else 0.0
        job.progress(int((index + part) * 100), count * 100, message)
    return report


def segment(project: Project, tasks: list[PageTask]):
    def run(job) -> int:
        from engine.segmentation import segment_file

        for i, task in enumerate(tasks):
            job.progress(i * 100, len(tasks) * 100, f"segmenting {task.entry.image.name}")
            page = segment_file(task.entry.image, progress=_sub(job, i, len(tasks)),
                                cancel=job.cancel)
            job.page_done(task.entry.stem, page)
        job.progress(len(tasks) * 100, len(tasks) * 100, "done")
        return len(tasks)
    return run


_KEPT: dict[tuple, tuple] = {}  # the last recognizer made (its settings and folder -> it)
_KEPT_LOCK = threading.Lock()  # held while one is made: a job waits for the warm-up's


def _folder_stamp(folder: Path | None) -> tuple:
    """Each file of a model folder by name, size and time: a model fine-tuned or replaced in
    place is loaded again."""
    if folder is None:
        return ()
    try:
        return tuple(sorted((p.name, st.st_size, st.st_mtime_ns)
                            for p in folder.iterdir() if p.is_file() for st in [p.stat()]))
    except OSError:
        return ("unreadable",)


def forget_recognizer() -> None:
    """Let go of the kept recognizer (``make_recognizer``) and its memory."""
    with _KEPT_LOCK:
        _KEPT.clear()


def warm_recognizer(model_dir: str, device: str, beam: int | None = None) -> None:
    """Make the recognizer the next job of these settings will use and read its LMs, ahead of
    that job (the window does it in a background thread when a project opens, so that the
    first page reads as fast as the next). Errors are left for the job to report."""
    try:
        with _KEPT_LOCK:
            recognizer, _note = _kept_or_made(model_dir, device, beam)
            if recognizer.beam > 1:
                recognizer.languages  # read now (beam search reads them on its first page)
    except Exception as exc:  # the job says it with its own message
        log.info("recognizer not warmed up: %s", exc)


def make_recognizer(model_dir: str, device: str, beam: int | None = None):
    """The engine's recognizer for the settings and a note when it fell back from the GPU to the
    CPU (else None); ModelError with a message a person can act on. ``beam`` None: the model's
    own decoding; 1: greedy (the settings' fast reading).

    The last one made is kept for the next job of the same settings and unchanged model folder:
    loading it and its LMs costs seconds that every page an archivist reads would pay (three
    Hooker val pages of 22-24 lines: 2.8 s the first job, 0.42 s the next; ``python
    benchmarks/page_latency.py``)."""
    with _KEPT_LOCK:
        return _kept_or_made(model_dir, device, beam)


def _kept_or_made(model_dir: str, device: str, beam: int | None):
    """``make_recognizer``'s work, with ``_KEPT_LOCK`` held."""
    try:
        from engine.recognition import Recognizer
    except ImportError as exc:
        raise ModelError("No recognition model installed: the recognition engine is not "
                         f"available ({exc}). Segmentation and editing still work.") from exc
    folder = Path(model_dir) if model_dir else None
    if folder is None:
        try:
            from engine.models import default_model_dir

            folder = default_model_dir()
        except ImportError:
            folder = None  # the recognizer finds its default itself
        except ModelError as exc:
            raise ModelError(f"No recognition model installed ({exc}). Choose a model folder "
                             "in Settings; segmentation and editing still work.") from exc
    from engine.device import with_cpu_fallback

    key = (str(folder) if folder else None, device, beam, _folder_stamp(folder))
    kept = _KEPT.get(key)
    if kept is not None:
        return kept
    try:
        made = with_cpu_fallback(lambda d: Recognizer(model_dir=folder, device=d, beam=beam),
                                 device)
    except Exception as exc:  # onnxruntime and friends raise their own types too
        raise ModelError(f"The recognition model could not be loaded: {exc}") from exc
    _KEPT.clear()  # one kept at a time: the memory of one model
    _KEPT[key] = made
    return made


def recognize(project: Project, tasks: list[PageTask], model_dir: str, device: str,
              beam: int | None = None):
    def run(job) -> int:
        job.progress(0, len(tasks) * 100, "loading the model")
        recognizer, device_note = make_recognizer(model_dir, device, beam)
        if device_note:
            job.note(device_note)
        for i, task in enumerate(tasks):
            job.progress(i * 100, len(tasks) * 100, f"reading {task.entry.image.name}")
            page = task.load(project)
            if not any(True for _ in page.lines()):
                from engine.segmentation import segment_file

                page = segment_file(task.entry.image, cancel=job.cancel)
                page.source_path = task.entry.xml  # so the recognizer finds the image
            result = recognizer.recognize_page(page, progress=_sub(job, i, len(tasks)),
                                               cancel=job.cancel)
            job.page_done(task.entry.stem, result if isinstance(result, Page) else page)
        job.progress(len(tasks) * 100, len(tasks) * 100, "done")
        return len(tasks)
    return run


def export(project: Project, tasks: list[PageTask], folder: Path, formats: list[str]):
    """Write each page in each format to ``folder/<format>/<stem>.<suffix>``."""
    def run(job) -> list[Path]:
        from engine.formats import write_document

        written: list[Path] = []
        for i, task in enumerate(tasks):
            job.progress(i, len(tasks), f"exporting {task.entry.image.name}")
            page = task.load(project)
            for fmt in formats:
                out = folder / EXPORT_FOLDERS[fmt] / (task.entry.stem + EXPORT_SUFFIXES[fmt])
                try:
                    out.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(f"Could not create {out.parent}: {exc.strerror}") from exc
                written.append(write_document(page, out, fmt))
        job.progress(len(tasks), len(tasks), "done")
        return written
    return run
