"""Statistics of results: item bootstrap coverage, paired tests, rescoring from the logged samples,
language groups, and the intervals and group tables of ``harness report`` (all on hand-made data)."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.errors import DataError
from harness.metrics.registry import get_metric
from harness.results.languages import LanguageGroups, read_groups_file
from harness.results.samples import ItemScores
from harness.results.stats import bootstrap_mean, paired_test, seed_spread


# ------------------------------------------------------------------------------- bootstrap / tests
def test_item_bootstrap_covers_the_truth_at_the_nominal_rate():
    accuracy = get_metric("accuracy")
    rng = np.random.default_rng(7)
    truth, covered, reps = 0.7, 0, 200
    for rep in range(reps):
        golds = [1] * 150
        predictions = [int(x) for x in rng.random(150) < truth]
        scores = ItemScores(golds, predictions, accuracy)
        assert scores.item_values is not None              # accuracy is a mean over items: vectorised
        interval = bootstrap_mean([[(scores, 1.0)]], reps=400, seed=rep)
        covered += interval.low <= 100 * truth <= interval.high
    assert 0.9 <= covered / reps <= 0.99


def test_corpus_f1_is_recomputed_on_each_resample_not_averaged():
    seqeval = get_metric("seqeval_f1")
    golds = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "O", "B-ORG"], ["O", "B-PER"], ["B-LOC", "I-LOC"]]
    preds = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "O", "O"], ["O", "O"], ["B-LOC", "B-LOC"]]
    scores = ItemScores(golds, preds, seqeval)
    assert scores.item_values is None and scores.exact_method == "metric recomputed per resample"
    indices = np.array([[0, 0, 1, 3], [2, 2, 2, 1]])
    expected = [100 * seqeval.score([golds[i] for i in row], [preds[i] for i in row])["f1"] for row in indices]
    assert scores.replicates(indices) == pytest.approx(expected)
    per_sentence = np.mean([100 * seqeval.score([g], [p])["f1"] for g, p in zip(golds, preds)])
    assert scores.point != pytest.approx(per_sentence)      # a mean of sentence F1s would be wrong


def _pair(rng, n, p_config, p_base):
    golds = [1] * n
    return (ItemScores(golds, [int(x) for x in rng.random(n) < p_config], get_metric("accuracy")),
            ItemScores(golds, [int(x) for x in rng.random(n) < p_base], get_metric("accuracy")))


def test_paired_test_rejects_a_real_shift_and_not_none():
    rng = np.random.default_rng(3)
    config, base = _pair(rng, 800, 0.78, 0.70)
    shifted = paired_test([[(config, base, 1.0)]], reps=1000, seed=0)
    assert shifted.low > 0 and shifted.p_bootstrap < 0.01 and shifted.p_permutation < 0.01
    rejections = 0
    for rep in range(60):
        config, base = _pair(rng, 300, 0.7, 0.7)
        result = paired_test([[(config, base, 1.0)]], reps=400, seed=rep)
        rejections += result.p_permutation < 0.05
        assert result.low <= result.point <= result.high
    assert rejections / 60 <= 0.15


def test_seed_spread():
    spread = seed_spread([60.0, 65.0, 70.0])
    assert (spread.mean, spread.std, spread.low, spread.high, spread.n) == (65.0, 5.0, 60.0, 70.0, 3)
    assert seed_spread([1.0]).std is None


# ------------------------------------------------------------------------------- language groups
def test_packaged_language_facts_and_group_rules():
    groups = LanguageGroups()
    assert len(groups.facts) >= 50
    assert groups("en") == "high" and groups("th") == "mid" and groups("sw") == "low"
    assert groups("yo") == "unseen" and groups("qu") == "unseen"       # not in XLM-R's CC-100
    assert LanguageGroups(pretraining="mbert")("yo") == "low"         # mBERT saw Yoruba's Wikipedia
    assert groups("xx") == "other"
    assert groups.order({"other", "low", "high", "mine", "en (source)"}) == ["high", "low", "mine", "other", "en (source)"]
    assert groups.transfer_group("en") == "en (source)" and groups.transfer_group("de") == "high"


def test_groups_file_overrides_and_errors_name_file_row_field(tmp_path):
    good = tmp_path / "groups.csv"
    good.write_text("language,group\nsw,african\nyo,african\n", encoding="utf-8")
    groups = LanguageGroups.load(good)
    assert groups("sw") == "african" and groups("en") == "high"
    yaml_file = tmp_path / "groups.yaml"
    yaml_file.write_text("african: [sw, yo]\nen: anchor\n", encoding="utf-8")
    assert read_groups_file(yaml_file) == {"sw": "african", "yo": "african", "en": "anchor"}

    bad = tmp_path / "bad.csv"
    bad.write_text("language,group\nsw,african\nyo,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv, row 3, field 'group': missing value"):
        read_groups_file(bad)
    no_header = tmp_path / "nohead.csv"
    no_header.write_text("lang,grp\nsw,x\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"nohead\.csv, row 1, field 'language'"):
        read_groups_file(no_header)
    twice = tmp_path / "twice.yaml"
    twice.write_text("a: [sw]\nb: [sw]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"twice\.yaml, field 'b': language 'sw' is in two groups"):
        read_groups_file(twice)
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "--groups", str(bad)])
    assert result.exit_code == 2


# ------------------------------------------------------------------------------- runs on disk
def _record(config: list[str], language: str, seed: int, metrics: dict, task: str = "xnli",
            metric: str = "accuracy", scale: int = 1) -> dict:
    primary = "f1" if metric == "seqeval_f1" else "accuracy"
    return {"type": "result", "schema_version": 1, "run_id": f"r{seed}", "key": f"{'+'.join(config)}-{task}-{language}-{seed}",
            "task": task, "language": language, "split": "test", "metrics": metrics,
            "main_score": {"name": primary, "value": metrics[primary], "scale": scale, "higher_is_better": True},
            "n_examples": 0, "model": "m", "intermediate": config,
            "checkpoints": {"intermediate": {"key": f"k{'+'.join(config)}{seed}"} if config else None},
            "hparams": {}, "seed": seed, "data": {}, "examples_per_s": 1.0, "latency_p50_ms": 1.0,
            "latency_p95_ms": 1.0, "peak_host_mb": 1.0, "eval_seconds": 1.0, "time": f"2024-01-0{seed}T00:00:00"}


def write_run(root: Path, cells: dict[tuple[tuple[str, ...], str, int], tuple[list, list]],
              task: str = "xnli", metric: str = "accuracy") -> Path:
    """results.jsonl and the --log-samples files of hand-made cells (config, language, seed) ->
    (golds, predictions), in the pipeline's layout."""
    records = []
    scorer = get_metric(metric)
    for (config, language, seed), (golds, preds) in cells.items():
        names = "+".join(config) or "baseline"
        key = f"k{'+'.join(config)}{seed}" if config else f"m{seed}"
        folder = root / "samples" / f"{names}-{key}" / task
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"test-{language}.jsonl").write_text("".join(
            json.dumps({"id": f"{language}-{i}", "input_hash": f"h{language}{i}", "prediction": p, "gold": g}) + "\n"
            for i, (g, p) in enumerate(zip(golds, preds))), encoding="utf-8")
        records.append({**_record(list(config), language, seed, scorer.score(golds, preds), task, metric),
                        "n_examples": len(golds)})
    (root / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return root


def _cells(rng, seeds=(1, 2), languages=("en", "sw"), n=400, shift=0.1):
    cells = {}
    for seed in seeds:
        for language in languages:
            golds = [int(x) for x in rng.integers(0, 3, n)]
            for config, p in (((), 0.6), (("mnli",), 0.6 + shift)):
                preds = [g if r < p else (g + 1) % 3 for g, r in zip(golds, rng.random(n))]
                cells[(config, language, seed)] = (golds, preds)
    return cells


def test_rescore_reproduces_the_logged_metric_and_keeps_the_originals(tmp_path):
    rng = np.random.default_rng(0)
    run = write_run(tmp_path / "run", _cells(rng))
    # a seqeval target: its corpus F1 too
    tags = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["B-LOC", "O"]]
    guessed = [["B-PER", "O", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["O", "O"]]
    write_run(tmp_path / "ner", {((), "de", 1): (tags, guessed)}, task="panx", metric="seqeval_f1")
    original = (run / "results.jsonl").read_bytes()
    runner = CliRunner()
    result = runner.invoke(cli, ["rescore", str(run), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 8 and all(r["rescored"] == pytest.approx(r["logged"]) for r in rows)
    ner = json.loads(runner.invoke(cli, ["rescore", str(tmp_path / "ner"), "--json"]).stdout)
    assert ner[0]["rescored"] == pytest.approx(100 * get_metric("seqeval_f1").score(tags, guessed)["f1"])

    # another registered metric, written beside (never over) the original results
    written = runner.invoke(cli, ["rescore", str(tmp_path / "ner"), "--metric", "token_accuracy", "--write"])
    assert written.exit_code == 0, written.output
    new = [json.loads(line) for line in (tmp_path / "ner" / "rescored" / "token_accuracy.jsonl").read_text().splitlines()]
    assert new[0]["metrics"]["accuracy"] == pytest.approx(7 / 9)
    assert new[0]["rescored"]["from_key"] == "-panx-de-1" and new[0]["key"] != new[0]["rescored"]["from_key"]
    assert new[0]["main_score"]["name"] == "accuracy"
    assert (run / "results.jsonl").read_bytes() == original

    # samples that do not reproduce the logged value (another run's) are refused with the reason
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    records[0]["metrics"]["accuracy"] = 0.123
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    partial = runner.invoke(cli, ["rescore", str(run), "--json"])
    assert len(json.loads(partial.stdout)) == 7 and "the result logged 12.3000" in partial.stderr


def test_report_prints_paired_intervals_from_samples_and_groups(tmp_path):
    rng = np.random.default_rng(1)
    run = write_run(tmp_path / "run", _cells(rng, shift=0.15))
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["report", str(run), "--format", "json", "--by-group",
                                          "--bootstrap", "500"]).stdout)
    rows = {row["intermediate"]: row for row in data["models"][0]["rows"]}
    mnli = rows["mnli"]["scores"]["xnli"]
    ci = mnli["delta_ci"]
    assert ci["low"] < mnli["delta"] < ci["high"] and ci["low"] > 0 and ci["p_permutation"] < 0.01
    assert ci["reps"] == 500 and ci["n_items"] == 800 and "paired" in ci["method"]
    assert rows["baseline"]["scores"]["xnli"]["ci"]["low"] < rows["baseline"]["scores"]["xnli"]["mean"]
    assert "delta_ci" in rows["mnli"]["average"]
    groups = data["models"][0]["by_group"]["xnli"]
    assert set(groups["mnli"]) == {"en (source)", "low"} and groups["mnli"]["low"]["languages"] == ["sw"]
    assert groups["mnli"]["low"]["delta_ci"]["n_items"] == 400
    table = runner.invoke(cli, ["report", str(run), "--by-group", "--format", "md"])
    assert table.exit_code == 0, table.output
    assert "paired item bootstrap interval (500 resamples" not in table.stdout      # default 1000
    assert "paired item bootstrap interval (1000 resamples" in table.stdout
    assert "#### xnli by language group" in table.stdout and "low (sw)" in table.stdout

    # no shift: the interval includes zero and the cell says so
    calm = write_run(tmp_path / "calm", _cells(np.random.default_rng(2), shift=0.0))
    md = runner.invoke(cli, ["report", str(calm), "--format", "md", "--bootstrap", "300"]).stdout
    assert "n.s." in md


def test_report_without_samples_shows_the_seed_spread(tmp_path):
    rng = np.random.default_rng(4)
    run = write_run(tmp_path / "run", _cells(rng))
    for path in (run / "samples").rglob("*.jsonl"):
        path.unlink()
    data = json.loads(CliRunner().invoke(cli, ["report", str(run), "--format", "json"]).stdout)
    mnli = {r["intermediate"]: r for r in data["models"][0]["rows"]}["mnli"]["scores"]["xnli"]
    assert "delta_ci" not in mnli
    per_seed = [mnli["seeds"][s] - v for s, v in
                {r["intermediate"]: r for r in data["models"][0]["rows"]}["baseline"]["scores"]["xnli"]["seeds"].items()]
    assert mnli["delta_spread"]["std"] == pytest.approx(statistics.stdev(per_seed))


def test_heatmap_has_a_stated_symmetric_range_marks_uncertain_cells_and_prints_n(tmp_path):
    from harness.results.report import _nice_ceiling, build_report, cell_counts, delta_interval_of, plot_deltas
    from harness.results.uncertainty import attach_intervals

    rng = np.random.default_rng(5)
    cells = _cells(rng, shift=0.0)
    cells.update({(("qqp",), lang, seed): (g, [x if r < 0.9 else (x + 1) % 3 for x, r in zip(g, rng.random(len(g)))])
                  for ((config, lang, seed), (g, _)) in list(cells.items()) if not config})
    run = write_run(tmp_path / "run", cells)
    from harness.results.report import load_records
    report = build_report(load_records([run]))
    attach_intervals(report, lambda record: get_metric("accuracy"), reps=300)
    model = report.models[0]
    noise, effect = model.scores["mnli"]["xnli"], model.scores["qqp"]["xnli"]
    assert delta_interval_of(noise)[0] <= 0 <= delta_interval_of(noise)[1]          # hatched
    assert delta_interval_of(effect)[0] > 0 and delta_interval_of(effect)[2] == "bootstrap"
    assert cell_counts(model, "mnli", "xnli") == (2, 800)                        # 2 seeds, en+sw x 400
    assert _nice_ceiling(3.2) == 5.0 and _nice_ceiling(12) == 20.0
    png = plot_deltas(report, tmp_path / "heat.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # without samples the per-seed range decides; one seed and no samples: no interval at all
    for path in (run / "samples").rglob("*.jsonl"):
        path.unlink()
    plain = build_report(load_records([run]))
    assert delta_interval_of(plain.models[0].scores["mnli"]["xnli"])[2] == "seed range"
    result = CliRunner().invoke(cli, ["report", str(run), "--plot", str(tmp_path / "h2.png"), "--heatmap-range", "5"])
    assert result.exit_code == 0, result.output


def test_gap_report_gives_the_spread_of_the_per_seed_gap(tmp_path):
    from harness.results.gap import build_gap
    from harness.results.report import load_records, metric_for

    records = [_record([], lang, seed, {"accuracy": value})
               for (lang, seed, value) in (("en", 1, 0.8), ("sw", 1, 0.5), ("en", 2, 0.9), ("sw", 2, 0.5))]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (row,) = build_gap(load_records([tmp_path]), lambda record: metric_for(None, record))
    assert row.per_seed == {1: pytest.approx(30.0), 2: pytest.approx(40.0)}
    assert row.gap == pytest.approx(35.0) and row.spread.std == pytest.approx(statistics.stdev([30, 40]))
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "--gap"])
    assert result.exit_code == 0 and "+35.0 ±7.1 sd" in result.stdout


