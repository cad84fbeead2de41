"""LAReQA on XQuAD-R (XTREME-R): a question retrieves the sentences that answer it from one pool
of candidate sentences of all 11 languages; the answers in every language count as relevant.

Data: the XQuAD-R files (SQuAD JSON with ``sentence_breaks`` per paragraph; the hub copy drops
them), ``<split>-<lang>.json`` in the task's local directory (``--data-dir D``: ``D/lareqa/``).
As ``third_party/utils_lareqa.py`` ``load_data``: every sentence of every paragraph of every
language is a candidate with uid ``<lang>_<paragraph number>_<sentence position>`` and text
``(sentence + context)`` without newlines; a question ``<qid>_<lang>`` is relevant to the
candidates, in every language, whose sentence is the answer sentence of its ``qid`` there;
questions whose answer starts in no sentence are skipped. An evaluation file must carry the
breaks (they decide the candidate pool; the official evaluation reads them from the file).

Training pairs (question, answer sentence + context) come from ``train-en.json``: XTREME-R trains on
SQuAD v1.1's ``train-v1.1.json`` as distributed, without sentence breaks
(``scripts/train_lareqa.sh``). As its ``third_party/processors/lareqa.py``
``RetrievalSquadProcessor``: a paragraph's breaks are inferred by the regex sentence breaker of
``third_party/processors/sb_sed.py`` (:func:`infer_sentence_breaks`, reproduced below with the
standard library's ``re``: no dependency); only a question's first answer counts; a question is
skipped when its answer starts in no sentence, or when the answer's text cannot be recovered from
the whitespace tokens it spans (:func:`answer_recoverable`, SQuAD's check); the positive is
``(sentence + context)`` without newlines. A training paragraph that has ``sentence_breaks`` keeps
them (the official processor would re-infer them). The breaker lives in this module on purpose:
its code hash is part of the key of every checkpoint trained on LAReQA.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any, Iterator

from harness import hookimpl
from harness.errors import DataError, shown
from harness.formats.adapters import DualEncoderTask

# ---------------------------------------------------------------- sentence breaker (sb_sed.py)
# sb_sed.py writes sentence breaks into a passage as newlines with ordered regex substitutions
# ("sed-style", tuned on SQuAD's Wikipedia paragraphs, F1 .9961 on SQuAD sentences by its own
# test), then cuts the passage at those newlines. Each rule below is (pattern, replacement) with
# Python ``re`` semantics, applied with ``re.sub`` in this order; every one trades a single
# whitespace character for a newline (a cut) or a newline for a space (a join), so offsets into
# the breaker's text are offsets into the paragraph.
_CLOSE_QUOTE, _OPEN_QUOTE = "\u201d", "\u201c"
SENTENCE_RULES: tuple[tuple[str, str], ...] = (
    # cut: [.?!], closing quotes/parens/spaces, one whitespace, then maybe more whitespace and an
    # opening quote/bracket/paren, then an upper-case letter or a digit
    (r"""([.?!][)'" %s]*)\s(\s*[\['"(%s]?[A-Z0-9])""" % (_CLOSE_QUOTE, _OPEN_QUOTE), r"\1\n\2"),
    # cut after stacked Wikipedia editorial notes: ".[citation needed] X", ".[note 1] X"
    (r"""([.?!]['"]?)((\[[a-zA-Z0-9 ?]+\])+)\s(\s*['"(]?[A-Z0-9])""", r"\1\2\n\4"),
    # cut after an elided quote: "[...] But"
    (r"(\[\.\.\.\]\s*)\s(\[?[A-Z])", r"\1\n\2"),
    # join after titles, literary and month abbreviations, Mt./Ft., "a.m. Eastern"
    (r"\b(Mrs?|Ms|Dr|Prof|Fr|Rev|Msgr|Sta?)\.\n", r"\1. "),
    (r"\b(Lt|Gen|Col|Maj|Adm|Capt|Sgt|Rep|Gov|Sen|Pres)\.\n", r"\1. "),
    (r"\b(e\.g|i\.?e|vs?|pp?|cf|a\.k\.a|approx|app|es[pt]|tr)\.\n", r"\1. "),
    (r"\b(Jan|Aug|Oct|Nov|Dec)\.\n", r"\1. "),
    (r"\b(Mt|Ft)\.\n", r"\1. "),
    (r"\b([ap]\.m)\.\n(Eastern|EST)\b", r"\1. \2"),
    # join initials before a last name (three, two, or one)
    (r'\b([A-Z]\.)[ \n]([A-Z]\.)[ \n]([A-Z]\.)[ \n]("?[A-Z][a-z])', r"\1 \2 \3 \4"),
    (r'\b([A-Z]\.)[ \n]([A-Z]\.)[ \n]("?[A-Z][a-z])', r"\1 \2 \3"),
    (r'\b([A-Z]\.[A-Z]\.)\n("?[A-Z][a-z])', r"\1 \2"),
    (r'\b([A-Z]\.)\n("?[A-Z][a-z])', r"\1 \2"),
    # cut again before common sentence openers (the trailing spaces are part of the rule: "As"
    # needs two)
    (r"""([.!?]['")]*) (The|This|That|These|It) """, r"\1\n\2 "),
    (r"(\.) (Meanwhile|However)", r"\1\n\2"),
    (r"(\.) (In|On|By|During|After|Under|Although|Yet|As |Several|According to) ", r"\1\n\2 "),
    # join numbered document parts, born/died/circa, "et al. 2005", "H.R. 2000"
    (r"\b([Aa]rt|[Nn]o|Opp?|ch|Sec|cl|Rec|Ecl|Cor|Lk|Jn|Vol)\.\n([0-9IVX]+)\b", r"\1. \2"),
    (r"\b([bdrc]|ca|fl)\.\n([A-Z0-9])", r"\1. \2"),
    (r"\b(et al)\.\n(\(?[0-9]{4}\b)", r"\1. \2"),
    (r"\b(H\.R\.)\n([0-9])", r"\1 \2"),
    # SQuAD-specific joins
    (r"(I Am\.\.\.)\n(Sasha Fierce|World Tour)", r"\1 \2"),
    (r"(Warner Bros\.)\n(Records|Entertainment)", r"\1 \2"),
    (r"(U\.S\.)\n(\(?\d\d+)", r"\1 \2"),
    (r"\b(Rs\.)\n(\d)", r"\1 \2"),
    # SQuAD-specific cuts
    (r"\b(Jay Z\.) ([A-Z])", r"\1\n\2"),
    (r"\b(Washington, D\.C\.) ([A-Z])", r"\1\n\2"),
    (r"\b(for 4\.\)) ([A-Z])", r"\1\n\2"),
    (r"\b(Wii U\.) ([A-Z])", r"\1\n\2"),
    (r"\. (iPod|iTunes)", r".\n\1"),
    (r" (\[\.\.\.\]\n)", r"\n\1"),
    (r"(\.Sc\.)\n", r"\1 "),
    (r" (\u2022 [A-Z])", r"\n\1"),
)
_COMPILED_RULES = tuple((re.compile(pattern), replacement) for pattern, replacement in SENTENCE_RULES)


