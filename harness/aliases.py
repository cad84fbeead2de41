"""Deprecated names: public names that moved (into a plugin, or under a new name) keep resolving from
their old place, with a DeprecationWarning that names their new home.

Plugins declare what moved through ``harness_register_aliases``: ``register(old, new)`` where ``old`` is
the dotted name code used to import (``harness.metrics.some_scorer``, or a whole module such as
``harness.some_module``) and ``new`` is ``"module:attribute"`` (or, for a whole module, the new module
path). A module of the core that lost names ends with::

    def __getattr__(name):
        from harness.aliases import resolve_moved
        return resolve_moved(__name__, name)

The table is built on first use (it loads the plugins, as ``harness tasks`` does), so the core itself
names nothing that moved.
"""
from __future__ import annotations

import functools
import importlib
import warnings
from typing import Any


@functools.lru_cache(maxsize=1)
def moved_names() -> dict[str, str]:
    """old dotted name -> new home, from every plugin's ``harness_register_aliases``."""
    from harness.plugins import load_plugins

    table: dict[str, str] = {}

    def register(old: str, new: str) -> None:
        if not isinstance(old, str) or not isinstance(new, str) or not old or not new:
            raise TypeError(f"register(old, new) expects two non-empty strings, got {old!r}, {new!r}")
        table.setdefault(old, new)

    load_plugins().call_each("harness_register_aliases", register=register)
    return table


def new_home(module: str, name: str) -> tuple[str, str] | None:
    """(module, attribute) where ``module.name`` now lives, or None when it never moved."""
    table = moved_names()
    target = table.get(f"{module}.{name}")
    if target is not None:
        new_module, _, attribute = target.partition(":")
        return new_module, attribute or name
    if module in table:                      # the whole module moved
        return table[module].partition(":")[0], name
    return None


def resolve_moved(module: str, name: str) -> Any:
    """The object ``module.name`` now is (a module's ``__getattr__``); AttributeError when the name
    never existed there."""
    home = None if name.startswith("_") else new_home(module, name)
    if home is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new_module, attribute = home
    try:
        value = getattr(importlib.import_module(new_module), attribute)
    except (ImportError, AttributeError):
        raise AttributeError(f"module {module!r} has no attribute {name!r} (it moved to "
                             f"{new_module}.{attribute}, which is not available)") from None
    warnings.warn(f"{module}.{name} is deprecated: use {new_module}.{attribute}", DeprecationWarning, stacklevel=3)
    return value
