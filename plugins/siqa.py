"""Social IQa (``allenai/social_i_qa``): three-way questions about people's motives and reactions;
XTREME-R's intermediate task for XCOPA (``scripts/train_xcopa.sh`` trains SIQA, then COPA).

Hub columns: ``context``, ``question``, ``answerA``, ``answerB``, ``answerC``, ``label`` (the
*string* "1".."3", 1-based, as in the original ``*-labels.lst`` files). The hub repository holds
only a loading script, so tasks.yaml reads its parquet conversion (``hub.parquet``). As
``run_xcopa.py``, each answer is paired with ``"{context} {question}"``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError

ANSWERS = ("answerA", "answerB", "answerC")


class SocialIQa(Task):
    name = "siqa"
    format = "multiple_choice"

    def to_example(self, row, split, language):
        label = row["label"]
        text = str(label).strip()
        if isinstance(label, bool) or not text.isdigit() or not 1 <= int(text) <= len(ANSWERS):
            raise DataError(f"expected \"1\"..\"{len(ANSWERS)}\", got {label!r}", field="label")
        return {"context": row["context"], "question": row["question"],
                "choices": [row[name] for name in ANSWERS], "label": int(text) - 1}


@hookimpl
def harness_register_tasks(register):
    register(SocialIQa())