def infer_sentence_breaks(text: str) -> list[tuple[int, int]]:
    """The (start, end) character spans of the sentences of ``text`` by sb_sed.py's rules: the
    paragraph's own newlines become spaces, the rules mark the cuts, and each piece between two cuts,
    without its leading and trailing whitespace, is a sentence. Pieces that are only whitespace give
    no span (sb_sed.py yields an empty one for them, which no answer can start in)."""
    marked = text.replace("\n", " ")
    for pattern, replacement in _COMPILED_RULES:
        marked = pattern.sub(replacement, marked)
    spans, offset = [], 0
    for piece in marked.split("\n"):
        stripped = piece.strip()
        if stripped:
            start = offset + len(piece) - len(piece.lstrip())
            spans.append((start, start + len(stripped)))
        offset += len(piece) + 1
    return spans


# ---------------------------------------------------------------- SQuAD JSON
_TOKEN_SEPARATORS = frozenset(" \t\r\n\u202f")   # SQuAD's whitespace when it splits a paragraph


def whitespace_tokens(context: str) -> tuple[list[str], list[int]]:
    """SQuAD's tokens of a paragraph and, per character, the index of the token it is in or follows
    (-1 before the first)."""
    tokens: list[str] = []
    token_of, after_space = [], True
    for char in context:
        if char in _TOKEN_SEPARATORS:
            after_space = True
        else:
            if after_space:
                tokens.append(char)
            else:
                tokens[-1] += char
            after_space = False
        token_of.append(len(tokens) - 1)
    return tokens, token_of


def answer_recoverable(tokenized: tuple[list[str], list[int]], start: int, text: str) -> bool:
    """SQuAD's training check (kept by XTREME-R's retrieval processor): the paragraph's tokens
    (:func:`whitespace_tokens`) from the one at the answer's first character to the one at its last,
    joined by single spaces, contain the answer's own whitespace-split tokens joined by single
    spaces. An answer running past the end of the paragraph is not recoverable."""
    answer = " ".join(text.split())
    if not answer:   # found anywhere
        return True
    tokens, token_of = tokenized
    last = start + len(text) - 1
    if not 0 <= start <= last < len(token_of):
        return False
    return answer in " ".join(tokens[token_of[start]:token_of[last] + 1])


