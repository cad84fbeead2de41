"""``--model`` is resolved before any work: a path that does not exist, a near miss of an alias and,
offline, a hub id that is not in the local cache are one-line errors with exit code 2, before any
data is read or torch is imported."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.spec.registry import build_registry


def harness(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -X importtime -m harness ARGS`` offline, with an empty Hugging Face cache."""
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_PLUGINS": "", **(env or {})})


def error_and_modules(result: subprocess.CompletedProcess) -> tuple[list[str], set[str]]:
    modules = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", result.stderr, re.MULTILINE))
    lines = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    return lines, modules


def test_alias_typo_is_one_line_with_a_suggestion_before_any_work(tmp_path):
    result = harness("eval", "--model", "minilmm", "--targets", "xnli", "-o", str(tmp_path / "run"),
                     env={"HF_HOME": str(tmp_path / "hf")})
    lines, modules = error_and_modules(result)
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: unknown model alias 'minilmm'"), lines
    assert "did you mean 'minilm'?" in lines[0]
    assert "torch" not in modules and "transformers" not in modules   # failed before loading anything
    assert not (tmp_path / "run").exists()                             # nothing written


def test_offline_hub_id_not_in_cache_is_one_line_without_talk_of_connecting(tmp_path):
    result = harness("eval", "--model", "some-org/some-model", "--targets", "xnli", "-o", str(tmp_path / "run"),
                     env={"HF_HOME": str(tmp_path / "hf")})
    lines, modules = error_and_modules(result)
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, lines
    assert "'some-org/some-model' is not in the local Hugging Face cache" in lines[0]
    assert "offline" in lines[0] and "connect" not in lines[0].lower()
    assert "torch" not in modules
    # an alias that names a hub id is checked the same way, naming both
    lines, _ = error_and_modules(harness("eval", "--model", "xlmr-large", "--targets", "xnli",
                                         env={"HF_HOME": str(tmp_path / "hf")}))
    assert lines == ["error: model 'xlmr-large' (FacebookAI/xlm-roberta-large) is not in the local Hugging Face "
                     "cache and the hub is offline (HF_HUB_OFFLINE); pass a local model directory or an alias "
                     "such as 'minilm'"]


@pytest.fixture
def registry():
    return build_registry()


def fake_cache(root: Path, repo_id: str) -> Path:
    """The layout huggingface_hub writes for a downloaded model: refs/main -> a snapshot with config.json."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    return root


def test_offline_hub_id_in_cache_passes(registry, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(fake_cache(tmp_path, "some-org/cached-model")))
    assert registry.resolve_model("some-org/cached-model") == "some-org/cached-model"
    with pytest.raises(HarnessError, match="not in the local Hugging Face cache"):
        registry.resolve_model("some-org/other-model")
    with pytest.raises(HarnessError, match="not in the local Hugging Face cache"):   # a revision not cached
        registry.resolve_model("some-org/cached-model", revision="v2")


def test_online_hub_ids_are_left_to_the_load(registry, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert registry.resolve_model("some-org/some-model") == "some-org/some-model"
    assert registry.resolve_model("bert-base-multilingual-cased") == "bert-base-multilingual-cased"
    with pytest.raises(HarnessError, match="did you mean 'mbert'"):    # online too: a typo of an alias
        registry.resolve_model("mbertt")


def test_missing_local_path_and_existing_path(registry, tmp_path):
    with pytest.raises(HarnessError, match="unknown model path or alias './no/such'"):
        registry.resolve_model("./no/such")
    assert registry.resolve_model(str(tmp_path)) == str(tmp_path)
    assert Path(registry.resolve_model("minilm")).is_dir()


def test_a_plugin_that_loads_models_its_own_way_keeps_its_names(tmp_path, monkeypatch):
    plugin = tmp_path / "own_loader.py"
    plugin.write_text("from harness import hookimpl\n\n@hookimpl\ndef harness_load_model(model, device, revision):\n"
                      "    return None\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    registry = build_registry(plugins=[str(plugin)])
    assert registry.custom_model_loaders() == ["own_loader"]
    assert registry.resolve_model("minilmm") == "minilmm"
    assert registry.resolve_model("my-store/model-7") == "my-store/model-7"


@pytest.mark.parametrize("name", ["odd[x]", "odd[/x]"])
def test_an_error_message_with_brackets_prints_as_written(tmp_path, name):
    """Error text is not rich markup: ``[x]`` used to vanish from the line, and ``[/x]`` raised a
    MarkupError (a traceback in place of the error being reported)."""
    missing = tmp_path / name / "model"
    result = harness("eval", "--model", str(missing), "--targets", "xnli", "-o", str(tmp_path / "run"))
    lines, _ = error_and_modules(result)
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert str(missing) in lines[0]
