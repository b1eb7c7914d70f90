"""Start-up time: from launching the program to a usable window (shown, event loop running),
unfrozen (``python -m app.gui``) and frozen (the PyInstaller build), plus ``htrjand --version``.

    python benchmarks/startup.py [--built dist/htrjand-studio] [--repeat 5] [--json]

Each start opens the sample project offscreen with ``--exit-when-ready`` (the window prints
``ready`` once usable, then closes); the time is taken when that line arrives. The first start
is reported as "first" (cold disk cache for a fresh build), the median of the others as "warm".
Every run uses a throw-away home folder, so the person's settings are not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "samples" / "poilus"
EXE = ".exe" if sys.platform == "win32" else ""


def time_until(command: list[str], marker: str | None, env: dict, timeout: float = 120) -> float:
    """Seconds from launch until ``marker`` appears on stdout (or the process ends)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env, cwd=REPO)
    elapsed = None
    for line in process.stdout:
        if marker is not None and marker in line and elapsed is None:
            elapsed = time.perf_counter() - start
    process.wait(timeout=timeout)
    if elapsed is None:
        elapsed = time.perf_counter() - start
        if marker is not None or process.returncode != 0:
            raise RuntimeError(f"{command[0]} ended ({process.returncode}) without '{marker}'")
    return elapsed


def measure(command: list[str], marker: str | None, repeat: int, env: dict) -> dict:
    times = [time_until(command, marker, env) for _ in range(repeat)]
    warm = times[1:] or times
    return {"first_s": round(times[0], 3), "warm_median_s": round(statistics.median(warm), 3),
            "warm_min_s": round(min(warm), 3), "runs": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--built", type=Path, default=REPO / "dist" / "htrjand-studio",
                        help="the built folder (skipped when absent)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="htrjand-startup-"))
    project = home / "poilus"
    shutil.copytree(SAMPLE, project)
    env = {**os.environ, "HOME": str(home), "USERPROFILE": str(home),
           "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
           "HTRJAND_INSTANCE": f"htrjand-bench-{os.getpid()}"}
    window_args = ["--exit-when-ready", "--no-welcome", str(project)]
    results = {"platform": env["QT_QPA_PLATFORM"], "cpus": os.cpu_count()}
    results["window_unfrozen"] = measure([sys.executable, "-m", "app.gui", *window_args],
                                         "ready", args.repeat, env)
    results["cli_version_unfrozen"] = measure([sys.executable, "-m", "app.cli", "--version"],
                                              None, args.repeat, env)
    window = args.built / f"htrjand-studio{EXE}"
    if window.is_file():
        results["window_frozen"] = measure([str(window), *window_args], "ready", args.repeat, env)
        results["cli_version_frozen"] = measure([str(args.built / f"htrjand{EXE}"), "--version"],
                                                None, args.repeat, env)
        results["built_folder_mib"] = round(sum(
            p.stat().st_size for p in args.built.rglob("*")
            if p.is_file() and not p.is_symlink()) / 2**20)
    shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"platform {results['platform']}, {results['cpus']} CPUs")
    for key, value in results.items():
        if isinstance(value, dict):
            print(f"{key:22s} first {value['first_s']:.2f} s, warm median "
                  f"{value['warm_median_s']:.2f} s (min {value['warm_min_s']:.2f} s, "
                  f"{value['runs']} runs)")
    if "built_folder_mib" in results:
        print(f"built folder           {results['built_folder_mib']} MiB")


if __name__ == "__main__":
    main()
