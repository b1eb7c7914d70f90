"""Fine-tuning in a child process, driven from a background job of the window.

The window never imports torch: the job starts ``python -m training.finetune --json ...``,
turns its JSON lines (progress / result / error / cancelled) into ``job.progress`` calls and a
result, and on Cancel (or the window closing) asks the child to stop through its stdin — killing
it if it does not stop in a few seconds. The child builds the new model version in a staging
folder that is only renamed into the store when complete, so a cancelled run leaves no half model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from engine.errors import CancelledError, HtrError

REPO = Path(__file__).resolve().parents[2]
STOP_GRACE_S = 2.5  # the window waits 3 s for jobs when it closes


def training_unavailable() -> str | None:
    """Why fine-tuning cannot run from this installation, or None when it can."""
    if getattr(sys, "frozen", False):
        return ("This build of HTR-JAND Studio leaves PyTorch out, so it cannot train. Install "
                "the Python package with 'htrjand-studio[train]' and run 'htrjand finetune'.")
    for module in ("torch", "training"):
        if importlib.util.find_spec(module) is None:
            return (f"Fine-tuning needs PyTorch and the training package ({module} is missing): "
                    "pip install 'htrjand-studio[train]'.")
    return None


def child_command(inputs: list[str], name: str, minutes: float, base: str | None = None,
                  threads: int = 2, extra: list[str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "training.finetune", "--json", *inputs, "--name", name,
           "--minutes", f"{minutes:g}", "--threads", str(threads)]
    if base:
        cmd += ["--base", base]
    return cmd + list(extra or [])


def _stop(proc: subprocess.Popen) -> None:
    """Ask the child to cancel, then kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        proc.stdin.write("cancel\n")
        proc.stdin.flush()
        proc.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def finetune_job(cmd: list[str]):
    """A job function (see ``app.gui.workers.Job``) running ``cmd``; returns the result dict."""
    def run(job) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
        with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=errlog, text=True, encoding="utf-8", cwd=str(REPO),
                                    env=env)
            events: queue.Queue = queue.Queue()

            def read() -> None:
                for line in proc.stdout:
                    events.put(line)
                events.put(None)
            threading.Thread(target=read, daemon=True).start()
            result: dict | None = None
            failure: str | None = None
            try:
                while True:
                    job.cancel.raise_if_cancelled()
                    try:
                        line = events.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    if line is None:
                        break
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue  # a stray print of a library
                    kind = event.get("event")
                    if kind == "progress":
                        job.progress(event["done"], event["total"], event.get("message", ""))
                    elif kind == "result":
                        result = event
                    elif kind == "error":
                        failure = event.get("message", "fine-tuning failed")
                    elif kind == "cancelled":
                        raise CancelledError("Cancelled by the user.")
            finally:
                _stop(proc)
            proc.wait()
            if failure:
                raise HtrError(failure)
            if result is None:
                errlog.seek(0)
                tail = errlog.read()[-600:].strip()
                raise HtrError(f"The training process ended without a result (exit status "
                               f"{proc.returncode}). {tail}")
            return result
    return run
