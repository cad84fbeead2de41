"""tasks.yaml: the declarative task registry and presets, validated on load.

Every problem is a :class:`ConfigError` naming the file, the key path and what was expected:
``tasks.yaml: tasks.mytask.kind: expected one of intermediate, target; got 'tgt'``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, did_you_mean, shown
from harness.spec.hparams import Hyperparams
from harness.spec.tasks import HubSource, TaskSpec

KINDS = ("intermediate", "target")
SPLITS = ("train", "dev", "test")
#: samples: the bundled samples; local: the user's directory; hub: the hub; auto: local when present, else hub
DATA_SOURCES = ("samples", "local", "hub", "auto")
#: model selection during target training: none, or the target's English dev split
SELECT_ON = ("none", "en-dev")
#: --keep-checkpoints: every checkpoint; the intermediate ones only (target checkpoints are removed
#: once their cells are evaluated); none (removed at the end of the run)
KEEP_CHECKPOINTS = ("all", "intermediate", "none")
MODALITIES = ("text", "image_text")

# key -> (type, required, allowed values or nested schema)
TASK_KEYS: dict[str, tuple[Any, bool, Any]] = {
    "kind": (str, True, KINDS),
    "plugin": (str, False, None),     # default: the plugin that registers the task
    "format": (str, False, None),     # default: the task's format; formats and metrics are registered
    "metric": (str, True, None),      # by plugins, so the registry checks them when it binds the task
    "languages": (list, True, str),
    "description": (str, False, None),
    "hub": (dict, False, {"path": (str, True, None), "name": (str, False, None),
                          "revision": (str, False, None), "parquet": (bool, False, None),
                          "files": (dict, False, None)}),
    "local": (str, False, None),
    "samples": (str, False, None),
    "splits": (dict, False, SPLITS),
    # language -> its own hub source (languages that are not in the task's main hub dataset)
    "hub_overrides": (dict, False, None),
    # split -> the languages that have it (a split missing here exists for every language)
    "split_languages": (dict, False, SPLITS),
    "train_task": (str, False, None),
    "train_language": (str, False, None),
    "labels": (list, False, str),
    "hparams": (dict, False, None),
    "options": (dict, False, None),
    "modality": (str, False, MODALITIES),
}
PRESET_KEYS: dict[str, tuple[Any, bool, Any]] = {
    "description": (str, False, None),
    "model": (str, False, None),
    "data": (str, False, DATA_SOURCES),
    "intermediate": (list, False, str),
    "targets": (list, False, str),
    "languages": (dict, False, None),
    "hparams": (dict, False, None),
    "intermediate_hparams": (dict, False, None),
    "task_hparams": (dict, False, None),
    "select_on": (str, False, SELECT_ON),
    "limit": (int, False, None),
    "seeds": (list, False, int),
    "multi_task": (bool, False, None),
    "splits": (list, False, str),
    "modality_dropout": (str, False, None),
    "log_samples": (bool, False, None),
    "options": (dict, False, None),
    "resources": (dict, False, None),
}
#: a preset's ``resources:`` (what each grid job asks of SLURM or Ray); ``tasks:`` overrides them per
#: intermediate task (``baseline`` for the cell without one)
RESOURCE_KEYS: dict[str, Any] = {"partition": str, "gpus_per_job": int, "cpus_per_job": int, "mem_gb": (int, float),
                                 "time_min": int, "max_concurrent": int, "account": str, "qos": str,
                                 "constraint": str}
TOP_KEYS = {"version": (int, False, None), "tasks": (dict, False, None), "presets": (dict, False, None)}


@dataclass
class Preset:
    name: str
    model: str | None = None
    data: str = "auto"
    intermediate: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    languages: dict[str, list[str]] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    intermediate_hparams: dict[str, Any] = field(default_factory=dict)
    #: per task (target or intermediate): hyperparameters over the preset's ``hparams``
    task_hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    select_on: str = "none"
    limit: int | None = None
    seeds: list[int] = field(default_factory=list)
    multi_task: bool = False
    splits: list[str] = field(default_factory=list)
    modality_dropout: str = ""
    log_samples: bool = False
    options: dict[str, dict[str, Any]] = field(default_factory=dict)   # task -> format options over tasks.yaml's
    resources: dict[str, Any] = field(default_factory=dict)   # grid jobs: RESOURCE_KEYS, plus tasks: {task: {...}}
    description: str = ""


@dataclass
class TaskConfig:
    specs: dict[str, TaskSpec] = field(default_factory=dict)
    presets: dict[str, Preset] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    #: task name -> (entry as given, file) for the names first declared in a --tasks-file
    entries: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)


def builtin_tasks_file() -> Path:
    """The tasks.yaml of this installation: the repository root (source or editable install),
    else the copy installed under ``<prefix>/share/harness``."""
    here = Path(__file__).resolve().parents[2] / "tasks.yaml"
    if here.exists():
        return here
    return Path(sys.prefix) / "share" / "harness" / "tasks.yaml"


def builtin_plugins_dir() -> Path:
    import harness_plugins
    return Path(harness_plugins.__file__).resolve().parent


def _kind_name(kind: Any) -> str:
    return {str: "a string", list: "a list", dict: "a mapping", int: "an integer",
            bool: "true or false", float: "a number"}.get(kind, getattr(kind, "__name__", str(kind)))


def _check_mapping(data: Any, schema: dict[str, tuple[Any, bool, Any]], path: str, file: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: {path}: expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in schema:
            raise ConfigError(f"{file}: {path}.{key}: unknown key{did_you_mean(key, schema)} "
                              f"(allowed: {', '.join(schema)})")
    for key, (kind, required, allowed) in schema.items():
        where = f"{path}.{key}"
        if key not in data or data[key] is None:
            if required:
                raise ConfigError(f"{file}: {where}: missing required key")
            continue
        value = data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{file}: {where}: expected {_kind_name(kind)}, got {shown(value)}")
        if isinstance(allowed, tuple) and kind is str and value not in allowed:
            raise ConfigError(f"{file}: {where}: expected one of {', '.join(allowed)}; got {shown(value)}")
        if isinstance(allowed, tuple) and kind is dict:
            for sub in value:
                if sub not in allowed:
                    raise ConfigError(f"{file}: {where}.{sub}: unknown key (allowed: {', '.join(allowed)})")
        if isinstance(allowed, dict) and kind is dict:
            _check_mapping(value, allowed, where, file)
        if kind is list and isinstance(allowed, type):
            for i, item in enumerate(value):
                if not isinstance(item, allowed) or (allowed is int and isinstance(item, bool)):
                    raise ConfigError(f"{file}: {where}[{i}]: expected {_kind_name(allowed)}, got {shown(item)}")


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such tasks file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    _check_size(data, str(path))
    _check_mapping(data, TOP_KEYS, "(top)", str(path))
    return data


#: more values than this, counting each use of a YAML alias, is no task registry but an alias bomb
MAX_YAML_VALUES = 200_000


def _check_size(data: Any, file: str) -> None:
    """Reject a document whose size with every alias expanded is absurd ("billion laughs"), before
    anything walks or prints it; counting stops at the limit, so the check itself stays cheap."""
    stack, count = [data], 0
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            raise ConfigError(f"{file}: more than {MAX_YAML_VALUES:,} values once YAML aliases are expanded; "
                              f"refusing it (an alias bomb?)")
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def spec_from_dict(name: str, data: dict[str, Any], file: str, base: Path) -> TaskSpec:
    """Validate one task entry and build its TaskSpec; relative ``local`` paths resolve from ``base``."""
    _check_mapping(data, TASK_KEYS, f"tasks.{name}", file)
    try:
        Hyperparams().merged(data.get("hparams"), where=f"tasks.{name}.hparams")
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    hub = data.get("hub")
    overrides = _hub_overrides(data.get("hub_overrides") or {}, f"tasks.{name}.hub_overrides", file)
    split_languages = data.get("split_languages") or {}
    for split, langs in split_languages.items():
        where = f"tasks.{name}.split_languages.{split}"
        if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
            raise ConfigError(f"{file}: {where}: expected a list of language codes")
        for lang in langs:
            if lang not in data["languages"]:
                raise ConfigError(f"{file}: {where}: '{lang}' is not among the task's languages")
    if hub and hub.get("files") is not None:
        _check_hub_files(hub["files"], f"tasks.{name}.hub.files", file)
    return TaskSpec(
        name=name, kind=data["kind"], plugin=data.get("plugin") or "", format=data.get("format") or "",
        metric=data["metric"],
        languages=list(data["languages"]), train_language=data.get("train_language") or "en",
        hub=HubSource(**hub) if hub else None, hub_overrides=overrides, local=_directory(data.get("local"), base),
        samples=_directory(data.get("samples"), base),
        split_languages={split: list(langs) for split, langs in split_languages.items()},
        splits=dict(data.get("splits") or {"train": "train", "dev": "validation", "test": "test"}),
        train_task=data.get("train_task"), labels=data.get("labels"),
        hparams=dict(data.get("hparams") or {}), options=dict(data.get("options") or {}),
        description=data.get("description") or "", source_file=file, modality=data.get("modality") or "text")


def _hub_overrides(data: dict[str, Any], path: str, file: str) -> dict[str, HubSource]:
    schema = TASK_KEYS["hub"][2]
    for lang, entry in data.items():
        _check_mapping(entry, schema, f"{path}.{lang}", file)
    return {str(lang): HubSource(**entry) for lang, entry in data.items()}


def _directory(value: str | None, base: Path) -> Path | None:
    """A tasks.yaml directory; relative ones resolve from ``base``."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _check_hub_files(files: dict[str, Any], where: str, file: str) -> None:
    for split, names in files.items():
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{file}: {where}.{split}: expected a list of file names in the repo")


