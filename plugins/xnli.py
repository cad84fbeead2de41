"""XNLI: 15-language NLI. Hub layout: one ``XNLI`` config holding every language (``language`` column)."""
from __future__ import annotations

from harness import Task, hookimpl


class XNLI(Task):
    name = "xnli"
    format = "classification"

    def to_example(self, row, split, language):
        return {"text_a": row["sentence1"], "text_b": row["sentence2"], "label": row["gold_label"]}

    def hub_rows(self, split, language):
        for where, number, row in super().hub_rows(split, "all"):
            if row["language"] == language:
                yield where, number, row


@hookimpl
def harness_register_tasks(register):
    register(XNLI())
