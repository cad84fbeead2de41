"""XTREME leaderboard scoring: fixture submission folder, hand-computed numbers, export round trip."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness_plugins.xtreme.api import (XTREME_R_TASK2LANGS, XTREME_TASK2LANGS, export_predictions, read_tag,
                                        score_file, score_folder, write_report)

DATA = Path(__file__).parent / "data" / "xtreme_submission"
PRED, LABELS, FILES = DATA / "predictions", DATA / "labels", DATA / "files"
MOCK = Path(__file__).parent / "data" / "xtreme_mock"              # XTREME's mock_test_data
GENERATED = Path(__file__).parent / "data" / "xtreme_generated"    # scripts/xtreme_reference_fixture.py

# XTREME's evaluate_test.py: the per-task averages its scorer must give on the mock data (compared
# with assertEqual, so digit for digit); the XTREME-R entries are the tasks that test keeps active
EVALUATE_TEST_XTREME = {
    "pawsx": {"avg_accuracy": 51.42857142857143},
    "xnli": {"avg_accuracy": 30.666666666666668},
    "panx": {"avg_f1": 57.50793650793652, "avg_precision": 54.729166666666664,
             "avg_recall": 62.750000000000014},
    "udpos": {"avg_f1": 70.21746048354693, "avg_precision": 71.02232625883823,
              "avg_recall": 69.54982073976082},
    "bucc2018": {"avg_f1": 55.0, "avg_precision": 55.0, "avg_recall": 55.0},
    "tatoeba": {"avg_accuracy": 53.611111111111114},
    "xquad": {"avg_exact_match": 77.27272727272727, "avg_f1": 79.9586776859504},
    "mlqa": {"avg_exact_match": 57.142857142857146, "avg_f1": 81.76870748299321},
    "tydiqa": {"avg_exact_match": 88.88888888888889, "avg_f1": 97.22222222222223},
}
EVALUATE_TEST_XTREME_R = {
    "xnli": {"avg_accuracy": 30.666666666666668},
    "mewslix": {"avg_map@20": 14.39025156130419},
    "mlqa": {"avg_exact_match": 57.142857142857146, "avg_f1": 81.76870748299321},
    "tydiqa": {"avg_exact_match": 88.88888888888889, "avg_f1": 97.22222222222223},
}


def test_tables_match_the_official_script():
    assert len(XTREME_TASK2LANGS) == 9
    assert len(XTREME_TASK2LANGS["panx"]) == 40 and len(XTREME_TASK2LANGS["udpos"]) == 33
    assert len(XTREME_TASK2LANGS["tatoeba"]) == 36 and len(XTREME_TASK2LANGS["xnli"]) == 15
    assert XTREME_TASK2LANGS["bucc2018"] == ["de", "fr", "ru", "zh"]
    assert "pawsx" not in XTREME_R_TASK2LANGS and "bucc2018" not in XTREME_R_TASK2LANGS
    assert XTREME_R_TASK2LANGS["xquad"][-1] == "ro" and len(XTREME_R_TASK2LANGS["xcopa"]) == 11


@pytest.mark.parametrize("table, expected", [(XTREME_TASK2LANGS, EVALUATE_TEST_XTREME),
                                             (XTREME_R_TASK2LANGS, EVALUATE_TEST_XTREME_R)])
def test_mock_data_gives_every_number_of_evaluate_test(table, expected):
    """The loop of evaluate_test.py: per-language scores, then a left-to-right mean per metric."""
    for task, averages in expected.items():
        scores: dict = {}
        for lg in table[task]:
            suffix = "json" if task in ("xquad", "mlqa", "tydiqa", "mewslix") else "tsv"
            name = f"{task}/test-{lg}.{suffix}"
            for metric, value in score_file(MOCK / "predictions" / name, MOCK / "labels" / name, task, lg).items():
                scores.setdefault(metric, {})[lg] = value
        assert {f"avg_{m}": sum(v.values()) / len(v) for m, v in scores.items()} == averages, task


def _assert_same_report(ours, official, path="report"):
    """Same keys in the same order, same value types, equal values; all_task to 1e-12 (the official
    script sums it in string-hash order, the harness in table order)."""
    if isinstance(official, dict):
        assert list(ours) == list(official), path
        for key in official:
            _assert_same_report(ours[key], official[key], f"{path}.{key}")
    elif path == "report.all_task":
        assert ours == pytest.approx(official, abs=1e-12)
    else:
        assert (ours, type(ours)) == (official, type(official)), path


def _covered_labels(tmp_path, version):
    """The label folder the official reports were made with (for XTREME-R: only the tasks whose every
    language the mock data holds)."""
    if version == "xtreme":
        return MOCK / "labels"
    for task in ("xnli", "mewslix", "mlqa", "tydiqa"):
        shutil.copytree(MOCK / "labels" / task, tmp_path / "labels" / task)
    return tmp_path / "labels"


@pytest.mark.parametrize("version", ["xtreme", "xtreme-r"])
@pytest.mark.parametrize("submission", [MOCK, GENERATED / "perturbed", GENERATED / "random"],
                         ids=["mock", "perturbed", "random"])
def test_harness_score_reproduces_the_official_report(tmp_path, submission, version):
    from click.testing import CliRunner

    from harness.commands import cli

    output = tmp_path / "scores.json"
    result = CliRunner().invoke(cli, ["score", "--predictions", str(submission / "predictions"),
                                      "--labels", str(_covered_labels(tmp_path, version)),
                                      "--version", version, "--output", str(output)])
    assert result.exit_code == 0, result.output
    official = json.loads((submission / f"official-{version}.json").read_text())
    _assert_same_report(json.loads(output.read_text()), official)


def test_all_task_does_not_depend_on_the_hash_seed():
    import subprocess
    import sys

    code = ("from harness_plugins.xtreme.api import score_folder; "
            f"print(repr(score_folder({str(MOCK / 'predictions')!r}, {str(MOCK / 'labels')!r})['all_task']))")
    values = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout.strip()
              for seed in range(4)}
    assert values == {"62.17319850507248"}      # summed in table order


def test_score_folder_xtreme_hand_values():
    report = score_folder(PRED, LABELS)
    # Tasks in both folders, in the official order; groups only when all their tasks are scored
    # (tagging / qa / retrieval lack tasks), no all_task. xcopa is not an XTREME task: ignored.
    assert list(report) == ["classification", "pawsx", "xnli", "bucc2018", "mlqa"]

    # pawsx: 2 examples per language, en gets 1 of 2 right -> 50, the 6 others 100 -> 650/7
    pawsx = report["pawsx"]
    assert list(pawsx) == ["accuracy", "avg_accuracy", "avg_metric"]
    assert list(pawsx["accuracy"]) == XTREME_TASK2LANGS["pawsx"]
    assert pawsx["accuracy"]["en"] == 50.0
    assert pawsx["avg_accuracy"] == pytest.approx(650 / 7) and pawsx["avg_metric"] == pawsx["avg_accuracy"]
    # xnli: ar 1 of 2 -> 50, zh 0 of 2 -> 0, 13 languages 100 -> 1350/15 = 90
    assert report["xnli"]["accuracy"]["zh"] == 0.0
    assert report["xnli"]["avg_metric"] == 90.0
    assert report["classification"] == pytest.approx((650 / 7 + 90) / 2)

    # bucc2018: de 1 of 2 pairs right: P = R = F1 = 50; fr 2 right of 3 predicted, 2 gold:
    # P = 2/3, R = 1, F1 = 0.8; ru none right: 0 (an int, as the official script gives);
    # zh all right (order does not matter): 100
    bucc = report["bucc2018"]
    assert list(bucc) == ["f1", "precision", "recall", "avg_f1", "avg_precision", "avg_recall", "avg_metric"]
    assert bucc["f1"]["fr"] == pytest.approx(80.0) and bucc["precision"]["fr"] == pytest.approx(200 / 3)
    assert bucc["f1"]["ru"] == 0 and isinstance(bucc["f1"]["ru"], int)
    assert bucc["avg_f1"] == pytest.approx((50 + 80 + 0 + 100) / 4)
    assert bucc["avg_recall"] == pytest.approx((50 + 100 + 0 + 100) / 4)
    assert bucc["avg_metric"] == bucc["avg_f1"]

    # mlqa (language-aware): en "cat" = "The cat" (article) -> 100/100; es "casa" vs "la casa blanca"
    # -> "casa blanca": EM 0, F1 = 2*(1*1/2)/(3/2) = 2/3; de: 2 questions, one unanswered, the other
    # "Hund" = "der Hund" -> 50/50; ar "كتاب" = "الكتاب"; hi danda dropped; vi "của" dropped -> 100;
    # zh "北京" vs "北京大学" -> EM 0, F1 2/3
    mlqa = report["mlqa"]
    assert list(mlqa) == ["exact_match", "f1", "avg_exact_match", "avg_f1", "avg_metric"]
    assert list(mlqa["f1"]) == XTREME_TASK2LANGS["mlqa"]
    assert mlqa["avg_exact_match"] == pytest.approx(450 / 7)
    f1 = (100 + 200 / 3 + 50 + 100 + 100 + 100 + 200 / 3) / 7
    assert mlqa["avg_f1"] == pytest.approx(f1)
    assert mlqa["avg_metric"] == pytest.approx((450 / 7 + f1) / 2)


def test_score_folder_xtreme_r():
    report = score_folder(PRED, LABELS, version="xtreme-r")
    # pawsx and bucc2018 are not XTREME-R tasks; xcopa is, and completes classification (xnli, xcopa)
    # xcopa: et 0 of 2, ht 1 of 2, 9 languages 2 of 2 -> (0 + 50 + 900)/11 = 950/11
    assert list(report) == ["classification", "multi_choice", "xnli", "xcopa", "mlqa"]
    assert report["xcopa"]["avg_accuracy"] == pytest.approx(950 / 11)
    assert report["multi_choice"] == pytest.approx(950 / 11)
    assert report["classification"] == pytest.approx((90 + 950 / 11) / 2)
    with pytest.raises(ValueError):
        score_folder(PRED, LABELS, version="xtreme-2")


def test_missing_language_file_raises(tmp_path):
    shutil.copytree(DATA, tmp_path / "sub")
    (tmp_path / "sub" / "predictions" / "pawsx" / "test-ja.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="test-ja.tsv"):
        score_folder(tmp_path / "sub" / "predictions", tmp_path / "sub" / "labels")


def test_task_without_labels_is_skipped(tmp_path):
    shutil.copytree(DATA, tmp_path / "sub")
    shutil.rmtree(tmp_path / "sub" / "labels" / "pawsx")
    report = score_folder(tmp_path / "sub" / "predictions", tmp_path / "sub" / "labels")
    assert "pawsx" not in report and "classification" not in report and "xnli" in report


def test_example_count_mismatch_raises(tmp_path):
    shutil.copytree(DATA, tmp_path / "sub")
    (tmp_path / "sub" / "predictions" / "xnli" / "test-de.tsv").write_text("entailment\n")
    with pytest.raises(ValueError, match="not matched"):
        score_folder(tmp_path / "sub" / "predictions", tmp_path / "sub" / "labels")


def test_tagging_sentence_length_mismatch_names_file_and_sentence(tmp_path):
    # the official scorer does not check it: a shorter sentence would shift every later chunk
    labels = tmp_path / "labels.tsv"
    labels.write_text("NOUN\nVERB\n\nDET\n")
    (tmp_path / "predictions.tsv").write_text("NOUN\n\nDET\n")
    with pytest.raises(ValueError, match=r"predictions.tsv: sentence 1: 1 predicted tags for 2 gold tags"):
        score_file(tmp_path / "predictions.tsv", labels, "udpos", "en")


def test_write_report_round_trip(tmp_path):
    report = score_folder(PRED, LABELS)
    write_report(report, tmp_path / "out" / "scores.json")
    assert json.loads((tmp_path / "out" / "scores.json").read_text()) == report


def test_tag_files():
    # the gold file has no trailing blank line: its last sentence still counts
    assert read_tag(FILES / "udpos-labels.tsv") == [["NOUN", "NOUN", "VERB", "DET"], ["CCONJ", "SCONJ"]]
    # panx: gold PER(0,1) LOC(3,3) | ORG; pred PER(0,1) ORG(3,3) | ORG -> 2/3 everywhere
    panx = score_file(FILES / "panx-predictions.tsv", FILES / "panx-labels.tsv", "panx", "en")
    assert panx == pytest.approx({"f1": 200 / 3, "precision": 200 / 3, "recall": 200 / 3})
    # udpos (seqeval 0.0.12: the whole tag is the type): gold (NOUN,0,1) (VERB,2,2) (DET,3,3) |
    # (CCONJ,5,5) (SCONJ,6,6); pred (NOUN,0,0) (VERB,1,2) (DET,3,3) | (SCONJ,5,5) (SCONJ,6,6):
    # 2 right of 5 and 5 -> 40 everywhere (seqeval >= 1.0 merges CCONJ/SCONJ: 2 of 5 and 4)
    udpos = score_file(FILES / "udpos-predictions.tsv", FILES / "udpos-labels.tsv", "udpos", "en")
    assert udpos == pytest.approx({"f1": 40.0, "precision": 40.0, "recall": 40.0})


def test_official_mlqa_mock_numbers(tmp_path):
    """XTREME's own evaluate_test.py expects avg EM 57.142857142857146 and avg F1 81.76870748299321
    on its mock MLQA submission (google-research/xtreme mock_test_data/{labels,predictions}/mlqa);
    these are the gold answers and predictions of that mock data (ids shortened)."""
    mock = {
        "en": ({"e": ["had sustained skin, liver, and respiratory injuries"]}, {"e": "had sustained skin,"}),
        "es": ({"s": ["unas estructuras en forma de abanico que seguían un patrón de hojas, lenguas y lóbulos"]},
               {"s": "unas estructuras en"}),
        "de": ({"d": ["3050 und 3350 Meter"]}, {"d": "3050 und 3350"}),
        "ar": ({"a1": ["الطرق الترابية"], "a2": ["شمال شرق"]}, {"a1": "الطرق الترابية", "a2": "شمال شرق"}),
        "hi": ({"h": ["उत्तर पूर्व"]}, {"h": "उत्तर पूर्व"}),
        "vi": ({"v1": ["Đài Loan"], "v2": ["Khách Gia"]}, {"v1": "Đài Loan", "v2": "Khách Gia"}),
        "zh": ({"z": ["电化电池"]}, {"z": "电化电池"}),
    }
    for lg, (golds, preds) in mock.items():
        qas = [{"id": qid, "answers": [{"text": t} for t in texts]} for qid, texts in golds.items()]
        (tmp_path / "l" / "mlqa").mkdir(parents=True, exist_ok=True)
        (tmp_path / "p" / "mlqa").mkdir(parents=True, exist_ok=True)
        (tmp_path / "l" / "mlqa" / f"test-{lg}.json").write_text(
            json.dumps({"data": [{"paragraphs": [{"qas": qas}]}], "version": 1.0}), encoding="utf-8")
        (tmp_path / "p" / "mlqa" / f"test-{lg}.json").write_text(json.dumps(preds), encoding="utf-8")
    mlqa = score_folder(tmp_path / "p", tmp_path / "l")["mlqa"]
    assert mlqa["avg_exact_match"] == 57.142857142857146
    assert mlqa["avg_f1"] == 81.76870748299321


def _write_samples(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_export_predictions_round_trip(tmp_path):
    # the pipeline's layout: <run>/samples/<configuration label>/<task>/<split>-<lang>.jsonl
    samples = tmp_path / "run" / "samples" / "mnli-0123abcd"
    _write_samples(samples / "xnli" / "test-de.jsonl", [
        {"id": "1", "input_hash": "h", "prediction": "entailment", "gold": "entailment"},
        {"id": "2", "input_hash": "h", "prediction": "neutral", "gold": "contradiction"}])
    _write_samples(samples / "udpos" / "test-en.jsonl", [
        {"id": "1", "input_hash": "h", "prediction": ["NOUN", "VERB"], "gold": ["NOUN", "VERB"]},
        {"id": "2", "input_hash": "h", "prediction": ["DET", "NOUN"], "gold": ["DET", "ADJ"]}])
    _write_samples(samples / "mlqa" / "test-de.jsonl", [
        {"id": "q1", "input_hash": "h", "prediction": "Hund", "gold": ["der Hund", "Hunde"]},
        {"id": "q2", "input_hash": "h", "prediction": "Katze", "gold": ["Maus"]}])
    _write_samples(samples / "tatoeba" / "test-fr.jsonl", [
        {"id": "0", "input_hash": "h", "prediction": 0, "gold": 0},
        {"id": "1", "input_hash": "h", "prediction": 5, "gold": 1}])
    _write_samples(samples / "bucc" / "test-de.jsonl", [
        {"id": "de-1\ten-1", "input_hash": "h", "prediction": "de-1\ten-1", "gold": 1},
        {"id": "de-2\ten-3", "input_hash": "h", "prediction": "de-2\ten-3", "gold": 0}])
    _write_samples(samples / "mnli" / "dev-en.jsonl", [
        {"id": "1", "input_hash": "h", "prediction": "neutral", "gold": "neutral"}])
    _write_samples(samples / "xnli" / "dev-de.jsonl", [
        {"id": "1", "input_hash": "h", "prediction": "neutral", "gold": "neutral"}])

    out, labels = tmp_path / "sub", tmp_path / "labels"
    written = export_predictions(tmp_path / "run", out, with_labels_dir=labels,
                                 gold_source=lambda task, lang: [f"{lang}-1\ten-1", f"{lang}-2\ten-2"]
                                 if task == "bucc" else None)
    assert written == {"xnli": ["de"], "udpos": ["en"], "mlqa": ["de"], "tatoeba": ["fr"],
                       "bucc2018": ["de"]}
    assert not (out / "mnli").exists()                                   # not an XTREME task
    assert (out / "xnli" / "test-de.tsv").read_text() == "entailment\nneutral\n"
    assert (out / "udpos" / "test-en.tsv").read_text() == "NOUN\nVERB\n\nDET\nNOUN\n\n"
    assert json.loads((out / "mlqa" / "test-de.json").read_text()) == {"q1": "Hund", "q2": "Katze"}
    assert (out / "tatoeba" / "test-fr.tsv").read_text() == "0\n5\n"
    assert (out / "bucc2018" / "test-de.tsv").read_text() == "de-1\ten-1\nde-2\ten-3\n"

    def score(task, lg, suffix):
        return score_file(out / task / f"test-{lg}.{suffix}", labels / task / f"test-{lg}.{suffix}", task, lg)

    assert score("xnli", "de", "tsv") == {"accuracy": 50.0}
    assert score("tatoeba", "fr", "tsv") == {"accuracy": 50.0}
    # udpos: gold (NOUN,0,0) (VERB,1,1) | (DET,3,3) (ADJ,4,4); pred ... (NOUN,4,4): 3 right of 4 -> 75
    assert score("udpos", "en", "tsv") == pytest.approx({"f1": 75.0, "precision": 75.0, "recall": 75.0})
    # mlqa de: q1 "Hund" = "der Hund" -> EM 1, F1 1; q2 wrong -> 50 / 50
    assert score("mlqa", "de", "json") == {"exact_match": 50.0, "f1": 50.0}
    # bucc: 1 of 2 predicted pairs in the 2 gold pairs -> 50
    assert score("bucc2018", "de", "tsv")["f1"] == pytest.approx(50.0)


def test_export_without_bucc_gold_skips_bucc_labels(tmp_path):
    samples = tmp_path / "samples"
    _write_samples(samples / "bucc" / "test-fr.jsonl", [
        {"id": "fr-1\ten-1", "input_hash": "h", "prediction": "fr-1\ten-1", "gold": 1}])
    export_predictions(samples, tmp_path / "sub", with_labels_dir=tmp_path / "labels")
    assert (tmp_path / "sub" / "bucc2018" / "test-fr.tsv").exists()
    assert not (tmp_path / "labels" / "bucc2018").exists()


def test_export_several_configurations_needs_a_choice(tmp_path):
    for label in ("baseline-aaaa", "mnli-bbbb"):
        _write_samples(tmp_path / "run" / "samples" / label / "xnli" / "test-en.jsonl", [
            {"id": "1", "input_hash": "h", "prediction": "neutral", "gold": "neutral"}])
    with pytest.raises(ValueError, match="baseline-aaaa"):
        export_predictions(tmp_path / "run", tmp_path / "sub")
    assert export_predictions(tmp_path / "run", tmp_path / "sub", config="mnli-bbbb") == {"xnli": ["en"]}
    with pytest.raises(FileNotFoundError):
        export_predictions(tmp_path / "nothing", tmp_path / "sub")


def test_export_cli_writes_the_bucc_gold_of_the_exported_split(tiny_model_path, tmp_path):
    """XTREME's BUCC test labels are the `training` gold; the labels used to come from `sample`."""
    from click.testing import CliRunner

    from harness.commands import cli
    from harness.spec.config import builtin_plugins_dir

    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["eval", "--model", str(tiny_model_path), "--targets", "bucc", "-l", "bucc=de",
                                      "--data", "samples", "--device", "cpu", "--log-samples", "-o", str(run)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export-xtreme", str(run), str(tmp_path / "sub"),
                                      "--labels-dir", str(tmp_path / "labels")])
    assert result.exit_code == 0, result.output
    gold = (builtin_plugins_dir() / "samples" / "bucc" / "de-en.training.gold").read_text().splitlines()
    assert (tmp_path / "labels" / "bucc2018" / "test-de.tsv").read_text().splitlines() == gold
