"""The XTREME suite plugin: no task names in the core, deprecated names resolve with a warning,
suites and aliases through their hooks, partial scoring, the XTREME-R export layout, report groups."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MOCK = Path(__file__).parent / "data" / "xtreme_mock"
TASK_NAMES = "xnli|pawsx|udpos|panx|xquad|mlqa|tydiqa|bucc|tatoeba"


# ------------------------------------------------------------------------------ no task names in the core
def test_no_task_names_in_the_core():
    core = ROOT / "harness"
    if shutil.which("grep"):
        found = subprocess.run(["grep", "-rE", "--exclude-dir=__pycache__", TASK_NAMES, str(core)],
                               capture_output=True, text=True)
        assert found.returncode == 1, f"task names in harness/:\n{found.stdout}"
    pattern = re.compile(TASK_NAMES)
    hits = [f"{path}:{n}" for path in core.rglob("*") if path.is_file() and "__pycache__" not in path.parts
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if pattern.search(line)]
    assert not hits, hits


# ------------------------------------------------------------------------------ deprecated names
@pytest.mark.parametrize("module, name, new", [
    ("harness.xtreme", "score_folder", "harness_plugins.xtreme.api.score_folder"),
    ("harness.xtreme", "XTREME_TASK2LANGS", "harness_plugins.xtreme.api.XTREME_TASK2LANGS"),
    ("harness", "bucc_f1", "harness.engine.retrieval.pair_f1"),
    ("harness", "tatoeba_accuracy", "harness.engine.retrieval.top1_accuracy"),
    ("harness.metrics", "mlqa_em_f1", "harness_plugins.xtreme.mlqa.mlqa_em_f1"),
    ("harness.metrics", "bucc_scores", "harness.metrics.scorers.pair_scores"),
    ("harness.metrics.scorers", "mlqa_normalize_answer", "harness_plugins.xtreme.mlqa.mlqa_normalize_answer"),
    ("harness.metrics", "mewslix_mrr", "harness_plugins.xtreme.scoring.mewslix_mrr"),
])
def test_old_names_resolve_with_a_warning_naming_the_new_home(module, name, new):
    import importlib

    new_module, _, attribute = new.rpartition(".")
    with pytest.warns(DeprecationWarning, match=re.escape(f"{module}.{name} is deprecated: use {new}")):
        value = getattr(importlib.import_module(module), name)
    assert value is getattr(importlib.import_module(new_module), attribute)


def test_from_import_of_the_old_module_still_works():
    with pytest.warns(DeprecationWarning, match="harness_plugins.xtreme"):
        from harness.xtreme import score_folder
    report = score_folder(MOCK / "predictions", MOCK / "labels")
    assert report["all_task"] == pytest.approx(62.17319850507248, abs=1e-12)


def test_unknown_names_still_raise_attribute_error():
    import harness
    import harness.metrics

    with pytest.raises(AttributeError):
        harness.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        harness.metrics.no_such_scorer  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(harness, "_private_thing")


def _file_plugin(tmp_path, monkeypatch, body: str) -> None:
    plugin = tmp_path / "third_party_suite.py"
    plugin.write_text("from harness import hookimpl\n" + body, encoding="utf-8")
    monkeypatch.setenv("HARNESS_PLUGINS", str(plugin))


def test_a_plugin_registers_aliases_and_suites(tmp_path, monkeypatch):
    from harness import aliases
    from harness.plugins import load_plugins
    from harness.spec.suites import Suite, collect_suites

    _file_plugin(tmp_path, monkeypatch, (
        "@hookimpl\n"
        "def harness_register_aliases(register):\n"
        "    register('harness.metrics.old_dumps', 'json:dumps')\n"
        "@hookimpl\n"
        "def harness_register_suites(register):\n"
        "    from harness.spec.suites import Suite\n"
        "    register(Suite('mine', {'one': ('a', 'b')}))\n"))
    aliases.moved_names.cache_clear()
    try:
        import harness.metrics
        with pytest.warns(DeprecationWarning, match=r"harness\.metrics\.old_dumps is deprecated: use json\.dumps"):
            assert harness.metrics.old_dumps is json.dumps
    finally:
        aliases.moved_names.cache_clear()
    suites = collect_suites(load_plugins())
    assert suites["mine"] == Suite("mine", {"one": ("a", "b")})
    # the built-in suite plugin: XTREME-R's four leaderboard groups over its ten tasks
    assert list(suites["xtreme-r"].groups) == ["classification", "structured prediction", "question answering",
                                               "retrieval"]
    assert len(suites["xtreme-r"].tasks) == 10 and len(suites["xtreme"].tasks) == 9


# ------------------------------------------------------------------------------ partial scoring
def test_score_scores_a_partial_submission_and_says_what_is_missing(harness_cli, tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(MOCK / "predictions", sub)
    (sub / "xnli" / "test-ar.tsv").unlink()
    shutil.rmtree(sub / "udpos")
    output = tmp_path / "scores.json"
    result = harness_cli("score", "--predictions", sub, "--labels", MOCK / "labels", "--output", output)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("incomplete:")]
    assert lines == ["incomplete: partial: xnli (14/15 languages, missing ar); no predictions: udpos; "
                     "no score for: classification, tagging, all_task"]
    report = json.loads(output.read_text())
    assert "ar" not in report["xnli"]["accuracy"] and len(report["xnli"]["accuracy"]) == 14
    assert "classification" not in report and "all_task" not in report and "udpos" not in report
    full = json.loads((MOCK / "official-xtreme.json").read_text())
    assert report["qa"] == full["qa"] and report["pawsx"] == full["pawsx"]   # complete parts unchanged
    strict = harness_cli("score", "--predictions", sub, "--labels", MOCK / "labels", "--strict")
    assert strict.exit_code == 2 and "test-ar.tsv" in strict.output


def test_score_with_nothing_in_common_is_one_line(harness_cli, tmp_path):
    (tmp_path / "p" / "other").mkdir(parents=True)
    result = harness_cli("score", "--predictions", tmp_path / "p", "--labels", MOCK / "labels")
    assert result.exit_code == 2 and "nothing to score" in result.output


# ------------------------------------------------------------------------------ XTREME-R export layout
def _log(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_export_xtreme_r_layout_round_trips_through_score(harness_cli, tmp_path):
    samples = tmp_path / "run" / "samples" / "baseline-0000"
    _log(samples / "xcopa" / "test-et.jsonl", [{"id": "0", "prediction": 0, "gold": 0},
                                                {"id": "1", "prediction": 1, "gold": 0}])
    _log(samples / "mewslix" / "test-de.jsonl", [{"id": "q1", "prediction": ["e1", "e2"], "gold": ["e2"]},
                                                  {"id": "q2", "prediction": ["e3"], "gold": ["e3"]}])
    _log(samples / "bucc" / "test-de.jsonl", [{"id": "de-1\ten-1", "prediction": "de-1\ten-1", "gold": 1}])
    _log(samples / "pawsx" / "test-de.jsonl", [{"id": "0", "prediction": "1", "gold": "1"}])
    sub = harness_cli.out
    result = harness_cli("export-xtreme", tmp_path / "run", sub, "--labels-dir", tmp_path / "gold",
                         "--version", "xtreme-r")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in sub.iterdir()) == ["mewslix", "xcopa"]   # no XTREME-only tasks
    assert (sub / "xcopa" / "test-et.jsonl").read_text() == '{"label": 0}\n{"label": 1}\n'
    assert json.loads((sub / "mewslix" / "test-de.json").read_text()) == {"q1": ["e1", "e2"], "q2": ["e3"]}
    scored = harness_cli("score", "--predictions", sub, "--labels", tmp_path / "gold", "--version", "xtreme-r",
                         "--output", tmp_path / "r.json")
    assert scored.exit_code == 0, scored.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["xcopa"]["accuracy"] == {"et": 50.0}
    assert report["mewslix"]["map@20"] == {"de": pytest.approx(75.0)}     # RR 1/2 and 1
    assert "partial: xcopa (1/11 languages" in scored.output


# ------------------------------------------------------------------------------ report groups
def _rec(intermediate, task, lang, metrics):
    return {"type": "result", "schema_version": 1, "run_id": "r", "task": task, "language": lang, "split": "test",
            "metrics": metrics, "n_examples": 10, "model": "m", "intermediate": intermediate, "seed": 1,
            "data": {"source": "local", "limit": None, "fraction": {}, "sampling": {}},
            "key": f"{'+'.join(intermediate)}|{task}|{lang}", "time": "2024-01-01T00:00:00+00:00"}


def test_report_shows_the_suite_groups_and_how_many_tasks_are_averaged(harness_cli, tmp_path):
    records = [_rec([], "xnli", "de", {"accuracy": 0.5}), _rec(["mnli"], "xnli", "de", {"accuracy": 0.7}),
               _rec([], "udpos", "de", {"f1": 0.8}), _rec(["mnli"], "udpos", "de", {"f1": 0.9}),
               _rec([], "xquad", "de", {"exact_match": 30.0, "f1": 40.0}),
               _rec(["mnli"], "xquad", "de", {"exact_match": 35.0, "f1": 46.0})]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    data = json.loads(harness_cli("report", path, "--format", "json").stdout)
    (table,) = data["suite"]
    assert table["suite"] == "xtreme-r" and table["tasks"] == 10        # auto: the suite covering most targets
    base, mnli = table["rows"]
    assert base["groups"] == {"classification": pytest.approx(50.0), "structured prediction": pytest.approx(80.0),
                              "question answering": pytest.approx(40.0), "retrieval": None}
    assert base["overall"] == pytest.approx((50 + 80 + 40) / 3) and base["tasks_averaged"] == 3
    assert mnli["deltas"]["avg"] == pytest.approx((70 + 90 + 46) / 3 - (50 + 80 + 40) / 3)
    assert any("tasks averaged: 3/10" in note for note in table["notes"])
    text = harness_cli("report", path, "--suite", "xtreme")
    assert text.exit_code == 0 and "tasks averaged: 3/9" in text.output and "structured prediction" in text.output
    assert "suite" not in json.loads(harness_cli("report", path, "--format", "json", "--suite", "none").stdout)
    unknown = harness_cli("report", path, "--suite", "xtrem")
    assert unknown.exit_code == 2 and "did you mean" in unknown.output


def test_bench_default_task_comes_from_the_demo_preset():
    from harness.commands.bench import DEFAULT_PRESET, default_task
    from harness.spec.registry import build_registry

    registry = build_registry()
    assert default_task(registry).name == registry.preset(DEFAULT_PRESET).targets[0]


def test_disabling_the_suite_plugin_leaves_its_tasks_unavailable_not_the_registry_broken():
    from harness.errors import HarnessError
    from harness.spec.registry import build_registry

    registry = build_registry(disabled=["xtreme"])
    assert "xnli" in registry.tasks and "mlqa" not in registry.tasks
    with pytest.raises(HarnessError, match=r"task 'mlqa' is unavailable: its metric 'mlqa_em_f1' is not registered "
                                           r"\(disabled or failed plugins: xtreme\)"):
        registry.task("mlqa")
    import importlib.util
    assert importlib.util.find_spec("harness.commands.score") is None    # the suite plugin adds `score`


def test_export_predictions_old_bucc_gold_argument_still_works_with_a_warning(tmp_path):
    from harness_plugins.xtreme.api import export_predictions

    _log(tmp_path / "samples" / "bucc" / "test-de.jsonl",
         [{"id": "de-1\ten-1", "prediction": "de-1\ten-1", "gold": 1}])
    with pytest.warns(DeprecationWarning, match="gold_source"):
        export_predictions(tmp_path / "samples", tmp_path / "sub", with_labels_dir=tmp_path / "gold",
                           bucc_gold=lambda lang: [("de-1", "en-1"), ("de-2", "en-2")])
    assert (tmp_path / "gold" / "bucc2018" / "test-de.tsv").read_text() == "de-1\ten-1\nde-2\ten-2\n"
