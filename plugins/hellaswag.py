"""HellaSwag (``Rowan/hellaswag``): pick the most plausible continuation of a video caption or a
WikiHow article.

Hub columns: ``ind``, ``activity_label``, ``ctx_a``, ``ctx_b``, ``ctx`` (= ctx_a + " " + ctx_b),
``endings`` (4 strings), ``source_id``, ``split``, ``split_type``, ``label`` (a *string* "0".."3";
empty on the unlabelled test split). As in the SWAG recipe (BERT, ``run_swag``), each choice is the
pair (``ctx_a``, ``ctx_b`` + " " + ending): the second half of the context, often the subject of
the sentence the ending completes, stays with the ending.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError


class HellaSwag(Task):
    name = "hellaswag"
    format = "multiple_choice"

    def to_example(self, row, split, language):
        endings = row["endings"]
        if not isinstance(endings, list) or len(endings) < 2:
            raise DataError(f"expected a list of endings, got {endings!r}", field="endings")
        label = row["label"]
        if isinstance(label, str) and label.strip().isdigit():
            label = int(label.strip())
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(endings):
            raise DataError(f"expected an ending index \"0\"..\"{len(endings) - 1}\", got {row['label']!r}",
                            field="label")
        ctx_b = (row["ctx_b"] or "").strip()
        choices = [f"{ctx_b} {ending.strip()}".strip() if isinstance(ending, str) else ending
                   for ending in endings]
        example = {"context": (row["ctx_a"] or "").strip(), "choices": choices, "label": label}
        if row.get("ind") is not None:
            example["id"] = str(row["ind"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(HellaSwag())
