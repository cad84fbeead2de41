"""Formats and metrics are plugins: harness_register_formats and harness_register_metrics, the
example format package (examples/harness-example-format) end to end, ``main_score`` in every result,
format option schemas, and the deprecated ways that keep working."""
from __future__ import annotations

import importlib.metadata as metadata
import json
import textwrap
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import Metric
from harness.commands import cli
from harness.errors import ConfigError
from harness.metrics.registry import get_metric
from harness.results.records import read_records, validate_record
from harness.results.report import build_report, metric_for
from harness.spec.registry import build_registry

try:
    metadata.version("harness-example-format")
    HAVE_FORMAT_EXAMPLE = True
except metadata.PackageNotFoundError:  # pragma: no cover - scripts/setup.sh installs it
    HAVE_FORMAT_EXAMPLE = False
needs_format_example = pytest.mark.skipif(
    not HAVE_FORMAT_EXAMPLE, reason="pip install -e examples/harness-example-format")


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def plugin_file(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# the example package: a new format, its metric and a task, through the entry point
# --------------------------------------------------------------------------------------------

@needs_format_example
def test_example_format_package_registers_through_the_hooks():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    sts = next(row for row in json.loads(result.stdout) if row["name"] == "sts")
    assert sts["source"] == "entry point" and sts["distribution"] == "harness-example-format"
    assert sts["hooks"] == ["harness_register_formats", "harness_register_metrics", "harness_register_tasks"]
    assert (sts["formats"], sts["metrics"], sts["tasks"]) == (["sentence_pair_regression"], ["pearson_spearman"],
                                                               ["xsts"])
    core = next(row for row in json.loads(result.stdout) if row["name"] == "core.defaults")
    assert {"qa", "retrieval"} <= set(core["formats"]) and {"squad_em_f1", "accuracy"} <= set(core["metrics"])


@needs_format_example
def test_example_format_runs_end_to_end(tmp_path, tiny_model_path):
    out = tmp_path / "run"
    result = invoke("eval", "--model", tiny_model_path, "--targets", "xsts", "--hparam", "epochs=1",
                    "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    records = read_records(out / "results.jsonl")
    assert all(validate_record(r) == [] for r in records)
    results = [r for r in records if r["type"] == "result"]
    assert [r["language"] for r in results] == ["en", "de", "es"] and all(r["n_examples"] == 10 for r in results)
    for record in results:
        assert set(record["metrics"]) == {"pearson", "spearman"}
        assert -1.0 <= record["metrics"]["spearman"] <= 1.0
        assert record["main_score"] == {"name": "spearman", "value": record["metrics"]["spearman"], "scale": 1,
                                        "higher_is_better": True}
    assert "spearman" in result.stdout   # the score table shows the metric's primary value


@needs_format_example
def test_correlations_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    from harness_example_format import correlations

    gold = [0.0, 1.5, 1.5, 3.0, 4.2, 5.0, 2.0]
    pred = [0.3, 1.0, 2.2, 2.9, 4.8, 4.1, 2.2]
    scores = correlations(gold, pred)
    assert scores["pearson"] == pytest.approx(stats.pearsonr(gold, pred)[0])
    assert scores["spearman"] == pytest.approx(stats.spearmanr(gold, pred)[0])   # ties: average ranks
    assert correlations([1.0, 1.0], [0.0, 2.0]) == {"pearson": 0.0, "spearman": 0.0}


@needs_format_example
def test_plugin_format_options_are_checked(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("tasks:\n  xsts:\n    kind: target\n    metric: pearson_spearman\n    languages: [en]\n"
                    "    options: {max_scor: 4}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tasks\.xsts\.options\.max_scor: unknown key; did you mean 'max_score'\?"):
        build_registry(tasks_files=[str(path)])


# --------------------------------------------------------------------------------------------
# registering formats and metrics from a plugin file
# --------------------------------------------------------------------------------------------

TWO_FORMATS = """
from harness import Metric, Task, hookimpl

@hookimpl
def harness_register_formats(register):
    register("classification", lambda: None)

@hookimpl
def harness_register_metrics(register):
    register(Metric("always_one", lambda golds, predictions: {"one": 1.0}, primary="one", scale=100))
"""


def test_a_format_name_taken_twice_fails_the_second_plugin(tmp_path):
    result = invoke("plugins", "--json", "--plugins", plugin_file(tmp_path, "dup", TWO_FORMATS))
    assert result.exit_code == 0, result.output
    dup = next(row for row in json.loads(result.stdout) if row["name"] == "dup")
    assert "harness_register_formats raised ValueError: format 'classification' is already registered by " \
           "plugin 'core.defaults'" in dup["error"]
    assert "plugin 'dup' failed" in result.stderr


def test_a_plugin_metric_is_usable_by_a_task(tmp_path):
    source = TWO_FORMATS.replace('register("classification", lambda: None)', "pass") + textwrap.dedent("""
        class One(Task):
            name = "onetask"
            format = "classification"
            default_spec = {"kind": "target", "metric": "always_one", "languages": ["en"], "labels": ["a"]}

        @hookimpl
        def harness_register_tasks(register):
            register(One())
        """)
    registry = build_registry(plugins=[str(plugin_file(tmp_path, "one", source))])
    assert registry.tasks["onetask"].spec.plugin == "one"          # derived from the registering plugin
    assert registry.metrics["always_one"].scale == 100
    assert get_metric("always_one").main_score({"one": 1.0})["value"] == 1.0


def test_metric_scale_is_one_or_hundred():
    with pytest.raises(ValueError, match="scale must be 1 or 100"):
        Metric("m", lambda g, p: {}, primary="x", scale=10)


def test_metric_passes_the_language_only_to_scorers_that_take_it():
    assert get_metric("mlqa_em_f1").score({"q": ["der Hund"]}, {"q": "Hund"}, "de")["exact_match"] == 100.0
    assert get_metric("accuracy").score(["a", "b"], ["a", "a"], "de") == {"accuracy": 0.5}


def test_format_and_metric_lookups_load_the_builtins_and_suggest_a_near_name():
    from harness.errors import UnknownNameError
    from harness.formats import format_entry, known_formats
    from harness.metrics import known_metrics

    assert format_entry("classification").plugin == "core.defaults"
    assert {"classification", "qa"} <= set(known_formats()) and "accuracy" in known_metrics()
    with pytest.raises(UnknownNameError, match=r"^unknown format 'clasification'; did you mean 'classification'\? \(known: "):
        format_entry("clasification")
    with pytest.raises(UnknownNameError, match=r"^unknown metric 'acuracy'; did you mean 'accuracy'\? \(known: "):
        get_metric("acuracy")


def test_register_format_by_import_side_effect_is_deprecated():
    from harness.formats import get_format, register_format
    from harness.formats.classification import Classification

    class Renamed(Classification):
        name = "classification_copy"

    with pytest.warns(DeprecationWarning, match="harness_register_formats"):
        register_format(Renamed())
    assert isinstance(get_format("classification_copy"), Renamed)


def test_tagging_accuracy_metric_is_deprecated_for_token_accuracy(registry):
    from dataclasses import replace

    from harness.formats import get_format

    ccg = registry.task("ccg")
    old = type(ccg)()
    old.spec = replace(ccg.spec, metric="accuracy")
    examples = [{"id": "a", "tokens": ["John", "sleeps"], "tags": ["N", "<UNK>"]}]
    with pytest.warns(DeprecationWarning, match="token_accuracy"):
        assert get_format("tagging").score(examples, [["N", "N"]], old, "en") == {"accuracy": 0.5}


@pytest.fixture(scope="module")
def registry():
    return build_registry()


# --------------------------------------------------------------------------------------------
# main_score: reports read it; old records fall back to the metric registry
# --------------------------------------------------------------------------------------------

def record(task: str, metrics: dict, main_score: dict | None = None, **extra) -> dict:
    base = {"type": "result", "key": f"{task}-{extra.get('language', 'de')}", "task": task, "language": "de",
            "split": "test", "metrics": metrics, "model": "m", "intermediate": [], "seed": 1, "time": "t"}
    if main_score is not None:
        base["main_score"] = main_score
    return {**base, **extra}


def test_report_takes_the_primary_metric_from_main_score():
    # a task nobody knows, with a metric whose values are not named accuracy or f1
    new = record("mystery", {"ndcg": 0.5, "mrr": 0.25}, {"name": "mrr", "value": 0.25, "scale": 1,
                                                          "higher_is_better": True})
    assert metric_for(None, new) == ("mrr", 100.0)
    report = build_report([new])
    assert report.models[0].metrics == {"mystery": "mrr"}
    assert report.models[0].scores["baseline"]["mystery"].mean == pytest.approx(25.0)


def test_old_records_without_main_score_use_the_metric_registry(registry):
    # QA: f1 already on 0-100; tagging: f1 as a fraction -> x100; retrieval (tatoeba): accuracy
    assert metric_for(registry, record("xquad", {"exact_match": 50.0, "f1": 60.0})) == ("f1", 1.0)
    assert metric_for(registry, record("panx", {"f1": 0.5, "precision": 0.4})) == ("f1", 100.0)
    assert metric_for(registry, record("tatoeba", {"accuracy_reverse": 0.2, "accuracy": 0.3})) == ("accuracy", 100.0)
    assert metric_for(registry.config, record("mlqa", {"exact_match": 50.0, "f1": 60.0}), "exact_match") == \
        ("exact_match", 1.0)


# --------------------------------------------------------------------------------------------
# harness_result_written: an observer that raises does not stop the run (PLUGINS.md says so)
# --------------------------------------------------------------------------------------------

OBSERVERS = """
from harness import hookimpl

@hookimpl
def harness_result_written(record):
    if record["type"] == "result":
        raise RuntimeError("observer broke")
"""
LOGGER = """
from harness import hookimpl

@hookimpl
def harness_result_written(record):
    with open({log!r}, "a") as handle:
        handle.write(record["type"] + "\\n")
"""


def test_an_observer_error_is_a_warning_and_the_run_goes_on(tmp_path, tiny_model_path):
    log = tmp_path / "seen.txt"
    broken = plugin_file(tmp_path, "broken_observer", OBSERVERS)
    logger = plugin_file(tmp_path, "logger", LOGGER.format(log=str(log)))
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = invoke("eval", "--model", tiny_model_path, "--targets", "tatoeba", "--languages", "tatoeba=de,fr",
                        "--limit", "6", "--data", "samples", "-o", out, "--device", "cpu",
                        "--plugins", f"{logger},{broken}")
    assert result.exit_code == 0, result.output
    types = [r["type"] for r in read_records(out / "results.jsonl")]
    assert types == ["run", "result", "result", "run_end"]          # every record written
    # pluggy calls the newest plugin first: the broken one, then still the logger
    assert log.read_text().split() == types
    assert result.output.count("harness_result_written of plugin 'broken_observer' failed: "
                               "RuntimeError: observer broke") == 2


# --------------------------------------------------------------------------------------------
# row adapters and task families: one class, one line per task
# --------------------------------------------------------------------------------------------

def test_one_plugin_module_registers_the_squad_family(registry):
    from harness.formats.adapters import SquadTask

    for name in ("squad", "xquad", "mlqa"):
        task = registry.task(name)
        assert isinstance(task, SquadTask) and task.spec.plugin == "squad" and task.format == "qa"
        assert type(type(task)()).name == name          # a variant copies like any task class
    assert registry.plugins.infos["squad"].tasks == ["squad", "xquad", "mlqa"]


def test_adapters_map_the_standard_layouts():
    from harness.formats.adapters import PairTask, TokenTagsTask
    from harness.spec.tasks import TaskSpec

    qqp = PairTask.variant("my_qqp", text_a="question1", text_b="question2")
    qqp.spec = TaskSpec(name="my_qqp", kind="target", plugin="t", format="classification", metric="accuracy",
                        languages=["en"], labels=["no", "yes"])
    assert qqp.to_example({"question1": "a?", "question2": "b?", "label": 1, "idx": 7}, "train", "en") == \
        {"text_a": "a?", "text_b": "b?", "label": "yes", "id": "7"}
    single = PairTask.variant("single", text_a="sentence", text_b=None)
    single.spec = qqp.spec
    assert single.to_example({"sentence": "s", "label": 0}, "train", "en") == {"text_a": "s", "label": "no"}
    ner = TokenTagsTask.variant("my_ner", tags="ner_tags", tag_names=["O", "B-PER"])
    assert ner.to_example({"tokens": ["Tom", "ran"], "ner_tags": [1, "O"], "id": 3}, "test", "de") == \
        {"tokens": ["Tom", "ran"], "tags": ["B-PER", "O"], "id": "3"}
    assert type(ner).__module__ == __name__       # default_spec paths resolve next to the caller


def test_a_task_without_a_plugin_key_names_the_plugins_that_are_off():
    registry = build_registry(disabled=["squad"])
    assert registry.unavailable["xquad"] == "no loaded plugin registers it (disabled or failed: squad)"
    assert registry.unavailable["squad"] == "its plugin 'squad' is disabled"   # a plugin named after its task
    result = invoke("tasks", "--json", "--disable-plugin", "squad")
    assert result.exit_code == 0, result.output
    mlqa = next(row for row in json.loads(result.stdout) if row["name"] == "mlqa")
    assert (mlqa["plugin"], mlqa["format"], mlqa["metric"]) == (None, None, "mlqa_em_f1")


def test_report_reads_old_results_files_without_main_score(tmp_path):
    path = tmp_path / "results.jsonl"
    old = [record("xquad", {"exact_match": 50.0, "f1": 60.0}), record("panx", {"f1": 0.5}, language="de")]
    path.write_text("".join(json.dumps(r) + "\n" for r in old), encoding="utf-8")
    result = invoke("report", path, "--format", "json")
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)["models"][0]
    assert model["metrics"] == {"xquad": "f1", "panx": "f1"}
    baseline = model["rows"][0]["scores"]
    assert baseline["xquad"]["mean"] == pytest.approx(60.0)   # already 0-100
    assert baseline["panx"]["mean"] == pytest.approx(50.0)    # fraction x 100


# --------------------------------------------------------------------------------------------
# the typed records agree with RECORD_FIELDS, the one description of the format
# --------------------------------------------------------------------------------------------

def test_typed_records_match_record_fields():
    from harness.results.records import RECORD_FIELDS, TYPED_RECORDS

    assert set(TYPED_RECORDS) == set(RECORD_FIELDS)
    for kind, typed in TYPED_RECORDS.items():
        fields = RECORD_FIELDS[kind]
        assert list(typed.__annotations__) == list(fields), kind          # same fields, same order
        required = {name for name, (_, needed, _) in fields.items() if needed}
        assert typed.__required_keys__ == required, kind


def test_preset_and_command_line_task_options_are_checked(tmp_path):
    presets = tmp_path / "p.yaml"
    presets.write_text("presets:\n  typo:\n    targets: [bucc]\n    options: {bucc: {protocl: jiant}}\n",
                       encoding="utf-8")
    result = invoke("eval", "--preset", "typo", "--model", "minilm", "--tasks-file", presets, "-o", tmp_path / "a")
    assert result.exit_code == 2, result.output
    assert "error: preset typo: presets.typo.options.bucc.protocl: unknown key; did you mean 'protocol'?" \
        in result.stderr
    result = invoke("eval", "--model", "minilm", "-t", "bucc", "--task-option", "bucc.margn=distance",
                    "-o", tmp_path / "b")
    assert result.exit_code == 2, result.output
    assert "error: --task-option: bucc.margn: unknown key; did you mean 'margin'?" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
