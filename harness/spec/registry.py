"""The registry: plugin code (Task objects, model aliases) bound to tasks.yaml specs."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.spec.config import Preset, TaskConfig, load_task_config, spec_from_dict, spec_over_default
from harness.errors import ConfigError, HarnessError, PluginError, UnknownNameError, close_match
from harness.spec.hub import hub_offline, in_hub_cache
from harness.plugins import PluginInfo, Plugins, load_plugins
from harness.formats.registry import FormatEntry, add_format, format_entry, known_formats
from harness.metrics.registry import Metric, add_metric, get_metric
from harness.spec.options import Option, check_options
from harness.spec.tasks import Task, TaskSpec


#: how close a name without a slash must be to an alias to be taken as its typo, not a hub id
ALIAS_CUTOFF = 0.8


@dataclass
class ModelAlias:
    name: str
    resolve: Callable[[], str]
    description: str
    plugin: str


@dataclass
class Registry:
    plugins: Plugins
    config: TaskConfig
    tasks: dict[str, Task] = field(default_factory=dict)
    models: dict[str, ModelAlias] = field(default_factory=dict)
    formats: dict[str, FormatEntry] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    #: tasks declared in YAML whose plugin is not loaded: name -> reason
    unavailable: dict[str, str] = field(default_factory=dict)
    #: --data-dir: every task's local directory is ``<data_dir>/<task>`` (checked when a run reads it)
    data_dir: Path | None = None
    #: (model spec, revision) -> what it resolved to: a command resolves its model more than once (the
    #: early check, each plan, each grid step) and a checkpoint's files are hashed on the first only
    _resolved: dict[tuple[str, str | None], str] = field(default_factory=dict, repr=False)

    def task(self, name: str) -> Task:
        if name in self.tasks:
            return self.tasks[name]
        if name in self.unavailable:
            raise HarnessError(f"task '{name}' is unavailable: {self.unavailable[name]}")
        raise UnknownNameError("task", name, list(self.tasks) + list(self.unavailable))

    def preset(self, name: str) -> Preset:
        if name not in self.config.presets:
            raise UnknownNameError("preset", name, self.config.presets)
        return self.config.presets[name]

    def check_languages(self, task: Task, languages: list[str]) -> list[str]:
        for language in languages:
            if language not in task.spec.languages:
                raise UnknownNameError(f"language for task '{task.name}'", language, task.spec.languages)
        return languages

    def resolve_model(self, spec: str, revision: str | None = None) -> str:
        """Alias -> its path or hub id; an existing path -> itself (a harness checkpoint -> its encoder, so
        every loader sees what the pipeline loads from it); anything else is a hub id. Checked
        before any work, each a one-line error: a path that does not exist, a near miss of an alias
        (``minilmm``: did you mean 'minilm'?) and, offline, a hub id not in the local cache.
        ``TEXT+VISION`` (e.g. ``minilm+clip-b32``) resolves both parts: a text encoder with a vision
        tower. A plugin that implements ``harness_load_model`` may read names its own way: then only
        paths and aliases are checked."""
        if (spec, revision) not in self._resolved:
            self._resolved[(spec, revision)] = self._resolve_model(spec, revision)
        return self._resolved[(spec, revision)]

    def _resolve_model(self, spec: str, revision: str | None) -> str:
        """:meth:`resolve_model` without the memo."""
        if "+" in spec and spec not in self.models and not Path(spec).expanduser().exists():
            return "+".join(self.resolve_model(part, revision) for part in spec.split("+", 1))
        if spec in self.models:
            resolved = self.models[spec].resolve()
        elif Path(spec).expanduser().exists():
            if (Path(spec).expanduser() / "meta.json").is_file():   # a harness checkpoint: its encoder
                from harness.engine.modeling import checkpoint_encoder

                return checkpoint_encoder(Path(spec)) or spec
            return spec
        elif spec.startswith((".", "/", "~")) or spec.count("/") > 1:
            raise UnknownNameError("model path or alias", spec, self.models)
        else:
            resolved = spec
            near = close_match(spec, self.models, ALIAS_CUTOFF) if "/" not in spec else None
            if near and not self.custom_model_loaders():
                raise HarnessError(f"unknown model alias '{spec}'; did you mean '{near}'? "
                                   f"(a hub id is written ORG/NAME; `harness plugins` lists the aliases)")
        if not Path(resolved).expanduser().exists() and hub_offline() and not self.custom_model_loaders() \
                and not in_hub_cache(resolved, revision):
            named = f"'{spec}'" + (f" ({resolved})" if resolved != spec else "")
            at = f" at revision {revision}" if revision else ""
            instead = "a local model directory" + (" or an alias such as 'minilm'" if "minilm" in self.models else "")
            raise HarnessError(f"model {named}{at} is not in the local Hugging Face cache and the hub is offline "
                               f"(HF_HUB_OFFLINE); pass {instead}")
        return resolved

    def custom_model_loaders(self) -> list[str]:
        """Plugins other than the built-in defaults that implement ``harness_load_model``."""
        infos = self.plugins.infos
        return [impl.plugin_name for impl in self.plugins.pm.hook.harness_load_model.get_hookimpls()
                if impl.plugin_name not in infos or infos[impl.plugin_name].source not in ("core", "builtin")]


def build_registry(plugins: tuple[str, ...] | list[str] = (), tasks_files: tuple[str, ...] | list[str] = (),
                   disabled: tuple[str, ...] | list[str] = (), strict: bool = False,
                   data_dir: str | Path | None = None) -> Registry:
    """Load plugins, read tasks.yaml (+ extra files), call the registration hooks, bind specs."""
    loaded = load_plugins(extra=plugins, disabled=disabled, strict=strict)
    config = load_task_config(tuple(tasks_files))
    registry = Registry(plugins=loaded, config=config)

    def register_task(plugin_name: str, task: Task) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"register() expects a harness.Task instance, got {type(task).__name__}")
        if task.name in registry.tasks:
            owner = next((i.name for i in loaded.infos.values() if task.name in i.tasks), "another plugin")
            raise PluginError(f"task '{task.name}' is already registered by plugin '{owner}'; plugin "
                              f"'{plugin_name}' cannot register it too (disable one with --disable-plugin)")
        spec = config.specs.get(task.name)
        if task.default_spec is not None and (spec is None or task.name in config.entries):
            # the plugin's own spec: a fault of the plugin, isolated like an import failure
            module = __import__(type(task).__module__, fromlist=["__file__"])
            base = Path(getattr(module, "__file__", ".")).resolve().parent
            try:
                spec = spec_from_dict(task.name, dict(task.default_spec), f"plugin {plugin_name}", base)
            except ConfigError as exc:
                raise PluginError(f"invalid default_spec: {exc}") from None
            if task.name in config.entries:   # a --tasks-file entry overrides it key by key
                spec = spec_over_default(task.name, task.default_spec, base, *config.entries[task.name])
        if spec is None:
            if task.name in config.entries:
                raise ConfigError(f"{config.entries[task.name][1]}: tasks.{task.name}: plugin '{plugin_name}' "
                                  f"has no default_spec to complete it; give every required key")
            raise PluginError(f"task '{task.name}' has no tasks.yaml entry and no default_spec")
        if spec.format and spec.format not in known_formats():
            raise ConfigError(f"{spec.source_file}: tasks.{task.name}.format: expected one of "
                              f"{', '.join(known_formats())}; got {spec.format!r}")
        if spec.format and spec.format != task.format:
            raise ConfigError(f"{spec.source_file}: tasks.{task.name}.format: '{spec.format}' but plugin "
                              f"'{plugin_name}' implements '{task.format}'")
        off = sorted(i.name for i in loaded.infos.values() if i.disabled or i.error)
        if spec.metric not in registry.metrics and off:
            # most likely the metric of a disabled or failed plugin (a suite's): the task is unavailable,
            # not the whole configuration broken; without such a plugin, check_task reports a typo
            registry.unavailable[task.name] = (f"its metric '{spec.metric}' is not registered (disabled or "
                                               f"failed plugins: {', '.join(off)})")
            return
        task.spec = dataclasses.replace(spec, plugin=plugin_name, format=task.format)
        check_task(task)
        registry.tasks[task.name] = task
        provided(plugin_name).tasks.append(task.name)

    def register_format(plugin_name: str, name: str, factory: Callable, options: dict | None = None,
                        description: str = "") -> None:
        if name in registry.formats:
            raise ValueError(f"format '{name}' is already registered by plugin '{registry.formats[name].plugin}'")
        registry.formats[name] = add_format(name, factory, options, description, plugin_name)
        provided(plugin_name).formats.append(name)

    def register_metric(plugin_name: str, metric: Metric) -> None:
        if getattr(metric, "name", None) in registry.metrics:
            raise ValueError(f"metric '{metric.name}' is already registered by another plugin")
        registry.metrics[metric.name] = add_metric(metric)
        provided(plugin_name).metrics.append(metric.name)

    def register_model(plugin_name: str, alias: str, resolve: Callable[[], str], description: str = "") -> None:
        registry.models[alias] = ModelAlias(alias, resolve, description, plugin_name)
        provided(plugin_name).models.append(alias)

    def provided(plugin_name: str) -> PluginInfo:
        return loaded.infos.get(plugin_name) or PluginInfo(name=plugin_name, source="unknown")

    for hook, callback in (("harness_register_formats", register_format),
                           ("harness_register_metrics", register_metric),
                           ("harness_register_tasks", register_task),
                           ("harness_register_models", register_model)):
        for impl in getattr(loaded.pm.hook, hook).get_hookimpls():
            if provided(impl.plugin_name).error:
                continue   # failed in an earlier registration hook: withdrawn, registers nothing more
            try:
                impl.function(register=functools.partial(callback, impl.plugin_name))
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the plugin: drop all it registered
                loaded.fail(impl.plugin_name, f"{hook} raised {type(exc).__name__}: {exc}")
                info = loaded.infos.get(impl.plugin_name)
                if info is not None:
                    for name in info.tasks:
                        registry.tasks.pop(name, None)
                    for alias in info.models:
                        registry.models.pop(alias, None)
                    for fmt in info.formats:
                        registry.formats.pop(fmt, None)
                    for metric in info.metrics:
                        registry.metrics.pop(metric, None)
                    info.tasks, info.models, info.formats, info.metrics = [], [], [], []
    declared = {**{name: spec.plugin for name, spec in config.specs.items()},
                **{name: entry.get("plugin") or "" for name, (entry, _) in config.entries.items()}}
    for name, declared_plugin in declared.items():
        if name not in registry.tasks and name not in registry.unavailable:
            plugin = declared_plugin or name   # undeclared: a plugin named after the task is the usual owner
            info = loaded.infos.get(plugin)
            if not declared_plugin and (info is None or not (info.disabled or info.error)):
                off = sorted(i.name for i in loaded.infos.values() if i.disabled or i.error)
                reason = "no loaded plugin registers it" + (f" (disabled or failed: {', '.join(off)})" if off else "")
            elif info is None:
                reason = f"its plugin '{plugin}' is not installed"
            elif info.disabled:
                reason = f"its plugin '{plugin}' is disabled"
            elif info.error:
                reason = f"its plugin '{plugin}' failed: {info.error}"
            else:
                reason = f"plugin '{plugin}' does not register a task named '{name}'"
            owner_off = info is not None and (info.disabled or bool(info.error)) or "disabled or failed" in reason
            if name not in config.specs and not owner_off:   # incomplete, and no plugin's default_spec can complete it
                spec_from_dict(name, *config.entries[name], Path("."))   # raises: missing required key
            registry.unavailable[name] = reason
    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not root.is_dir():
            raise HarnessError(f"--data-dir '{data_dir}' is not a directory")
        registry.data_dir = root
        for task in registry.tasks.values():
            task.spec.local = root / task.name
    return registry


def check_task(task: Task) -> None:
    """The parts of a task's spec that only registered plugins can check: its format, its metric and
    its options (the format's and the task's own)."""
    spec: TaskSpec = task.spec
    where = f"{spec.source_file}: tasks.{task.name}"
    try:
        format_entry(task.format)
    except UnknownNameError as exc:
        raise ConfigError(f"{where}.format: {exc}") from None
    try:
        get_metric(spec.metric)
    except UnknownNameError as exc:
        raise ConfigError(f"{where}.metric: {exc}") from None
    check_options(spec.options, options_schema(task), f"tasks.{task.name}.options", spec.source_file)


def options_schema(task: Task) -> dict[str, Option]:
    """The options a task may be given: its format's and its own."""
    return {**format_entry(task.format).options, **type(task).options_schema}
