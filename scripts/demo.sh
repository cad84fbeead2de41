#!/usr/bin/env bash
# Set up (or reuse) .venv and run the main job offline: the `demo` preset (MiniLM, MNLI intermediate
# training, XNLI and Tatoeba zero-shot on the bundled samples). Target checkpoints are not kept
# (--keep-checkpoints intermediate; pass --keep-checkpoints all to keep them). A first argument
# --fresh rebuilds .venv from scratch; the other arguments go to `harness eval`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fresh" ]; then shift; bash scripts/setup.sh --fresh; else bash scripts/setup.sh; fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/harness eval --preset demo --output-dir runs/demo --log-samples --keep-checkpoints intermediate "$@"
