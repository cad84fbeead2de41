"""CommonsenseQA (``tau/commonsense_qa``): five-way questions, no context passage.

Hub columns: ``id``, ``question``, ``question_concept``, ``choices`` ({"label": ["A".."E"],
"text": [...]}), ``answerKey`` ("A".."E"; empty on the unlabelled test split). The label is the
position of ``answerKey`` in ``choices.label``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError


class CommonsenseQA(Task):
    name = "commonsenseqa"
    format = "multiple_choice"

    def to_example(self, row, split, language):
        choices = row["choices"]
        if not isinstance(choices, dict):
            raise DataError(f"expected {{'label': [...], 'text': [...]}}, got {type(choices).__name__}",
                            field="choices")
        letters, texts = choices["label"], choices["text"]
        if not isinstance(letters, list) or not isinstance(texts, list) or len(letters) != len(texts):
            raise DataError("choices.label and choices.text must be lists of the same length", field="choices")
        answer = row["answerKey"]
        if answer not in letters:
            raise DataError(f"answer key {answer!r} is not one of the choice labels {letters}", field="answerKey")
        example = {"context": "", "question": row["question"], "choices": list(texts),
                   "label": letters.index(answer)}
        if row.get("id") is not None:
            example["id"] = str(row["id"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(CommonsenseQA())
