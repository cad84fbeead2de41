"""SST-2 from GLUE (``nyu-mll/glue``, config ``sst2``): single sentences, so no ``text_b``.

Hub columns: ``sentence``, ``label`` (0 negative, 1 positive; -1 on the unlabelled test split), ``idx``.
"""
from __future__ import annotations

from harness import hookimpl
from harness.formats.adapters import PairTask


@hookimpl
def harness_register_tasks(register):
    register(PairTask.variant("sst2", text_a="sentence", text_b=None))
