"""Bad input gets a one-line error naming the file, row or key and what was expected, exit code 2,
no traceback (``--debug`` shows it), and nothing already written is lost.

Two kinds of bad input:

* fatal before any work (tasks files, names, model path, plugins): the run is refused, exit 2,
  the results file is untouched;
* bad data found while running (a row, a file, diverged training): the pipeline isolates it in an
  ``error`` record (message naming file/row/field), the other tasks go on, and the run exits 2
  because every failure was the user's input (a bug in code would exit 1).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.spec.config import builtin_plugins_dir
from harness.errors import UnknownNameError
from harness.results.records import read_records, validate_record

SAMPLES = builtin_plugins_dir() / "samples"


def invoke(*args, catch: bool = False):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=catch)


def common(model: Path, out: Path, *extra) -> list:
    return ["eval", "--model", model, "--limit", "8", "--hparam", "epochs=1", "--hparam", "batch_size=8",
            "--data", "local" if "--data-dir" in extra else "samples", "--device", "cpu", "-o", out, *extra]


BASE_TARGETS = ["--targets", "xnli,tatoeba,xquad,bucc,udpos", "-l", "xnli=en", "-l", "tatoeba=de",
                "-l", "xquad=en", "-l", "bucc=fr", "-l", "udpos=en"]


@pytest.fixture(scope="module")
def base_run(tiny_model_path, tmp_path_factory) -> Path:
    """A good run whose results must survive every bad run below (which reuse its checkpoints)."""
    out = tmp_path_factory.mktemp("base")
    result = invoke(*common(tiny_model_path, out, *BASE_TARGETS))
    assert result.exit_code == 0, result.output
    assert len([r for r in read_records(out / "results.jsonl") if r["type"] == "result"]) == 5
    return out


@pytest.fixture
def run_dir(base_run, tmp_path) -> tuple[Path, bytes]:
    out = tmp_path / "out"
    shutil.copytree(base_run, out)
    return out, (out / "results.jsonl").read_bytes()


def data_dir(tmp_path: Path, task: str) -> Path:
    """--data-dir with a writable copy of one task's bundled sample data, and of the samples of the
    tasks the run also reads (English training data, the other target)."""
    root = tmp_path / "data"
    for name in (task, "mnli", "squad", "tatoeba"):
        if not (root / name).exists():
            shutil.copytree(SAMPLES / name, root / name)
    return root


def edit_jsonl(path: Path, row: int, change) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[row - 1])
    change(record)
    lines[row - 1] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def assert_one_line_fatal(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_recorded(result, out: Path, before: bytes, cell: tuple, phase: str, error_type: str,
                    *needles: str) -> dict:
    """Exit 2, one 'failed:' line and one error record naming the place; earlier lines kept."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1, result.output
    after = (out / "results.jsonl").read_bytes()
    assert after.startswith(before), "results already written were lost"
    new = [json.loads(line) for line in after[len(before):].decode("utf-8").splitlines()]
    errors = [r for r in new if r["type"] == "error"]
    assert len(errors) == 1, new
    error = errors[0]
    assert validate_record(error) == []
    assert (error["task"], error["language"], error["split"]) == cell
    assert error["phase"] == phase and error["error_type"] == error_type
    assert "traceback" not in error  # user errors carry no traceback
    assert "\n" not in error["message"]
    for needle in needles:
        assert needle in error["message"], (needle, error["message"])
        assert needle in failed[0], (needle, failed[0])
    assert new[-1]["type"] == "run_end" and new[-1]["n_errors"] == 1
    return error


# -- fatal: refused before any work ---------------------------------------------------------------

TASKS_FILES = {
    "malformed": ("tasks:\n  xnli: {kind: target\n  pawsx: 1\n", ["malformed YAML at line"]),
    "unknown-key": ("tasks:\n  xnli:\n    lables: [a, b]\n", ["tasks.xnli.lables: unknown key",
                                                             "did you mean 'labels'?"]),
    "wrong-type": ("tasks:\n  xnli:\n    languages: de\n", ["tasks.xnli.languages: expected a list, got 'de'"]),
    "bad-value": ("tasks:\n  xnli:\n    format: classify\n",
                  ["tasks.xnli.format: expected one of classification", "got 'classify'"]),
}


