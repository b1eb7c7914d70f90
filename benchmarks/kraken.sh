#!/usr/bin/env bash
# kraken beside HTR-JAND on the same lines, for the same time.
#
# Usage (run it niced on a shared machine: nice -n 19 benchmarks/kraken.sh ...):
#   benchmarks/kraken.sh install
#   benchmarks/kraken.sh recognition [--minutes OURS] [--clock cpu|wall] [--threads 2] [--freq 0.1]
#                                    [--eval-lines 100] [--val-lines 0] [-- EXTRA KETOS TRAIN ARGS]
#   benchmarks/kraken.sh finetune [--lines 100] [--minutes 5] [--clock wall|cpu] [--threads 2]
#                                 [--test-lines 0] [--base MODEL.safetensors|.mlmodel]
#                                 [-- EXTRA KETOS TRAIN ARGS]
#
# install      kraken into its own virtual environment ($KRAKEN_VENV, default runs/kraken/venv),
#              never into the project's: torch==$KRAKEN_TORCH (2.13.0, the CPU build pip takes
#              from this machine's disk) first, then kraken==$KRAKEN_VERSION (7.1.1) constrained
#              to that torch, so no CUDA build is ever downloaded. PyPI's torchvision beside a CPU
#              torch cannot load its CUDA-built C ops ("operator torchvision::nms does not
#              exist"); kraken uses only torchvision's Python transforms, so the script makes
#              torchvision skip registering those ops (a one-line guard in that venv only).
# recognition  ketos train from scratch (kraken's default VGSL net, -d cpu) on hooker+poilus
#              train for --minutes of training-loop time (default: as long as our bundled
#              model trained, its card's cpu_time_s with the run it continued: 96 min), counted
#              like our trainer counts it (validation and setup excluded) on the process's CPU
#              clock (--clock cpu, all threads summed; --clock wall for wall time); model
#              selection on the val split like ours (--eval-lines per collection, validated
#              every --freq epoch); then ketos test on each val collection, kraken's lines/s
#              with --threads torch threads, and ours on the same lines.
# finetune     ketos train --load BASE on the first --lines lines of cremma-abrege's pool
#              (kraken holds back 10 % of them for model selection, as our fine-tuning holds
#              back lines), test on cremma-abrege's test pages: CER before/after, wall time.
#              kraken's own pretrained base model cannot be downloaded here (Zenodo is no
#              package registry): without --base the model of `recognition` stands in for it.
#
# Lines: benchmarks/kraken_lines.py export cuts them with the engine's own cutter (the pixels and
# NFC texts our recognizer trains and is tested on) at kraken's input height ($KRAKEN_HEIGHT, 120) into
# runs/kraken/lines/<set>/NNNNNN.png + .gt.txt (kraken's `path` format) with manifests <set>.txt.
# Figures: a table on stdout and runs/kraken/{recognition,finetune}.json. `recognition` replaces
# runs/kraken/recognition/ (its model is finetune's stand-in base); logs lie beside the models.
# --eval-lines K / --val-lines N / --test-lines T: K (N) val lines per collection, evenly
# sampled, for model selection (for testing and speed), T of cremma-abrege's test lines; 0 = all.
# Small values only for smoke runs: kraken's default network is slow on a CPU.
# --threads: on a machine another job keeps busy, use 1; two torch threads that share a busy
# core wait on each other (seen here: kraken 0.2 lines/s on 2 threads, 4.3 on 1).

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${KRAKEN_WORK:-$REPO/runs/kraken}"
VENV="${KRAKEN_VENV:-$WORK/venv}"
KRAKEN_VERSION="${KRAKEN_VERSION:-7.1.1}"
KRAKEN_TORCH="${KRAKEN_TORCH:-2.13.0}"
BASE_PYTHON="${KRAKEN_BASE_PYTHON:-python3}"
PROJECT_PY="${HTRJAND_PYTHON:-$REPO/.venv/bin/python}"
HELPER="$REPO/benchmarks/kraken_lines.py"
LINES="$WORK/lines"
HEIGHT="${KRAKEN_HEIGHT:-120}"

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "kraken.sh: $*" >&2; exit 2; }
log() { echo "[kraken.sh $(date +%H:%M:%S)] $*" >&2; }

