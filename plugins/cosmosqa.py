"""Cosmos QA (``allenai/cosmos_qa``): reading comprehension that needs commonsense.

Hub columns: ``id``, ``context``, ``question``, ``answer0`` .. ``answer3``, ``label`` (int 0..3).
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError

NUM_ANSWERS = 4


class CosmosQA(Task):
    name = "cosmosqa"
    format = "multiple_choice"

    def to_example(self, row, split, language):
        choices = [row[f"answer{i}"] for i in range(NUM_ANSWERS)]
        label = row["label"]
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < NUM_ANSWERS:
            raise DataError(f"expected an integer in 0..{NUM_ANSWERS - 1}, got {label!r}", field="label")
        example = {"context": row["context"], "question": row["question"], "choices": choices,
                   "label": label}
        if row.get("id") is not None:
            example["id"] = str(row["id"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(CosmosQA())
