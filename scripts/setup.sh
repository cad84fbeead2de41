#!/usr/bin/env bash
# Create a fresh virtualenv in .venv and install the harness with its test extras and the two example
# third-party plugins. torch is pinned to the CPU build here (dev/test only; users may use any torch>=2.1).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test,bench]" \
    -e examples/harness-example-plugin -e examples/harness-example-format
echo "environment ready: $VENV"