def test_holm_adjusts_step_down_and_stays_monotone():
    from harness.results.stats import holm

    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2]) == [0.2] and holm([]) == []
    rng = np.random.default_rng(3)
    raw = list(rng.random(12) ** 3)
    adjusted = holm(raw)
    order = np.argsort(raw)
    assert all(a >= p for a, p in zip(adjusted, raw)) and max(adjusted) <= 1.0
    assert all(np.diff(np.array(adjusted)[order]) >= 0)


def test_report_corrects_the_table_differences_for_multiple_comparisons(tmp_path):
    """Three intermediate tasks against one baseline: each difference's p-value is adjusted over
    the three (Holm); the table marks only the differences that stay significant."""
    rng = np.random.default_rng(4)
    cells = {}
    for language in ("en", "sw"):
        golds = [int(x) for x in rng.integers(0, 3, 400)]
        for config, p in (((), 0.6), (("mnli",), 0.75), (("squad",), 0.62), (("qqp",), 0.6)):
            preds = [g if r < p else (g + 1) % 3 for g, r in zip(golds, rng.random(400))]
            cells[(config, language, 1)] = (golds, preds)
    run = write_run(tmp_path / "run", cells)
    data = json.loads(CliRunner().invoke(cli, ["report", str(run), "--format", "json", "--bootstrap", "400"]).stdout)
    cis = {row["intermediate"]: row["scores"]["xnli"]["delta_ci"] for row in data["models"][0]["rows"]
           if row["intermediate"] != "baseline"}
    raw = sorted((ci["p_permutation"], name) for name, ci in cis.items())
    assert all(ci["family"] == 3 and ci["p_holm"] >= ci["p_permutation"] for ci in cis.values())
    assert cis[raw[0][1]]["p_holm"] == pytest.approx(min(1.0, 3 * raw[0][0]))
    assert cis["mnli"]["p_holm"] < 0.05
    table = CliRunner().invoke(cli, ["report", str(run), "--format", "md", "--bootstrap", "400"]).stdout
    assert "Holm's correction over the table's 3 target differences" in table
    mnli_line = next(line for line in table.splitlines() if line.startswith("| mnli"))
    assert mnli_line.rstrip(" |").endswith("*") or " *" in mnli_line
    csv_rows = CliRunner().invoke(cli, ["report", str(run), "--format", "csv", "--bootstrap", "400"]).stdout
    assert "p_holm" in csv_rows.splitlines()[0]
