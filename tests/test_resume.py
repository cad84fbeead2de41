"""Kill-and-resume: a real `harness eval` process is SIGKILLed at several points and rerun.

The kill points are made deterministic by a small test plugin that, when ``PACE_AT`` names a point,
drops a marker file there and sleeps; the test polls for the marker and sends SIGKILL. The plugin
does not change what is computed (content keys ignore plugins), so the interrupted runs must end
with exactly the metrics of an uninterrupted run in another directory.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.engine.modeling import LoadedModel
from harness.results.records import read_records, validate_record

PACE_PLUGIN = '''
import os
import time
from pathlib import Path

from harness import hookimpl


def _hold(point):
    if os.environ.get("PACE_AT") != point:
        return
    Path(os.environ["PACE_DIR"], point).write_text(str(os.getpid()))
    time.sleep(600)  # the test kills us here


@hookimpl(hookwrapper=True)
def harness_intermediate_train():
    yield  # the encoder is trained in memory, nothing is saved yet
    _hold("intermediate-trained")


@hookimpl(hookwrapper=True)
def harness_target_train():
    _hold("target-training")  # the intermediate checkpoint is on disk, no result yet
    yield


_results = [0]


@hookimpl
def harness_result_written(record):
    if record.get("type") == "result":
        _results[0] += 1
        if _results[0] == 2:
            _hold("results-written")
'''

CELLS = {("xnli", "en", "test"), ("xnli", "de", "test"), ("pawsx", "de", "test"), ("tatoeba", "de", "test")}


def eval_args(model: Path, out: Path, plugin: Path, *extra: str) -> list[str]:
    return ["eval", "--model", str(model), "--intermediate", "mnli", "--targets", "xnli,pawsx,tatoeba",
            "-l", "xnli=en,de", "-l", "pawsx=de", "-l", "tatoeba=de", "--data", "samples", "--limit", "8",
            "--hparam", "epochs=1", "--hparam", "batch_size=8", "--log-samples", "--plugins", str(plugin),
            "-o", str(out), *extra]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACE_")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="400", **extra)
    return env


def start(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    handle = open(log, "w")
    process = subprocess.Popen([sys.executable, "-m", "harness", *args], stdout=handle,
                               stderr=subprocess.STDOUT, env=child_env(**env),
                               cwd=Path(__file__).resolve().parent.parent)
    handle.close()
    return process


def run_to_end(args: list[str], log: Path, timeout: float = 400) -> tuple[int, str]:
    process = start(args, log)
    try:
        code = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, log.read_text()


def kill_at(args: list[str], point: str, pace_dir: Path, log: Path, timeout: float = 400) -> str:
    """Run until the plugin reports ``point``, SIGKILL the process there, return its output."""
    marker = pace_dir / point
    marker.unlink(missing_ok=True)
    process = start(args, log, PACE_AT=point, PACE_DIR=str(pace_dir))
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"run ended (exit {process.returncode}) before reaching '{point}':\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"'{point}' not reached in {timeout}s:\n{log.read_text()}")
            time.sleep(0.05)
        assert marker.read_text() == str(process.pid)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log.read_text()


def result_lines(out: Path) -> list[dict]:
    """Every line of results.jsonl parsed (a torn or invalid line fails the test)."""
    lines = (out / "results.jsonl").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "", "results.jsonl does not end with a newline (torn last line)"
    records = [json.loads(line) for line in lines[:-1]]
    for record in records:
        assert validate_record(record) == [], record
    return records


def results_by_cell(out: Path) -> dict[tuple[str, str, str], dict]:
    results = [r for r in result_lines(out) if r["type"] == "result"]
    keys = [r["key"] for r in results]
    assert len(keys) == len(set(keys)), "duplicate result keys"
    cells = {(r["task"], r["language"], r["split"]): r for r in results}
    assert len(cells) == len(results), "one cell computed twice"
    return cells


def checkpoint_dirs(out: Path) -> list[Path]:
    root = out / "checkpoints"
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def assert_checkpoints_whole(out: Path) -> None:
    for directory in checkpoint_dirs(out):
        assert (directory / "meta.json").is_file(), f"half-written checkpoint {directory}"
        assert (directory / "encoder").is_dir(), f"half-written checkpoint {directory}"
        assert (directory / "encoder" / "config.json").is_file()
        json.loads((directory / "meta.json").read_text())


def samples(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out / "samples")): p.read_text(encoding="utf-8")
            for p in sorted((out / "samples").rglob("*.jsonl"))}


@pytest.fixture(scope="module")
def pace_plugin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pace") / "pace_plugin.py"
    path.write_text(PACE_PLUGIN)
    return path


@pytest.fixture(scope="module")
def reference(tiny_model_path, pace_plugin, tmp_path_factory) -> Path:
    """An uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    code, output = run_to_end(eval_args(tiny_model_path, out, pace_plugin), out.parent / f"{out.name}.log")
    assert code == 0, output
    assert set(results_by_cell(out)) == CELLS
    return out


