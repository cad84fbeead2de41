"""Tests of the example format plugin that need only the harness and this package installed
(``harness.testing`` builds the model and runs the CLI)."""
from __future__ import annotations

import json

import pytest

from harness.results.records import read_records, validate_record
from harness.testing import build_tiny_model, run_cli
from harness_example_format import correlations


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def test_correlations_against_hand_computed_values():
    assert correlations([1, 2, 3], [2, 4, 6]) == pytest.approx({"pearson": 1.0, "spearman": 1.0})
    assert correlations([1, 2, 3], [3, 2, 1]) == pytest.approx({"pearson": -1.0, "spearman": -1.0})
    assert correlations([1, 2, 3], [1, 3, 2])["spearman"] == pytest.approx(0.5)
    assert correlations([1, 1, 1], [1, 2, 3]) == {"pearson": 0.0, "spearman": 0.0}   # constant gold


def test_format_metric_and_task_are_registered():
    result = run_cli("tasks", "--json")
    assert result.exit_code == 0, result.output
    xsts = {row["name"]: row for row in json.loads(result.stdout)}["xsts"]
    assert (xsts["status"], xsts["format"], xsts["metric"]) == ("ok", "sentence_pair_regression", "pearson_spearman")


@pytest.mark.slow
def test_end_to_end(tiny_model, tmp_path):
    result = run_cli("eval", "--model", tiny_model, "--targets", "xsts", "-l", "xsts=en,de", "--limit", "8",
                     "--hparam", "epochs=1", "--device", "cpu", "-o", tmp_path / "run")
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "run" / "results.jsonl")
    assert all(validate_record(record) == [] for record in records)
    results = {r["language"]: r for r in records if r["type"] == "result"}
    assert set(results) == {"en", "de"}
    for record in results.values():
        assert -1.0 <= record["metrics"]["spearman"] <= 1.0 and record["main_score"]["value"] == record["metrics"]["spearman"]
