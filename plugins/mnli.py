"""MultiNLI from GLUE (``nyu-mll/glue``, config ``mnli``): integer labels in the order of tasks.yaml."""
from __future__ import annotations

from harness import Task, hookimpl
from harness.formats.classification import class_label


class MNLI(Task):
    name = "mnli"
    format = "classification"

    def to_example(self, row, split, language):
        label = class_label(row["label"], self.spec.labels or [])
        example = {"text_a": row["premise"], "text_b": row["hypothesis"], "label": label}
        if "idx" in row:
            example["id"] = str(row["idx"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(MNLI())
