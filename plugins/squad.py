"""SQuAD v1.1 (``rajpurkar/squad``): English extractive QA, the training data of XQuAD and MLQA.

Hub rows: ``id, title, context, question, answers{text: [str], answer_start: [int]}``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.formats.qa import squad_example


class SQuAD(Task):
    name = "squad"
    format = "qa"

    def to_example(self, row, split, language):
        return squad_example(row)


@hookimpl
def harness_register_tasks(register):
    register(SQuAD())