install_kraken() {
    # Create the venv and install kraken once; later calls reuse it (stamp = versions.json).
    if [[ -x "$VENV/bin/ketos" && -f "$WORK/versions.json" ]]; then
        return 0
    fi
    mkdir -p "$WORK"
    local t0 constraints
    t0=$(date +%s)
    log "creating $VENV (torch==$KRAKEN_TORCH, kraken==$KRAKEN_VERSION)"
    "$BASE_PYTHON" -m venv "$VENV"
    constraints="$WORK/constraints.txt"
    echo "torch==$KRAKEN_TORCH" > "$constraints"
    # The torch wheel itself from this machine's own files only (pip's find-links, no index), so a
    # missing local CPU build stops here instead of downloading a CUDA build of several GB;
    # KRAKEN_TORCH_DOWNLOAD=1 lifts that. Then its small dependencies from the registry.
    if [[ "${KRAKEN_TORCH_DOWNLOAD:-0}" != 1 ]] && \
            ! "$VENV/bin/pip" install -q --no-index --no-deps "torch==$KRAKEN_TORCH" 2>"$WORK/pip.err"; then
        grep -v "^WARNING: Location" "$WORK/pip.err" >&2 || true
        die "no local wheel of torch==$KRAKEN_TORCH (see pip's find-links); not downloading one (KRAKEN_TORCH_DOWNLOAD=1 to allow)"
    fi
    "$VENV/bin/pip" install -q "torch==$KRAKEN_TORCH" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -W ignore -c "import torch; assert torch.version.cuda is None, torch.__version__" \
        || echo "kraken.sh: warning: torch==$KRAKEN_TORCH is not a CPU-only build" >&2
    if ! "$VENV/bin/pip" install -q -c "$constraints" "kraken==$KRAKEN_VERSION" 2>"$WORK/pip.err"; then
        grep -v "^WARNING: Location" "$WORK/pip.err" >&2 || true
        die "kraken==$KRAKEN_VERSION refuses torch==$KRAKEN_TORCH; set KRAKEN_VERSION to a release whose torch range includes it"
    fi
    if ! "$VENV/bin/python" -c "import torchvision" 2>"$WORK/tv.err"; then
        grep -q "torchvision::nms" "$WORK/tv.err" || { cat "$WORK/tv.err" >&2; die "torchvision fails to import"; }
        log "torchvision's C ops were built for CUDA torch; skipping their registration (venv only)"
        "$VENV/bin/python" - <<'EOF'
import pathlib, sysconfig
p = pathlib.Path(sysconfig.get_paths()["purelib"]) / "torchvision" / "__init__.py"
s = p.read_text()
old = "from torchvision import (\n    _autograd_registrations,\n    _meta_registrations,\n"
assert old in s, "unknown torchvision layout"
s = s.replace(old, "from torchvision import (\n")
s = s.replace(")  # usort:skip\n", ")  # usort:skip\n\nif extension._has_ops():  # patched by "
              "benchmarks/kraken.sh: CUDA-built _C beside a CPU torch\n"
              "    from torchvision import _autograd_registrations, _meta_registrations  # noqa\n", 1)
p.write_text(s)
EOF
        "$VENV/bin/python" -c "import torchvision" || die "torchvision still fails to import"
    fi
    "$VENV/bin/python" - "$WORK/versions.json" "$(( $(date +%s) - t0 ))" <<'EOF'
import json, sys, importlib.metadata as md, platform
pk = ["kraken", "torch", "torchvision", "lightning", "numpy"]
v = {p: md.version(p) for p in pk}
import torchvision  # its own version string tells the build (+cu...: CUDA ops, unused here)
v["torchvision"] = torchvision.__version__
v.update(python=platform.python_version(), install_s=int(sys.argv[2]))
open(sys.argv[1], "w").write(json.dumps(v))
EOF
    log "installed in $(( $(date +%s) - t0 )) s; venv $(du -sh "$VENV" | cut -f1)"
}

