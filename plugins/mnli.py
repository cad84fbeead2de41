"""MultiNLI from GLUE (``nyu-mll/glue``, config ``mnli``): integer labels in the order of tasks.yaml."""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError


class MNLI(Task):
    name = "mnli"
    format = "classification"

    def to_example(self, row, split, language):
        label = row["label"]
        labels = self.spec.labels or []
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(labels):
            raise DataError(f"expected an integer in 0..{len(labels) - 1}, got {label!r}", field="label")
        example = {"text_a": row["premise"], "text_b": row["hypothesis"], "label": labels[label]}
        if "idx" in row:
            example["id"] = str(row["idx"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(MNLI())
