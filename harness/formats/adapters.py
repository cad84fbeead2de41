"""Row adapters for the standard raw layouts, so that a task of a known layout is one tasks.yaml
entry plus one line of registration, e.g. ``register(SquadTask.variant("my-qa"))``:

    SquadTask        SQuAD schema: id, question, context, answers{text, answer_start}
    PairTask         GLUE-style (pair) classification: text_a, text_b (None: single), label_column, id_column
    TokenTagsTask    token + tag columns: tokens, tags (``ner_tags``/``pos_tags``), tag_names, id_column
    DualEncoderTask  the base of dual_encoder tasks: queries plus a candidate file (``options.candidates``)

The helpers they use (``squad_example``, ``class_label``, ``class_names``) serve hand-written tasks
too. This module imports no torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

from harness.errors import DataError
from harness.spec.tasks import Task, read_jsonl


# --------------------------------------------------------------------------------- helpers
def squad_example(row: dict[str, Any]) -> dict[str, Any]:
    """A hub/local row in the SQuAD schema -> the qa format's example fields."""
    answers = row["answers"]
    if not isinstance(answers, dict):
        raise TypeError(f"answers: expected an object with 'text' and 'answer_start', "
                        f"got {type(answers).__name__}")
    example = {"id": str(row["id"]), "question": row["question"], "context": row["context"],
               "answers": {"text": list(answers["text"]), "answer_start": list(answers["answer_start"])}}
    if row.get("title") is not None:
        example["title"] = row["title"]
    return example


def class_label(value: Any, labels: Sequence[str], field: str = "label") -> str:
    """A ClassLabel code (int, as the hub stores GLUE/ANLI labels) -> its name in ``labels``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(labels):
        raise DataError(f"expected an integer in 0..{len(labels) - 1}, got {value!r}", field=field)
    return labels[value]


def class_names(values: Any, names: Sequence[str], field: str) -> list[str]:
    """Map ClassLabel codes (ints, as the hub stores them) to names; tag names are accepted as-is.
    Anything else raises a DataError naming ``field``."""
    if not isinstance(values, list):
        raise DataError(f"expected a list of label codes, got {type(values).__name__}", field=field)
    out = []
    for i, value in enumerate(values):
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < len(names):
                raise DataError(f"label code {value} of word {i} is outside 0..{len(names) - 1}", field=field)
            out.append(names[value])
        elif isinstance(value, str) and value in names:
            out.append(value)
        else:
            raise DataError(f"label {value!r} of word {i} is neither a code in 0..{len(names) - 1} "
                            f"nor one of {names}", field=field)
    return out


def _with_id(example: dict[str, Any], row: dict[str, Any], id_column: str | None) -> dict[str, Any]:
    if id_column and row.get(id_column) is not None:
        example["id"] = str(row[id_column])
    return example


# --------------------------------------------------------------------------------- adapters
class SquadTask(Task):
    """Extractive QA on rows in the SQuAD schema."""

    format = "qa"

    def to_example(self, row, split, language):
        return squad_example(row)


class PairTask(Task):
    """(Pair) classification on GLUE-style rows: text column(s) and a ClassLabel code (an index
    into the spec's ``labels``); ``text_b = None`` for single sentences."""

    format = "classification"
    text_a: ClassVar[str] = "premise"
    text_b: ClassVar[str | None] = "hypothesis"
    label_column: ClassVar[str] = "label"
    id_column: ClassVar[str | None] = "idx"

    def to_example(self, row, split, language):
        example = {"text_a": row[self.text_a], "label": class_label(row[self.label_column], self.spec.labels or [])}
        if self.text_b is not None:
            example["text_b"] = row[self.text_b]
        return _with_id(example, row, self.id_column)


class TokenTagsTask(Task):
    """Word tagging on rows with a tokens column and a tag column of ClassLabel codes (in
    ``tag_names`` order) or tag names."""

    format = "tagging"
    tokens: ClassVar[str] = "tokens"
    tags: ClassVar[str]
    tag_names: ClassVar[Sequence[str]]
    id_column: ClassVar[str | None] = "id"

    def to_example(self, row, split, language):
        example = {"tokens": row[self.tokens], "tags": class_names(row[self.tags], self.tag_names, self.tags)}
        return _with_id(example, row, self.id_column)


class DualEncoderTask(Task):
    """Base of the tasks of this format: where the candidates are and how a row becomes one."""

    format = "dual_encoder"

    def to_candidate(self, row: dict[str, Any]) -> tuple[str, str]:
        """(candidate id, text to encode) of one candidate row."""
        return str(row["id"]), row["text"]

    def reading(self, source: str) -> "DualEncoderTask":
        """The task as it reads ``--data source``: the bundled samples or the local directory."""
        return self.with_local(self.spec.samples) if source == "samples" else self  # type: ignore[return-value]

    def candidate_file(self, split: str) -> Path:
        name = self.spec.options.get("candidates")
        if not name or self.spec.local is None:
            raise DataError(f"task '{self.name}' names no candidate file (options.candidates in its "
                            f"local directory)", field="options.candidates")
        return self.spec.local / str(name).format(split=self.spec.splits.get(split, split))

    def candidate_rows(self, split: str, source: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        path = self.reading(source).candidate_file(split)
        if not path.exists():
            raise DataError(f"missing candidate file for task '{self.name}' (expected {path})", file=str(path))
        return read_jsonl(path)

    def candidate_fingerprint(self, split: str, source: str) -> dict[str, Any]:
        """What identifies the candidate set (part of the key of its cached embeddings)."""
        path = self.reading(source).candidate_file(split)
        stat = path.stat()
        return {"file": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
