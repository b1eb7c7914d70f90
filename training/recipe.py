"""The one command that produces the shipped student, in two phases of equal CPU time:

1. in parallel (one thread each): the student alone and the teacher, from scratch
   (``configs/phase1.json``: short + synthetic lines first, then all real lines);
2. in parallel: the phase-1 student continued alone, and the same student continued with
   distillation from the phase-1 teacher (``configs/phase2.json``, same budget and schedule).

The better of the two phase-2 students (val CER) wins; the card records both, so the
distilled-vs-alone comparison is measured, not assumed. With ``--phase3-min`` the winner is
then trained on alone (same config, a fresh schedule) for that many minutes, and the result is
exported if it reads the val lines better. Last, a character 5-gram LM of the
training texts is written beside it and its beam-search weights are chosen on val lines.

    python -m training.recipe --runs runs/recipe --phase-min 48 --phase3-min 110 \
        --out resources/models/htrjand-student

Re-running the same command resumes: finished runs (``done.json``) are skipped, unfinished ones
continue from ``last.pt``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"


def launch(run_dir: Path, model: str, config: str, minutes: float, extra: list[str]
           ) -> subprocess.Popen | None:
    """Start one training run in its own process, or None if it already finished."""
    if (run_dir / "done.json").is_file():
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "training.train", "--model", model, "--config",
           str(CONFIGS / config), "--run-dir", str(run_dir), "--time-budget-min", str(minutes),
           *extra]
    print(" ".join(cmd), flush=True)
    return subprocess.Popen(cmd, stdout=open(run_dir / "stdout.log", "a"),
                            stderr=subprocess.STDOUT)


def wait_all(procs: list[subprocess.Popen | None]) -> None:
    for p in procs:
        if p is not None and p.wait() != 0:
            raise SystemExit(f"training run failed: {' '.join(p.args)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/recipe"))
    parser.add_argument("--phase-min", type=float, default=45.0,
                        help="training minutes of each run (both phases)")
    parser.add_argument("--phase3-min", type=float, default=0.0,
                        help="then continue the phase-2 winner alone for this many minutes (0: no phase 3)")
    parser.add_argument("--out", type=Path, default=Path("resources/models/htrjand-student"))
    parser.add_argument("--max-train-lines", type=int, help="subset, for a quick smoke run")
    args = parser.parse_args(argv)
    extra = ["--max-train-lines", str(args.max_train_lines)] if args.max_train_lines else []
    r, m = args.runs, args.phase_min
    wait_all([launch(r / "student", "student", "phase1.json", m, extra),
              launch(r / "teacher", "teacher", "phase1.json", m, extra)])
    init = ["--init", str(r / "student" / "best.pt")]
    wait_all([launch(r / "student-alone", "student", "phase2.json", m, extra + init),
              launch(r / "student-kd", "student", "phase2.json", m,
                     extra + init + ["--teacher", str(r / "teacher" / "best.pt")])])
    results = {name: json.loads((r / name / "done.json").read_text())
               for name in ("student", "teacher", "student-alone", "student-kd")}
    winner = min(("student-alone", "student-kd"), key=lambda n: results[n]["best_cer"])
    comparison = {"budget_min_per_phase": m, "val_cer_greedy": {
        n: round(v["best_cer"], 4) for n, v in results.items()}, "shipped": winner,
        "note": "phase 2 continues the phase-1 student for the same CPU time, alone or "
                "distilled (alpha * CTC + (1 - alpha) * T^2 * KL) from the phase-1 teacher"}
    shipped, recipe = winner, f"python -m training.recipe --runs {r} --phase-min {m}"
    if args.phase3_min > 0:
        wait_all([launch(r / "student-phase3", "student", "phase2.json", args.phase3_min,
                         extra + ["--init", str(r / winner / "best.pt")])])
        results["student-phase3"] = json.loads((r / "student-phase3" / "done.json").read_text())
        if results["student-phase3"]["best_cer"] < results[winner]["best_cer"]:
            shipped = "student-phase3"
        recipe += f" --phase3-min {args.phase3_min:g}"
        comparison["phase3"] = {"continues": winner, "minutes": args.phase3_min,
                                "val_cer_greedy": round(results["student-phase3"]["best_cer"], 4)}
    print(json.dumps(comparison, indent=1), flush=True)
    from training.export import export_model_folder

    export_model_folder(r / shipped / "best.pt", args.out, name=args.out.name,
                        extra={"distillation_comparison": comparison,
                               "recipe": f"{recipe} --out {args.out}",
                               "runs_training_min": {n: round(v["elapsed_s"] / 60, 1)
                                                     for n, v in results.items()}})
    print(f"exported {shipped} to {args.out}", flush=True)
    from training.lm_tune import tune

    decoding = tune(args.out)  # character LM + beam settings chosen on val lines
    print(f"beam decoding settings: {json.dumps(decoding)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
