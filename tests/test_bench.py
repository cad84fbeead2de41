"""`harness bench` (CLI, table and JSON) and the benchmark scripts at tiny sizes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("examples_per_s", "batch_p50_ms", "batch_p95_ms", "example_p50_ms", "example_p95_ms",
          "peak_host_mb", "host_delta_mb", "load_s", "parameters_m")


def test_bench_two_models_side_by_side(tiny_model_path):
    result = CliRunner().invoke(cli, ["bench", "--data", "samples", "--model", str(tiny_model_path), "--compare", str(tiny_model_path),
                                      "--task", "xnli", "--language", "de", "--limit", "16", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    text = result.output
    for expected in ("model", "compare", "compare / model", "examples/s", "batch p50 ms", "batch p95 ms",
                     "example p50 ms", "peak host MB", "xnli (de, test): 16 examples"):
        assert expected in text, expected
    assert text.count(str(tiny_model_path)) >= 2   # both models named


def test_bench_json_fields_and_ratios(tiny_model_path):
    result = CliRunner().invoke(cli, ["bench", "--data", "samples", "-m", str(tiny_model_path), "-c", str(tiny_model_path), "-t", "xnli",
                                      "-l", "de", "--limit", "16", "--batch-size", "4", "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["task"], report["language"], report["split"], report["examples"]) == ("xnli", "de", "test", 16)
    assert len(report["models"]) == 2
    for figures in report["models"]:
        for field in FIELDS:
            assert isinstance(figures[field], (int, float)), field
        assert figures["examples"] == 16 and figures["batches"] == 4
        assert figures["examples_per_s"] > 0 and figures["peak_host_mb"] > 0
        assert figures["batch_p95_ms"] >= figures["batch_p50_ms"] > 0
    assert set(report["ratios"]) >= {"examples_per_s", "batch_p50_ms", "peak_host_mb"}


def test_bench_loads_a_checkpoint_directory_and_other_formats(tiny_model, tmp_path):
    checkpoint = tmp_path / "ckpt"
    tiny_model.save(checkpoint, meta={"note": "test"})
    result = CliRunner().invoke(cli, ["bench", "--data", "samples", "-m", str(checkpoint), "-t", "udpos", "-l", "de", "--limit", "6",
                                      "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    figures = report["models"][0]
    assert figures["checkpoint"] is True and figures["source"].endswith("encoder")
    assert "ratios" not in report
    result = CliRunner().invoke(cli, ["bench", "--data", "samples", "-m", str(checkpoint), "-t", "xquad", "-l", "en", "--limit", "3",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "compare" not in result.output


def test_bench_user_errors(tiny_model_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "--data", "samples", "-m", str(tiny_model_path), "-t", "xnli", "-l", "xx"])
    assert result.exit_code == 2 and "error" in result.output
    result = runner.invoke(cli, ["bench", "--data", "samples", "-m", str(tiny_model_path), "-t", "tatoeba", "-l", "de"])
    assert result.exit_code == 2 and "no task head" in result.output


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def test_bench_encode_script_runs(tiny_model_path, tmp_path):
    out = tmp_path / "encode.json"
    done = _script("bench_encode.py", "--model", str(tiny_model_path), "--n", "24", "--naive-n", "6",
                   "--repeats", "1", "--batch-size", "8", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "vs sentence-transformers" in done.stdout and "of matmul" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["max_diff_st"] < 1e-4 and figures["implementations"]["harness"]["sentences_per_s"] > 0


def test_bench_train_script_runs(tiny_model_path, tmp_path):
    out = tmp_path / "train.json"
    done = _script("bench_train.py", "--model", str(tiny_model_path), "--n", "24", "--dev-n", "6",
                   "--batch-size", "8", "--repeats", "1", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert set(figures["implementations"]) == {"harness", "HF Trainer"}
    assert figures["implementations"]["harness"]["steps"] == figures["implementations"]["HF Trainer"]["steps"] == 3
    assert "harness / HF Trainer" in done.stdout


def test_bench_eval_script_runs_with_identical_predictions(tiny_model_path, tmp_path):
    out = tmp_path / "eval.json"
    done = _script("bench_eval.py", "--model", str(tiny_model_path), "--n-tagging", "12", "--n-qa", "6",
                   "--batch-size", "4", "--repeats", "1", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())["tasks"]
    assert figures["udpos"]["identical_predictions"] and figures["xquad"]["identical_predictions"]


def test_bench_mining_script_runs():
    if not (ROOT / "benchmarks" / "bench_mining.py").exists():
        pytest.skip("bench_mining.py is not there")
    done = _script("bench_mining.py", "--n", "300", "--dim", "16")
    assert done.returncode == 0, done.stdout + done.stderr
