"""The ``options`` of a task: each format (and a task class) declares the options it reads, so a
typo in tasks.yaml is an error naming the file and the key path, like every other key."""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from harness.errors import ConfigError, did_you_mean


class Option(NamedTuple):
    """One option: its type (or types), the value used when it is absent, and what it does."""

    type: type | tuple[type, ...]
    default: Any
    doc: str


OptionsSchema = Mapping[str, Option]


def check_options(options: Mapping[str, Any], schema: OptionsSchema, where: str, file: str) -> None:
    """Raise a ConfigError for an unknown option or a value of the wrong type."""
    for key, value in options.items():
        if key not in schema:
            allowed = ", ".join(schema) or "none"
            raise ConfigError(f"{file}: {where}.{key}: unknown key{did_you_mean(key, schema)} "
                              f"(allowed: {allowed})")
        declared = schema[key].type
        kinds: tuple[type, ...] = declared if isinstance(declared, tuple) else (declared,)
        if float in kinds:
            kinds = (*kinds, int)
        if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            names = " or ".join(kind.__name__ for kind in kinds if kind is not int or float not in kinds)
            raise ConfigError(f"{file}: {where}.{key}: expected {names}, got {value!r}")
