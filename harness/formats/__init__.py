"""Task formats. Each module registers one :class:`~harness.formats.base.Format` instance."""
from __future__ import annotations

import importlib

from harness.formats.base import EvalOutput, Format, Head, TaskModel, get_format, known_formats, register_format

BUILTIN_FORMATS = ("classification", "multiple_choice", "tagging", "qa", "retrieval", "dual_encoder",
                   "image_text_classification", "image_text_retrieval")


def load_builtin_formats() -> None:
    for module in BUILTIN_FORMATS:
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:  # a format not written yet must not break the others
            if exc.name != f"{__name__}.{module}":
                raise


__all__ = ["EvalOutput", "Format", "Head", "TaskModel", "get_format", "known_formats",
           "register_format", "load_builtin_formats"]
