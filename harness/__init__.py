"""X-STILTs evaluation harness: English intermediate-task training and zero-shot cross-lingual transfer.

Plugin authors need only :data:`hookimpl` and :class:`Task` (see PLUGINS.md).
"""
from __future__ import annotations

from .hookspecs import hookimpl
from .tasks import Task

__version__ = "0.1.0"

__all__ = ["hookimpl", "Task", "__version__"]
