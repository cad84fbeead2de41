#!/usr/bin/env bash
# Set up (or reuse) .venv, lint, type-check and run the test suite (CI runs it after a fresh set-up).
# A first argument --fresh rebuilds .venv from scratch; the other arguments go to pytest:
# `bash scripts/test.sh -m "not slow"` is the fast tier.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fresh" ]; then shift; bash scripts/setup.sh --fresh; else bash scripts/setup.sh; fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
.venv/bin/mypy
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$status"