versions() { cat "$WORK/versions.json"; }

export_lines() {
    # Cut the lines once (idempotent): train, val per collection, cremma pool and test.
    log "exporting lines to $LINES (engine cutter, height $HEIGHT)"
    "$PROJECT_PY" "$HELPER" export --out "$LINES" --height "$HEIGHT" \
        --finetune-lines "$@" >/dev/null
}

best_model() {
    # Highest-scoring best_<accuracy>.safetensors kraken wrote in a ketos -o directory.
    local f b
    for f in "$1"/best_*.safetensors; do
        [[ -f "$f" ]] || continue
        b="${f##*/best_}"
        echo "${b%.safetensors} $f"
    done | sort -g | tail -n 1 | cut -d' ' -f2-
}

ketos_cer() {
    # ketos test MODEL MANIFEST -> CER in % (100 - kraken's "Character Accuracy").
    local out
    out=$("$VENV/bin/ketos" --threads "$THREADS" -d cpu test -m "$1" -f path -e "$2" 2>&1) \
        || { echo "$out" | tail -n 20 >&2; die "ketos test failed on $2"; }
    local cer
    cer=$(echo "$out" | awk '/Character Accuracy$/ && !done {sub("%","",$1); printf "%.2f\n", 100-$1; done=1}')
    [[ -n "$cer" ]] || { echo "$out" | tail -n 20 >&2; die "no Character Accuracy in ketos test's report"; }
    echo "$cer"
}

manifest() {
    # Manifest of a val set, sampled to $2 lines when $2 > 0.
    if [[ "$2" -gt 0 ]]; then echo "$LINES/$1-$2.txt"; else echo "$LINES/$1.txt"; fi
}

cmd_recognition() {
    local minutes="" clock=cpu freq=0.1 eval_lines=100 val_lines=0
    THREADS=2
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --minutes) minutes="$2"; shift 2 ;;
            --clock) clock="$2"; shift 2 ;;
            --threads) THREADS="$2"; shift 2 ;;
            --freq) freq="$2"; shift 2 ;;
            --eval-lines) eval_lines="$2"; shift 2 ;;
            --val-lines) val_lines="$2"; shift 2 ;;
            --) shift; break ;;
            -h|--help) usage ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
    done
    install_kraken
    [[ -n "$minutes" ]] || minutes=$("$PROJECT_PY" "$HELPER" budget)
    export_lines 25 50 100 200 --eval-lines "$eval_lines" "$val_lines"
    local run="$WORK/recognition" eval_set
    rm -rf "$run"; mkdir -p "$run"
    eval_set=("-e" "$(manifest val-hooker "$eval_lines")" "-e" "$(manifest val-poilus "$eval_lines")")
    log "ketos train from scratch: $minutes min of $clock time, $THREADS threads, val every $freq epoch"
    local t0=$SECONDS rc=0
    "$VENV/bin/python" "$HELPER" train --minutes "$minutes" --clock "$clock" --log "$run/train.json" -- \
        --threads "$THREADS" --workers 0 train -f path -o "$run/model" -F "$freq" -q early \
        -u NFC -t "$LINES/train.txt" "${eval_set[@]}" "$@" > "$run/ketos-train.log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] || { tail -n 30 "$run/ketos-train.log" >&2; die "ketos train failed (rc $rc); log $run/ketos-train.log"; }
    local model; model=$(best_model "$run/model")
    [[ -n "$model" ]] || die "ketos wrote no best model; log $run/ketos-train.log"
    log "best model $model (train $(( SECONDS - t0 )) s wall)"
    local cer_h cer_p
    cer_h=$(ketos_cer "$model" "$(manifest val-hooker "$val_lines")")
    cer_p=$(ketos_cer "$model" "$(manifest val-poilus "$val_lines")")
    log "ketos test: hooker CER $cer_h %, poilus CER $cer_p %; timing recognition"
    "$VENV/bin/python" "$HELPER" speed --model "$model" --threads "$THREADS" --out "$run/hyp.json" \
        --manifest "$(manifest val-hooker "$val_lines")" "$(manifest val-poilus "$val_lines")" > "$run/speed.json"
    "$PROJECT_PY" "$HELPER" score --hyp "$run/hyp.json" > "$run/score.json"
    log "our recognizer on the same val lines"
    "$PROJECT_PY" "$HELPER" ours --threads "$THREADS" --max-lines "$val_lines" --out "$run/ours.json" >/dev/null
    "$PROJECT_PY" - "$WORK" "$model" "$cer_h" "$cer_p" "$val_lines" <<'EOF'
