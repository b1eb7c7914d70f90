"""The batch manifest: which pages are finished, from which input, with which model and options.

``OUT/manifest.jsonl`` holds one JSON record per finished page, appended (and fsynced) after
the page's outputs were written atomically, so a record always means complete outputs. A re-run
skips a page whose input hash, model id and options match its record and whose outputs still
exist, and redoes it otherwise. A torn last line (power cut while appending) is ignored; the
file is rewritten atomically, one record per page, when a batch ends.

Input hashes are SHA-256 of the image bytes and of the document the page starts from; a file
whose size and modification time match its record is not read again. In place (a project's own
``page/`` folder is input and output, see :mod:`engine.batch.layout`), a page's record holds the
fingerprint of the PAGE-XML the batch wrote, so an untouched page is skipped on the next run and
a page a person changed since is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.batch.plan import PageTask
from engine.errors import StorageError
from engine.pipeline import output_paths

MANIFEST_NAME = "manifest.jsonl"


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stat(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


class Manifest:
    """Records of finished pages of one output folder, keyed by page stem.

    ``path``: the manifest file (default ``OUT/manifest.jsonl``); ``outputs``: the files a
    finished page has (default ``OUT/page/<stem>.xml`` and ``OUT/txt/<stem>.txt``).
    """

    def __init__(self, out_dir: str | os.PathLike[str], path: Path | None = None,
                 outputs: Callable[[PageTask], tuple[Path, ...]] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.path = path or self.out_dir / MANIFEST_NAME
        self.outputs = outputs or (lambda task: output_paths(self.out_dir, task.stem))
        self.records: dict[str, dict] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                for row in handle:
                    try:
                        record = json.loads(row)
                        self.records[record["stem"]] = record
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn or foreign line: that page is simply redone

    def inputs(self, task: PageTask) -> dict:
        """The task's input fingerprint: file names, stat and SHA-256 of image and document."""
        old = self.records.get(task.stem, {}).get("inputs", {})
        fingerprint = {}
        for role, path in (("image", task.image), ("source", task.source)):
            if path is None:
                continue
            stat = _stat(path)
            previous = old.get(role) or {}
            same = previous.get("path") == str(path) and previous.get("stat") == stat
            digest = previous["sha256"] if same and "sha256" in previous else file_hash(path)
            fingerprint[role] = {"path": str(path), "stat": stat, "sha256": digest}
        return fingerprint

    @staticmethod
    def written(path: Path, data: bytes) -> dict:
        """The fingerprint of a file just written with ``data``.

        The file is read back after its stat is taken: if someone replaced it meanwhile (the
        window saving the page), the stat is left out, so the next run hashes the file again and
        redoes the page instead of trusting a stat that belongs to another content.
        """
        stat = _stat(path)
        digest = hashlib.sha256(data).hexdigest()
        return {"path": str(path), "stat": stat if file_hash(path) == digest else None,
                "sha256": digest}

    @staticmethod
    def _same_content(a: dict, b: dict) -> bool:
        roles = set(a) | set(b)
        return all((a.get(r) or {}).get("sha256") == (b.get(r) or {}).get("sha256") for r in roles)

    def finished(self, task: PageTask, inputs: dict, model: str | None, options: dict) -> bool:
        """True when the page was done from the same inputs, model and options, outputs intact."""
        record = self.records.get(task.stem)
        if not record or record.get("model") != model or record.get("options") != options:
            return False
        if not self._same_content(record.get("inputs", {}), inputs):
            return False
        return all(p.is_file() for p in self.outputs(task))

    def record(self, task: PageTask, inputs: dict, model: str | None, options: dict,
               timings: dict[str, float]) -> None:
        """Append the record of a page whose outputs are written; StorageError if it cannot."""
        record = {"stem": task.stem, "inputs": inputs, "model": model, "options": options,
                  "timings": {k: round(v, 4) for k, v in timings.items()}}
        self.records[task.stem] = record
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StorageError(f"Could not write {self.path}: {exc.strerror or exc}") from exc

    def compact(self) -> None:
        """Rewrite the manifest atomically with the latest record of each page."""
        rows = [json.dumps(r, ensure_ascii=False) for r in self.records.values()]
        atomic_write_text(self.path, "".join(row + "\n" for row in rows))