def test_kill_at_three_points_then_resume_matches_an_uninterrupted_run(tiny_model_path, pace_plugin, reference,
                                                                       tmp_path):
    out, pace = tmp_path / "out", tmp_path / "pace"
    pace.mkdir()
    args = eval_args(tiny_model_path, out, pace_plugin)

    # (a) killed during intermediate training: nothing saved, no result
    kill_at(args, "intermediate-trained", pace, tmp_path / "a.log")
    assert checkpoint_dirs(out) == []
    records = result_lines(out)
    assert [r["type"] for r in records] == ["run"]  # the run record only; no run_end

    # (b) the rerun trains again (nothing to reuse) and is killed after saving the intermediate checkpoint
    output = kill_at(args, "target-training", pace, tmp_path / "b.log")
    assert "saved intermediate checkpoint" in output and "reusing" not in output
    dirs = checkpoint_dirs(out)
    assert [p.name.split("-")[0] for p in dirs] == ["intermediate"]
    assert_checkpoints_whole(out)
    assert not any(r["type"] == "result" for r in result_lines(out))

    # (c) the rerun reuses it and is killed after two result lines
    output = kill_at(args, "results-written", pace, tmp_path / "c.log")
    assert "reusing intermediate checkpoint" in output
    assert set(results_by_cell(out)) == {("xnli", "en", "test"), ("xnli", "de", "test")}
    assert_checkpoints_whole(out)
    written = (out / "results.jsonl").read_bytes()

    # what a kill inside LoadedModel.save could leave: a temp dir, and (older layouts) a final-named
    # directory without meta.json. Neither may be taken for a checkpoint.
    pawsx_key = results_by_cell(reference)[("pawsx", "de", "test")]["checkpoints"]["target"]["key"]
    half = out / "checkpoints" / f"target-pawsx-{pawsx_key}"
    (half / "encoder").mkdir(parents=True)
    (half / "encoder" / "config.json").write_text('{"model_type": "bert", "hidden')
    temp = out / "checkpoints" / f".target-pawsx-{pawsx_key}.k1ll3d"
    (temp / "encoder").mkdir(parents=True)
    (temp / "meta.json").write_text("{}")

    # the final rerun computes only what is missing
    code, output = run_to_end(args, tmp_path / "d.log")
    assert code == 0, output
    assert "2 computed, 2 reused" in output
    assert (out / "results.jsonl").read_bytes().startswith(written)  # nothing already written is lost
    cells = results_by_cell(out)
    assert set(cells) == CELLS
    assert cells[("pawsx", "de", "test")]["checkpoints"]["target"]["reused"] is False
    assert_checkpoints_whole(out)  # the half directory was replaced by a whole checkpoint
    assert (half / "meta.json").is_file()
    assert not temp.exists()  # the temp dir of a save killed midway is swept, never loaded
    used = {r["checkpoints"][kind]["path"] for r in cells.values() for kind in ("intermediate", "target")}
    assert not any(path and Path(path).name.startswith(".") for path in used)
    assert sorted(p.name for p in checkpoint_dirs(out)) == sorted(p.name for p in checkpoint_dirs(reference))

    expected = results_by_cell(reference)
    for cell in CELLS:
        assert cells[cell]["metrics"] == expected[cell]["metrics"], cell
        assert cells[cell]["key"] == expected[cell]["key"], cell
        assert cells[cell]["n_examples"] == expected[cell]["n_examples"]
    assert samples(out) == samples(reference)  # same predictions, example by example
    runs = [r for r in result_lines(out) if r["type"] == "run"]
    assert len(runs) == 4 and len({r["run_id"] for r in runs}) == 4
    ends = [r for r in result_lines(out) if r["type"] == "run_end"]
    assert len(ends) == 1 and ends[0]["n_results"] == 2 and ends[0]["n_skipped"] == 2


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_overwrite_never_refuses_an_existing_results_file(reference, tiny_model_path, pace_plugin, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = (out / "results.jsonl").read_bytes()
    result = invoke(*eval_args(tiny_model_path, out, pace_plugin, "--overwrite", "never"))
    assert result.exit_code == 2, result.output
    assert "already holds results and --overwrite is 'never'" in result.output
    assert "Traceback" not in result.output
    assert (out / "results.jsonl").read_bytes() == before
    # an empty output directory is fine with 'never'
    fresh = invoke(*eval_args(tiny_model_path, tmp_path / "fresh", pace_plugin, "--overwrite", "never",
                              "--targets", "tatoeba"))
    assert fresh.exit_code == 0, fresh.output


def test_overwrite_always_recomputes_and_appends(reference, tiny_model_path, pace_plugin, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = (out / "results.jsonl").read_bytes()
    result = invoke(*eval_args(tiny_model_path, out, pace_plugin, "--overwrite", "always"))
    assert result.exit_code == 0, result.output
    assert "4 computed, 0 reused" in result.output
    assert "reusing intermediate checkpoint" in result.output  # --overwrite is about results only
    after = (out / "results.jsonl").read_bytes()
    assert after.startswith(before)
    old = {(r["task"], r["language"], r["split"]): r for r in read_records(reference / "results.jsonl")
           if r["type"] == "result"}
    records = [json.loads(line) for line in after[len(before):].decode().splitlines()]
    new = [r for r in records if r["type"] == "result"]
    assert {(r["task"], r["language"], r["split"]) for r in new} == CELLS and len(new) == 4
    assert len({r["run_id"] for r in new}) == 1 and new[0]["run_id"] not in {r["run_id"] for r in old.values()}
    for record in new:
        cell = (record["task"], record["language"], record["split"])
        assert record["key"] == old[cell]["key"]
        assert record["metrics"] == old[cell]["metrics"], cell
        assert record["checkpoints"]["intermediate"]["reused"] is True
    assert_checkpoints_whole(out)
    assert sorted(p.name for p in checkpoint_dirs(out)) == sorted(p.name for p in checkpoint_dirs(reference))


def test_a_torn_last_line_is_repaired_without_losing_complete_lines(reference, tiny_model_path, pace_plugin,
                                                                    tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    # a kill while writing the tatoeba result: drop run_end and that line, keep half of it
    assert json.loads(lines[-1])["type"] == "run_end"
    torn = json.loads(lines[-2])
    assert torn["type"] == "result" and torn["task"] == "tatoeba"
    kept = "".join(lines[:-2])
    (out / "results.jsonl").write_text(kept + lines[-2][: len(lines[-2]) // 2], encoding="utf-8")
    assert len(read_records(out / "results.jsonl")) == len(lines) - 2  # readers skip the torn tail

    result = invoke(*eval_args(tiny_model_path, out, pace_plugin))
    assert result.exit_code == 0, result.output
    assert "1 computed, 3 reused" in result.output
    text = (out / "results.jsonl").read_text(encoding="utf-8")
    assert text.startswith(kept)  # the complete lines survive byte for byte, the fragment is gone
    assert lines[-2][: len(lines[-2]) // 2] not in text[len(kept):]
    cells = results_by_cell(out)
    assert set(cells) == CELLS
    assert cells[("tatoeba", "de", "test")]["metrics"] == torn["metrics"]
    assert cells[("tatoeba", "de", "test")]["run_id"] != torn["run_id"]


def test_a_torn_line_with_nothing_left_to_compute_is_still_repaired(reference, tiny_model_path, pace_plugin,
                                                                    tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    whole = (out / "results.jsonl").read_text(encoding="utf-8")
    with open(out / "results.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"type": "run_end", "schema_version": 1, "run_id": "x", "wall_sec')
    result = invoke(*eval_args(tiny_model_path, out, pace_plugin))
    assert result.exit_code == 0, result.output
    assert "0 computed, 4 reused" in result.output
    assert (out / "results.jsonl").read_text(encoding="utf-8") == whole
