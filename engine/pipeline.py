"""The page pipeline: one page image in, its PAGE-XML and plain text out, with per-stage timings.

    >>> from engine.pipeline import PagePipeline, PipelineOptions
    >>> pipeline = PagePipeline(PipelineOptions(segment=True, recognize=True))  # doctest: +SKIP
    >>> result = pipeline.run("letters/0001.jpg", "out/")                      # doctest: +SKIP
    >>> result.timings                                                          # doctest: +SKIP
    {'load': 0.03, 'segment': 0.31, 'recognize': 0.42, 'write': 0.01}

The page's existing document is used where there is one (``page/<stem>.xml`` beside the image,
else PAGE-XML or ALTO ground truth ``<stem>.xml`` beside it, as a project opens it). Stages:

- ``load``: the existing document (or an empty page) and, when a later stage needs them, the
  image's pixels (greyscale, orientation applied);
- ``segment`` (``segment=True``): pages that have no lines yet are segmented; pages with lines
  keep their layout, so nobody's corrected geometry is thrown away;
- ``recognize`` (``recognize=True``): text of every line except those a person wrote;
- ``postcorrect`` (``postcorrect=True``): the post-correction suggestions that pass the model's
  thresholds replace the text of machine-read lines (origin SUGGESTION; the recognizer's text is
  kept as ``model_text``); person-written lines are never touched;
- ``write``: ``<out>/page/<stem>.xml`` and ``<out>/txt/<stem>.txt``, each atomically.

A pipeline loads its models once, on first use, and is then called on many pages. Nothing here
knows about Qt, torch or Dask; ``engine.batch`` maps this over collections.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_bytes
from engine.document import Page
from engine.errors import ModelError
from engine.formats import page_xml_bytes, pages_text
from engine.progress import CancelToken, ProgressCallback
from engine.project import PAGE_FOLDER, PageEntry, Project

STAGES = ("load", "segment", "recognize", "postcorrect", "write")
TXT_FOLDER = "txt"
PIPELINE_VERSION = 1
"""Bumped when the pipeline's output for the same input and model changes (manifests redo)."""


@dataclass(frozen=True)
class PipelineOptions:
    """What the pipeline does to each page, and with which model.

    ``model_dir`` is the recognition model folder (None: the bundled default). ``threads`` is
    the number of ONNX Runtime intra-op threads per loaded model (0: ONNX Runtime's default,
    one per core; batch workers set it so that processes do not fight over cores).
    ``postcorrect_dir`` is the post-correction model folder (None: the bundled one).
    ``beam`` is the CTC beam width (None: the model's tuned default decoding; 1: greedy).
    """

    segment: bool = False
    recognize: bool = False
    postcorrect: bool = False
    model_dir: Path | None = None
    device: str = "cpu"
    threads: int = 0
    postcorrect_dir: Path | None = None
    beam: int | None = None

    def check(self) -> None:
        """Fail early, before any page, for options that cannot work (a ModelError names a
        missing or unusable post-correction model)."""
        if self.threads < 0:
            raise ValueError(f"threads must be 0 or more, not {self.threads}")
        if self.beam is not None and self.beam < 1:
            raise ValueError(f"beam must be 1 or more, not {self.beam}")
        if self.postcorrect:
            from engine.postcorrect import resolve_postcorrect_dir

            resolve_postcorrect_dir(self.postcorrect_dir)

    def key(self) -> dict:
        """The options that decide a page's output (recorded in batch manifests)."""
        key = {"segment": self.segment, "recognize": self.recognize,
               "postcorrect": self.postcorrect, "pipeline": PIPELINE_VERSION}
        if self.beam is not None:  # the model's default decoding is part of its identity
            key["beam"] = self.beam
        return key


@dataclass
class PageResult:
    """One processed page: its outputs (bytes, and paths once written) and stage timings."""

    image: Path
    stem: str
    xml: bytes
    txt: bytes
    lines: int
    timings: dict[str, float] = field(default_factory=dict)
    xml_path: Path | None = None
    txt_path: Path | None = None


def resolve_model(name_or_dir: str | os.PathLike[str] | None) -> Path:
    """A recognition model folder from a folder path or a registered model's name.

    None gives the bundled default. ModelError names what was looked for when nothing fits.
    """
    from engine.models import default_model_dir, list_models, load_card

    if name_or_dir is None:
        return default_model_dir()
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        load_card(path)
        if not (path / "model.onnx").is_file():
            raise ModelError(f"{path}: model.onnx is missing")
        return path.resolve()
    known = [m for m in list_models() if m.card is not None]
    for info in known:
        if str(name_or_dir) in (info.name, info.path.name):
            return info.path
    names = ", ".join(sorted({m.name for m in known})) or "none installed"
    raise ModelError(f"no model folder or registered model named {str(name_or_dir)!r} "
                     f"(known models: {names}).")


