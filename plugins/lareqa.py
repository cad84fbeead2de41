"""LAReQA on XQuAD-R (XTREME-R): a question retrieves the sentences that answer it from one pool
of candidate sentences of all 11 languages; the answers in every language count as relevant.

Data: the XQuAD-R files (SQuAD JSON with ``sentence_breaks`` per paragraph; the hub copy drops
them), ``<split>-<lang>.json`` in the task's local directory (``--data-dir D``: ``D/lareqa/``).
As ``third_party/utils_lareqa.py`` ``load_data``: every sentence of every paragraph of every
language is a candidate with uid ``<lang>_<paragraph number>_<sentence position>`` and text
``(sentence + context)`` without newlines; a question ``<qid>_<lang>`` is relevant to the
candidates, in every language, whose sentence is the answer sentence of its ``qid`` there;
questions whose answer starts in no sentence are skipped. Training pairs (question, answer
sentence + context) come from ``train-en.json`` in the same schema (SQuAD v1.1 with sentence
breaks: XTREME-R infers them with its own sentence breaker, which is not ported here).
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.formats.adapters import DualEncoderTask


def paragraphs(data: dict[str, Any], language: str):
    """(context id, context, sentences, [(qid, question, answer sentence or None)]) per paragraph."""
    number = 0
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            number += 1
            context = paragraph["context"]
            breaks = [(int(s), int(e)) for s, e in paragraph["sentence_breaks"]]
            questions = []
            for qa in paragraph["qas"]:
                start = int(qa["answers"][0]["answer_start"])
                sentence = next((context[s:e] for s, e in breaks if s <= start < e), None)
                questions.append((str(qa["id"]), qa["question"], sentence))
            yield f"{language}_{number}", context, [context[s:e] for s, e in breaks], questions


def candidate_text(sentence: str, context: str) -> str:
    return (sentence + context).replace("\n", "")


class LAReQA(DualEncoderTask):
    name = "lareqa"

    def local_file(self, split, language):
        super().local_file(split, language)   # no local directory: a DataError
        return self.spec.local / f"{split}-{language}.json"

    def _read(self, split: str, language: str) -> dict[str, Any]:
        path = self.local_file(split, language)
        if not path.exists():
            raise DataError(f"missing XQuAD-R file for language '{language}' (expected {path})", file=str(path))
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg} at line {exc.lineno})", file=str(path)) from None

    def _pool(self, split: str):
        """Candidates of every language and the relevant uids of each qid (cached per split)."""
        cache = self.__dict__.setdefault("_pools", {})   # shared with views of other directories: key by both
        key = (split, str(self.spec.local))
        if key not in cache:
            candidates, relevant = [], defaultdict(list)
            for language in self.spec.languages:
                for context_id, context, sentences, questions in paragraphs(self._read(split, language), language):
                    by_sentence = defaultdict(list)
                    for position, sentence in enumerate(sentences):
                        uid = f"{context_id}_{position}"
                        candidates.append({"id": uid, "text": candidate_text(sentence, context)})
                        by_sentence[sentence].append(uid)
                    for qid, _, sentence in questions:
                        if sentence is not None:
                            relevant[qid].extend(u for u in by_sentence[sentence] if u not in relevant[qid])
            cache[key] = (candidates, dict(relevant))
        return cache[key]

    def local_rows(self, split, language):
        where = str(self.local_file(split, language))
        data = self._read(split, language)
        relevant = self._pool(split)[1] if split != "train" else {}
        number = 0
        for _context_id, context, _, questions in paragraphs(data, language):
            for qid, question, sentence in questions:
                number += 1
                if sentence is None:  # the answer starts in no sentence: skipped, as utils_lareqa.py
                    continue
                row = {"id": f"{qid}_{language}", "question": question}
                if split == "train":
                    row["positive"] = candidate_text(sentence, context)
                else:
                    row["relevant"] = relevant[qid]
                yield where, number, row

    def hub_rows(self, split, language):
        raise DataError("LAReQA needs the XQuAD-R files with sentence breaks (github.com/google-research-datasets/"
                        "lareqa): put them in D/lareqa/ as <split>-<lang>.json and pass --data-dir D", field="hub")

    def to_example(self, row, split, language):
        example = {"id": row["id"], "query": row["question"]}
        example.update({key: row[key] for key in ("positive", "relevant") if key in row})
        return example

    def local_files(self, split, language):
        """Every language's file: the relevant candidates of a question span all of them."""
        return [self.local_file(split, lang) for lang in (self.spec.languages if split != "train" else [language])]

    def candidate_rows(self, split, source):
        task = self.reading(source)
        where = f"{task.spec.local}/{split}-*.json"
        return ((where, number, row) for number, row in enumerate(task._pool(split)[0], start=1))

    def candidate_fingerprint(self, split, source):
        files = self.reading(source).local_files(split, None)
        return {"files": [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files]}


@hookimpl
def harness_register_tasks(register):
    register(LAReQA())
