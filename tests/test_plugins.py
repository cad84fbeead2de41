"""Plugin loading and every hook, through the real CLI (click's CliRunner, in-process).

The third-party example plugin (examples/harness-example-plugin) must be installed:
``pip install -e examples/harness-example-plugin``; it is found through its ``harness`` entry point.
"""
from __future__ import annotations

import importlib.metadata as metadata
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.results.records import read_records, validate_record

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "harness-example-plugin"

try:
    EXAMPLE_VERSION = metadata.version("harness-example-plugin")
except metadata.PackageNotFoundError:  # pragma: no cover - the suite documents how to install it
    EXAMPLE_VERSION = None
needs_example = pytest.mark.skipif(
    EXAMPLE_VERSION is None,
    reason="install the example plugin: pip install -e examples/harness-example-plugin")


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def plugin_file(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def tasks_json(*args: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    result = invoke("tasks", "--json", *args, env=env)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def plugins_json(*args: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    result = invoke("plugins", "--json", *args, env=env)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# A plugin that serves a task from memory (harness_load_rows), registers a model alias
# (harness_register_models) and wraps model loading (harness_load_model), logging each call.
MEMORY_PLUGIN = '''
import json
from harness import Task, hookimpl
from harness.errors import DataError
from harness.engine.modeling import load_pretrained

LOG = {log!r}
MODEL = {model!r}
ROWS = {{
    ("train", "en"): [("I love this film", "pos"), ("I hate this film", "neg"), ("What a great day", "pos"),
                      ("What a terrible day", "neg"), ("The food was good", "pos"), ("The food was bad", "neg")],
    ("test", "en"): [("I love the food", "pos"), ("I hate the food", "neg"), ("A great film", "pos")],
    ("test", "fr"): [("J'adore ce film", "pos"), ("Je ne sais pas", "maybe"), ("Je déteste ce film", "neg")],
}}


def log(**entry):
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\\n")


class MemSent(Task):
    name = "memsent"
    format = "classification"
    default_spec = {{"kind": "target", "metric": "accuracy", "languages": ["en", "fr"],
                    "labels": ["neg", "pos"], "splits": {{"train": "train", "test": "test"}}}}

    def to_example(self, row, split, language):
        if row["polarity"] not in ("neg", "pos"):
            raise DataError(f"expected neg or pos, got {{row['polarity']!r}}", field="polarity")
        return {{"text_a": row["text"], "label": row["polarity"]}}


@hookimpl
def harness_register_tasks(register):
    register(MemSent())


@hookimpl
def harness_register_models(register):
    register("tiny-test", lambda: MODEL, "the tiny random BERT of the test suite")


@hookimpl
def harness_load_rows(task, split, language, source):
    if task.name != "memsent":
        return None  # let the next implementation (the built-in reader) serve every other task
    log(hook="load_rows", split=split, language=language, source=source)
    return [(f"memory:{{split}}-{{language}}", number, {{"text": text, "polarity": polarity}})
            for number, (text, polarity) in enumerate(ROWS[(split, language)], start=1)]


@hookimpl
def harness_load_model(model, device, revision):
    log(hook="load_model", model=model, device=str(device), revision=revision)
    return load_pretrained(model, device, revision)
'''

# A plugin that takes over both training phases (no training: fresh heads) and the evaluation of
# German only (a constant "positive" baseline); English falls through to the built-in evaluation.
OVERRIDE_PLUGIN = '''
import json
from harness import hookimpl
from harness.formats import EvalOutput, get_format

LOG = {log!r}


def log(**entry):
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\\n")


def fresh_head(model, task):
    model.heads[task.name] = get_format(task.format).build_head(model.hidden_size, task).to(model.device)


@hookimpl
def harness_intermediate_train(model, tasks, examples, hparams, sampling, seed, log):
    for task in tasks:
        fresh_head(model, task)
    stats = {{"steps": 0, "by": "override", "examples": {{t.name: len(examples[t.name]) for t in tasks}}}}
    globals()["log"](hook="intermediate_train", tasks=[t.name for t in tasks], seed=seed)
    return stats


@hookimpl
def harness_target_train(model, task, examples, hparams, seed, log):
    fresh_head(model, task)
    globals()["log"](hook="target_train", task=task.name, examples=len(examples), epochs=hparams.epochs)
    return {{"steps": 0, "by": "override", "examples": len(examples), "epochs": hparams.epochs}}


@hookimpl
def harness_evaluate(model, task, language, split, examples, hparams, context):
    if language != "de":
        return None
    golds = [e["label"] for e in examples]
    predictions = ["positive"] * len(examples)
    accuracy = sum(p == g for p, g in zip(predictions, golds)) / len(examples)
    log(hook="evaluate", task=task.name, language=language, split=split, n=len(examples))
    return EvalOutput(metrics={{"accuracy": accuracy}}, ids=[e["id"] for e in examples],
                      predictions=predictions, golds=golds, stats={{"examples_per_s": 1.0, "seconds": 0.0}})
'''


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


# --------------------------------------------------------------------------------------------
# discovery: core, built-in, entry point
# --------------------------------------------------------------------------------------------

@needs_example
def test_plugins_lists_core_builtin_and_entry_point():
    infos = plugins_json()
    harness_version = metadata.version("xstilts-harness")
    for hook in ("harness_load_rows", "harness_load_model", "harness_intermediate_train", "harness_target_train",
                 "harness_evaluate"):
        assert infos["core.defaults"]["source"] == "core" and hook in infos["core.defaults"]["hooks"]
    xnli = infos["xnli"]
    assert (xnli["source"], xnli["origin"]) == ("builtin", "harness_plugins.xnli")
    assert (xnli["distribution"], xnli["version"]) == ("xstilts-harness", harness_version)
    assert xnli["tasks"] == ["xnli"] and xnli["hooks"] == ["harness_register_tasks"]
    assert "minilm" in infos["models"]["models"]
    example = infos["example"]
    assert example["source"] == "entry point"
    assert example["origin"] == "harness_example_plugin"
    assert (example["distribution"], example["version"]) == ("harness-example-plugin", EXAMPLE_VERSION)
    assert example["hooks"] == ["harness_register_tasks", "harness_result_written"]
    assert example["tasks"] == ["xsent"]
    assert not any(info["error"] for info in infos.values())
    # the human-readable table has a row for it (plain text in a pipe: one row per line)
    table = invoke("plugins")
    assert table.exit_code == 0
    assert any(line.startswith("example ") for line in table.stdout.splitlines()), table.stdout


@needs_example
def test_tasks_lists_the_entry_point_task():
    xsent = tasks_json()["xsent"]
    assert xsent["status"] == "ok" and xsent["plugin"] == "example"
    assert (xsent["kind"], xsent["format"], xsent["metric"]) == ("target", "classification", "accuracy")
    assert xsent["languages"] == ["en", "de", "ru", "zh"]
    local = Path(xsent["local"])
    assert local.parts[-2:] == ("harness_example_plugin", "data")
    assert sorted(p.name for p in local.glob("*.jsonl")) == [
        "test-de.jsonl", "test-en.jsonl", "test-ru.jsonl", "test-zh.jsonl", "train-en.jsonl"]
    assert "xsent" not in tasks_json("--kind", "intermediate")


def test_example_wheel_ships_its_data(tmp_path):
    """The bundled dataset is package data: it must be inside the built wheel."""
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("harness_example_plugin-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for lang in ("en", "de", "ru", "zh"):
        assert f"harness_example_plugin/data/test-{lang}.jsonl" in names
    assert "harness_example_plugin/data/train-en.jsonl" in names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[harness]" in entry_points and "example = harness_example_plugin" in entry_points


# --------------------------------------------------------------------------------------------
# broken, disabled and environment-given plugins
# --------------------------------------------------------------------------------------------

def test_plugin_failing_on_import_is_reported_and_skipped(tmp_path):
    broken = plugin_file(tmp_path, "broken_on_import", "raise RuntimeError('boom at import')\n")
    result = invoke("tasks", "--json", "--plugins", broken)
    assert result.exit_code == 0, result.output
    assert ("warning: plugin 'broken_on_import' failed and was skipped: RuntimeError: boom at import"
            in result.stderr)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["xnli"]["status"] == "ok"
    infos = plugins_json("--plugins", broken)
    assert infos["broken_on_import"]["source"] == "file"
    assert infos["broken_on_import"]["error"] == "RuntimeError: boom at import"


def test_strict_plugins_makes_a_failure_fatal_in_one_line(tmp_path):
    broken = plugin_file(tmp_path, "broken_strict", "import no_such_module_for_harness_tests\n")
    result = invoke("tasks", "--plugins", broken, "--strict-plugins")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "error: plugin 'broken_strict' failed: ModuleNotFoundError: No module named "
        "'no_such_module_for_harness_tests'"]
    assert result.stdout == ""


def test_register_hook_that_raises_is_isolated(tmp_path):
    plugin = plugin_file(tmp_path, "half_registered", '''
        from harness import Task, hookimpl

        class Half(Task):
            name = "halfsent"
            format = "classification"
            default_spec = {"kind": "target", "metric": "accuracy", "languages": ["en"], "labels": ["a", "b"]}

            def to_example(self, row, split, language):
                return {"text_a": row["text"], "label": row["label"]}

        @hookimpl
        def harness_register_tasks(register):
            register(Half())
            raise ValueError("second task is broken")
    ''')
    result = invoke("tasks", "--json", "--plugins", plugin)
    assert result.exit_code == 0, result.output
    assert ("plugin 'half_registered' failed and was skipped: harness_register_tasks raised ValueError: "
            "second task is broken") in result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "halfsent" not in rows                   # what it registered before failing is withdrawn
    assert rows["xnli"]["status"] == "ok" and rows["pawsx"]["status"] == "ok"
    strict = invoke("tasks", "--plugins", plugin, "--strict-plugins")
    assert strict.exit_code == 2 and "Traceback" not in strict.output
    assert error_lines(strict) == ["error: plugin 'half_registered' failed: harness_register_tasks raised "
                                   "ValueError: second task is broken"]


def test_invalid_default_spec_isolates_the_plugin(tmp_path):
    plugin = plugin_file(tmp_path, "bad_spec", '''
        from harness import Task, hookimpl

        class Bad(Task):
            name = "badsent"
            format = "classification"
            default_spec = {"kind": "tgt", "metric": "accuracy", "languages": ["en"]}

            def to_example(self, row, split, language):
                return {}

        @hookimpl
        def harness_register_tasks(register):
            register(Bad())
    ''')
    problem = ("harness_register_tasks raised PluginError: invalid default_spec: plugin bad_spec: "
               "tasks.badsent.kind: expected one of intermediate, target; got 'tgt'")
    result = invoke("tasks", "--json", "--plugins", plugin)  # like an import failure: warned, isolated
    assert result.exit_code == 0, result.output
    assert f"warning: plugin 'bad_spec' failed and was skipped: {problem}" in result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "badsent" not in rows and rows["xnli"]["status"] == "ok"
    assert invoke("plugins", "--plugins", plugin).exit_code == 0
    strict = invoke("tasks", "--plugins", plugin, "--strict-plugins")
    assert strict.exit_code == 2 and "Traceback" not in strict.output
    assert error_lines(strict) == [f"error: plugin 'bad_spec' failed: {problem}"]


def test_disable_plugin(tmp_path, tiny_model_path):
    rows = tasks_json("--disable-plugin", "xnli")
    assert rows["xnli"]["status"] == "unavailable: its plugin 'xnli' is disabled"
    assert rows["pawsx"]["status"] == "ok"
    infos = plugins_json("--disable-plugin", "xnli")
    assert infos["xnli"]["disabled"] is True and infos["xnli"]["tasks"] == []
    result = invoke("eval", "--model", tiny_model_path, "-t", "xnli", "--disable-plugin", "xnli",
                    "-o", tmp_path / "run", "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert error_lines(result) == ["error: task 'xnli' is unavailable: its plugin 'xnli' is disabled"]
    assert not (tmp_path / "run" / "results.jsonl").exists()


@needs_example
def test_disable_plugin_from_environment(tmp_path, tiny_model_path):
    env = {"HARNESS_DISABLE_PLUGINS": "example, sst2"}
    rows = tasks_json(env=env)
    assert "xsent" not in rows                       # no tasks.yaml entry: gone, not "unavailable"
    assert rows["sst2"]["status"] == "unavailable: its plugin 'sst2' is disabled"
    result = invoke("eval", "--model", tiny_model_path, "-t", "xsent", "-o", tmp_path / "run", env=env)
    assert result.exit_code == 2
    assert error_lines(result)[0].startswith("error: unknown task 'xsent'")


def test_plugins_from_environment(tmp_path):
    one = plugin_file(tmp_path, "env_one", '''
        from harness import Task, hookimpl

        class EnvSent(Task):
            name = "envsent"
            format = "classification"
            default_spec = {"kind": "target", "metric": "accuracy", "languages": ["en", "de"],
                            "labels": ["neg", "pos"], "local": "envsent-data"}

            def to_example(self, row, split, language):
                return {"text_a": row["text"], "label": row["label"]}

        @hookimpl
        def harness_register_tasks(register):
            register(EnvSent())
    ''')
    two = plugin_file(tmp_path, "env_two", '''
        from harness import hookimpl

        @hookimpl
        def harness_register_models(register):
            register("env-alias", lambda: "some/model", "registered from $HARNESS_PLUGINS")
    ''')
    env = {"HARNESS_PLUGINS": f"{one},{two}"}
    rows = tasks_json(env=env)
    assert rows["envsent"]["plugin"] == "env_one" and rows["envsent"]["status"] == "ok"
    assert rows["envsent"]["local"] == str(tmp_path / "envsent-data")   # relative to the plugin file
    infos = plugins_json(env=env)
    assert (infos["env_one"]["source"], infos["env_one"]["origin"]) == ("file", str(one))
    assert infos["env_two"]["models"] == ["env-alias"]
    assert infos["env_two"]["hooks"] == ["harness_register_models"]
    # --plugins and $HARNESS_PLUGINS add up
    both = plugins_json("--plugins", one, env={"HARNESS_PLUGINS": str(two)})
    assert {"env_one", "env_two"} <= set(both)


# --------------------------------------------------------------------------------------------
# the hooks of a run
# --------------------------------------------------------------------------------------------

@needs_example
def test_entry_point_plugin_end_to_end(tmp_path, tiny_model_path):
    """harness_register_tasks and harness_result_written of the installed example plugin."""
    log = tmp_path / "example.log"
    out = tmp_path / "run"
    result = invoke("eval", "--model", tiny_model_path, "--targets", "xsent", "--limit", "8",
                    "--hparam", "epochs=1", "-o", out, "--device", "cpu",
                    env={"HARNESS_EXAMPLE_LOG": str(log)})
    assert result.exit_code == 0, result.output
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        assert validate_record(record) == [], record
    assert [r["type"] for r in records] == ["run", "result", "result", "result", "result", "run_end"]
    results = [r for r in records if r["type"] == "result"]
    assert [r["language"] for r in results] == ["en", "de", "ru", "zh"]
    assert all(r["task"] == "xsent" and r["n_examples"] == 8 and r["split"] == "test" for r in results)
    assert all(r["hparams"]["epochs"] == 1.0 and r["hparams"]["batch_size"] == 8 for r in results)  # default_spec
    example = next(p for p in records[0]["plugins"] if p["name"] == "example")
    assert example["source"] == "entry point" and example["distribution"] == "harness-example-plugin"
    # the observer saw every record, in order, right after it was written
    logged = log.read_text(encoding="utf-8").splitlines()
    assert len(logged) == len(records)
    assert logged[0] == f"run run={records[0]['run_id']}"
    for line, record in zip(logged[1:5], results):
        assert line == (f"result xsent {record['language']} test accuracy={record['metrics']['accuracy']:.4f} "
                        f"n=8 run={record['run_id']}")
    assert logged[5] == f"run_end run={records[0]['run_id']} results=4 errors=0"
    # a rerun computes nothing, writes nothing, and so the observer is not called
    again = invoke("eval", "--model", tiny_model_path, "--targets", "xsent", "--limit", "8",
                   "--hparam", "epochs=1", "-o", out, "--device", "cpu", env={"HARNESS_EXAMPLE_LOG": str(log)})
    assert again.exit_code == 0, again.output
    assert len(log.read_text(encoding="utf-8").splitlines()) == len(records)
    assert len(read_records(out / "results.jsonl")) == len(records)


def test_load_rows_register_models_and_load_model(tmp_path, tiny_model_path):
    log = tmp_path / "calls.jsonl"
    plugin = plugin_file(tmp_path, "memory_rows", MEMORY_PLUGIN.format(log=str(log), model=str(tiny_model_path)))
    out = tmp_path / "run"
    result = invoke("eval", "--model", "tiny-test", "--targets", "memsent", "--hparam", "epochs=1",
                    "--hparam", "batch_size=2", "-o", out, "--device", "cpu", "--plugins", plugin)
    # fr has a bad row: an error record, the run goes on; a user error (DataError) exits 2
    assert result.exit_code == 2, result.output
    calls = read_log(log)
    # the alias was resolved by the core before the hook saw it (the pipeline may load more than once)
    loads = [c for c in calls if c["hook"] == "load_model"]
    assert loads and all(c == {"hook": "load_model", "model": str(tiny_model_path), "device": "cpu",
                               "revision": None} for c in loads), loads
    assert [(c["split"], c["language"], c["source"]) for c in calls if c["hook"] == "load_rows"] == [
        ("train", "en", "auto"), ("test", "en", "auto"), ("test", "fr", "auto")]
    records = read_records(out / "results.jsonl")
    for record in records:
        assert validate_record(record) == [], record
    (ok,) = [r for r in records if r["type"] == "result"]
    assert (ok["task"], ok["language"], ok["n_examples"], ok["model"]) == ("memsent", "en", 3, "tiny-test")
    assert ok["train"]["target"]["steps"] == 3                 # 6 rows, batch size 2, 1 epoch
    (error,) = [r for r in records if r["type"] == "error"]
    assert (error["task"], error["language"], error["phase"], error["error_type"]) == (
        "memsent", "fr", "evaluate", "DataError")
    assert error["message"] == "memory:test-fr, row 2, field 'polarity': expected neg or pos, got 'maybe'"
    assert "failed: memsent fr evaluate: DataError: memory:test-fr, row 2" in result.stderr
    # without the plugin the alias and the task are unknown
    missing = invoke("eval", "--model", "tiny-test", "--targets", "memsent", "-o", tmp_path / "other")
    assert missing.exit_code == 2 and error_lines(missing)[0].startswith("error: unknown task 'memsent'")


@needs_example
def test_training_and_evaluation_overrides(tmp_path, tiny_model_path):
    log = tmp_path / "calls.jsonl"
    plugin = plugin_file(tmp_path, "phase_override", OVERRIDE_PLUGIN.format(log=str(log)))
    out = tmp_path / "run"
    mnli = tmp_path / "mnli.yaml"   # the English data: the user's directory (here a copy of the sample)
    shutil.copytree(Path(__file__).resolve().parent.parent / "plugins" / "samples" / "mnli", tmp_path / "mnli")
    mnli.write_text(f"tasks:\n  mnli:\n    local: {tmp_path / 'mnli'}\n", encoding="utf-8")
    result = invoke("eval", "--model", tiny_model_path, "-i", "mnli", "-t", "xsent", "-l", "xsent=en,de",
                    "--limit", "8", "--hparam", "epochs=1", "-o", out, "--device", "cpu", "--plugins", plugin,
                    "--tasks-file", mnli)
    assert result.exit_code == 0, result.output
    calls = read_log(log)
    assert calls == [
        {"hook": "intermediate_train", "tasks": ["mnli"], "seed": 1},
        {"hook": "target_train", "task": "xsent", "examples": 8, "epochs": 1.0},
        {"hook": "evaluate", "task": "xsent", "language": "de", "split": "test", "n": 8},
    ]
    records = read_records(out / "results.jsonl")
    for record in records:
        assert validate_record(record) == [], record
    results = {r["language"]: r for r in records if r["type"] == "result"}
    assert set(results) == {"en", "de"}
    for record in results.values():
        assert record["intermediate"] == ["mnli"]
        assert record["train"]["intermediate"] == {"steps": 0, "by": "override", "examples": {"mnli": 8}}
        assert record["train"]["target"] == {"steps": 0, "by": "override", "examples": 8, "epochs": 1.0}
    # German came from the plugin (constant "positive"; the test rows alternate), English from the core
    assert results["de"]["metrics"] == {"accuracy": 0.5} and results["de"]["examples_per_s"] == 1.0
    assert results["en"]["examples_per_s"] != 1.0 and 0.0 <= results["en"]["metrics"]["accuracy"] <= 1.0
    # the overridden phases still produce the checkpoints the pipeline reuses
    assert len(list((out / "checkpoints").glob("intermediate-*"))) == 1
    assert len(list((out / "checkpoints").glob("target-xsent-*"))) == 1


def test_register_commands(tmp_path, monkeypatch, capsys):
    """harness_register_commands is called by ``main()`` for installed plugins and $HARNESS_PLUGINS."""
    from harness import commands as cli_module

    good = plugin_file(tmp_path, "hello_command", '''
        import click
        from harness import hookimpl

        @hookimpl
        def harness_register_commands(cli):
            @cli.command("hello-plugin")
            @click.option("--name", default="world")
            def hello(name):
                """Say hello (added by a plugin)."""
                click.echo(f"hello {name} from a plugin")
    ''')
    bad = plugin_file(tmp_path, "bad_command", '''
        from harness import hookimpl

        @hookimpl
        def harness_register_commands(cli):
            raise RuntimeError("no commands today")
    ''')
    monkeypatch.setenv("HARNESS_PLUGINS", f"{good},{bad}")
    monkeypatch.setattr(cli_module.cli, "commands", dict(cli_module.cli.commands))  # undone after the test
    # plugin commands load once per process: an earlier test may have loaded them already (any
    # command a plugin adds, such as `harness score`, triggers it)
    monkeypatch.setattr(cli_module.cli, "_plugin_commands_loaded", False, raising=False)

    def main(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["harness", *args])
        with pytest.raises(SystemExit) as info:
            cli_module.main()
        return info.value.code

    assert main("--help") == 0
    captured = capsys.readouterr()
    assert "hello-plugin" in captured.out and "Say hello (added by a plugin)." in captured.out
    for command in ("eval", "tasks", "plugins"):
        assert command in captured.out
    assert ("warning: plugin 'bad_command' failed and was skipped: harness_register_commands raised "
            "RuntimeError: no commands today") in captured.err
    assert main("hello-plugin", "--name", "harness") == 0
    assert capsys.readouterr().out == "hello harness from a plugin\n"
