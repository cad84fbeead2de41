"""Mewsli-X (XTREME-R): entity linking as retrieval. A WikiNews mention in one of 11 languages
retrieves its Wikidata entity among ~1M candidate entity descriptions; training pairs are English
Wikipedia mentions with their entities.

Not on the hub: put the files that XTREME-R's ``download_data.sh`` + ``utils_preprocess.py`` write
in ``D/mewslix/`` and pass ``--data-dir D``: ``candidate_set_entities.jsonl`` (Entity rows:
``entity_id``, ``title``, ``description``, ``sentence_spans`` [{start, end}], ...),
``wikinews_mentions/<dev|test>-<lang>.jsonl`` (``{"context": {..., "text", "sentence_spans"},
"mentions": [{"example_id", "mention_span": {start, end, text}, "entity_id"}]}``, one example per
mention) and ``wikipedia_pairs-train.jsonl`` (``{"contextual_mention": {"context", "mention"},
"entity"}``). Query and candidate strings follow ``third_party/utils_mewslix.py``
(``preprocess_mention``: the mention's sentence with the mention in ``{ }`` markers, the mention
prepended; ``preprocess_entity_description``: the description's sentences).
"""
from __future__ import annotations

import re

from harness import hookimpl
from harness.errors import DataError
from harness.formats.adapters import DualEncoderTask

MARKER_L, MARKER_R = "{", "}"
_ESCAPE = re.compile(rf"{re.escape(MARKER_L)}(.*?){re.escape(MARKER_R)}")


def _normalize(text: str) -> str:
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def _spans(value, field: str) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise DataError(f"expected a list of {{start, end}}, got {type(value).__name__}", field=field)
    return [(int(span["start"]), int(span["end"])) for span in value]


def entity_text(entity: dict) -> str:
    """``preprocess_entity_description``: the description's sentences joined by spaces."""
    description = entity["description"]
    sentences = [description[start:end] for start, end in _spans(entity["sentence_spans"], "sentence_spans")]
    return _normalize(" ".join(sentences))


def mention_query(context: dict, mention: dict) -> str:
    """``preprocess_mention``: one sentence of context (window 0) around the marked mention."""
    span = mention["mention_span"]
    start, end, surface = int(span["start"]), int(span["end"]), span["text"]
    sentences = _spans(context["sentence_spans"], "context.sentence_spans")
    focus = next((s for s in sentences if s[0] <= start < s[1] and s[0] < end <= s[1]), None)
    if focus is None:
        raise DataError("the mention lies in no single sentence of its context", field="mention_span")
    text = context["text"]
    left = _ESCAPE.sub(r"(\1)", text[focus[0]:start])
    right = _ESCAPE.sub(r"(\1)", text[end:focus[1]])
    return _normalize(f"{surface}: {left} {MARKER_L} {surface} {MARKER_R} {right}")


class MewsliX(DualEncoderTask):
    name = "mewslix"

    def local_file(self, split, language):
        super().local_file(split, language)   # no local directory: a DataError
        if split == "train":
            return self.spec.local / "wikipedia_pairs-train.jsonl"
        return self.spec.local / "wikinews_mentions" / f"{self.spec.splits.get(split, split)}-{language}.jsonl"

    def local_files(self, split, language):
        """The mentions and, for evaluation, the candidate set they are linked against."""
        return [self.local_file(split, language)] + ([self.candidate_file(split)] if split != "train" else [])

    def local_rows(self, split, language):
        """One row per mention (a WikiNews line holds a document's mentions)."""
        rows = super().local_rows(split, language)
        if split == "train":
            yield from rows
            return
        for where, number, row in rows:
            mentions = row["mentions"] if isinstance(row.get("mentions"), list) else [None]
            for mention in mentions:
                yield where, number, {"context": row.get("context"), "mention": mention}

    def hub_rows(self, split, language):
        raise DataError("Mewsli-X is not on the Hugging Face hub: put XTREME-R's preprocessed files in "
                        "D/mewslix/ and pass --data-dir D", field="hub")

    def to_example(self, row, split, language):
        if "contextual_mention" in row:  # an English training pair
            pair = row["contextual_mention"]
            return {"query": mention_query(pair["context"], pair["mention"]), "positive": entity_text(row["entity"]),
                    "id": str(pair["mention"]["example_id"])}
        mention = row["mention"]
        if not isinstance(mention, dict):
            raise DataError("expected a list of mention objects", field="mentions")
        return {"id": str(mention["example_id"]), "query": mention_query(row["context"], mention),
                "relevant": [str(mention["entity_id"])]}

    def to_candidate(self, row):
        return str(row["entity_id"]), entity_text(row)


@hookimpl
def harness_register_tasks(register):
    register(MewsliX())
