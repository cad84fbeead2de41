"""Scaling fits and ``harness report --scaling`` on hand-written records."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.results.fits import fit_loglinear, fit_power_law
from harness.results.scaling import data_size

SIZES = np.array([16, 32, 64, 128, 256, 1024], dtype=float)


def test_power_law_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    error = 12.0 + 60.0 * SIZES ** -0.5
    replicates = error[None] + rng.normal(0, 0.2, size=(400, len(SIZES)))
    fit = fit_power_law(SIZES, error, replicates)
    assert fit.params["E"] == pytest.approx(12.0, abs=1e-3)
    assert fit.params["A"] == pytest.approx(60.0, rel=1e-3)
    assert fit.params["alpha"] == pytest.approx(0.5, rel=1e-3)
    for name, truth in (("E", 12.0), ("A", 60.0), ("alpha", 0.5)):
        low, high = fit.intervals[name]
        assert low < truth < high


def test_loglinear_fit_recovers_known_parameters():
    rng = np.random.default_rng(1)
    y = 40.0 + 2.5 * np.log(SIZES)
    fit = fit_loglinear(SIZES, y + rng.normal(0, 0.05, len(SIZES)), None)
    assert fit.params["a"] == pytest.approx(40.0, abs=0.3) and fit.params["b"] == pytest.approx(2.5, abs=0.05)
    assert fit.intervals["b"][0] < 2.5 < fit.intervals["b"][1]


def _record(language, seed, n, accuracy):
    inter = ["mnli"] if n else []
    return {"type": "result", "schema_version": 1, "run_id": "r", "key": f"{n}-{language}-{seed}", "task": "xnli",
            "language": language, "split": "test", "metrics": {"accuracy": accuracy},
            "main_score": {"name": "accuracy", "value": accuracy, "scale": 1, "higher_is_better": True},
            "n_examples": 100, "model": "m", "intermediate": inter, "checkpoints": {}, "hparams": {}, "seed": seed,
            "data": {"data_seed": 0, "size": {"mnli": n} if n else {}, "intermediate_examples": {"mnli": n} if n else {}},
            "examples_per_s": 1.0, "latency_p50_ms": 1.0, "latency_p95_ms": 1.0, "peak_host_mb": 1.0,
            "eval_seconds": 1.0, "time": "2024-01-01T00:00:00"}


def test_report_scaling_writes_the_figure_and_the_table(tmp_path):
    rng = np.random.default_rng(2)
    records = []
    base = {"en": 0.80, "de": 0.72, "sw": 0.55, "yo": 0.40}
    for seed in (1, 2, 3):
        for language, start in base.items():
            records.append(_record(language, seed, 0, start + rng.normal(0, 0.005)))
            for n in (16, 32, 64, 128):
                gain = (0.02 if language != "yo" else 0.005) * np.log2(n / 8)
                records.append(_record(language, seed, n, start + gain + rng.normal(0, 0.005)))
    old = _record("de", 1, 0, 0.7)
    old["intermediate"], old["data"], old["key"] = ["mnli"], {"fraction": {"mnli": 0.5}}, "old"
    records.append(old)
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    png = tmp_path / "scaling.png"
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(tmp_path), "--scaling", "--plot", str(png), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 30_000
    assert "fitted scaling laws" in result.stdout and "E + A N^-alpha" in result.stdout
    assert "seed bootstrap" in result.stdout and "1 result(s) do not record" in result.stderr + result.stdout
    data = json.loads(runner.invoke(cli, ["report", str(tmp_path), "--scaling", "--format", "json",
                                          "--bootstrap", "200"]).stdout)
    (series,) = data["series"]
    assert set(series["points"]) == {"high", "low", "unseen", "en (source)"}
    high = {p["n"]: p for p in series["points"]["high"]}
    assert set(high) == {0, 16, 32, 64, 128} and high[64]["low"] < high[64]["mean"] < high[64]["high"]
    loglinear = series["fits"]["high"][0]
    assert loglinear["params"]["b"] == pytest.approx(100 * 0.02 / np.log(2), rel=0.1)
    assert series["slopes"]["yo"] < series["slopes"]["sw"]
    assert series["gap"]["unseen"][0]["gap"] > 0


def test_data_size_reads_the_data_volume_fields():
    assert data_size({"intermediate": []}) == 0
    assert data_size({"intermediate": ["a", "b"], "data": {"intermediate_examples": {"a": 10, "b": 5}}}) == 15
    assert data_size({"intermediate": ["a"], "data": {"size": {"a": 100}}}) == 100
    assert data_size({"intermediate": ["a"], "data": {"size": {"a": None}}}) is None
    assert data_size({"intermediate": ["a"], "data": {}}) is None


def test_sizes_are_separate_configurations_in_the_main_report(tmp_path):
    from harness.results.report import config_label

    assert config_label(_record("de", 1, 16, 0.5)) == "mnli (N=16)"
    assert config_label(_record("de", 1, 0, 0.5)) == "baseline"
    records = [_record("de", seed, n, 0.5 + n / 1000 + seed / 100) for seed in (1, 2) for n in (0, 16, 64)]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    data = json.loads(CliRunner().invoke(cli, ["report", str(tmp_path), "--format", "json"]).stdout)
    rows = {row["intermediate"]: row for row in data["models"][0]["rows"]}
    assert list(rows) == ["baseline", "mnli (N=16)", "mnli (N=64)"]
    assert rows["mnli (N=64)"]["scores"]["xnli"]["delta"] == pytest.approx(6.4)
