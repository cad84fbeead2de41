"""MultiNLI from GLUE (``nyu-mll/glue``, config ``mnli``): integer labels in the order of tasks.yaml."""
from __future__ import annotations

from harness import Task, hookimpl


class MNLI(Task):
    name = "mnli"
    format = "classification"

    def to_example(self, row, split, language):
        label = row["label"]
        if not isinstance(label, int) or not 0 <= label < len(self.spec.labels):
            raise ValueError(f"label: expected an integer in 0..{len(self.spec.labels) - 1}, got {label!r}")
        example = {"text_a": row["premise"], "text_b": row["hypothesis"], "label": self.spec.labels[label]}
        if "idx" in row:
            example["id"] = str(row["idx"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(MNLI())
