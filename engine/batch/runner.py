"""Map the page pipeline over a collection with Dask distributed (the only module importing Dask).

A local cluster of worker processes by default (one thread each, ONNX Runtime and OpenCV threads
set so that the processes share the cores instead of oversubscribing them), or an existing
cluster by its scheduler address. The client keeps a bounded window of pages in flight (memory
stays flat for any collection size, and cancelling is prompt), writes each finished page
atomically, then records it in the manifest. In place (``BatchOptions(in_place=True)``), the
pages of a project are updated in their own ``page/`` folder (see :mod:`engine.batch.layout`).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.batch.layout import Layout
from engine.batch.manifest import Manifest
from engine.batch.plan import PageTask, plan_batch
from engine.batch.summary import Rate, Summary
from engine.batch.worker import process_page
from engine.errors import FormatError, HtrError, StorageError
from engine.pipeline import PageResult, PipelineOptions, model_id, options_dict, resolve_model
from engine.progress import CancelToken, ProgressCallback

POLL_S = 0.2  # how often the client looks at the cancel token while pages are running
CHANGED_MEANWHILE = ("its PAGE-XML was saved (from the window or another program) while the page "
                     "was processed; it was left as saved, not overwritten: run again to "
                     "process it.")


@dataclass(frozen=True)
class BatchOptions:
    """What to do to each page and where to run it.

    ``workers``: size of the local cluster (default: one per CPU core). ``scheduler``: address
    of an existing Dask scheduler (``tcp://host:8786``) instead; its workers must have this
    package installed and see the input files at the same paths. ``processes=False`` runs the
    local workers as threads of this process (tests, or a GUI that must not spawn processes).
    ``postcorrect_model``: the post-correction model folder for ``postcorrect`` (default: the
    bundled one); its identity joins the recognizer's in the manifest, so changing it redoes
    the pages.
    ``beam``: CTC beam width (default: the model's tuned decoding; 1: greedy).
    ``threads``: ONNX Runtime / OpenCV threads per page (default: the local cores shared out
    between the workers; 1 on a remote cluster, whose workers run one page per thread).
    ``in_place``: ``out`` is a project folder and each page's ``page/<stem>.xml`` beside its
    image is its input and its output (lines a person corrected are kept); the manifest and
    summary go to ``out/.htrjand/``. ``txt``: also write plain text (default: yes, except in
    place, where ``<image folder>/txt/`` is written only when asked).
    """

    segment: bool = False
    recognize: bool = False
    postcorrect: bool = False
    model: str | os.PathLike[str] | None = None
    postcorrect_model: str | os.PathLike[str] | None = None
    device: str = "cpu"
    beam: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    processes: bool = True
    connect_timeout_s: float = 5.0
    queue_per_worker: int = 2
    threads: int | None = None
    in_place: bool = False
    txt: bool | None = None


def run_batch(inputs: list[str | os.PathLike[str]], out: str | os.PathLike[str],
              options: BatchOptions = BatchOptions(),
              progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None,
              on_page: Callable[[PageResult], None] | None = None) -> Summary:
    """Process every page of ``inputs`` into ``out/page/`` and ``out/txt/``; return the summary.

    In place (``options.in_place``), ``out`` is the project folder and each page is updated in
    its own ``page/<stem>.xml``; a page whose document was saved by someone else while it was
    processed is not written over (it fails with that reason; a re-run processes it).
    ``on_page(result)`` is called in this thread after each processed page, with
    ``result.xml_path`` None when the page was not written (the window merges such pages).

    Pages finished by an earlier run with the same input, model and options are skipped. A page
    that fails is listed in the summary with its reason; the others go on. Setting ``cancel``
    stops promptly: written pages are complete, nothing partial is left, and the summary
    (``cancelled=True``) is still written (``out/summary.json``). Raises HtrError for bad input
    (nothing to do, unusable model, output not writable, scheduler unreachable).
    """
    started = time.monotonic()
    out_dir = Path(out).resolve()
    _check_options(options)
    popts = PipelineOptions(segment=options.segment, recognize=options.recognize,
                            postcorrect=options.postcorrect, device=options.device,
                            beam=options.beam)
    model = None
    if options.postcorrect:  # the post-corrector's identity is part of the pages' model key
        from engine.postcorrect import postcorrector_id, resolve_postcorrect_dir

        postcorrect_dir = resolve_postcorrect_dir(options.postcorrect_model)
        popts = replace(popts, postcorrect_dir=postcorrect_dir)
        model = postcorrector_id(postcorrect_dir)
    popts.check()
    if options.recognize:
        model_dir = resolve_model(options.model)
        model = model_id(model_dir) + (f"+{model}" if model else "")
        popts = replace(popts, model_dir=model_dir)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    plan = plan_batch(list(inputs), out_dir, in_place=options.in_place)
    layout = Layout(out_dir, options.in_place,
                    options.txt if options.txt is not None else not options.in_place)
    if options.in_place and not out_dir.is_dir():
        raise FormatError(f"{out}: no such project folder.")
    created = not out_dir.exists()
    _check_writable(layout.state_dir)

    summary = Summary(total=len(plan.tasks) + len(plan.refused), model=model,
                      options=options_dict(popts))
    for image, reason in plan.refused:
        summary.add_failure(image, reason)
    manifest = Manifest(out_dir, layout.manifest_path, layout.outputs)
    report = progress or (lambda done, total, message="": None)
    report(len(plan.refused), summary.total, "starting the workers")

    try:
        client, cluster = _connect(options)
    except BaseException:
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()  # nothing was done: leave no empty output folder behind
        raise
    try:
        summary.workers = _worker_count(client, options)
        summary.scheduler = options.scheduler or "local"
        # Local: the cores shared out between the worker processes. A remote cluster's worker
        # runs one page per thread, so one ONNX Runtime thread per page fills its cores.
        threads = options.threads or (
            max(1, (os.cpu_count() or 1) // summary.workers) if not options.scheduler else 1)
        popts = replace(popts, threads=threads)
        summary.options = options_dict(popts)
        _run(client, plan.tasks, popts, layout, manifest, summary, model,
             max(2, options.queue_per_worker * summary.workers), report, cancel, on_page)
    finally:
        _close(client, cluster)
        if manifest.records:
            manifest.compact()
    summary.seconds = time.monotonic() - started
    atomic_write_text(layout.summary_path, summary.to_json() + "\n")
    return summary


def _run(client, tasks: list[PageTask], popts: PipelineOptions, layout: Layout,
         manifest: Manifest, summary: Summary, model: str | None, window: int,
         report: ProgressCallback, cancel: CancelToken | None,
         on_page: Callable[[PageResult], None] | None = None) -> None:
    from distributed import wait

    options_key = popts.key()
    rate = Rate(len(tasks))
    pending = iter(tasks)
    in_flight: dict = {}
    finished = summary.failed

    def tick(name: str) -> None:
        report(finished, summary.total, f"{name} · {rate.message(finished)}")

    try:
        while not (cancel is not None and cancel.cancelled):
            while len(in_flight) < window:
                task = next(pending, None)
                if task is None:
                    break
                try:
                    inputs = manifest.inputs(task)
                except OSError as exc:
                    summary.add_failure(task.image, f"cannot be read: {exc.strerror or exc}")
                    finished += 1
                    continue
                if manifest.finished(task, inputs, model, options_key):
                    summary.skipped += 1
                    finished += 1
                    tick(f"{task.image.name} already done")
                    continue
                future = client.submit(process_page, popts, str(task.image), pure=False,
                                       key=f"htrjand-page-{task.stem}-{uuid.uuid4().hex}")
                in_flight[future] = (task, inputs)
            if not in_flight:
                break
            try:
                with client.as_current():
                    done = wait(list(in_flight), timeout=POLL_S,
                                return_when="FIRST_COMPLETED").done
            except TimeoutError:
                continue
            for future in done:
                if cancel is not None and cancel.cancelled:
                    break
                task, inputs = in_flight.pop(future)
                _collect(future, task, inputs, layout, manifest, summary, model, options_key,
                         on_page)
                finished += 1
                rate.processed += 1
                tick(task.image.name)
    finally:
        if in_flight:
            client.cancel(list(in_flight))
        summary.cancelled = bool(cancel is not None and cancel.cancelled)


def _collect(future, task: PageTask, inputs: dict, layout: Layout, manifest: Manifest,
             summary: Summary, model: str | None, options_key: dict,
             on_page: Callable[[PageResult], None] | None = None) -> None:
    """Write a finished page and record it, or record why it failed."""
    if future.status != "finished":
        exc = future.exception() if future.status == "error" else None
        name = type(exc).__name__ if exc is not None else future.status
        if name == "KilledWorker":
            reason = ("every worker that tried this page died while processing it "
                      f"(out of memory, or killed): {exc}")
        else:
            reason = f"{name}: {exc}" if exc is not None else f"task {future.status}"
        summary.add_failure(task.image, reason)
        return
    outcome = future.result()
    if not outcome["ok"]:
        summary.add_failure(task.image, outcome["reason"])
        return
    result = PageResult(task.image, task.stem, outcome["xml"], outcome["txt"],
                        outcome["lines"], dict(outcome["timings"]))
    source_stat = (inputs.get("source") or {}).get("stat")
    if not layout.unchanged_since(task, source_stat):
        summary.add_failure(task.image, CHANGED_MEANWHILE)
    else:
        layout.write(task, result)  # StorageError stops the batch: nothing more can be saved
        if layout.in_place:  # the page's document is now the one just written
            inputs = {**inputs, "source": manifest.written(result.xml_path, result.xml)}
        manifest.record(task, inputs, model, options_key, result.timings)
        summary.done += 1
        summary.add_timings(result.timings)
    if on_page is not None:
        on_page(result)


def _check_options(options: BatchOptions) -> None:
    if options.workers is not None and options.scheduler:
        raise HtrError("give either a number of local workers or a scheduler address, not both.")
    if options.workers is not None and options.workers < 1:
        raise HtrError(f"the number of workers must be 1 or more, not {options.workers}.")
    if options.scheduler and "://" not in options.scheduler:
        raise HtrError(f"scheduler address {options.scheduler!r} should look like "
                       "tcp://HOST:8786.")


def _check_writable(out_dir: Path) -> None:
    """Fail before starting any worker when nothing can be written to the output folder."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"Could not create the output folder {out_dir}: "
                           f"{exc.strerror or exc}") from exc
    probe = atomic_write_bytes(out_dir / f".htrjand-write-check-{os.getpid()}", b"")
    probe.unlink(missing_ok=True)


def _connect(options: BatchOptions):
    """A Dask client on a new local cluster, or on the scheduler given; HtrError if it fails."""
    from distributed import Client, LocalCluster

    if options.scheduler:
        try:
            return Client(options.scheduler, timeout=options.connect_timeout_s,
                          set_as_default=False), None
        except (OSError, TimeoutError) as exc:
            raise HtrError(f"cannot reach the Dask scheduler at {options.scheduler} within "
                           f"{options.connect_timeout_s:g} s ({exc}); check the address and "
                           "that `dask scheduler` runs there.") from exc
    workers = options.workers or os.cpu_count() or 1
    # No dashboard, and the scheduler's small HTTP server on a free local port (not 8787,
    # which another cluster on this machine may hold).
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                           host="127.0.0.1" if options.processes else None,
                           processes=options.processes, dashboard_address=None,
                           scheduler_kwargs={"dashboard": False,
                                             "dashboard_address": "127.0.0.1:0"},
                           silence_logs=logging.ERROR)
    try:
        client = Client(cluster, set_as_default=False)
        if options.processes:
            client.register_plugin(_ignore_interrupts_plugin(), name="htrjand-ignore-sigint")
        return client, cluster
    except BaseException:
        cluster.close()
        raise


