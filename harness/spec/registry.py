"""The registry: plugin code (Task objects, model aliases) bound to tasks.yaml specs."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.spec.config import Preset, TaskConfig, load_task_config, spec_from_dict
from harness.errors import ConfigError, HarnessError, PluginError, UnknownNameError
from harness.plugins import PluginInfo, Plugins, load_plugins
from harness.formats.registry import FormatEntry, add_format, format_entry, known_formats
from harness.metrics.registry import Metric, add_metric, get_metric
from harness.spec.options import Option, check_options
from harness.spec.tasks import Task, TaskSpec


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

    def resolve_model(self, spec: str) -> str:
        """Alias -> its path or hub id; an existing path -> itself; a missing path -> error;
        anything else is taken as a hub id (checked when loaded). ``TEXT+VISION`` (e.g.
        ``minilm+clip-b32``) resolves both parts: a text encoder with a vision tower."""
        if "+" in spec and spec not in self.models and not Path(spec).expanduser().exists():
            return "+".join(self.resolve_model(part) for part in spec.split("+", 1))
        if spec in self.models:
            return self.models[spec].resolve()
        if Path(spec).expanduser().exists():
            return spec
        if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
            raise UnknownNameError("model path or alias", spec, self.models)
        return spec


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
        if spec is None:  # the plugin's own spec: a fault of the plugin, isolated like an import failure
            if task.default_spec is None:
                raise PluginError(f"task '{task.name}' has no tasks.yaml entry and no default_spec")
            module = __import__(type(task).__module__, fromlist=["__file__"])
            base = Path(getattr(module, "__file__", ".")).resolve().parent
            try:
                spec = spec_from_dict(task.name, dict(task.default_spec), f"plugin {plugin_name}", base)
            except ConfigError as exc:
                raise PluginError(f"invalid default_spec: {exc}") from None
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
    for name, spec in config.specs.items():
        if name not in registry.tasks and name not in registry.unavailable:
            plugin = spec.plugin or name   # undeclared: a plugin named after the task is the usual owner
            info = loaded.infos.get(plugin)
            if not spec.plugin and (info is None or not (info.disabled or info.error)):
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