import json, sys
from pathlib import Path
work, model, cer_h, cer_p, val_lines = Path(sys.argv[1]), sys.argv[2], *map(float, sys.argv[3:5]), int(sys.argv[5])
run = work / "recognition"
train, speed = json.loads((run / "train.json").read_text()), json.loads((run / "speed.json").read_text())
score, ours = json.loads((run / "score.json").read_text()), json.loads((run / "ours.json").read_text())
versions = json.loads((work / "versions.json").read_text())
s_h, s_p = score.get(f"val-hooker-{val_lines}", score.get("val-hooker")), score.get(f"val-poilus-{val_lines}", score.get("val-poilus"))
fig = {"versions": versions, "model": model, "train": train,
       "kraken": {"ketos_test_cer": {"hooker": cer_h / 100, "poilus": cer_p / 100},
                  "our_metric_cer": {"hooker": s_h["cer"], "poilus": s_p["cer"]},
                  "lines_per_s": speed["lines_per_s"], "threads": speed["threads"], "lines": speed["lines"]},
       "ours": ours, "val_lines_per_collection": val_lines or "all"}
(work / "recognition.json").write_text(json.dumps(fig, indent=1))
v = versions
print(f"\nkraken {v['kraken']} (torch {v['torch']}, torchvision {v['torchvision']}, lightning {v['lightning']}, "
      f"Python {v['python']}, installed in {v['install_s']} s)")
print(f"kraken trained {train['train_s']:.0f} s of {train['clock']} time in the training loop (budget "
      f"{train['budget_s']:.0f} s, {train['steps']} steps of batch 1, {train['val_passes']} validations; "
      f"process: {train['cpu_s']:.0f} CPU s, {train['wall_s']:.0f} wall s); ours trained "
      f"{ours['training_s']:.0f} s on {ours['training_threads']} thread(s)")
print("| | val CER hooker | val CER poilus | lines/s (%d threads) |" % speed["threads"])
print("|---|---|---|---|")
print(f"| kraken (ketos test) | {cer_h / 100:.2%} | {cer_p / 100:.2%} | {speed['lines_per_s']} |")
print(f"| kraken (our CER metric) | {s_h['cer']:.2%} | {s_p['cer']:.2%} | |")
print(f"| HTR-JAND {ours['model']} (greedy, ONNX Runtime) | {ours['val']['hooker']['cer']:.2%} | "
      f"{ours['val']['poilus']['cer']:.2%} | {ours['lines_per_s']} |")
print(f"({s_h['lines']} + {s_p['lines']} val lines; figures in {work / 'recognition.json'})")
EOF
}

