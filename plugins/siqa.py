"""Social IQa (``allenai/social_i_qa``): three-way questions about people's motives and reactions;
XTREME-R's intermediate task for XCOPA (``scripts/train_xcopa.sh`` trains SIQA, then COPA).

Hub columns: ``context``, ``question``, ``answerA``, ``answerB``, ``answerC``, ``label`` (the
*string* "1".."3", 1-based, as in the original ``*-labels.lst`` files). The hub repository holds
only a loading script, so rows are read from its parquet conversion (``refs/convert/parquet``,
``default/<split>/0000.parquet``) unless tasks.yaml pins another ``hub.revision``. As
``run_xcopa.py``, each answer is paired with ``"{context} {question}"``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError

ANSWERS = ("answerA", "answerB", "answerC")
PARQUET_REVISION = "refs/convert/parquet"


def parquet_rows(repo: str, files: list[str], revision: str):
    """(where, row number, row) of parquet files of a hub dataset repository, read in order."""
    import pyarrow.parquet as pq
    from huggingface_hub import hf_hub_download

    number = 0
    for filename in files:
        path = hf_hub_download(repo, filename, repo_type="dataset", revision=revision)
        where = f"hub:{repo}@{revision}/{filename}"
        for batch in pq.ParquetFile(path).iter_batches():
            for row in batch.to_pylist():
                number += 1
                yield where, number, row


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

    def hub_rows(self, split, language):
        hub = self.spec.hub_for(language)
        if hub is None:
            raise DataError(f"task '{self.name}' declares no hub source", field="hub")
        hub_split = self.spec.splits.get(split, split)
        return parquet_rows(hub.path, [f"{hub.name or 'default'}/{hub_split}/0000.parquet"],
                            hub.revision or PARQUET_REVISION)


@hookimpl
def harness_register_tasks(register):
    register(SocialIQa())
