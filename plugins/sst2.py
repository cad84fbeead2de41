"""SST-2 from GLUE (``nyu-mll/glue``, config ``sst2``): single sentences, so no ``text_b``.

Hub columns: ``sentence``, ``label`` (0 negative, 1 positive; -1 on the unlabelled test split), ``idx``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.formats.classification import class_label


class SST2(Task):
    name = "sst2"
    format = "classification"

    def to_example(self, row, split, language):
        label = class_label(row["label"], self.spec.labels or [])
        example = {"text_a": row["sentence"], "label": label}
        if "idx" in row:
            example["id"] = str(row["idx"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(SST2())