def _ignore_interrupts_plugin():
    """A worker plugin for local worker processes: Ctrl-C on the terminal reaches the whole
    process group; the client handles it (stops cleanly, closes the cluster), so the workers
    ignore it instead of each printing a KeyboardInterrupt traceback. For the same reason a
    worker whose last heartbeat races the scheduler's shutdown does not log that as an error
    with a traceback: on a local cluster the client closing it is the only cause."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreInterrupts(WorkerPlugin):
        def setup(self, worker) -> None:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            logging.getLogger("distributed.worker").addFilter(_drop_shutdown_heartbeat)

    return IgnoreInterrupts()


def _drop_shutdown_heartbeat(record: logging.LogRecord) -> bool:
    """Logging filter: False for a local worker's failed heartbeat (the scheduler has closed)."""
    return not str(record.msg).startswith("Failed to communicate with scheduler during heartbeat")


def _worker_count(client, options: BatchOptions) -> int:
    if options.scheduler:
        try:
            client.wait_for_workers(1, timeout=options.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise HtrError(f"the Dask scheduler at {options.scheduler} has no workers; start "
                           "some with `dask worker " + options.scheduler + "`.") from exc
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else \
        client.scheduler_info()
    return sum(w.get("nthreads", 1) for w in info["workers"].values()) or 1


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _close(client, cluster) -> None:
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()
