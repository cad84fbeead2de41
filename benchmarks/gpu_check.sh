#!/usr/bin/env bash
# GPU check, under ten minutes on one GPU: bf16 encode and training throughput of an XLM-R-base-sized
# encoder (random weights from a config: nothing is downloaded) as a share of the GPU's bf16 peak,
# `harness bench` fp32 vs bf16 over batch sizes and lengths, peak GPU memory; JSON in runs/gpu_check/.
#
#   bash benchmarks/gpu_check.sh                 # everything (set PYTHON=... for another interpreter)
#   bash benchmarks/gpu_check.sh --tiny --device cpu   # smoke test of the script on a CPU
#
# It uses a CUDA build of torch that is already installed (a GPU image usually has one) and installs
# the harness into a virtualenv that sees it (.venv-gpu, --system-site-packages); without a package
# index it installs the harness alone (--no-deps) and relies on what the image has.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-gpu}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
started=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install --quiet --disable-pip-version-check torch
fi
if ! "$PY" -c "import harness, transformers, accelerate, tokenizers" 2>/dev/null; then
    "$PY" -m pip install --quiet --disable-pip-version-check -e . \
        || "$PY" -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
"$PY" - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}",
      f"({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "")
EOF
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv || true
fi

"$PY" benchmarks/gpu_check.py "$@"
echo "gpu_check: $(( $(date +%s) - started )) s"
