"""Plugin loading: core behaviour, built-in task plugins, installed entry points, and ``--plugins``.

Every source goes through :func:`_register`, so built-in plugins are registered exactly like
third-party ones. A plugin that fails to import or register is reported with its name and error
and the rest keeps working; ``strict=True`` (``--strict-plugins``) makes it fatal.
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata as metadata
import importlib.util
import os
import pkgutil
import signal
import sys
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pluggy

from harness import hookspecs
from harness.errors import PluginError

ENTRY_POINT_GROUP = "harness"
ENV_PLUGINS = "HARNESS_PLUGINS"
ENV_DISABLE = "HARNESS_DISABLE_PLUGINS"
#: the module whose ``trylast`` hook implementations are the default behaviour of each phase
CORE_MODULES = ("harness.defaults",)


@dataclass
class PluginInfo:
    name: str
    source: str                       # core | builtin | entry point | module | file
    origin: str = ""                  # module path, file path or entry point value
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    error: str | None = None
    disabled: bool = False


class HookTimeout(PluginError):
    """A plugin hook ran longer than ``--hook-timeout``."""


class Plugins:
    """The plugin manager plus what was loaded, and a typed facade over ``pm.hook``. Every hook
    implementation is wrapped so that an exception it raises carries the plugin's name
    (``exc.harness_plugin``) and :meth:`last_result` names the plugin whose result a hook returned."""

    def __init__(self, pm: pluggy.PluginManager, infos: dict[str, PluginInfo]):
        self.pm, self.infos = pm, infos
        self._results: dict[str, str] = {}     # hook name -> plugin whose non-None result it returned last
        self._running: list[str] = []          # plugins whose hook implementation is executing
        self.timeout_s: float | None = None    # --hook-timeout for the phase hooks

    def attribute(self, plugin_name: str) -> None:
        """Wrap the hook implementations of a just-registered plugin (see the class docstring)."""
        for caller in vars(self.pm.hook).values():
            for impl in caller.get_hookimpls() if isinstance(caller, pluggy.HookCaller) else ():
                if impl.plugin_name == plugin_name and not impl.hookwrapper and not impl.wrapper:
                    impl.function = self._blamed(impl.function, plugin_name, caller.name)

    def _blamed(self, function: Callable, plugin: str, hook: str) -> Callable:
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            self._running.append(plugin)
            try:
                result = function(*args, **kwargs)
            except Exception as exc:
                if getattr(exc, "harness_plugin", None) is None:
                    exc.harness_plugin = plugin  # type: ignore[attr-defined] - the innermost plugin
                raise
            finally:
                self._running.pop()
            if result is not None:
                self._results[hook] = plugin
            return result
        return call

    def last_result(self, hook: str) -> str | None:
        """The plugin whose implementation returned the last non-None result of ``hook``."""
        return self._results.get(hook)

    def _call(self, hook: str, **kwargs: Any) -> Any:
        """Call a phase hook, interrupted after ``timeout_s`` seconds (main thread only, via SIGALRM)."""
        caller = getattr(self.pm.hook, hook)
        self._results.pop(hook, None)
        if not self.timeout_s or threading.current_thread() is not threading.main_thread():
            return caller(**kwargs)

        def expired(signum: int, frame: Any) -> None:
            plugin = self._running[-1] if self._running else "?"
            raise HookTimeout(f"{hook} of plugin '{plugin}' did not return within {self.timeout_s:g} s "
                              f"(--hook-timeout)")

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            return caller(**kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos.values() if info.error]

    def registered(self) -> list[PluginInfo]:
        return [info for info in self.infos.values() if not info.error and not info.disabled]

    # -- typed facade ---------------------------------------------------------------------------
    def load_rows(self, *, task, split: str, language: str, source: str):
        return self._call("harness_load_rows", task=task, split=split, language=language, source=source)

    def load_model(self, *, model: str, device, revision: str | None):
        return self._call("harness_load_model", model=model, device=device, revision=revision)

    def intermediate_train(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("harness_intermediate_train", **kwargs)

    def target_train(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("harness_target_train", **kwargs)

    def evaluate(self, **kwargs: Any):
        return self._call("harness_evaluate", **kwargs)

    def result_written(self, record: dict[str, Any]) -> None:
        self._call("harness_result_written", record=record)

    def call_each(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of a registration hook, attributing failures to their plugin
        (one broken plugin must not hide the others)."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
            except Exception as exc:  # noqa: BLE001 - reported, plugin isolated
                self.fail(impl.plugin_name, f"{hook_name} raised {type(exc).__name__}: {exc}")

    def fail(self, name: str, error: str, strict: bool | None = None) -> None:
        info = self.infos.setdefault(name, PluginInfo(name=name, source="unknown"))
        info.error = error
        if strict if strict is not None else self.strict:
            raise PluginError(f"plugin '{name}' failed: {error}")
        logging.getLogger("harness").warning("plugin '%s' failed and was skipped: %s", name, error)

    strict: bool = False


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # scans every installed distribution: once


def _distribution_of(module: ModuleType) -> tuple[str | None, str | None]:
    top = module.__name__.split(".")[0]
    names = _packages_distributions().get(top) or []
    if names:
        try:
            return names[0], metadata.version(names[0])
        except metadata.PackageNotFoundError:
            return names[0], None
    return None, None


def _import_file(path: Path) -> ModuleType:
    name = f"harness_file_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _split_names(values: tuple[str, ...] | list[str] | None, env: str) -> list[str]:
    items: list[str] = []
    for value in [*(values or ()), os.environ.get(env, "")]:
        items.extend(part.strip() for part in value.split(",") if part.strip())
    return items


def load_plugins(extra: tuple[str, ...] | list[str] = (), disabled: tuple[str, ...] | list[str] = (),
                 strict: bool = False) -> Plugins:
    """Build the plugin manager from every source; see the module docstring."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm, {})
    plugins.strict = strict
    blocked = set(_split_names(list(disabled), ENV_DISABLE))

    def register(name: str, source: str, origin: str, load: Callable[[], ModuleType]) -> None:
        if name in blocked:
            plugins.infos[name] = PluginInfo(name=name, source=source, origin=origin, disabled=True)
            return
        info = PluginInfo(name=name, source=source, origin=origin)
        plugins.infos[name] = info
        try:
            module = load()
            if pm.get_plugin(name) is not None:
                raise ValueError(f"a plugin named '{name}' is already registered")
            pm.register(module, name=name)
            plugins.attribute(name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
            plugins.fail(name, f"{type(exc).__name__}: {exc}")
            return
        info.distribution, info.version = _distribution_of(module)
        info.hooks = sorted(impl_name for impl_name in dir(module)
                            if impl_name.startswith("harness_") and hasattr(pm.hook, impl_name))

    for module_name in CORE_MODULES:
        register(f"core.{module_name.split('.')[-1]}", "core", module_name,
                 lambda m=module_name: importlib.import_module(m))
    import harness_plugins
    for found in sorted(pkgutil.iter_modules(harness_plugins.__path__), key=lambda m: m.name):
        if not found.name.startswith("_"):
            register(found.name, "builtin", f"harness_plugins.{found.name}",
                     lambda n=found.name: importlib.import_module(f"harness_plugins.{n}"))
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        register(entry_point.name, "entry point", entry_point.value, entry_point.load)
    for item in _split_names(list(extra), ENV_PLUGINS):
        path = Path(item)
        if item.endswith(".py") or path.exists():
            register(path.stem, "file", str(path), lambda p=path: _import_file(p))
        else:
            register(item.split(".")[-1], "module", item, lambda m=item: importlib.import_module(m))
    return plugins
