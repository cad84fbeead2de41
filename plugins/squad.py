"""The SQuAD family: extractive QA on rows in the SQuAD v1.1 schema, one class for three tasks.

* ``squad`` (``rajpurkar/squad``): English training data of XQuAD and MLQA; rows
  ``id, title, context, question, answers{text: [str], answer_start: [int]}``.
* ``xquad`` (``google/xtreme`` ``XQuAD.{lang}``, one ``validation`` split): SQuAD v1.1 dev paragraphs
  professionally translated into ten languages (evaluation only; no title).
* ``mlqa`` (``google/xtreme`` ``MLQA.{lang}.{lang}``, ``validation`` and ``test``): context and
  question in the same language, scored with MLQA's language-aware normalisation (tasks.yaml metric).

XQuAD and MLQA train on ``squad`` (tasks.yaml ``train_task``).
"""
from __future__ import annotations

from harness import hookimpl
from harness.formats.adapters import SquadTask


@hookimpl
def harness_register_tasks(register):
    for name in ("squad", "xquad", "mlqa"):
        register(SquadTask.variant(name))