def _field(value: Any, key: str, kind: type, where: str, path: str, row: int | None = None) -> Any:
    """``value[key]``, which must be a ``kind``: else a DataError naming the file, row and JSON path."""
    item = value.get(key) if isinstance(value, dict) else None
    if not isinstance(item, kind) or isinstance(item, bool):
        raise DataError(f"expected {kind.__name__}, got {shown(item)}", file=where, row=row,
                        field=f"{path}.{key}" if path else key)
    return item


def _breaks(paragraph: dict[str, Any], context: str, infer: bool, where: str,
            path: str) -> list[tuple[int, int]]:
    """The paragraph's ``sentence_breaks``; inferred when it has none and ``infer`` is set."""
    if "sentence_breaks" not in paragraph:
        if infer:
            return infer_sentence_breaks(context)
        raise DataError("no sentence breaks (an evaluation file must carry XQuAD-R's own; the hub copy "
                        "drops them)", file=where, field=f"{path}.sentence_breaks")
    breaks = paragraph["sentence_breaks"]
    if not isinstance(breaks, list) or not all(
            isinstance(pair, list) and len(pair) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in pair) for pair in breaks):
        raise DataError(f"expected a list of [start, end] integer pairs, got {shown(breaks)}",
                        file=where, field=f"{path}.sentence_breaks")
    return [(start, end) for start, end in breaks]


Question = tuple[int, str, str, "str | None"]   # (row, qid, question, answer sentence or None)


def paragraphs(data: Any, language: str, where: str,
               infer: bool = False) -> Iterator[tuple[str, str, list[str], list[Question]]]:
    """(context id, context, sentences, questions) per paragraph of a SQuAD JSON file; a question's
    row numbers it among the file's questions from 1, its answer is its first one. With ``infer``
    (training data, as XTREME-R's retrieval processor reads SQuAD), a paragraph without
    ``sentence_breaks`` has them inferred and a question whose answer cannot be recovered from the
    paragraph's tokens has no answer sentence."""
    number, row = 0, 0
    for i, article in enumerate(_field(data, "data", list, where, "")):
        for j, paragraph in enumerate(_field(article, "paragraphs", list, where, f"data[{i}]")):
            number += 1
            path = f"data[{i}].paragraphs[{j}]"
            context = _field(paragraph, "context", str, where, path)
            breaks = _breaks(paragraph, context, infer, where, path)
            tokenized = whitespace_tokens(context) if infer else None
            questions: list[Question] = []
            for k, qa in enumerate(_field(paragraph, "qas", list, where, path)):
                row += 1
                at = f"{path}.qas[{k}]"
                answers = _field(qa, "answers", list, where, at, row)
                if not answers:
                    raise DataError("no answer", file=where, row=row, field=f"{at}.answers")
                start = _field(answers[0], "answer_start", int, where, f"{at}.answers[0]", row)
                sentence = next((context[s:e] for s, e in breaks if s <= start < e), None)
                if sentence is not None and tokenized is not None and not answer_recoverable(
                        tokenized, start, _field(answers[0], "text", str, where, f"{at}.answers[0]", row)):
                    sentence = None
                qid, question = _field(qa, "id", str, where, at, row), _field(qa, "question", str, where, at, row)
                questions.append((row, qid, question, sentence))
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
            candidates: list[dict[str, str]] = []
            relevant: defaultdict[str, list[str]] = defaultdict(list)
            for language in self.spec.languages:
                where = str(self.local_file(split, language))
                for context_id, context, sentences, questions in paragraphs(self._read(split, language),
                                                                            language, where):
                    if all(sentence is None for *_, sentence in questions):
                        continue   # as load_data: a paragraph adds its candidates with a question it keeps
                    by_sentence: defaultdict[str, list[str]] = defaultdict(list)
                    for position, text in enumerate(sentences):
                        uid = f"{context_id}_{position}"
                        candidates.append({"id": uid, "text": candidate_text(text, context)})
                        by_sentence[text].append(uid)
                    for _, qid, _, answer in questions:
                        if answer is not None:
                            relevant[qid].extend(u for u in by_sentence[answer] if u not in relevant[qid])
            cache[key] = (candidates, dict(relevant))
        return cache[key]

    def local_rows(self, split, language):
        where = str(self.local_file(split, language))
        data = self._read(split, language)
        training = split == "train"
        relevant = self._pool(split)[1] if not training else {}
        for _context_id, context, _, questions in paragraphs(data, language, where, infer=training):
            for number, qid, question, sentence in questions:
                if sentence is None:  # the answer starts in no sentence: skipped, as utils_lareqa.py
                    continue
                row = {"id": f"{qid}_{language}", "question": question}
                if training:
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
