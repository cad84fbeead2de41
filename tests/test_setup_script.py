"""scripts/setup.sh reuses a matching .venv, rebuilds it when the dependencies changed or with
--fresh. Run on a copy of the scripts and pyproject files with a stand-in Python that records what
it is asked to do (no real environment is built)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: a stand-in for python3 and the venv's python: logs its arguments; `-m venv --clear DIR` makes DIR
#: with a copy of itself as bin/python; `-c CODE` (the import check) succeeds
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$4/bin"; cp "$0" "$4/bin/python"; chmod +x "$4/bin/python"
elif [ "$1" = "-c" ] && [ "$2" = "import sys; print(sys.version)" ]; then
    echo "3.x fake"
fi
exit 0
"""


@pytest.fixture
def repo(tmp_path):
    for name in ("scripts/setup.sh", "pyproject.toml", "examples/harness-example-plugin/pyproject.toml",
                 "examples/harness-example-format/pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return tmp_path


def setup(repo: Path, *args: str) -> tuple[str, list[str]]:
    log = repo / "calls.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(["bash", str(repo / "scripts" / "setup.sh"), *args], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": str(repo / "fake-python"), "FAKE_LOG": str(log)},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    return result.stdout, [call for call in calls if "-m venv" in call or "pip install" in call]


def test_setup_builds_then_reuses_then_rebuilds(repo):
    out, built = setup(repo)
    assert any("-m venv --clear .venv" in call for call in built) and len(built) == 3   # venv, torch, harness
    assert (repo / ".venv" / ".harness-setup-hash").is_file()
    out, calls = setup(repo)                                   # unchanged: reused, nothing installed
    assert calls == [] and "reused" in out
    out, calls = setup(repo, "--fresh")                        # --fresh: rebuilt
    assert len(calls) == 3 and "rebuilding .venv (--fresh)" in out
    with open(repo / "pyproject.toml", "a") as handle:         # a dependency changed: rebuilt
        handle.write("\n# changed\n")
    out, calls = setup(repo)
    assert len(calls) == 3 and "dependencies changed" in out
    assert setup(repo)[1] == []


def test_interrupted_install_is_rebuilt(repo):
    setup(repo)
    (repo / ".venv" / ".harness-setup-hash").unlink()          # as if pip was killed before the stamp
    assert len(setup(repo)[1]) == 3


def test_unknown_argument_is_refused(repo):
    result = subprocess.run(["bash", str(repo / "scripts" / "setup.sh"), "--fast"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown argument '--fast'" in result.stderr
