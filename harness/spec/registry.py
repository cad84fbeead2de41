"""The registry: plugin code (Task objects, model aliases) bound to tasks.yaml specs."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.spec.config import Preset, TaskConfig, load_task_config, spec_from_dict
from harness.errors import ConfigError, HarnessError, PluginError, UnknownNameError
from harness.plugins import Plugins, load_plugins
from harness.spec.tasks import Task


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
            entry = {"plugin": plugin_name, "format": task.format, **task.default_spec}
            module = __import__(type(task).__module__, fromlist=["__file__"])
            base = Path(getattr(module, "__file__", ".")).resolve().parent
            try:
                spec = spec_from_dict(task.name, entry, f"plugin {plugin_name}", base)
            except ConfigError as exc:
                raise PluginError(f"invalid default_spec: {exc}") from None
        if spec.format != task.format:
            raise ConfigError(f"{spec.source_file}: tasks.{task.name}.format: '{spec.format}' but plugin "
                              f"'{plugin_name}' implements '{task.format}'")
        task.spec = spec
        registry.tasks[task.name] = task
        if plugin_name in loaded.infos:
            loaded.infos[plugin_name].tasks.append(task.name)

    def register_model(plugin_name: str, alias: str, resolve: Callable[[], str], description: str = "") -> None:
        registry.models[alias] = ModelAlias(alias, resolve, description, plugin_name)
        if plugin_name in loaded.infos:
            loaded.infos[plugin_name].models.append(alias)

    for hook, callback in (("harness_register_tasks", register_task),
                           ("harness_register_models", register_model)):
        for impl in getattr(loaded.pm.hook, hook).get_hookimpls():
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
                    info.tasks, info.models = [], []
    for name, spec in config.specs.items():
        if name not in registry.tasks:
            info = loaded.infos.get(spec.plugin)
            if info is None:
                reason = f"its plugin '{spec.plugin}' is not installed"
            elif info.disabled:
                reason = f"its plugin '{spec.plugin}' is disabled"
            elif info.error:
                reason = f"its plugin '{spec.plugin}' failed: {info.error}"
            else:
                reason = f"plugin '{spec.plugin}' does not register a task named '{name}'"
            registry.unavailable[name] = reason
    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not root.is_dir():
            raise HarnessError(f"--data-dir '{data_dir}' is not a directory")
        registry.data_dir = root
        for task in registry.tasks.values():
            task.spec.local = root / task.name
    return registry
