"""Default zero-shot evaluation: delegate to the task's format."""
from __future__ import annotations

from .formats import get_format
from .hookspecs import hookimpl


@hookimpl(trylast=True)
def harness_evaluate(model, task, language, split, examples, hparams, context):
    return get_format(task.format).evaluate(model, task, examples, language, hparams, **(context or {}))
