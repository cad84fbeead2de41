#!/usr/bin/env bash
# Set everything up from scratch and run the main job offline: the `demo` preset (MiniLM, MNLI
# intermediate training, XNLI and Tatoeba zero-shot on the bundled samples).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/harness eval --preset demo --output-dir runs/demo --log-samples "$@"
