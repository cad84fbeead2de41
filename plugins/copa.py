"""COPA (English, SuperGLUE) and XCOPA (its translation into eleven languages): choose the more
plausible cause or effect of a premise.

Hub columns (``aps/super_glue`` config ``copa``; ``cambridgeltl/xcopa`` config ``<lang>``):
``premise``, ``choice1``, ``choice2``, ``question`` ("cause" or "effect"), ``label`` (0 or 1; -1 on
SuperGLUE's unlabelled test split), ``idx`` (XCOPA adds ``changed``). As XTREME-R's
``third_party/run_xcopa.py``, each choice is paired with ``"{premise} What was the {question}?"``.
XCOPA trains on COPA (tasks.yaml ``train_task``); its English dev split is COPA's validation set.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError

QUESTIONS = ("cause", "effect")


def copa_example(row, split, language):
    question = row["question"]
    if question not in QUESTIONS:
        raise DataError(f"expected one of {', '.join(QUESTIONS)}, got {question!r}", field="question")
    label = row["label"]
    if isinstance(label, bool) or label not in (0, 1):
        raise DataError(f"expected 0 or 1, got {label!r}", field="label")
    example = {"context": f"{row['premise']} What was the {question}?",
               "choices": [row["choice1"], row["choice2"]], "label": label}
    if row.get("idx") is not None:
        example["id"] = str(row["idx"])
    return example


class COPA(Task):
    name = "copa"
    format = "multiple_choice"

    def to_example(self, row, split, language):
        return copa_example(row, split, language)


class XCOPA(COPA):
    name = "xcopa"


@hookimpl
def harness_register_tasks(register):
    register(COPA())
    register(XCOPA())
