"""The window's whole-project runs (segment, recognise) on the batch engine, in place.

:func:`engine.batch.run_batch` processes the pages with ``in_place=True``: each page's
``page/<stem>.xml`` is its input and its output, lines a person corrected are kept, pages
finished earlier and unchanged since are skipped (manifest in ``PROJECT/.htrjand/``), every write
is atomic and Cancel leaves no partial file. Longer runs go to a local cluster of worker
processes (one per core): a crash in native code on a bad image then costs one page, not the
window, and the models leave memory with the workers. Starting them costs 2–3 s before the
first page (measured on 2 busy cores; see ``docs/batch.md``), more than a short run takes, so
runs of up to ``IN_PROCESS_MAX`` pages use worker threads of the window's process instead,
which start at once; the window stays responsive either way.

Before the run, pending corrections are saved, so the workers read what the person sees.
Editing is not blocked — a collection can take hours, and correcting pages meanwhile is the
point — and the person's work always wins. As each page comes back:

- a page not open in the window needs nothing: it is read from disk when opened;
- an open page the person has not changed since the run started is brought up to date with the
  file the batch wrote (one undoable step, nothing to save);
- an open page the person changed during the run keeps their version: the batch's lines and text
  are merged in as by a one-page run (lines they corrected, added or deleted stay as they are),
  and the page is saved again. The batch never writes over a page saved meanwhile.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import QObject

from app.gui import jobs
from app.gui.job_results import merge_recognition, merge_segmentation
from app.gui.project_model import INFO, WARNING
from app.gui.undo_commands import ReplaceRegions
from app.gui.workers import Job
from engine.errors import CancelledError, HtrError
from engine.formats.notes import WARNINGS_KEY

LOCAL_PROCESSES = True
"""Run longer runs on worker processes (tests set False: always threads of this process)."""
IN_PROCESS_MAX = 16
"""Runs of at most this many pages stay in this process: starting processes would cost more."""
_FIXED_TIME = datetime(2000, 1, 1, tzinfo=timezone.utc)


def batch_options(pages: int, recognize: bool, model_dir: str, device: str,
                  gpu: bool = False, beam: int | None = None):
    """The batch options of a whole-project run of ``pages`` pages (one worker feeds a GPU)."""
    from engine.batch import BatchOptions

    processes = LOCAL_PROCESSES and pages > IN_PROCESS_MAX
    workers = 1 if gpu else max(1, min(os.cpu_count() or 1, pages))
    return BatchOptions(segment=True, recognize=recognize, model=model_dir or None,
                        device=device, beam=beam, workers=workers, processes=processes,
                        in_place=True)


def run_job(folder: Path, images: list[Path], recognize: bool, model_dir: str, device: str,
            beam: int | None = None):
    """The job function: ``run_batch`` in place; each page handed to the window as it ends."""
    def run(job):
        from engine.batch import run_batch

        chosen, gpu = device, False
        if recognize:  # load the model once here: a clear message before any worker starts
            from engine.device import CUDA_PROVIDER, session_providers

            job.progress(0, 1, "loading the model")
            recognizer, note = jobs.make_recognizer(model_dir, device, beam)
            gpu = CUDA_PROVIDER in (session_providers(recognizer) or [])
            if note:
                job.note(note)
                chosen = "cpu"
        options = batch_options(len(images), recognize, model_dir, chosen, gpu, beam)

        def progress(done: int, total: int, message: str = "") -> None:
            job.signals.progress.emit(done, total, message)  # run_batch watches job.cancel

        def batch(opts):
            return run_batch(images, folder, opts, progress, job.cancel,
                             on_page=lambda result: job.page_done(result.stem, result))

        try:
            summary = batch(options)
        except (OSError, RuntimeError) as exc:  # Dask could not start or keep its processes
            if not options.processes or job.cancel.cancelled:
                raise
            job.note(f"The worker processes could not run ({exc}); the pages are processed "
                     "in the window's own process instead.")
            summary = batch(replace(options, processes=False))  # finished pages are skipped
        if summary.cancelled:
            raise CancelledError("cancelled")
        return summary
    return run


class ProjectRun(QObject):
    """One whole-project run: notes the pages edited meanwhile and applies each page's result."""

    def __init__(self, window, recognize: bool) -> None:
        super().__init__(window)
        self.window, self.model, self.recognize = window, window.model, recognize
        self.project = window.model.project
        self.edited: set[str] = set(self.model.dirty)
        self.merged: set[str] = set()
        self._applying = False
        self.model.saveStateChanged.connect(self._note_edits)
        window.runner.ended.connect(self._ended)

    def _note_edits(self) -> None:
        if not self._applying:
            self.edited |= self.model.dirty

    def apply(self, stem: str, result) -> None:
        """Show one processed page in the window (see the module's rules)."""
        page = self.model.pages.get(stem)
        entry = self.project.entry(stem)
        if page is None or entry is None:
            self.model.saveStateChanged.emit()  # the page list marks the new transcription
            return
        from engine.formats.page_read import read_page_xml
        from engine.formats.xml_safe import parse_xml_bytes

        try:
            if result.xml_path is None and stem not in self.edited:
                # Saved by another program meanwhile (not from here): show what it saved; the
                # batch left the page alone and the next run processes it.
                self._reload(stem, page, self.project.load_page(entry), recognized=False)
                return
            fresh = read_page_xml(parse_xml_bytes(result.xml, entry.xml.name), entry.xml)
        except HtrError as exc:
            self.model.message.emit(WARNING, f"{entry.image.name}: {exc}")
            return
        if result.xml_path is not None and stem not in self.edited:
            self._reload(stem, page, fresh, self.recognize)
        else:
            self.merged.add(stem)
            if self.recognize:
                merge_recognition(self.model, stem, fresh)
            else:
                merge_segmentation(self.model, stem, fresh)

    def _reload(self, stem: str, page, fresh, recognized: bool) -> None:
        """The page in memory becomes the file on disk (it was not edited: nothing to save)."""
        fresh.image_filename = page.image_filename
        from engine.formats import page_xml_bytes

        if page_xml_bytes(page, now=_FIXED_TIME) == page_xml_bytes(fresh, now=_FIXED_TIME):
            return
        self._applying = True
        try:
            page.metadata = {k: v for k, v in fresh.metadata.items() if k != WARNINGS_KEY}
            title = "Recognise project" if self.recognize else "Segment project"
            self.model.undo_stack(stem).push(ReplaceRegions(self.model, stem, page.regions,
                                                            fresh.regions, title))
            self.model.dirty.discard(stem)  # memory is what the batch wrote to disk
            self.model.saveStateChanged.emit()
        finally:
            self._applying = False
        if recognized:
            signal = getattr(self.model, "pageRecognized", None)
            if signal is not None:
                signal.emit(stem)

    def finished(self, summary) -> None:
        """Say what the run did; pages merged into the person's edits are not failures."""
        from engine.batch.runner import CHANGED_MEANWHILE

        failures = [f for f in summary.failures if not (
            f["reason"] == CHANGED_MEANWHILE and Path(f["page"]).stem in self.merged)]
        verb = "Recognised" if self.recognize else "Segmented"
        text = f"{verb} {summary.done} page(s)"
        if summary.skipped:
            text += f"; {summary.skipped} unchanged since the last run were skipped"
        if failures:
            reasons = "; ".join(f"{Path(f['page']).name}: {f['reason']}" for f in failures[:3])
            more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
            self.model.message.emit(WARNING, f"{text}. {len(failures)} page(s) failed — "
                                             f"{reasons}{more}")
        else:
            self.model.message.emit(INFO, text + ".")

    def _ended(self, _outcome: str, _message: str) -> None:
        self.model.saveStateChanged.disconnect(self._note_edits)
        self.window.runner.ended.disconnect(self._ended)
        self.deleteLater()


def start(window, stems: list[str], recognize: bool) -> bool:
    """Save pending corrections, then run the pages ``stems`` of the project in place."""
    from app.gui.job_actions import start as start_job
    from app.gui.project_model import ERROR

    model = window.model
    if window.runner.busy:
        window.messages.show_message(WARNING, "Another job is running; cancel it or wait.")
        return False
    if not model.save_all():
        window.messages.show_message(ERROR, "The project cannot be processed while corrections "
                                            "are not saved (see the message above); nothing "
                                            "was started.")
        return False
    images = [model.project.entry(s).image for s in stems]
    if not images:
        return False
    run = ProjectRun(window, recognize)
    verb = "Recognising" if recognize else "Segmenting"
    title = f"{verb} {len(images)} page(s)" if len(images) > 1 else f"{verb} {images[0].name}"
    fn = run_job(model.project.folder, images, recognize, window.settings.model_dir,
                 window.settings.device, window.settings.beam)
    started = start_job(window, Job(fn, title), run.apply, run.finished)
    if not started:
        run._ended("", "")
    return started
