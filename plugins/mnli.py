"""MultiNLI from GLUE (``nyu-mll/glue``, config ``mnli``): columns ``premise``, ``hypothesis``,
``label`` (ClassLabel codes in the order of tasks.yaml ``labels``), ``idx``."""
from __future__ import annotations

from harness import hookimpl
from harness.formats.adapters import PairTask


@hookimpl
def harness_register_tasks(register):
    register(PairTask.variant("mnli", text_a="premise", text_b="hypothesis"))
