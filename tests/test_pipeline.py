"""End-to-end behaviour of `harness eval`: records, reuse, determinism, isolation, user errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.results.records import read_records, validate_record


def run_eval(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["eval", *args], env=env, catch_exceptions=False)


def tiny_args(model: Path, out: Path, *extra: str, xnli: str = "en,de") -> list[str]:
    return ["--model", str(model), "--intermediate", "mnli", "--targets", "xnli,tatoeba",
            "-l", f"xnli={xnli}", "-l", "tatoeba=de", "--limit", "12", "--hparam", "epochs=1",
            "--hparam", "batch_size=8", "--data", "samples", "-o", str(out), *extra]


@pytest.fixture(scope="module")
def first_run(tiny_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_eval(*tiny_args(tiny_model_path, out, "--log-samples"))
    assert result.exit_code == 0, result.output
    return out, result


def test_eval_writes_records_that_match_the_documented_schema(first_run):
    out, result = first_run
    records = read_records(out / "results.jsonl")
    kinds = [r["type"] for r in records]
    assert kinds[0] == "run" and kinds[-1] == "run_end"
    assert kinds.count("result") == 3  # xnli en, xnli de, tatoeba de
    for record in records:
        assert validate_record(record) == [], record
    results = [r for r in records if r["type"] == "result"]
    assert {(r["task"], r["language"]) for r in results} == {("xnli", "en"), ("xnli", "de"), ("tatoeba", "de")}
    for record in results:
        assert record["examples_per_s"] > 0 and record["peak_host_mb"] > 0
        assert record["latency_p95_ms"] >= record["latency_p50_ms"] >= 0
        assert record["intermediate"] == ["mnli"]
    xnli = next(r for r in results if r["task"] == "xnli")
    assert 0.0 <= xnli["metrics"]["accuracy"] <= 1.0 and xnli["n_examples"] == 12
    run = records[0]
    assert run["versions"]["torch"] and run["model"]["spec"]
    assert {"git_commit", "git_dirty", "version"} <= set(run["harness"])
    assert any(p["name"] == "xnli" and p["source"] == "builtin" for p in run["plugins"])
    assert "zero-shot scores" in result.output


def test_log_samples_writes_one_line_per_example(first_run):
    out, _ = first_run
    files = sorted((out / "samples").glob("*/xnli/test-de.jsonl"))
    assert len(files) == 1
    rows = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(rows) == 12
    assert {"id", "input_hash", "prediction", "gold"} <= set(rows[0])
    assert rows[0]["prediction"] in ("entailment", "neutral", "contradiction")


def test_rerun_reuses_results_and_checkpoints(first_run, tiny_model_path):
    out, _ = first_run
    before = (out / "results.jsonl").read_text()
    again = run_eval(*tiny_args(tiny_model_path, out))
    assert again.exit_code == 0, again.output
    assert "0 computed, 3 reused" in again.output
    assert (out / "results.jsonl").read_text() == before  # nothing appended, nothing recomputed
    # a new language needs evaluation only: the saved intermediate and target checkpoints are reused
    more = run_eval(*tiny_args(tiny_model_path, out, xnli="en,de,ru"))
    assert more.exit_code == 0, more.output
    assert "reusing target checkpoint" in more.output
    new = [r for r in read_records(out / "results.jsonl") if r["type"] == "result" and r["language"] == "ru"]
    assert len(new) == 1 and new[0]["checkpoints"]["target"]["reused"] is True
    assert len([p for p in (out / "checkpoints").iterdir() if p.name.startswith("intermediate-")]) == 1


def test_new_target_reuses_the_intermediate_checkpoint(first_run, tiny_model_path):
    out, _ = first_run
    result = run_eval("--model", str(tiny_model_path), "--intermediate", "mnli", "--targets", "pawsx",
                      "-l", "pawsx=de", "--limit", "12", "--hparam", "epochs=1", "--hparam", "batch_size=8",
                      "--data", "samples", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "reusing intermediate checkpoint" in result.output
    record = [r for r in read_records(out / "results.jsonl") if r.get("task") == "pawsx"][-1]
    assert record["checkpoints"]["intermediate"]["reused"] is True


def test_same_seed_gives_identical_metrics(tiny_model_path, tmp_path):
    metrics = []
    for name in ("a", "b"):
        result = run_eval("--model", str(tiny_model_path), "--targets", "xnli", "-l", "xnli=de", "--limit", "16",
                          "--hparam", "epochs=1", "--hparam", "batch_size=4", "--data", "samples",
                          "--log-samples", "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        metrics.append([r["metrics"] for r in read_records(tmp_path / name / "results.jsonl") if r["type"] == "result"])
    assert metrics[0] == metrics[1]
    predictions = [sorted((tmp_path / n / "samples").glob("*/xnli/test-de.jsonl"))[0].read_text() for n in "ab"]
    assert predictions[0] == predictions[1]


@pytest.mark.parametrize("args, message", [
    (["--targets", "xnlii"], "unknown task 'xnlii'; did you mean 'xnli'?"),
    (["--targets", "xnli", "-l", "xnli=deu"], "unknown language for task 'xnli' 'deu'"),
    (["--targets", "xnli", "--preset", "dmeo"], "unknown preset 'dmeo'; did you mean 'demo'?"),
    (["--targets", "mnli"], "is an intermediate task"),
    (["--targets", "xnli", "--hparam", "learning_rat=1"], "did you mean 'learning_rate'?"),
])
def test_unknown_names_are_one_line_errors(tiny_model_path, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["eval", "--model", str(tiny_model_path), "-o", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "results.jsonl").exists()


def test_missing_model_path_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["eval", "--model", "./no/such/model", "--targets", "xnli", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown model path or alias './no/such/model'" in result.output


def test_a_failing_task_is_isolated(tiny_model_path, tmp_path):
    plugin = tmp_path / "broken_eval.py"
    plugin.write_text(
        "from harness import hookimpl\n"
        "@hookimpl(tryfirst=True)\n"
        "def harness_evaluate(task, language):\n"
        "    if task.name == 'xnli' and language == 'de':\n"
        "        raise RuntimeError('evaluation exploded')\n")
    result = CliRunner().invoke(cli, ["eval", "--model", str(tiny_model_path), "--targets", "xnli,tatoeba",
                                      "-l", "xnli=en,de", "-l", "tatoeba=de", "--limit", "8", "--hparam", "epochs=1",
                                      "--data", "samples", "--plugins", str(plugin), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "evaluation exploded" in result.output
    records = read_records(tmp_path / "out" / "results.jsonl")
    errors = [r for r in records if r["type"] == "error"]
    assert len(errors) == 1 and validate_record(errors[0]) == []
    assert (errors[0]["task"], errors[0]["language"], errors[0]["phase"]) == ("xnli", "de", "evaluate")
    assert {(r["task"], r["language"]) for r in records if r["type"] == "result"} == {("xnli", "en"), ("tatoeba", "de")}


def test_second_run_on_the_same_output_dir_is_refused(tiny_model_path, tmp_path):
    from harness.results.records import output_lock
    with output_lock(tmp_path):
        result = CliRunner().invoke(cli, ["eval", "--model", str(tiny_model_path), "--targets", "xnli",
                                          "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "is in use by pid" in result.output


def test_demo_preset_with_the_real_model(minilm_path, tmp_path):
    """The README's main job, smaller: MiniLM, MNLI intermediate training, XNLI and Tatoeba."""
    result = run_eval("--preset", "demo", "--limit", "24", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "results.jsonl")
    assert all(validate_record(r) == [] for r in records)
    results = [r for r in records if r["type"] == "result"]
    assert {r["task"] for r in results} == {"xnli", "tatoeba"}
    assert len(results) == 4 + 3
    assert records[0]["model"]["source"].endswith("model")
    tatoeba = [r["metrics"]["accuracy"] for r in results if r["task"] == "tatoeba"]
    assert max(tatoeba) > 1 / 24  # a real encoder beats chance on parallel sentences


def test_readme_documents_the_record_format_generated_from_code():
    from harness.results.records import schema_markdown
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented = readme.split("<!-- schema:begin -->\n", 1)[1].split("\n<!-- schema:end -->", 1)[0]
    assert documented == schema_markdown()
