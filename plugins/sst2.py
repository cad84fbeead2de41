"""SST-2 from GLUE (``nyu-mll/glue``, config ``sst2``): single sentences, so no ``text_b``.

Hub columns: ``sentence``, ``label`` (0 negative, 1 positive; -1 on the unlabelled test split), ``idx``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError


class SST2(Task):
    name = "sst2"
    format = "classification"

    def to_example(self, row, split, language):
        label = row["label"]
        labels = self.spec.labels or []
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(labels):
            raise DataError(f"expected an integer in 0..{len(labels) - 1}, got {label!r}", field="label")
        example = {"text_a": row["sentence"], "label": labels[label]}
        if "idx" in row:
            example["id"] = str(row["idx"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(SST2())
