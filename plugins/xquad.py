"""XQuAD: SQuAD v1.1 dev paragraphs professionally translated into ten languages (evaluation only).

Hub: ``google/xtreme``, config ``XQuAD.{lang}``, one ``validation`` split; rows
``id, context, question, answers{answer_start: [int], text: [str]}`` (no title). English training
data comes from the ``squad`` task (tasks.yaml ``train_task``).
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.formats.qa import squad_example


class XQuAD(Task):
    name = "xquad"
    format = "qa"

    def to_example(self, row, split, language):
        return squad_example(row)


@hookimpl
def harness_register_tasks(register):
    register(XQuAD())