cmd_finetune() {
    local n=100 minutes=5 clock=wall base="" test_lines=0
    THREADS=2
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --lines) n="$2"; shift 2 ;;
            --minutes) minutes="$2"; shift 2 ;;
            --clock) clock="$2"; shift 2 ;;
            --threads) THREADS="$2"; shift 2 ;;
            --base) base="$2"; shift 2 ;;
            --test-lines) test_lines="$2"; shift 2 ;;
            --) shift; break ;;
            -h|--help) usage ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
    done
    local stand_in=false
    if [[ -z "$base" ]]; then
        base=$(best_model "$WORK/recognition/model")
        [[ -n "$base" ]] || die "no --base given, kraken's own pretrained base model cannot be downloaded here (Zenodo is not a package registry), and no stand-in exists: run 'benchmarks/kraken.sh recognition' first or pass --base MODEL"
        stand_in=true
        log "NOTE: kraken's own base model is not available here; the model of 'recognition' ($base) stands in for it"
    fi
    [[ -f "$base" ]] || die "no base model $base"
    install_kraken
    export_lines 25 50 100 200 "$n" --eval-lines "$test_lines"
    local run="$WORK/finetune-$n" test; test=$(manifest cremma-test "$test_lines")
    rm -rf "$run"; mkdir -p "$run"
    local before after
    before=$(ketos_cer "$base" "$test")
    log "base test CER $before %; ketos train --load on $n lines, $minutes min of $clock time"
    local t0=$SECONDS rc=0
    "$VENV/bin/python" "$HELPER" train --minutes "$minutes" --clock "$clock" --log "$run/train.json" -- \
        --threads "$THREADS" --workers 0 train --load "$base" --resize union -f path -o "$run/model" \
        -F 1 -q early -u NFC -p 0.9 -t "$LINES/cremma-finetune-$n.txt" "$@" > "$run/ketos-train.log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] || { tail -n 30 "$run/ketos-train.log" >&2; die "ketos train failed (rc $rc); log $run/ketos-train.log"; }
    local wall=$(( SECONDS - t0 )) model
    model=$(best_model "$run/model")
    [[ -n "$model" ]] || die "ketos wrote no best model; log $run/ketos-train.log"
    after=$(ketos_cer "$model" "$test")
    "$PROJECT_PY" - "$WORK" "$run" "$base" "$stand_in" "$n" "$before" "$after" "$wall" "$model" "$test" <<'EOF'
import json, sys
from pathlib import Path
work, run, base, stand_in, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "true", int(sys.argv[5])
before, after, wall, model = float(sys.argv[6]) / 100, float(sys.argv[7]) / 100, int(sys.argv[8]), sys.argv[9]
test_lines = len(Path(sys.argv[10]).read_text().split())
train = json.loads((run / "train.json").read_text())
versions = json.loads((work / "versions.json").read_text())
row = {"versions": versions, "base": base, "base_is_stand_in": stand_in, "lines": n,
       "test_cer_before": round(before, 4), "test_cer_after": round(after, 4),
       "test_lines": test_lines, "wall_s": wall, "train": train, "model": model}
out = work / "finetune.json"
rows = json.loads(out.read_text()) if out.is_file() else []
rows = [r for r in rows if r.get("lines") != n] + [row]
out.write_text(json.dumps(rows, indent=1))
print(f"\nkraken {versions['kraken']} ketos train --load, base {base}"
      + (" (STAND-IN: the model of `recognition`, not kraken's pretrained base)" if stand_in else ""))
print("| lines | test CER before → after | wall s (all of ketos train) | training-loop s | steps |")
print("|---|---|---|---|---|")
print(f"| {n} | {before:.1%} → {after:.1%} | {wall} | {train['train_s']:.0f} ({train['clock']}) | {train['steps']} |")
print(f"(cremma-abrege test, {test_lines} lines; ours: python benchmarks/finetune.py --sizes {n}; figures in {out})")
EOF
}

[[ $# -ge 1 ]] || usage 1
sub="$1"; shift
case "$sub" in
    install) install_kraken; versions; echo; du -sh "$VENV" ;;
    recognition) cmd_recognition "$@" ;;
    finetune) cmd_finetune "$@" ;;
    -h|--help|help) usage ;;
    *) usage 1 ;;
esac
