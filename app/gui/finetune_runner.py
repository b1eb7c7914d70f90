"""Fine-tuning in a child process, driven from a background job of the window.

The window never imports torch: the job starts ``python -m training.finetune --json ...`` (in
the built application ``htrjand --finetune-child --json ...``, see ``app/launcher.py``),
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
        if _trainer_bundled():
            return None
        return ("This build of HTR-JAND Studio leaves PyTorch out (a slim build), so it cannot "
                "train. Use the full build, or install the Python package with "
                "'htrjand-studio[train]' and run 'htrjand finetune'.")
    for module in ("torch", "training"):
        if importlib.util.find_spec(module) is None:
            return (f"Fine-tuning needs PyTorch and the training package ({module} is missing): "
                    "pip install 'htrjand-studio[train]'.")
    return None


def _trainer_bundled() -> bool:
    """Whether this built application carries torch and the trainer (found, not imported)."""
    try:
        return all(importlib.util.find_spec(m) is not None
                   for m in ("torch", "training.finetune"))
    except (ImportError, ValueError):
        return False


def trainer_program() -> list[str]:
    """The command that runs ``training.finetune.main``: ``python -m training.finetune``, or in
    a built application its command-line program with the launcher's hidden flag."""
    if not getattr(sys, "frozen", False):
        return [sys.executable, "-m", "training.finetune"]
    from app.launcher import CLI_NAME, TRAINER_FLAG

    here = Path(sys.executable)
    cli = here.with_name(CLI_NAME + here.suffix)  # the console program, beside the window's
    return [str(cli if cli.is_file() else here), TRAINER_FLAG]


def child_command(inputs: list[str], name: str, minutes: float, base: str | None = None,
                  threads: int = 2, extra: list[str] | None = None) -> list[str]:
    cmd = [*trainer_program(), "--json", *inputs, "--name", name,
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
        if not getattr(sys, "frozen", False):
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
        # A console program started from the (windowed) window opens no console of its own.
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
        with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=errlog, text=True, encoding="utf-8", cwd=str(REPO),
                                    env=env, creationflags=flags)
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
