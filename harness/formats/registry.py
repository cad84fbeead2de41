"""The format registry. Formats are registered through the ``harness_register_formats`` hook (the
built-in ones by ``harness.defaults``) as a name, a factory and the schema of their options. The
factory runs on first use, so reading tasks.yaml, ``harness tasks`` and ``--help`` import no torch.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from harness.registry import NameTable
from harness.spec.options import Option

if TYPE_CHECKING:  # pragma: no cover
    from harness.formats.base import Format


@dataclass
class FormatEntry:
    name: str
    factory: Callable[[], "Format"]
    options: dict[str, Option] = field(default_factory=dict)
    description: str = ""
    plugin: str = ""
    _instance: Any = None

    def get(self) -> "Format":
        if self._instance is None:
            instance = self.factory()
            if getattr(instance, "name", self.name) != self.name:
                raise TypeError(f"format '{self.name}': its factory built a format named '{instance.name}'")
            self._instance = instance
        return self._instance


def _entry(name: str, factory: Callable[[], "Format"], options: dict[str, Any] | None = None,
           description: str = "", plugin: str = "") -> FormatEntry:
    if not isinstance(name, str) or not callable(factory):
        raise TypeError("register(name, factory, options=None, description='') expects a format name "
                        "and a callable returning the Format")
    schema = {key: Option(*value) for key, value in (options or {}).items()}
    return FormatEntry(name, factory, schema, description, plugin)


def _builtins() -> list[tuple[str, FormatEntry]]:
    from harness.formats.builtin import builtin_formats
    return [(name, _entry(name, factory, options, description, "core.defaults"))
            for name, (factory, options, description) in builtin_formats().items()]


_FORMATS: NameTable[FormatEntry] = NameTable("format", _builtins)


def add_format(name: str, factory: Callable[[], "Format"], options: dict[str, Any] | None = None,
               description: str = "", plugin: str = "") -> FormatEntry:
    """What a ``harness_register_formats`` implementation's ``register`` does. ``options`` maps
    option name -> :class:`~harness.spec.options.Option` (or a ``(type, default, doc)`` tuple)."""
    return _FORMATS.add(name, _entry(name, factory, options, description, plugin))


def format_entry(name: str) -> FormatEntry:
    return _FORMATS.get(name)


def get_format(name: str) -> "Format":
    return format_entry(name).get()


def known_formats() -> list[str]:
    return _FORMATS.known()


def register_format(fmt: "Format") -> "Format":
    """Deprecated: register a format instance by import side effect."""
    warnings.warn("register_format() is deprecated; register formats with the harness_register_formats "
                  "hook: register(name, factory, options)", DeprecationWarning, stacklevel=2)
    add_format(fmt.name, lambda: fmt, getattr(fmt, "options_schema", None))
    return fmt