def preset_from_dict(name: str, data: dict[str, Any], file: str) -> Preset:
    _check_mapping(data, PRESET_KEYS, f"presets.{name}", file)
    for key in ("hparams", "intermediate_hparams"):
        try:
            Hyperparams().merged(data.get(key), where=f"presets.{name}.{key}")
        except ConfigError as exc:
            raise ConfigError(f"{file}: {exc}") from None
    for task, values in (data.get("task_hparams") or {}).items():
        try:
            Hyperparams().merged(values if isinstance(values, dict) else {"": values},
                                 where=f"presets.{name}.task_hparams.{task}")
        except ConfigError as exc:
            raise ConfigError(f"{file}: {exc}") from None
    for task, langs in (data.get("languages") or {}).items():
        if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
            raise ConfigError(f"{file}: presets.{name}.languages.{task}: expected a list of language codes")
    for task, options in (data.get("options") or {}).items():
        if not isinstance(options, dict):
            raise ConfigError(f"{file}: presets.{name}.options.{task}: expected a mapping of task options")
    check_resources(data.get("resources") or {}, f"presets.{name}.resources", file, nested=True)
    return Preset(name=name, **{k: v for k, v in data.items() if v is not None})


def check_resources(values: Any, where: str, file: str, nested: bool = False) -> None:
    """A ``resources:`` mapping: known keys, values of their type (``tasks:`` one level down)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{file}: {where}: expected a mapping, got {shown(values)}")
    for key, value in values.items():
        if nested and key == "tasks":
            if not isinstance(value, dict):
                raise ConfigError(f"{file}: {where}.tasks: expected a mapping of task -> resources")
            for task, override in value.items():
                check_resources(override, f"{where}.tasks.{task}", file)
            continue
        if key not in RESOURCE_KEYS:
            raise ConfigError(f"{file}: {where}.{key}: unknown resource{did_you_mean(key, RESOURCE_KEYS)} "
                              f"(known: {', '.join(RESOURCE_KEYS)})")
        types = RESOURCE_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ConfigError(f"{file}: {where}.{key}: expected {getattr(types, '__name__', 'a number')}, "
                              f"got {shown(value)}")


def load_task_config(extra_files: tuple[str | Path, ...] = ()) -> TaskConfig:
    """The built-in tasks.yaml, then each ``--tasks-file`` in order: an entry of a known name
    overrides the given keys of that entry; a new name adds a task or preset. A name first given in a
    ``--tasks-file`` is also kept as given (:attr:`TaskConfig.entries`): for a plugin task with a
    ``default_spec`` it overrides that spec key by key when the plugin registers (see
    :func:`spec_over_default`), so it need not be complete."""
    config = TaskConfig()
    raw_tasks: dict[str, tuple[dict[str, Any], str]] = {}
    raw_presets: dict[str, tuple[dict[str, Any], str]] = {}
    builtin = builtin_tasks_file()
    files = ([builtin] if builtin.exists() else []) + [Path(f) for f in extra_files]
    from_builtin: set[str] = set()
    for path in files:
        data = read_yaml(path)
        is_builtin = path == builtin
        base = builtin_plugins_dir() if is_builtin else Path(path).resolve().parent
        for name, entry in (data.get("tasks") or {}).items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: tasks.{name}: expected a mapping, got {shown(entry)}")
            entry = with_absolute_dirs(entry, base)
            raw_tasks[name] = ({**raw_tasks[name][0], **entry} if name in raw_tasks else entry, str(path))
            if is_builtin:
                from_builtin.add(name)
        for name, entry in (data.get("presets") or {}).items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: presets.{name}: expected a mapping, got {shown(entry)}")
            previous = raw_presets.get(name, ({}, ""))[0]
            raw_presets[name] = ({**previous, **entry}, str(path))
        config.files.append(str(path))
    for name, (entry, file) in raw_tasks.items():
        if name not in from_builtin:
            config.entries[name] = (entry, file)
            if any(required and entry.get(key) is None for key, (_, required, _) in TASK_KEYS.items()):
                _check_mapping(entry, {k: (t, False, a) for k, (t, _, a) in TASK_KEYS.items()}, f"tasks.{name}", file)
                continue   # completed by the default_spec of the plugin that registers it
        config.specs[name] = spec_from_dict(name, entry, file, Path("."))
    for name, (entry, file) in raw_presets.items():
        config.presets[name] = preset_from_dict(name, entry, file)
    return config


def with_absolute_dirs(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    """``entry`` with its relative ``local`` and ``samples`` directories resolved from ``base`` (the
    directory of the file, or of the plugin module, that gave them), so entries merge key by key."""
    return {key: str(_directory(value, base)) if key in ("local", "samples") and isinstance(value, str) else value
            for key, value in entry.items()}


def spec_over_default(name: str, default_spec: dict[str, Any], module_dir: Path, entry: dict[str, Any],
                      file: str) -> TaskSpec:
    """A plugin task's ``default_spec`` with a ``--tasks-file`` entry over it, key by key (the keys
    the entry gives replace the default's; ``hparams`` and ``options`` too, as a whole)."""
    merged = {**with_absolute_dirs(dict(default_spec), module_dir), **entry}
    return spec_from_dict(name, merged, file, module_dir)