def model_id(model_dir: str | os.PathLike[str]) -> str:
    """``name@version#hash``: changes whenever the model's card or weights change."""
    from engine.models import load_card

    folder = Path(model_dir)
    card = load_card(folder)
    digest = hashlib.sha256()
    for name in ("card.json", "model.onnx"):
        with open(folder / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"{card['name']}@{card.get('version', '?')}#{digest.hexdigest()[:12]}"


def page_entry(image: str | os.PathLike[str]) -> PageEntry:
    """The project entry of an image: where its saved PAGE-XML lives (``page/<stem>.xml``)."""
    path = Path(image).resolve()
    return PageEntry(path, path.parent / PAGE_FOLDER / f"{path.stem}.xml")


def source_document(entry: PageEntry) -> Path | None:
    """The document a page starts from: saved PAGE-XML, else ground truth beside the image."""
    return entry.xml if entry.xml.is_file() else entry.ground_truth()


def output_paths(out_dir: str | os.PathLike[str], stem: str) -> tuple[Path, Path]:
    """Where a page's PAGE-XML and TXT go in an output folder."""
    out = Path(out_dir)
    return out / PAGE_FOLDER / f"{stem}.xml", out / TXT_FOLDER / f"{stem}.txt"


class PagePipeline:
    """Build once (models load lazily, once), then call :meth:`process` or :meth:`run` per page."""

    def __init__(self, options: PipelineOptions = PipelineOptions()) -> None:
        options.check()
        self.options = options
        self._recognizer = None
        self._postcorrector = None

    @property
    def recognizer(self):
        """The loaded recognizer (loaded on first use); ModelError if the model is unusable."""
        if self._recognizer is None:
            self._recognizer = _load_recognizer(self.options)
        return self._recognizer

    @property
    def postcorrector(self):
        """The loaded post-corrector (loaded on first use); ModelError if it is unusable."""
        if self._postcorrector is None:
            from engine.postcorrect import PostCorrector, resolve_postcorrect_dir

            self._postcorrector = PostCorrector(
                resolve_postcorrect_dir(self.options.postcorrect_dir),
                device=self.options.device, threads=self.options.threads)
        return self._postcorrector

    def process(self, image: str | os.PathLike[str], *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> PageResult:
        """Run every asked-for stage on one page and return its outputs as bytes (not written).

        Raises ImageError / FormatError for an unusable image or document, ModelError for an
        unusable model, CancelledError when ``cancel`` is set between stages.
        """
        from engine.imaging import load_image

        opts = self.options
        entry = page_entry(image)
        timings: dict[str, float] = {}
        steps = 1 + opts.segment + opts.recognize + opts.postcorrect
        report = progress or (lambda done, total, message="": None)

        start = time.perf_counter()
        page = Project(entry.image.parent, [entry]).load_page(entry)
        pixels = None
        needs_segmentation = opts.segment and not any(True for _ in page.lines())
        if needs_segmentation or opts.recognize:
            pixels = load_image(entry.image, mode="L")
        timings["load"] = time.perf_counter() - start
        report(1, steps, f"{entry.image.name}: loaded")

        if opts.segment:
            _check(cancel)
            start = time.perf_counter()
            if needs_segmentation:
                page = self._segment(page, pixels, cancel)
            timings["segment"] = time.perf_counter() - start
            report(2, steps, f"{entry.image.name}: segmented")

        if opts.recognize:
            _check(cancel)
            start = time.perf_counter()
            if any(True for _ in page.lines()):
                self.recognizer.recognize_page(page, pixels, overwrite=False, cancel=cancel)
            timings["recognize"] = time.perf_counter() - start
            report(1 + opts.segment + opts.recognize, steps, f"{entry.image.name}: recognised")

        if opts.postcorrect:
            _check(cancel)
            from engine.postcorrect import apply_suggestions

            start = time.perf_counter()
            applied = apply_suggestions(page, self.postcorrector)
            corrector = self.postcorrector
            page.metadata["postcorrect_model"] = \
                f"{corrector.name}@{corrector.card.get('version', '?')}"
            page.metadata["postcorrect_applied"] = str(applied)
            timings["postcorrect"] = time.perf_counter() - start
            report(steps, steps, f"{entry.image.name}: {applied} suggestions applied")

        _check(cancel)
        page.image_filename = entry.image.name
        xml = page_xml_bytes(page)
        txt = pages_text([page]).encode("utf-8")
        return PageResult(entry.image, entry.stem, xml, txt, sum(1 for _ in page.lines()),
                          timings)

    def run(self, image: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
            progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> PageResult:
        """Process one page and write its outputs into ``out_dir``; StorageError if it cannot."""
        result = self.process(image, progress=progress, cancel=cancel)
        write_result(result, out_dir)
        return result

    @staticmethod
    def _segment(page: Page, pixels, cancel: CancelToken | None) -> Page:
        from engine.segmentation import segment_page

        segmented = segment_page(pixels, image_filename=page.image_filename, cancel=cancel)
        segmented.metadata = {**page.metadata, **segmented.metadata}
        segmented.source_path = page.source_path
        return segmented


def write_result(result: PageResult, out_dir: str | os.PathLike[str]) -> PageResult:
    """Write a processed page's PAGE-XML then TXT atomically into ``out_dir``'s ``page/`` and
    ``txt/`` folders; adds the ``write`` timing."""
    return write_outputs(result, *output_paths(out_dir, result.stem))


def write_outputs(result: PageResult, xml_path: Path, txt_path: Path | None) -> PageResult:
    """Write a processed page's PAGE-XML, then its TXT unless ``txt_path`` is None, each
    atomically at the given paths; records them and the ``write`` timing on ``result``."""
    start = time.perf_counter()
    atomic_write_bytes(xml_path, result.xml)
    result.xml_path = xml_path
    if txt_path is not None:
        atomic_write_bytes(txt_path, result.txt)
        result.txt_path = txt_path
    result.timings["write"] = time.perf_counter() - start
    return result


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


def _load_recognizer(options: PipelineOptions):
    from engine.recognition import Recognizer

    return Recognizer(resolve_model(options.model_dir), options.device, beam=options.beam,
                      threads=options.threads)


def options_dict(options: PipelineOptions) -> dict:
    """The options as JSON-ready values (for summaries)."""
    values = asdict(options)
    values["model_dir"] = str(options.model_dir) if options.model_dir else None
    values["postcorrect_dir"] = str(options.postcorrect_dir) if options.postcorrect_dir else None
    return values