@pytest.mark.parametrize("case", sorted(TASKS_FILES))
def test_bad_tasks_file_is_fatal_and_keeps_results(case, run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    text, needles = TASKS_FILES[case]
    tasks_file = tmp_path / f"{case}.yaml"
    tasks_file.write_text(text, encoding="utf-8")
    result = invoke(*common(tiny_model_path, out, *BASE_TARGETS, "--tasks-file", tasks_file))
    assert_one_line_fatal(result, str(tasks_file), *needles)
    assert (out / "results.jsonl").read_bytes() == before


NAMES = {
    "task": (["--targets", "xnlii"], ["unknown task 'xnlii'", "did you mean 'xnli'?"]),
    "language": (["--targets", "xnli", "-l", "xnli=deu"], ["unknown language for task 'xnli' 'deu'", "known:"]),
    "preset": (["--targets", "xnli", "--preset", "dmeo"], ["unknown preset 'dmeo'", "did you mean 'demo'?"]),
    "hparam-type": (["--targets", "xnli", "--hparam", "epochs=many"], ["--hparam.epochs: expected float",
                                                                       "'many'"]),
    "split": (["--targets", "xnli", "--splits", "tset"], ["unknown split 'tset'", "expected dev or test"]),
    "plugin": (["--targets", "xnli", "--plugins", "no_such_plugin_module_xyz", "--strict-plugins"],
               ["no_such_plugin_module_xyz"]),
}


@pytest.mark.parametrize("case", sorted(NAMES))
def test_unknown_names_are_fatal_and_keep_results(case, run_dir, tiny_model_path):
    out, before = run_dir
    args, needles = NAMES[case]
    result = invoke(*common(tiny_model_path, out, *args))
    assert_one_line_fatal(result, *needles)
    assert (out / "results.jsonl").read_bytes() == before


def test_missing_model_path_is_fatal_and_keeps_results(run_dir, tmp_path):
    out, before = run_dir
    result = invoke(*common(tmp_path / "no" / "such" / "model", out, "--targets", "xnli"))
    assert_one_line_fatal(result, "unknown model path or alias", str(tmp_path / "no" / "such" / "model"))
    not_a_model = tmp_path / "empty-model"
    not_a_model.mkdir()
    result = invoke(*common(not_a_model, out, "--targets", "tatoeba", "-l", "tatoeba=fr"))
    # found, but not a model: the load fails in the run, recorded for the task, exit 2
    assert result.exit_code == 2, result.output
    assert "has no config.json" in result.output and "Traceback" not in result.output
    assert (out / "results.jsonl").read_bytes().startswith(before)


def test_debug_shows_the_traceback_of_a_user_error(tiny_model_path, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("HARNESS_DEBUG", None)
    command = [sys.executable, "-m", "harness", "eval", "--model", str(tiny_model_path), "--targets", "xnlii",
               "-o", str(tmp_path / "out")]
    plain = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == ["error: unknown task 'xnlii'; did you mean 'xnli'? (known: "
                                                 + plain.stderr.split("(known: ", 1)[1].strip()]
    debug = subprocess.run(command + ["--debug"], capture_output=True, text=True, env=env, timeout=300)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "UnknownNameError: unknown task 'xnlii'" in debug.stderr


def test_debug_does_not_leak_into_the_next_in_process_run(tiny_model_path, tmp_path):
    args = ["eval", "--model", tiny_model_path, "--targets", "xnlii", "-o", tmp_path]
    shown = invoke(*args, "--debug", catch=True)
    assert isinstance(shown.exception, UnknownNameError)
    again = invoke(*args)
    assert again.exit_code == 2 and "error: unknown task 'xnlii'" in again.output


# -- bad data found during the run: an error record, the others go on, exit 2 --------------------------

def test_empty_split_file(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xnli")
    (root / "xnli" / "test-de.jsonl").write_text("", encoding="utf-8")
    result = invoke(*common(tiny_model_path, out, "--targets", "xnli", "-l", "xnli=en,de", "--data-dir", root))
    assert_recorded(result, out, before, ("xnli", "de", "test"), "evaluate", "DataError",
                    str(root / "xnli" / "test-de.jsonl"), "empty")


def test_row_with_a_missing_field(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xnli")
    edit_jsonl(root / "xnli" / "test-de.jsonl", 3, lambda row: row.pop("sentence2"))
    result = invoke(*common(tiny_model_path, out, "--targets", "xnli,tatoeba", "-l", "xnli=en,de",
                            "-l", "tatoeba=de,fr", "--data-dir", root))
    assert_recorded(result, out, before, ("xnli", "de", "test"), "evaluate", "DataError",
                    str(root / "xnli" / "test-de.jsonl"), "row 3", "field 'sentence2'", "missing")
    # the other target went on
    fr = [r for r in read_records(out / "results.jsonl") if r.get("task") == "tatoeba" and r.get("language") == "fr"]
    assert len(fr) == 1 and fr[0]["type"] == "result"


def test_label_outside_the_label_set(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xnli")
    edit_jsonl(root / "xnli" / "test-de.jsonl", 2, lambda row: row.update(gold_label="maybe"))
    result = invoke(*common(tiny_model_path, out, "--targets", "xnli", "-l", "xnli=en,de", "--data-dir", root))
    assert_recorded(result, out, before, ("xnli", "de", "test"), "evaluate", "DataError",
                    str(root / "xnli" / "test-de.jsonl"), "row 2", "field 'gold_label'", "'maybe'",
                    "not in the label set ['entailment', 'neutral', 'contradiction']")


def test_qa_answer_offset_that_does_not_match_its_text(run_dir, tiny_model_path, tmp_path):
    """A wrong offset is re-aligned and counted in the result (a malformed one is a data error, below)."""
    out, before = run_dir
    root = data_dir(tmp_path, "xquad")

    def shift(row):
        row["answers"]["answer_start"][0] += 3

    edit_jsonl(root / "xquad" / "test-de.jsonl", 2, shift)
    result = invoke(*common(tiny_model_path, out, "--targets", "xquad", "-l", "xquad=en,de", "--data-dir", root))
    assert result.exit_code == 0, result.output
    records = {(r["task"], r["language"]): r for r in read_records(out / "results.jsonl") if r["type"] == "result"}
    assert records[("xquad", "de")]["data"]["qa_alignment"] == {"realigned": 1, "not_found": 0}
    # the training rows (SQuAD's, for XQuAD) are reported with the training statistics
    assert records[("xquad", "de")]["train"]["target"]["data"]["xquad"] == {"qa_alignment": {"realigned": 0, "dropped": 0}}


def test_qa_answer_offset_that_is_not_an_offset(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xquad")
    edit_jsonl(root / "xquad" / "test-de.jsonl", 3, lambda row: row["answers"].update(answer_start=["12"]))
    result = invoke(*common(tiny_model_path, out, "--targets", "xquad", "-l", "xquad=en,de", "--data-dir", root))
    assert "reusing target checkpoint" not in result.output   # other training data (--data-dir): trained again
    assert_recorded(result, out, before, ("xquad", "de", "test"), "evaluate", "DataError",
                    str(root / "xquad" / "test-de.jsonl"), "row 3", "field 'answers'", "answer_start: expected int")


def test_duplicate_example_ids(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xquad")
    path = root / "xquad" / "test-de.jsonl"
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])["id"]
    edit_jsonl(path, 4, lambda row: row.update(id=first))
    result = invoke(*common(tiny_model_path, out, "--targets", "xquad", "-l", "xquad=en,de", "--data-dir", root))
    assert_recorded(result, out, before, ("xquad", "de", "test"), "evaluate", "DataError",
                    str(path), "row 4", "field 'id'", f"duplicate example id '{first}'", "first seen in row 1")


def test_bucc_gold_pair_naming_an_unknown_sentence(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "bucc")
    gold = root / "bucc" / "de-en.training.gold"
    lines = gold.read_text(encoding="utf-8").splitlines()
    lines[1] = "de-000002\ten-999999"
    gold.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # no --limit: the gold pairs come after the sentences, a limit would stop before them
    result = invoke("eval", "--model", tiny_model_path, "--targets", "bucc", "-l", "bucc=fr,de", "--data", "local",
                    "--device", "cpu", "--data-dir", root, "-o", out)
    assert_recorded(result, out, before, ("bucc", "de", "test"), "evaluate", "DataError",
                    str(gold), "row 2", "field 'target_id'", "unknown target sentence id 'en-999999'")


def test_non_utf8_input(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xnli")
    path = root / "xnli" / "test-de.jsonl"
    good = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(good[:2]) + b'{"sentence1": "\xff\xfe bad", "sentence2": "x", "gold_label": '
                     b'"neutral"}\n' + b"".join(good[3:]))
    result = invoke(*common(tiny_model_path, out, "--targets", "xnli", "-l", "xnli=en,de", "--data-dir", root))
    error = assert_recorded(result, out, before, ("xnli", "de", "test"), "evaluate", "DataError", str(path),
                            "not valid UTF-8")
    offset = len(good[0]) + len(good[1]) + len(b'{"sentence1": "')
    assert f"at byte {offset}" in error["message"]


def test_invalid_json_row(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xnli")
    path = root / "xnli" / "test-de.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4][: len(lines[4]) // 2]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke(*common(tiny_model_path, out, "--targets", "xnli", "-l", "xnli=en,de", "--data-dir", root))
    assert_recorded(result, out, before, ("xnli", "de", "test"), "evaluate", "DataError", str(path), "row 5",
                    "invalid JSON")


def test_inputs_far_longer_than_the_model_maximum_are_truncated_not_errors(run_dir, tiny_model_path, tmp_path):
    out, before = run_dir
    root = data_dir(tmp_path, "xnli")
    shutil.copytree(SAMPLES / "udpos", root / "udpos")
    words = ("der Hund läuft schnell über die Wiese " * 800).split()[:5000]
    edit_jsonl(root / "xnli" / "test-de.jsonl", 1, lambda row: row.update(sentence1=" ".join(words)))
    tokens = (["Die", "Katze", "schläft", "auf", "dem", "Sofa", "."] * 300)[:2000]
    edit_jsonl(root / "udpos" / "test-de.jsonl", 1,
               lambda row: row.update(tokens=tokens, pos_tags=([5, 7, 15, 1, 5, 7, 12] * 300)[:2000]))
    result = invoke(*common(tiny_model_path, out, "--targets", "xnli,udpos", "-l", "xnli=en,de",
                            "-l", "udpos=en,de", "--data-dir", root, "--log-samples"))
    assert result.exit_code == 0, result.output
    assert (out / "results.jsonl").read_bytes().startswith(before)
    records = [r for r in read_records(out / "results.jsonl")[len(before.splitlines()):] if r["type"] == "result"]
    new = {(r["task"], r["language"]): r for r in records}
    # the data directory is part of the key: the English cells are computed again from root's copies
    assert set(new) == {("xnli", "en"), ("xnli", "de"), ("udpos", "en"), ("udpos", "de")}
    assert new[("xnli", "de")]["n_examples"] == 8 and new[("udpos", "de")]["n_examples"] == 8
    assert 0 <= new[("udpos", "de")]["metrics"]["f1"] <= 1
    # every word of the long sentence gets a prediction, also those past the model's window
    (samples,) = (out / "samples").glob("*/udpos/test-de.jsonl")
    first = json.loads(samples.read_text(encoding="utf-8").splitlines()[0])
    assert len(first["prediction"]) == 2000 == len(first["gold"])


def test_nan_loss_stops_the_phase_without_a_checkpoint(tiny_model_path, tmp_path):
    out = tmp_path / "out"
    result = invoke("eval", "--model", tiny_model_path, "--targets", "xnli,tatoeba", "-l", "xnli=en",
                    "-l", "tatoeba=de", "--limit", "8", "--hparam", "epochs=1", "--hparam", "batch_size=2",
                    "--hparam", "learning_rate=1e30", "--hparam", "warmup_ratio=0", "--data", "samples",
                    "--device", "cpu", "-o", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "TrainingError" in failed[0] and "loss became nan" in failed[0]
    assert "lower the learning rate" in failed[0]
    records = read_records(out / "results.jsonl")
    (error,) = [r for r in records if r["type"] == "error"]
    assert (error["task"], error["language"], error["phase"]) == ("xnli", None, "target-train")
    assert validate_record(error) == []
    assert [(r["task"], r["language"]) for r in records if r["type"] == "result"] == [("tatoeba", "de")]
    saved = list((out / "checkpoints").iterdir()) if (out / "checkpoints").exists() else []
    assert saved == []  # neither a checkpoint of the diverged phase nor a temp dir


def test_a_crash_in_code_still_exits_1(tiny_model_path, tmp_path):
    """Exit 2 is for the user's input only: a bug (non-HarnessError) among the failures gives 1."""
    plugin = tmp_path / "crash.py"
    plugin.write_text("from harness import hookimpl\n"
                      "@hookimpl(tryfirst=True)\n"
                      "def harness_evaluate(task, language):\n"
                      "    if language == 'fr':\n"
                      "        raise ZeroDivisionError('boom')\n")
    root = data_dir(tmp_path, "tatoeba")
    (root / "tatoeba" / "test-de.jsonl").write_text("", encoding="utf-8")
    result = invoke("eval", "--model", tiny_model_path, "--targets", "tatoeba", "-l", "tatoeba=de,fr",
                    "--limit", "8", "--data", "local", "--device", "cpu", "--data-dir", root,
                    "--plugins", plugin, "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    errors = {r["error_type"] for r in read_records(tmp_path / "out" / "results.jsonl") if r["type"] == "error"}
    assert errors == {"DataError", "ZeroDivisionError"}


@pytest.mark.parametrize("value, message", [(".inf", "expected int"), ("1.5", "expected int"),
                                            ("-4", "must be >= 1 and <= 65536")])
def test_impossible_batch_size_is_a_one_line_error(tiny_model_path, tmp_path, value, message):
    result = invoke("eval", "--model", tiny_model_path, "--targets", "xnli", "--hparam", f"batch_size={value}",
                    "-o", tmp_path)
    assert_one_line_fatal(result, f"--hparam.batch_size: {message}", value.lstrip("."))
