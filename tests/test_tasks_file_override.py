"""A ``--tasks-file`` entry for a plugin task overrides the plugin's ``default_spec`` key by key (it
need not repeat ``kind``, ``metric`` ...), as PLUGINS.md documents."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.errors import ConfigError
from harness.spec.registry import build_registry

PLUGIN = '''
from harness import Task, hookimpl


class Copa2(Task):
    name = "copa2"
    format = "multiple_choice"
    default_spec = {"kind": "target", "metric": "accuracy", "languages": ["en", "et", "it"],
                    "local": "copa2-data", "splits": {"train": "train", "dev": "dev", "test": "test"},
                    "split_languages": {"dev": ["en"]},
                    "hparams": {"learning_rate": 1.0e-5, "epochs": 3}}

    def to_example(self, row, split, language):
        return row


@hookimpl
def harness_register_tasks(register):
    register(Copa2())
'''


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "plugin" / "copa2_plugin.py"
    path.parent.mkdir()
    path.write_text(PLUGIN)
    return path


def tasks_file(tmp_path, text: str):
    path = tmp_path / "conf" / "my-tasks.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_partial_entry_overrides_default_spec_key_by_key(tmp_path, plugin):
    path = tasks_file(tmp_path, "tasks:\n  copa2:\n    languages: [en, it]\n    split_languages: {test: [it]}\n"
                                "    hparams: {epochs: 1}\n")
    spec = build_registry(plugins=[str(plugin)], tasks_files=[str(path)]).tasks["copa2"].spec
    assert spec.languages == ["en", "it"] and spec.split_languages == {"test": ["it"]}   # given
    assert spec.hparams == {"epochs": 1}                                                 # given, as a whole
    assert (spec.kind, spec.metric, spec.plugin) == ("target", "accuracy", "copa2_plugin")   # the default's
    assert spec.local == plugin.parent / "copa2-data"      # the default's, relative to the plugin module
    assert spec.source_file == str(path)
    assert not spec.has_split("test", "en") and spec.has_split("test", "it")


def test_entry_directories_resolve_from_the_tasks_file(tmp_path, plugin):
    path = tasks_file(tmp_path, "tasks:\n  copa2:\n    local: my-copa\n")
    spec = build_registry(plugins=[str(plugin)], tasks_files=[str(path)]).tasks["copa2"].spec
    assert spec.local == path.parent / "my-copa"
    assert spec.languages == ["en", "et", "it"]


def test_later_files_override_earlier_ones_over_the_default(tmp_path, plugin):
    first = tasks_file(tmp_path, "tasks:\n  copa2:\n    languages: [en, et]\n    local: first\n")
    second = tmp_path / "second.yaml"
    second.write_text("tasks:\n  copa2:\n    languages: [en, it]\n")
    spec = build_registry(plugins=[str(plugin)], tasks_files=[str(first), str(second)]).tasks["copa2"].spec
    assert spec.languages == ["en", "it"] and spec.local == first.parent / "first"


def test_bad_override_is_one_line_naming_the_file(tmp_path, plugin):
    path = tasks_file(tmp_path, "tasks:\n  copa2:\n    split_languages: {dev: [fr]}\n")
    with pytest.raises(ConfigError, match=r"my-tasks.yaml: tasks.copa2.split_languages.dev: 'fr' is not among"):
        build_registry(plugins=[str(plugin)], tasks_files=[str(path)])
    path = tasks_file(tmp_path, "tasks:\n  copa2:\n    kind: tgt\n")
    with pytest.raises(ConfigError, match=r"my-tasks.yaml: tasks.copa2.kind: expected one of"):
        build_registry(plugins=[str(plugin)], tasks_files=[str(path)])


def test_partial_entry_without_a_default_spec_or_plugin(tmp_path, plugin):
    path = tasks_file(tmp_path, "tasks:\n  nosuch:\n    languages: [en]\n")
    with pytest.raises(ConfigError, match=r"my-tasks.yaml: tasks.nosuch.kind: missing required key"):
        build_registry(tasks_files=[str(path)])   # no plugin registers it to complete it
    path.write_text("tasks:\n  nosuch:\n    plugin: copa2_plugin\n    languages: [en]\n")
    registry = build_registry(tasks_files=[str(path)], plugins=[str(plugin)], disabled=["copa2_plugin"])
    assert registry.unavailable["nosuch"] == "its plugin 'copa2_plugin' is disabled"   # may complete it later
    no_default = tmp_path / "nodefault.py"
    no_default.write_text(PLUGIN.replace("default_spec = {", "_unused = {").replace("Copa2", "NoDefault")
                          .replace('"copa2"', '"nosuch"'))
    with pytest.raises(ConfigError, match="has no default_spec to complete it"):
        build_registry(plugins=[str(no_default)], tasks_files=[str(path)])


def test_cli_lists_the_overridden_task(tmp_path, plugin):
    path = tasks_file(tmp_path, "tasks:\n  copa2:\n    languages: [en, it]\n")
    result = CliRunner().invoke(cli, ["tasks", "--json", "--plugins", str(plugin), "--tasks-file", str(path)])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["copa2"]["status"] == "ok" and rows["copa2"]["languages"] == ["en", "it"]
