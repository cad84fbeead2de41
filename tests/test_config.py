"""tasks.yaml / --tasks-file validation: every problem is one line naming the file, the key path and
what is allowed; --tasks-file overrides keys of existing tasks and adds presets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.formats import known_formats
from harness.metrics.registry import known_metrics
from harness.spec.config import KINDS, load_task_config
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
    assert xnli.kind == "target" and xnli.metric == "accuracy"
    assert xnli.languages == XNLI_LANGS
    assert xnli.samples is not None and xnli.samples.is_dir()   # samples/xnli, relative to the plugins package
    assert xnli.local is None                                   # the user's data: --data-dir or a tasks file
    for spec in config.specs.values():
        assert spec.kind in KINDS
        Hyperparams().merged(spec.hparams)


def test_builtin_tasks_bind_to_registered_formats_and_metrics():
    registry = build_registry()
    assert set(registry.config.specs) <= set(registry.tasks)
    for task in registry.tasks.values():
        assert task.spec.format == task.format in known_formats() and task.spec.metric in known_metrics()
    # plugin and format are facts of the code, not repeated in tasks.yaml
    xnli = registry.tasks["xnli"].spec
    assert (xnli.plugin, xnli.format) == ("xnli", "classification")
    text = (Path(__file__).resolve().parent.parent / "tasks.yaml").read_text(encoding="utf-8")
    assert "\n    plugin:" not in text and "\n    format:" not in text


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


def test_unknown_kind(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    kind: tgt\n"))
    assert f"tasks.xnli.kind: expected one of {', '.join(KINDS)}; got 'tgt'" in message


def registry_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        build_registry(tasks_files=[str(path)])
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


def test_unknown_metric_is_checked_against_the_registered_metrics(tmp_path):
    message = registry_error(write(tmp_path, "tasks:\n  xnli:\n    metric: acuracy\n"))
    assert "tasks.xnli.metric: unknown metric 'acuracy'; did you mean 'accuracy'?" in message
    assert "squad_em_f1" in message   # the known ones


@pytest.mark.parametrize("text, expected", [
    ("tasks:\n  xquad:\n    options: {doc_strde: 64}\n",
     "tasks.xquad.options.doc_strde: unknown key; did you mean 'doc_stride'? (allowed: doc_stride, "),
    ("tasks:\n  xquad:\n    options: {doc_stride: wide}\n", "tasks.xquad.options.doc_stride: expected int, got 'wide'"),
    ("tasks:\n  xnli:\n    options: {k: 4}\n", "tasks.xnli.options.k: unknown key (allowed: none)"),
    ("tasks:\n  bucc:\n    options: {margn: ratio}\n", "tasks.bucc.options.margn: unknown key; did you mean 'margin'?"),
    ("tasks:\n  anli:\n    options: {round: [1]}\n", "tasks.anli.options.round: unknown key; did you mean 'rounds'?"),
])
def test_options_are_checked_against_the_format_and_task_schema(tmp_path, text, expected):
    assert expected in registry_error(write(tmp_path, text))


def test_valid_options_pass(tmp_path):
    path = write(tmp_path, "tasks:\n  xquad:\n    options: {doc_stride: 64, n_best: 10}\n"
                           "  anli:\n    options: {rounds: 2}\n  bucc:\n    options: {k: 8, layer: 3}\n")
    registry = build_registry(tasks_files=[str(path)])
    assert registry.tasks["xquad"].spec.options == {"doc_stride": 64, "n_best": 10}


def test_qa_option_defaults_are_the_formats_own():
    from harness.formats import format_entry, qa

    options = format_entry("qa").options
    assert options["doc_stride"].default == qa.DEFAULT_DOC_STRIDE
    assert options["max_query_length"].default == qa.DEFAULT_MAX_QUERY_LENGTH
    assert options["max_answer_length"].default == qa.DEFAULT_MAX_ANSWER_LENGTH
    assert options["n_best"].default == qa.DEFAULT_N_BEST
    assert options["windows"].default == qa.WINDOW_PROTOCOLS[0]


def test_plugin_and_format_keys_are_still_accepted(tmp_path):
    path = write(tmp_path, "tasks:\n  xnli:\n    plugin: xnli\n    format: classification\n")
    assert build_registry(tasks_files=[str(path)]).tasks["xnli"].spec.plugin == "xnli"


def test_unknown_split_name(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    splits: {validation: validation}\n"))
    assert "tasks.xnli.splits.validation: unknown key (allowed: train, dev, test)" in message


def test_nested_hub_key(tmp_path):
    message = config_error(write(tmp_path, "tasks:\n  xnli:\n    hub: {path: google/xtreme, nmae: XNLI}\n"))
    assert "tasks.xnli.hub.nmae: unknown key; did you mean 'name'?" in message


def test_missing_required_key_of_a_new_task(tmp_path):
    # an incomplete entry may complete a plugin's default_spec: the error comes when no plugin does
    path = write(tmp_path, "tasks:\n  mytask:\n    kind: target\n    plugin: mine\n")
    load_task_config((str(path),))
    with pytest.raises(ConfigError) as info:
        build_registry(tasks_files=[str(path)])
    assert str(info.value) == f"{path}: tasks.mytask.metric: missing required key"


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
    assert spec.metric == "accuracy" and spec.train_task == "mnli"   # untouched keys kept
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
