"""Quora Question Pairs from GLUE (``nyu-mll/glue``, config ``qqp``).

Hub columns: ``question1``, ``question2``, ``label`` (0 not_duplicate, 1 duplicate; -1 on the
unlabelled test split), ``idx``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError


class QQP(Task):
    name = "qqp"
    format = "classification"

    def to_example(self, row, split, language):
        label = row["label"]
        labels = self.spec.labels or []
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(labels):
            raise DataError(f"expected an integer in 0..{len(labels) - 1}, got {label!r}", field="label")
        example = {"text_a": row["question1"], "text_b": row["question2"], "label": labels[label]}
        if "idx" in row:
            example["id"] = str(row["idx"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(QQP())
