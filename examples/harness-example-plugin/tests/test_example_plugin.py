"""Tests of the example plugin that need only the harness and this package installed: no fixture of
the harness's own test suite (``harness.testing`` builds the model and runs the CLI)."""
from __future__ import annotations

import json

import pytest

from harness.results.records import read_records, validate_record
from harness.testing import build_tiny_model, run_cli


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def test_the_task_is_registered_through_the_entry_point():
    result = run_cli("tasks", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["xsent"]["status"] == "ok" and rows["xsent"]["plugin"] == "example"
    assert rows["xsent"]["languages"] == ["en", "de", "ru", "zh"]


@pytest.mark.slow
def test_end_to_end_with_the_observer(tiny_model, tmp_path):
    log = tmp_path / "xsent.log"
    result = run_cli("eval", "--model", tiny_model, "--targets", "xsent", "--limit", "8", "--hparam", "epochs=1",
                     "--device", "cpu", "-o", tmp_path / "run", env={"HARNESS_EXAMPLE_LOG": str(log)})
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "run" / "results.jsonl")
    assert all(validate_record(record) == [] for record in records)
    results = [r for r in records if r["type"] == "result"]
    assert sorted(r["language"] for r in results) == ["de", "en", "ru", "zh"]
    assert all(r["hparams"]["batch_size"] == 8 for r in results)          # the default_spec's hparams
    assert len(log.read_text(encoding="utf-8").splitlines()) == len(records)


@pytest.mark.slow
def test_a_bad_row_is_one_line_naming_file_row_and_field(tiny_model, tmp_path):
    data = tmp_path / "my-xsent"
    data.mkdir()
    row = {"sentence": "Gut.", "polarity": "positive"}
    (data / "train-en.jsonl").write_text("\n".join(json.dumps({**row, "id": f"t{i}"}) for i in range(4)) + "\n")
    (data / "test-de.jsonl").write_text(json.dumps({**row, "polarity": "maybe"}) + "\n")
    # a --tasks-file entry overrides the default_spec key by key: only languages and local here
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("tasks:\n  xsent:\n    languages: [en, de]\n    local: my-xsent\n")
    result = run_cli("eval", "--model", tiny_model, "--targets", "xsent", "-l", "xsent=de", "--hparam", "epochs=1",
                     "--device", "cpu", "--tasks-file", tasks, "-o", tmp_path / "run")
    assert result.exit_code == 2, result.output
    (error,) = [r for r in read_records(tmp_path / "run" / "results.jsonl") if r["type"] == "error"]
    assert error["error_type"] == "DataError"
    assert error["message"].startswith(f"{data / 'test-de.jsonl'}, row 1, field 'polarity': expected ")
    assert error["message"].endswith("got 'maybe'") and "\n" not in error["message"]
