#!/usr/bin/env bash
# Set up the virtualenv in .venv: the harness with its test extras and the two example third-party
# plugins. torch is pinned to the CPU build here (dev/test only; users may use any torch>=2.1).
#
#   bash scripts/setup.sh           reuse .venv when it was built from the same dependencies
#                                   (a hash of the pyproject.toml files, this script and the Python
#                                   version, kept in .venv); rebuild it when they changed
#   bash scripts/setup.sh --fresh   always rebuild it from scratch (what CI does)
#
# Reusing keeps whatever else was installed into .venv (a plugin of your own); a rebuild removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
FRESH=0
for arg in "$@"; do
    case "$arg" in
        --fresh) FRESH=1 ;;
        *) echo "setup.sh: unknown argument '$arg' (expected --fresh)" >&2; exit 2 ;;
    esac
done
STAMP="$VENV/.harness-setup-hash"
wanted=$({ cat pyproject.toml examples/*/pyproject.toml scripts/setup.sh; "$PYTHON" -c 'import sys; print(sys.version)'; } \
         | sha256sum | cut -d' ' -f1)
if [ "$FRESH" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] \
        && "$VENV/bin/python" -c "import harness, sys; sys.exit(not harness.__file__.startswith(sys.argv[1]))" \
           "$(pwd)/" 2>/dev/null; then
    echo "environment ready: $VENV (reused: its dependencies are unchanged; --fresh rebuilds it)"
    exit 0
fi
if [ -d "$VENV" ]; then
    reason=$([ "$FRESH" = 1 ] && echo "--fresh" || echo "its dependencies changed or it is incomplete")
    echo "rebuilding $VENV ($reason): anything else installed into it is removed"
fi
rm -f "$STAMP"
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test,bench]" \
    -e examples/harness-example-plugin -e examples/harness-example-format
echo "$wanted" > "$STAMP"   # written last: an interrupted install is rebuilt next time
echo "environment ready: $VENV"
