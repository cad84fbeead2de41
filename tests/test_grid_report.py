"""``harness grid`` (baseline + intermediate x target, resumable) and ``harness report``
(aggregation over languages and seeds, deltas, exports, heatmap), offline on the bundled samples."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.results.records import read_records

SAMPLES = Path(__file__).resolve().parent.parent / "plugins" / "samples"
GRID_LANGS = ["-l", "xnli=en,de", "-l", "pawsx=en,de"]


def grid_args(model: Path, out: Path) -> list[str]:
    return ["grid", "--model", str(model), "--intermediate", "mnli,sst2", "--multi-task",
            "--targets", "xnli,pawsx", *GRID_LANGS, "--limit", "8", "--hparam", "epochs=1",
            "--intermediate-hparam", "epochs=1", "--data", "samples", "--device", "cpu", "-o", str(out)]


def result_keys(path: Path) -> list[str]:
    return [r["key"] for r in read_records(path) if r.get("type") == "result"]


@pytest.fixture(scope="module")
def reference_grid(tiny_model_path, tmp_path_factory):
    """One uninterrupted grid: baseline, mnli, sst2 and mnli+sst2, each x (xnli, pawsx)."""
    out = tmp_path_factory.mktemp("grid-ref")
    result = CliRunner().invoke(cli, grid_args(tiny_model_path, out))
    return out, result


# ------------------------------------------------------------------------------- (a) grid + report
def test_grid_trains_each_intermediate_once_and_reports(reference_grid, tiny_model_path, tmp_path):
    out, result = reference_grid
    assert result.exit_code == 0, result.output
    log = result.stderr
    # three intermediate models (mnli, sst2, mnli+sst2), each trained exactly once and never
    # reloaded within the run: one pipeline per configuration serves both targets
    assert log.count("saved intermediate checkpoint") == 3, log
    assert "reusing intermediate checkpoint" not in log
    assert len(list((out / "checkpoints").glob("intermediate-*"))) == 3
    records = [r for r in read_records(out / "results.jsonl") if r.get("type") == "result"]
    assert len(records) == 4 * (2 + 2)   # configurations x (xnli en,de + pawsx en,de)
    assert len({r["key"] for r in records}) == len(records)
    configs = {"+".join(r["intermediate"]) or "baseline" for r in records}
    assert configs == {"baseline", "mnli", "sst2", "mnli+sst2"}
    for config in ("mnli", "sst2", "mnli+sst2"):
        paths = {r["checkpoints"]["intermediate"]["path"] for r in records if "+".join(r["intermediate"]) == config}
        assert len(paths) == 1 and None not in paths   # both targets start from the same model
    assert {r["checkpoints"]["intermediate"]["key"] for r in records if not r["intermediate"]} == {None}
    assert "cell 8/8" in log and "[4/4] seed 1 · mnli+sst2" in log
    # the final table: every configuration and target, with deltas
    for text in ("baseline", "mnli+sst2", "xnli", "pawsx", "avg", "16 computed"):
        assert text in result.stdout

    # a rerun computes nothing and trains nothing
    again = CliRunner().invoke(cli, grid_args(tiny_model_path, out))
    assert again.exit_code == 0, again.output
    assert "saved intermediate checkpoint" not in again.stderr and "0 computed, 16 reused" in again.stdout
    assert len(result_keys(out / "results.jsonl")) == 16

    runner = CliRunner()
    md = runner.invoke(cli, ["report", str(out), "--format", "md"])
    assert md.exit_code == 0, md.output
    tables = md.stdout.split("\n\n")   # the main table, then the suite's group table (report --suite)
    lines = [line for line in next(t for t in tables if "| intermediate |" in t).splitlines() if line.startswith("| ")]
    assert lines[0].split("|")[1:-1] == [" intermediate ", " xnli ", " pawsx ", " avg "]
    # auto: the suite covering most targets (pawsx is XTREME's, not XTREME-R's)
    assert "xtreme groups" in md.stdout and "tasks averaged: 2/9" in md.stdout
    assert [line.split("|")[1].strip() for line in lines[1:]] == ["baseline", "mnli", "sst2", "mnli+sst2"]
    assert all("(+" in line or "(-" in line for line in lines[2:])      # deltas on every non-baseline row
    assert "(" not in lines[1].split("|", 2)[2]                          # none on the baseline row

    js = runner.invoke(cli, ["report", str(out / "results.jsonl"), "--format", "json", "--by-language"])
    assert js.exit_code == 0, js.output
    data = json.loads(js.stdout)
    (model,) = data["models"]
    assert model["targets"] == ["xnli", "pawsx"] and model["metrics"] == {"xnli": "accuracy", "pawsx": "accuracy"}
    rows = {row["intermediate"]: row for row in model["rows"]}
    for target in ("xnli", "pawsx"):
        values = [100 * r["metrics"]["accuracy"] for r in records if r["task"] == target and not r["intermediate"]]
        assert rows["baseline"]["scores"][target]["mean"] == pytest.approx(sum(values) / len(values))
        for config in ("mnli", "sst2", "mnli+sst2"):
            score = rows[config]["scores"][target]
            assert score["delta"] == pytest.approx(score["mean"] - rows["baseline"]["scores"][target]["mean"])
            assert set(model["by_language"][target][config]) == {"en", "de"}
    assert data["errors"] == []

    png = tmp_path / "deltas.png"
    plotted = runner.invoke(cli, ["report", str(out), "--plot", str(png)])
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    import matplotlib.image
    height, width = matplotlib.image.imread(png).shape[:2]
    assert width > 500 and height > 200


# ------------------------------------------------------------------------------- (b) kill and resume
def test_grid_killed_and_resumed_matches_an_uninterrupted_grid(reference_grid, tiny_model_path, tmp_path):
    ref_out, ref_result = reference_grid
    assert ref_result.exit_code == 0, ref_result.output
    out = tmp_path / "grid"
    command = [sys.executable, "-m", "harness", *grid_args(tiny_model_path, out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    results = out / "results.jsonl"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (results.exists() and '"type": "result"' in results.read_text(encoding="utf-8")):
            assert process.poll() is None, "the grid ended before writing a result"
            assert time.monotonic() < deadline, "no result within 300 s"
            time.sleep(0.05)
        assert process.poll() is None, "the grid finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    before = result_keys(results)
    reference = set(result_keys(ref_out / "results.jsonl"))
    assert 0 < len(before) < len(reference), "the kill should leave the grid unfinished"

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    raw = results.read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.decode("utf-8").splitlines()
    assert all(json.loads(line) for line in lines)          # no torn line
    after = result_keys(results)
    assert len(after) == len(set(after))                    # no result key twice
    assert set(after) == reference                          # the same cells as an uninterrupted grid
    assert set(before) <= set(after)
    assert "result(s) already in" in resumed.stderr                # finished cells were skipped
    assert len(list((out / "checkpoints").glob("intermediate-*"))) == 3


# ------------------------------------------------------------------------------- (c) aggregation math
def rec(model, intermediate, task, lang, seed, metrics, *, time_="2024-01-01T00:00:00+00:00", split="test",
        key=None):
    return {"type": "result", "schema_version": 1, "run_id": f"run-{seed}", "task": task, "language": lang,
            "split": split, "metrics": metrics, "n_examples": 10, "model": model, "intermediate": intermediate,
            "seed": seed, "data": {"source": "local", "limit": None, "fraction": {}, "sampling": {}},
            "key": key or f"{model}|{'+'.join(intermediate)}|{task}|{lang}|{seed}|{split}", "time": time_}


def hand_records() -> list[dict]:
    acc = {  # (config, seed, lang) -> accuracy fraction for xnli
        ("baseline", 1, "en"): 0.50, ("baseline", 1, "de"): 0.40, ("baseline", 2, "en"): 0.60, ("baseline", 2, "de"): 0.50,
        ("mnli", 1, "en"): 0.70, ("mnli", 1, "de"): 0.60, ("mnli", 2, "en"): 0.60, ("mnli", 2, "de"): 0.60}
    f1 = {  # (config, seed, lang) -> QA F1 (already 0-100) for xquad
        ("baseline", 1, "en"): 40.0, ("baseline", 1, "de"): 30.0, ("baseline", 2, "en"): 50.0, ("baseline", 2, "de"): 40.0,
        ("mnli", 1, "en"): 45.0, ("mnli", 1, "de"): 35.0, ("mnli", 2, "en"): 55.0, ("mnli", 2, "de"): 45.0}
    inter = {"baseline": [], "mnli": ["mnli"]}
    records = [rec("m", inter[c], "xnli", lang, seed, {"accuracy": v}) for (c, seed, lang), v in acc.items()]
    records += [rec("m", inter[c], "xquad", lang, seed, {"exact_match": v - 10, "f1": v})
                for (c, seed, lang), v in f1.items()]
    # an older record of the same key (superseded), one of a dev split, one of another model
    records.insert(0, rec("m", ["mnli"], "xnli", "en", 1, {"accuracy": 0.0}, time_="2023-01-01T00:00:00+00:00"))
    records.append(rec("m", ["mnli"], "xnli", "en", 1, {"accuracy": 0.99}, split="dev"))
    records.append(rec("other", [], "xnli", "en", 1, {"accuracy": 0.10}))
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_report_aggregation_math(tmp_path):
    path = write_jsonl(tmp_path / "results.jsonl", hand_records())
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(path), "--format", "json", "--by-language"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    models = {m["model"]: m for m in data["models"]}
    assert set(models) == {"m", "other"}                     # models are never mixed
    assert models["other"]["rows"][0]["scores"]["xnli"]["mean"] == pytest.approx(10.0)
    m = models["m"]
    assert m["metrics"] == {"xnli": "accuracy", "xquad": "f1"}
    rows = {row["intermediate"]: row for row in m["rows"]}
    assert list(rows) == ["baseline", "mnli"]
    # xnli: baseline seeds (50+40)/2=45, (60+50)/2=55 -> 50 +- stdev(45,55); mnli 65, 60 -> 62.5
    base, mnli = rows["baseline"]["scores"]["xnli"], rows["mnli"]["scores"]["xnli"]
    assert base["seeds"] == {"1": pytest.approx(45.0), "2": pytest.approx(55.0)}
    assert base["mean"] == pytest.approx(50.0) and base["std"] == pytest.approx(statistics.stdev([45, 55]))
    assert base["std"] == pytest.approx(7.0710678) and base["n_seeds"] == 2 and base["delta"] is None
    assert mnli["mean"] == pytest.approx(62.5) and mnli["std"] == pytest.approx(3.5355339)
    assert mnli["delta"] == pytest.approx(12.5)
    # xquad F1 is already 0-100: baseline (35, 45) -> 40, mnli (40, 50) -> 45, delta +5
    assert rows["baseline"]["scores"]["xquad"]["mean"] == pytest.approx(40.0)
    assert rows["mnli"]["scores"]["xquad"]["mean"] == pytest.approx(45.0)
    assert rows["mnli"]["scores"]["xquad"]["delta"] == pytest.approx(5.0)
    # the average column: mean over targets; its delta the mean of the deltas
    assert rows["baseline"]["average"]["mean"] == pytest.approx(45.0)
    assert rows["mnli"]["average"]["mean"] == pytest.approx(53.75)
    assert rows["mnli"]["average"]["delta"] == pytest.approx(8.75)
    # every delta carries a spread: the per-seed differences (20, 5) on xnli, (12.5, 5) on the average
    assert mnli["delta_spread"]["std"] == pytest.approx(statistics.stdev([20, 5]))
    assert mnli["delta_spread"]["min"] == pytest.approx(5) and mnli["delta_spread"]["max"] == pytest.approx(20)
    assert rows["mnli"]["average"]["delta_spread"]["std"] == pytest.approx(statistics.stdev([12.5, 5]))
    # per language: xnli en baseline (50+60)/2=55, mnli (70+60)/2=65; de 45 vs 60
    by_lang = m["by_language"]["xnli"]
    assert by_lang["baseline"]["en"]["mean"] == pytest.approx(55.0)
    assert by_lang["mnli"]["en"]["delta"] == pytest.approx(10.0)
    assert by_lang["mnli"]["de"]["delta"] == pytest.approx(15.0)
    assert by_lang["mnli"]["de"]["std"] == pytest.approx(0.0)
    assert any("dev" in note for note in data["notes"])

    # --metric and --split select another metric / split
    em = json.loads(runner.invoke(cli, ["report", str(path), "--format", "json", "--metric", "exact_match"]).stdout)
    em_rows = {row["intermediate"]: row for row in em["models"][0]["rows"]}
    assert em_rows["mnli"]["scores"]["xquad"]["mean"] == pytest.approx(35.0)
    dev = json.loads(runner.invoke(cli, ["report", str(path), "--format", "json", "--split", "dev"]).stdout)
    assert dev["models"][0]["rows"][0]["scores"]["xnli"]["mean"] == pytest.approx(99.0)

    # markdown and CSV carry the same numbers
    md = runner.invoke(cli, ["report", str(path), "--format", "md"]).stdout
    assert "| mnli | 62.5 ± 3.5 (+12.5 ±10.6 sd) | 45.0 ± 7.1 (+5.0 ±0.0 sd) | 53.8 (+8.8 ±5.3 sd) |" in md
    assert "standard deviation over seeds of the per-seed difference" in md
    assert "| baseline | 50.0 ± 7.1 | 40.0 ± 7.1 | 45.0 |" in md
    table = runner.invoke(cli, ["report", str(path)])
    assert table.exit_code == 0 and "62.5 ± 3.5 (+12.5 ±10.6 sd)" in table.stdout
    rows_csv = list(csv.DictReader(io.StringIO(runner.invoke(cli, ["report", str(path), "--format", "csv"]).stdout)))
    cell = next(r for r in rows_csv if r["model"] == "m" and r["intermediate"] == "mnli" and r["target"] == "xnli")
    assert float(cell["mean"]) == pytest.approx(62.5) and float(cell["delta"]) == pytest.approx(12.5)
    assert float(cell["delta_sd"]) == pytest.approx(10.6066, abs=1e-3) and cell["ci_method"] == "seed spread"
    assert cell["n_seeds"] == "2" and math.isclose(float(cell["std"]), 3.5355, abs_tol=1e-3)

    png = tmp_path / "plot.png"
    plotted = runner.invoke(cli, ["report", str(path), "--plot", str(png), "--format", "csv"])
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_report_rejects_a_missing_results_path(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no results file" in result.output


# ------------------------------------------------------------------------------- (d) error records
def test_report_lists_error_records(tmp_path):
    records = hand_records()
    records.append({"type": "run", "schema_version": 1, "run_id": "run-err", "seed": 3,
                    "model": {"spec": "m"}, "config": {"intermediate": ["mnli"]}})
    records.append({"type": "error", "schema_version": 1, "run_id": "run-err", "task": "xnli", "language": "sw",
                    "split": "test", "phase": "evaluate", "error_type": "DataError",
                    "message": "no local data for xnli/test/sw", "time": "2024-01-02T00:00:00+00:00"})
    path = write_jsonl(tmp_path / "results.jsonl", records)
    runner = CliRunner()
    table = runner.invoke(cli, ["report", str(path)])
    assert table.exit_code == 0, table.output
    assert "errors (1)" in table.stdout and "no local data for xnli/test/sw" in table.stdout
    assert "xnli sw test [evaluate] DataError" in table.stdout and "seed 3" in table.stdout
    md = runner.invoke(cli, ["report", str(path), "--format", "md"]).stdout
    assert "### Errors (1)" in md and "DataError" in md
    data = json.loads(runner.invoke(cli, ["report", str(path), "--format", "json"]).stdout)
    (error,) = data["errors"]
    assert error == {**error, "task": "xnli", "language": "sw", "phase": "evaluate", "model": "m",
                     "intermediate": "mnli", "seed": 3, "resolved": False}
    # a later result for the same cell marks it resolved
    records.append(rec("m", ["mnli"], "xnli", "sw", 3, {"accuracy": 0.5}, time_="2024-01-03T00:00:00+00:00"))
    data = json.loads(runner.invoke(cli, ["report", str(write_jsonl(path, records)), "--format", "json"]).stdout)
    assert data["errors"][0]["resolved"] is True


def test_grid_failing_cell_does_not_stop_the_grid(tiny_model_path, tmp_path):
    """pawsx 'ko' has a bad row: its evaluation fails in every configuration, the others run."""
    out = tmp_path / "grid"
    root = tmp_path / "data"
    for task in ("sst2", "pawsx"):
        shutil.copytree(SAMPLES / task, root / task)
    (root / "pawsx" / "test-ko.jsonl").write_text('{"sentence1": "a", "sentence2": "b", "label": "maybe"}\n')
    result = CliRunner().invoke(cli, ["grid", "--model", str(tiny_model_path), "-i", "sst2", "-t", "pawsx",
                                      "-l", "pawsx=en,ko", "--limit", "8", "--hparam", "epochs=1",
                                      "--data", "local", "--data-dir", str(root), "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 1, result.output
    records = read_records(out / "results.jsonl")
    results = [r for r in records if r["type"] == "result"]
    errors = [r for r in records if r["type"] == "error"]
    assert {(r["language"], tuple(r["intermediate"])) for r in results} == {("en", ()), ("en", ("sst2",))}
    assert [(e["task"], e["language"], e["phase"]) for e in errors] == [("pawsx", "ko", "evaluate")] * 2
    assert "2 failure(s) in the grid" in result.stderr
    report = CliRunner().invoke(cli, ["report", str(out), "--format", "md"])
    assert "### Errors (2)" in report.stdout and "| sst2 |" in report.stdout


def test_grid_dry_run_lists_the_cells_and_matches_what_the_grid_then_did(reference_grid, tiny_model_path, tmp_path):
    """``--dry-run`` submits, loads and writes nothing (a SLURM executor needs no cluster for it); on a
    finished grid it says every cell is done, and on a fresh directory it counts what a run computes."""
    ref, result = reference_grid
    assert result.exit_code == 0, result.output
    fresh = tmp_path / "fresh"
    preview = json.loads(CliRunner().invoke(cli, [*grid_args(tiny_model_path, fresh), "--dry-run", "--json",
                                                  "--executor", "slurm", "--gpus-per-job", "1"]).stdout)
    assert not fresh.exists() and preview["executor"] == "slurm"
    assert [row["cell"] for row in preview["cells"]] == ["baseline", "mnli", "sst2", "mnli+sst2"]
    assert preview["cells_to_run"] == 4 and preview["to_compute"] == len(result_keys(ref)) == 16
    assert all(row["resources"] == {"gpus_per_job": 1} for row in preview["cells"])
    assert {row["intermediate"] for row in preview["cells"][1:]} == {"to train"}
    finished = json.loads(CliRunner().invoke(cli, [*grid_args(tiny_model_path, ref), "--dry-run", "--json"]).stdout)
    assert (finished["cells_to_run"], finished["to_compute"], finished["done"]) == (0, 0, 16)
    table = CliRunner().invoke(cli, [*grid_args(tiny_model_path, ref), "--dry-run"]).stdout
    assert "0 of 4 cell(s) would run on the local executor" in table
