"""Starting the background jobs from the window and reporting how they ended.

Whole-project runs go through the batch engine, in place (:mod:`app.gui.project_run`); a single
page runs as a thread of the window on the page in memory.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from app.gui import jobs, project_run
from app.gui.job_results import merge_recognition, merge_segmentation
from app.gui.project_model import ERROR, INFO, WARNING
from app.gui.workers import Job


def _stems(window, scope: str) -> list[str]:
    if scope == "page":
        return [window.model.stem] if window.model.page is not None else []
    return [e.stem for e in window.model.entries if e.readable]


def _has_lines(model, stem: str) -> bool:
    """Lines in memory, or a transcription on disk (which is not read just to count)."""
    if stem in model.pages:
        return any(True for _ in model.pages[stem].lines())
    return model.project.entry(stem).has_transcription


def _title(verb: str, tasks: list) -> str:
    return f"{verb} " + (tasks[0].entry.image.name if len(tasks) == 1 else f"{len(tasks)} pages")


def start(window, job: Job, on_page=None, on_finished=None) -> bool:
    """Start ``job`` unless another runs (then say so); False when it did not start.

    Results that arrive after another project was opened are dropped.
    """
    if window.runner.busy:
        window.messages.show_message(WARNING, "Another job is running; cancel it or wait.")
        return False
    project = window.model.project

    def page_done(stem, page) -> None:
        if on_page is not None and window.model.project is project:
            on_page(stem, page)
    return window.runner.start(job, page_done, on_finished)


def segment(window, scope: str) -> bool:
    model = window.model
    stems = _stems(window, scope)
    if not stems:
        return False
    replace = False
    if scope == "page" and model.lines():
        answer = QMessageBox.question(window, "Segment page", f"This page has {len(model.lines())}"
                                      " lines. Replace them with a new segmentation?")
        if answer != QMessageBox.Yes:
            return False
        replace = True
    elif scope == "project":
        stems = [s for s in stems if not _has_lines(model, s)]
        if not stems:
            window.messages.show_message(INFO, "Every page already has lines.")
            return False
        return project_run.start(window, stems, recognize=False)
    tasks = jobs.tasks_for(model, stems)
    title = _title("Segmenting", tasks)
    return start(window, Job(jobs.segment(model.project, tasks), title),
                 lambda stem, page: merge_segmentation(model, stem, page, replace))


def recognize(window, scope: str) -> bool:
    model = window.model
    if scope == "project":
        stems = _stems(window, scope)
        return project_run.start(window, stems, recognize=True) if stems else False
    tasks = jobs.tasks_for(model, _stems(window, scope))
    if not tasks:
        return False
    title = _title("Recognising", tasks)
    fn = jobs.recognize(model.project, tasks, window.settings.model_dir, window.settings.device,
                        window.settings.beam)
    return start(window, Job(fn, title), lambda stem, page: merge_recognition(model, stem, page))


def export(window, scope: str, formats: list[str], folder: Path) -> bool:
    model = window.model
    tasks = jobs.tasks_for(model, _stems(window, scope))
    if not tasks:
        return False
    title = f"Exporting {len(tasks)} page(s)"

    def done(written) -> None:
        window.messages.show_message(INFO, f"Exported {len(written)} file(s) into {folder}.")
    return start(window, Job(jobs.export(model.project, tasks, folder, formats), title),
                 on_finished=done)


def report_end(window):
    """A slot for ``JobRunner.ended`` that puts failures and cancellations in the message bar."""
    def report(outcome: str, message: str) -> None:
        if outcome == "failed":
            window.messages.show_message(ERROR, message)
        elif outcome == "cancelled":
            window.messages.show_message(INFO, f"{message}; what was finished is kept.")
        else:
            window.statusBar().showMessage(message, 5000)
    return report
