"""Task formats, registered through the ``harness_register_formats`` hook (see registry.py).

The registry is imported eagerly; the format contract (``Format``, ``Head``, ``EvalOutput``,
``TaskModel``) lazily, because it imports torch.
"""
from __future__ import annotations

from typing import Any

from harness.formats.builtin import builtin_formats
from harness.formats.registry import FormatEntry, format_entry, get_format, known_formats, register_format

BUILTIN_FORMATS = tuple(builtin_formats())
_CONTRACT = ("EvalOutput", "Format", "Head", "TaskModel")


def __getattr__(name: str) -> Any:
    if name in _CONTRACT:
        from harness.formats import base
        return getattr(base, name)
    raise AttributeError(f"module 'harness.formats' has no attribute {name!r}")


__all__ = ["EvalOutput", "Format", "Head", "TaskModel", "FormatEntry", "format_entry", "get_format",
           "known_formats", "register_format", "BUILTIN_FORMATS"]
