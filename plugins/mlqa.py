"""MLQA with context and question in the same language (evaluation only; scored with MLQA's
language-aware answer normalisation).

Hub: ``google/xtreme``, config ``MLQA.{lang}.{lang}``, splits ``validation`` and ``test``; rows
``id, title, context, question, answers{answer_start: [int], text: [str]}``. English training data
comes from the ``squad`` task (tasks.yaml ``train_task``).
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.formats.qa import squad_example


class MLQA(Task):
    name = "mlqa"
    format = "qa"

    def to_example(self, row, split, language):
        return squad_example(row)


@hookimpl
def harness_register_tasks(register):
    register(MLQA())
