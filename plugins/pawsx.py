"""PAWS-X: cross-lingual adversarial paraphrase identification.

Hub: ``google/xtreme``, configs ``PAWS-X.{lang}``, columns ``sentence1``, ``sentence2``, ``label``
(a *string*, "0" or "1"; no id column). The standalone ``google-research-datasets/paws-x`` layout
(integer ``id`` and integer ``label``) is accepted too, so both map onto tasks.yaml's ["0", "1"].
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError


class PAWSX(Task):
    name = "pawsx"
    format = "classification"

    def to_example(self, row, split, language):
        label = row["label"]
        labels = self.spec.labels or []
        if isinstance(label, int) and not isinstance(label, bool):
            label = str(label)
        if not isinstance(label, str) or label.strip() not in labels:
            raise DataError(f"expected one of {labels}, got {row['label']!r}", field="label")
        example = {"text_a": row["sentence1"], "text_b": row["sentence2"], "label": label.strip()}
        if row.get("id") is not None:
            example["id"] = str(row["id"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(PAWSX())
