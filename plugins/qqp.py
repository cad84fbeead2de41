"""Quora Question Pairs from GLUE (``nyu-mll/glue``, config ``qqp``).

Hub columns: ``question1``, ``question2``, ``label`` (0 not_duplicate, 1 duplicate; -1 on the
unlabelled test split), ``idx``.
"""
from __future__ import annotations

from harness import hookimpl
from harness.formats.adapters import PairTask


@hookimpl
def harness_register_tasks(register):
    register(PairTask.variant("qqp", text_a="question1", text_b="question2"))
