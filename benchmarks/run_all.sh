#!/usr/bin/env bash
# Run every benchmark and keep its table (.log) and figures (.json) under $OUT.
#
#   bash benchmarks/run_all.sh            # default sizes (about 40-60 minutes on 2 busy CPU cores)
#   bash benchmarks/run_all.sh --quick    # smoke run: tiny sizes, a few minutes (its ratios mean little)
#   bash benchmarks/run_all.sh --full     # the full sizes quoted in BENCHMARKS.md (hours on 2 cores)
#
# Environment: PYTHON (default .venv/bin/python, else python3), OUT (default runs/benchmarks),
# MINING_N (sentences per side for bench_mining.py; default 20000, 100000 with --full = BUCC scale),
# THREADS (torch threads for every benchmark; default: torch's choice).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
OUT=${OUT:-runs/benchmarks}
MODE=${1:-default}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
THREADS_ARG=()
[ -n "${THREADS:-}" ] && THREADS_ARG=(--threads "$THREADS")

case "$MODE" in
  --quick) ENCODE=(--n 200 --naive-n 50 --repeats 1 --chunks 1); TRAIN=(--n 96 --dev-n 30 --repeats 1)
           EVAL=(--n-tagging 80 --n-qa 40 --repeats 1 --chunks 1); MINING_N=${MINING_N:-5000}
           CANDIDATES=(--n 500 --repeats 1 --shard-mb 0.25); ENGINE=(--n 100 --predict-n 40 --repeats 1 --chunks 2) ;;
  --full)  ENCODE=(--n 5000 --naive-n 0 --repeats 3); TRAIN=(--n 2000 --epochs 2 --repeats 3)
           EVAL=(--n-tagging 1000 --n-qa 1000 --repeats 3); MINING_N=${MINING_N:-100000}
           CANDIDATES=(--n 50000 --repeats 2 --shard-mb 8); ENGINE=(--n 3000 --predict-n 1000 --repeats 3 --chunks 12) ;;
  default) ENCODE=(); TRAIN=(); EVAL=(); MINING_N=${MINING_N:-20000}; CANDIDATES=(); ENGINE=() ;;
  *) echo "usage: bash benchmarks/run_all.sh [--quick|--full]" >&2; exit 2 ;;
esac

mkdir -p "$OUT"
status=0
run() {  # name, command...
  local name=$1; shift
  echo "=== $name: $*" | tee "$OUT/$name.log"
  if ! "$@" 2>"$OUT/$name.err" | tee -a "$OUT/$name.log"; then
    echo "!!! $name failed (stderr in $OUT/$name.err)" | tee -a "$OUT/$name.log"
    status=1
  fi
  echo
}
run encode "$PYTHON" benchmarks/bench_encode.py "${ENCODE[@]}" "${THREADS_ARG[@]}" --json "$OUT/encode.json"
run train "$PYTHON" benchmarks/bench_train.py "${TRAIN[@]}" "${THREADS_ARG[@]}" --json "$OUT/train.json"
run eval "$PYTHON" benchmarks/bench_eval.py "${EVAL[@]}" "${THREADS_ARG[@]}" --json "$OUT/eval.json"
run engine "$PYTHON" benchmarks/bench_engine.py "${ENGINE[@]}" "${THREADS_ARG[@]}" --json "$OUT/engine.json"
run mining "$PYTHON" benchmarks/bench_mining.py --n "$MINING_N"
run candidates "$PYTHON" benchmarks/bench_candidates.py "${CANDIDATES[@]}" "${THREADS_ARG[@]}" --json "$OUT/candidates.json"
run startup "$PYTHON" benchmarks/bench_startup.py --json "$OUT/startup.json"
echo "logs and JSON figures: $OUT"
exit "$status"
