"""tasks.yaml / --tasks-file validation: every problem is one line naming the file, the key path and
what is allowed; --tasks-file overrides keys of existing tasks and adds presets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.spec.config import FORMATS, KINDS, METRICS, load_task_config
from harness.errors import ConfigError
from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry

XNLI_LANGS = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]


def write(tmp_path: Path, text: str, name: str = "tasks.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_task_config((str(path),))
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    return message


# --------------------------------------------------------------------------------------------
# the built-in file
# --------------------------------------------------------------------------------------------

def test_builtin_tasks_yaml_is_valid():
    config = load_task_config()
    assert {"xnli", "mnli", "pawsx"} <= set(config.specs)
    xnli = config.specs["xnli"]
    assert xnli.kind == "target" and xnli.format == "classification" and xnli.metric == "accuracy"
    assert xnli.languages == XNLI_LANGS
    assert xnli.samples is not None and xnli.samples.is_dir()   # samples/xnli, relative to the plugins package
    assert xnli.local is None                                   # the user's data: --data-dir or a tasks file
    for spec in config.specs.values():
        assert spec.kind in KINDS and spec.format in FORMATS and spec.metric in METRICS
        Hyperparams().merged(spec.hparams)


# --------------------------------------------------------------------------------------------
# validation errors
# --------------------------------------------------------------------------------------------

def test_unknown_task_key_suggests_close_match(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    langauges: [en]\n"))
    assert "tasks.xnli.langauges: unknown key" in message
    assert "did you mean 'languages'?" in message
    assert "allowed: kind, plugin, format, metric, languages" in message


def test_unknown_key_without_close_match_lists_allowed(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    zzz: 1\n"))
    assert "tasks.xnli.zzz: unknown key (allowed:" in message
    assert "did you mean" not in message


def test_unknown_top_level_key(tmp_path):
    message = config_error(write(tmp_path, "version: 1\ntask:\n  xnli: {}\n"))
    assert "(top).task: unknown key; did you mean 'tasks'?" in message
    assert "allowed: version, tasks, presets" in message


def test_wrong_type(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    languages: en\n"))
    assert message.endswith("tasks.xnli.languages: expected a list, got 'en'")


def test_wrong_item_type_in_list(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    languages: [en, 3]\n"))
    assert "tasks.xnli.languages[1]: expected a string, got 3" in message


def test_entry_must_be_a_mapping(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli: [en, de]\n"))
    assert "tasks.xnli: expected a mapping" in message


@pytest.mark.parametrize("key, value, allowed", [
    ("kind", "tgt", KINDS),
    ("format", "span_extraction", FORMATS),
    ("metric", "f1", METRICS),
])
def test_unknown_enumerated_value(tmp_path, key, value, allowed):
    message = config_error(write(tmp_path, f"tasks:\n  xnli:\n    {key}: {value}\n"))
    assert f"tasks.xnli.{key}: expected one of {', '.join(allowed)}; got '{value}'" in message


def test_unknown_split_name(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    splits: {validation: validation}\n"))
    assert "tasks.xnli.splits.validation: unknown key (allowed: train, dev, test)" in message


def test_nested_hub_key(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    hub: {path: google/xtreme, nmae: XNLI}\n"))
    assert "tasks.xnli.hub.nmae: unknown key; did you mean 'name'?" in message


def test_missing_required_key_of_a_new_task(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  mytask:\n    kind: target\n    plugin: mine\n"))
    assert "tasks.mytask.format: missing required key" in message


def test_malformed_yaml_names_line_and_column(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    languages: [en\n    kind: target\n"))
    assert "malformed YAML at line 4, column 9" in message


def test_unknown_hparam_name(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    hparams: {lerning_rate: 1.0e-5}\n"))
    assert "tasks.xnli.hparams.lerning_rate: unknown hyperparameter" in message
    assert "did you mean 'learning_rate'?" in message
    assert "learning_rate" in message and "max_length" in message   # the known names


def test_wrong_hparam_type(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    hparams: {epochs: lots}\n"))
    assert "tasks.xnli.hparams.epochs: expected float, got 'lots'" in message


def test_preset_errors(tmp_path):
    message = config_error(write(tmp_path, "presets:\n  quick:\n    targts: [xnli]\n"))
    assert "presets.quick.targts: unknown key; did you mean 'targets'?" in message
    message = config_error(write(tmp_path, "presets:\n  quick:\n    data: cloud\n"))
    assert "presets.quick.data: expected one of samples, local, hub, auto; got 'cloud'" in message
    message = config_error(write(tmp_path, "presets:\n  quick:\n    limit: many\n"))
    assert "presets.quick.limit: expected an integer, got 'many'" in message
    message = config_error(write(tmp_path, "presets:\n  quick:\n    hparams: {batchsize: 8}\n"))
    assert "presets.quick.hparams" in message and "did you mean 'batch_size'?" in message


def test_missing_tasks_file(tmp_path):
    message = config_error(tmp_path / "nope.yaml")
    assert "no such tasks file" in message


def test_format_must_match_the_plugin(tmp_path):
    path = write(tmp_path, "tasks:\n  xnli:\n    format: tagging\n    metric: seqeval_f1\n")
    with pytest.raises(ConfigError) as info:
        build_registry(tasks_files=[str(path)])
    assert str(info.value) == (f"{path}: tasks.xnli.format: 'tagging' but plugin 'xnli' implements "
                               f"'classification'")


# --------------------------------------------------------------------------------------------
# overriding and adding through --tasks-file
# --------------------------------------------------------------------------------------------

def test_override_keys_of_an_existing_task(tmp_path):
    data = tmp_path / "my-xnli"
    data.mkdir()
    path = write(tmp_path, "tasks:\n  xnli:\n    languages: [de, en]\n    local: my-xnli\n"
                           "    hparams: {epochs: 1}\n")
    config = load_task_config((str(path),))
    spec = config.specs["xnli"]
    assert spec.languages == ["de", "en"]
    assert spec.local == data                       # relative to the tasks file that set it
    assert spec.hparams == {"epochs": 1}            # a key is replaced whole, not deep-merged
    assert spec.format == "classification" and spec.train_task == "mnli"   # untouched keys kept
    assert spec.labels == ["entailment", "neutral", "contradiction"]
    assert spec.source_file == str(path)
    # other tasks keep the built-in values and local paths
    assert load_task_config().specs["pawsx"].samples == config.specs["pawsx"].samples


def test_later_tasks_file_wins(tmp_path):
    first = write(tmp_path, "tasks:\n  xnli:\n    languages: [de]\n", "one.yaml")
    second = write(tmp_path, "tasks:\n  xnli:\n    languages: [ru, zh]\n", "two.yaml")
    assert load_task_config((str(first), str(second))).specs["xnli"].languages == ["ru", "zh"]
    assert load_task_config((str(second), str(first))).specs["xnli"].languages == ["de"]


def test_new_preset_and_registry(tmp_path):
    path = write(tmp_path, "presets:\n  tiny-xnli:\n    description: two languages\n    targets: [xnli]\n"
                           "    languages: {xnli: [de, en]}\n    limit: 4\n    hparams: {epochs: 1}\n"
                           "tasks:\n  xnli:\n    languages: [de, en, ru]\n")
    registry = build_registry(tasks_files=[str(path)])
    preset = registry.preset("tiny-xnli")
    assert preset.targets == ["xnli"] and preset.limit == 4 and preset.languages == {"xnli": ["de", "en"]}
    assert preset.hparams == {"epochs": 1}
    assert registry.tasks["xnli"].spec.languages == ["de", "en", "ru"]
    assert "demo" in registry.config.presets   # built-in presets kept


def test_task_of_a_missing_plugin_is_unavailable(tmp_path):
    path = write(tmp_path, "tasks:\n  mysent:\n    kind: target\n    plugin: not_installed\n"
                           "    format: classification\n    metric: accuracy\n    languages: [en]\n"
                           "    labels: [a, b]\n")
    registry = build_registry(tasks_files=[str(path)])
    assert "mysent" not in registry.tasks
    assert registry.unavailable["mysent"] == "its plugin 'not_installed' is not installed"


def test_cli_tasks_file_override(tmp_path):
    path = write(tmp_path, "tasks:\n  xnli:\n    languages: [de, en]\n")
    result = CliRunner().invoke(cli, ["tasks", "--json", "--tasks-file", str(path)])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["xnli"]["languages"] == ["de", "en"]
    assert rows["pawsx"]["status"] == "ok"


@pytest.mark.parametrize("text, expected", [
    ("tasks:\n  xnli:\n    kind: tgt\n", "tasks.xnli.kind: expected one of intermediate, target; got 'tgt'"),
    ("tasks:\n  xnli:\n    langauges: [en]\n", "did you mean 'languages'?"),
    ("tasks: [\n", "malformed YAML at line 2, column 1"),
])
def test_cli_bad_tasks_file_is_one_line_exit_2(tmp_path, text, expected):
    path = write(tmp_path, text, "bad.yaml")
    result = CliRunner().invoke(cli, ["tasks", "--tasks-file", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: ")
    assert expected in lines[0]
    assert result.stdout == ""
