"""Quora Question Pairs from GLUE (``nyu-mll/glue``, config ``qqp``).

Hub columns: ``question1``, ``question2``, ``label`` (0 not_duplicate, 1 duplicate; -1 on the
unlabelled test split), ``idx``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.formats.classification import class_label


class QQP(Task):
    name = "qqp"
    format = "classification"

    def to_example(self, row, split, language):
        label = class_label(row["label"], self.spec.labels or [])
        example = {"text_a": row["question1"], "text_b": row["question2"], "label": label}
        if "idx" in row:
            example["id"] = str(row["idx"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(QQP())
