"""Start-up stays light: ``harness --help``, ``harness tasks`` and ``harness plugins`` load every
plugin (built-in, entry points) but import no torch, transformers or datasets."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets")


def run_with_importtime(*args: str) -> tuple[set[str], str]:
    """The modules ``python -X importtime -m harness ARGS`` imported, and its stdout."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_PLUGINS": "", "HARNESS_DISABLE_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", *args], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", result.stderr, re.MULTILINE)
    assert names, "no -X importtime output"
    return set(names), result.stdout


@pytest.mark.parametrize("args", [("--help",), ("tasks",), ("plugins",)], ids=" ".join)
def test_listing_commands_import_no_torch(args):
    modules, stdout = run_with_importtime(*args)
    assert "harness.plugins" in modules                       # the plugins were loaded
    if args != ("--help",):
        assert "xnli" in stdout and "squad" in stdout           # ... and registered their tasks
    assert not [name for name in HEAVY if name in modules]
