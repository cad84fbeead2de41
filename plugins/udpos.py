"""UD-POS (Universal Dependencies v2.5 as packaged by XTREME): universal part-of-speech tagging.

Hub layout (``google/xtreme``): one config per language, named by the language's English name
(``udpos.German``, ``udpos.Chinese`` ...; see :data:`LANGUAGE_NAMES`), columns ``tokens`` (list of
str) and ``pos_tags`` (list of ClassLabel ints, names in :data:`UPOS_TAGS` order). Kazakh has only
train/test, Tagalog, Thai and Yoruba only test. Local JSONL rows use the same schema.
XTREME-R's added languages (lt pl uk wo ro, :data:`LOCAL_ONLY`) come from UD 2.7 and have no hub
copy: put their UD 2.7 treebanks in the local directory (layout 3 below) and pass ``--data-dir``.

Two tokenizations
    UD splits contractions into syntactic words: German ``zum`` is the multi-word token ``zu dem``
    (ADP, DET). XTREME's data (``download_data.sh``: ``conllu_to_conll.py
    --replace_subtokens_with_fused_forms``, then ``utils_preprocess.py udpos_preprocess``) keeps
    the *fused form* ``zum`` as one word, tagged with the UPOS of the span's head; the hub config
    keeps the syntactic words (``zu``, ``dem``). The scores and exports of the two are not
    comparable word for word. Every result records which one it scored (``data.tokenization``):

    * ``fused-forms``: local CoNLL-U files, converted here as XTREME converts them (below);
    * ``syntactic-words``: the hub;
    * local JSONL rows: what their ``tokenization`` field says, else ``unspecified``.

Local CoNLL-U files (the task's local directory, first layout found wins per split and language):

1. ``<dir>/<split>-<lang>.jsonl``                       rows in the hub schema
2. ``<dir>/<split>-<lang>.conllu``                      one CoNLL-U file
3. ``<dir>/**/<lang>_*.conllu``                         the UD release itself (``ud-treebanks-v2.5``):
                                                        every treebank of the language, in file-name
                                                        order, split by ``train``/``dev``/``test`` in
                                                        the file name, as XTREME merges them

The conversion, as XTREME's tools do it (``third_party/ud-conversion-tools/lib/conll.py``
``_keep_fused_form``, ``utils_preprocess.py`` ``_read_one_file``/``remove_empty_space``):

* each multi-word token keeps one word, its *span head*: the word of the span with the fewest
  ancestors in the dependency graph (basic and enhanced edges); on a tie the first of the tied
  words with the best rank in :data:`POS_PRECEDENCE` (per language, else ``default``; a tag the list
  lacks ranks last, where the reference tool stops with an error). It takes the fused form and
  keeps its own UPOS; the other words of the span are removed. Empty nodes are dropped;
* the label is the UPOS column; U+200C and spaces inside a form are removed;
* a sentence whose forms are withheld (``_``) is left out unless fewer than ``len - 1`` of its
  forms are ``_``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness import Task, hookimpl
from harness.errors import DataError
from harness.formats.adapters import class_names

if TYPE_CHECKING:  # pragma: no cover - the tagging format imports torch: not at start-up
    from harness.formats.tagging import ConlluSentence

#: the ClassLabel names of ``pos_tags`` on the hub, in code order (0 = ADJ ... 16 = X)
UPOS_TAGS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
             "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"]

#: ISO 639-1 code -> the name in the hub config ``udpos.<Name>`` (the 33 XTREME languages)
LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean",
    "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
}

#: UPOS ranks that choose the head of a multi-word token among equally high words
#: (conllu_to_conll.py's POSRANKPRECEDENCEDICT; "CONJ" is UD v1's name of CCONJ)
POS_PRECEDENCE = {
    "default": "VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT".split(),
    "es": "VERB AUX PRON ADP DET".split(),
    "fr": "VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ".split(),
    "it": "VERB AUX ADV PRON ADP DET INTJ".split(),
}
FUSED_FORMS, SYNTACTIC_WORDS, UNSPECIFIED = "fused-forms", "syntactic-words", "unspecified"
SPLIT_NAMES = ("train", "dev", "test")


def _ancestors(word: int, parents: dict[int, set[int]]) -> int:
    """How many nodes have a path to ``word`` (the root 0 included, ``word`` itself not)."""
    seen, todo = set(), list(parents.get(word, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(parents.get(node, ()))
    return len(seen - {word})


def span_head(span: list[dict], parents: dict[int, set[int]], precedence: list[str]) -> dict:
    """The word of a multi-word token that keeps the fused form (see the module docstring)."""
    depths = [_ancestors(word["id"], parents) for word in span]
    highest = [word for word, depth in zip(span, depths) if depth == min(depths)]
    rank = {tag: i for i, tag in enumerate(precedence)}
    return min(highest, key=lambda word: rank.get(word["upos"], len(precedence)))


def fused_forms(sentence: ConlluSentence, language: str, where: str) -> tuple[list[str], list[str]]:
    """(forms, UPOS tags) of a sentence with every multi-word token replaced by its span head."""
    words = {word["id"]: word for word in sentence.words}
    parents = {word["id"]: word["parents"] for word in sentence.words}
    precedence = POS_PRECEDENCE.get(language, POS_PRECEDENCE["default"])
    fused, removed = {}, set()
    for first, last, form in sentence.multiword:
        span = [words.get(i) for i in range(first, last + 1)]
        if None in span or first > last:
            raise DataError(f"multi-word token {first}-{last} {form!r} covers words that are not in the "
                            f"sentence", file=where, row=sentence.line, field="ID")
        head = span_head(span, parents, precedence)
        fused[head["id"]] = form
        removed.update(word["id"] for word in span if word is not head)
    kept = [word for word in sentence.words if word["id"] not in removed]
    return [fused.get(word["id"], word["form"]) for word in kept], [word["upos"] for word in kept]


def xtreme_rows(path: Path, language: str):
    """(file, line, row) of the sentences XTREME keeps from one CoNLL-U file, converted as it does."""
    from harness.formats.tagging import read_conllu

    try:
        with open(path, encoding="utf-8") as handle:
            for sentence in read_conllu(handle, str(path)):
                forms, tags = fused_forms(sentence, language, str(path))
                withheld = forms.count("_")
                if withheld and withheld >= len(forms) - 1:
                    continue
                forms = ["".join(form.strip().replace("\u200c", "").split(" ")) for form in forms]
                yield str(path), sentence.line, {"id": f"{path.name}:{sentence.line}", "tokens": forms,
                                                 "pos_tags": [tag.strip() for tag in tags],
                                                 "tokenization": FUSED_FORMS}
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise DataError(str(exc), file=str(path)) from None


def treebank_split(name: str) -> str | None:
    """The split of a UD file, by the first of train/dev/test in its name (as utils_preprocess.py)."""
    return next((split for split in SPLIT_NAMES if split in name), None)


#: XTREME-R's added languages (UD 2.7): no hub copy, local data only
LOCAL_ONLY = ("lt", "pl", "uk", "wo", "ro")


class UDPOS(Task):
    name = "udpos"
    format = "tagging"

    def local_files(self, split, language):
        """The files that hold (split, language), by the first layout found (module docstring)."""
        if self.spec.local is None:
            return []
        root = Path(self.spec.local)
        for single in (root / f"{split}-{language}.jsonl", root / f"{split}-{language}.conllu"):
            if single.is_file():
                return [single]
        if not root.is_dir():
            return []
        return sorted((path for path in root.rglob(f"{language}_*.conllu") if treebank_split(path.name) == split),
                      key=lambda path: path.name)

    def local_file(self, split, language):
        files = self.local_files(split, language)
        if len(files) == 1 or (files and files[0].suffix == ".jsonl"):
            return files[0]
        if files:
            return files[0].parent
        return super().local_file(split, language)

    def local_rows(self, split, language):
        files = self.local_files(split, language)
        if not files or files[0].suffix == ".jsonl":
            yield from super().local_rows(split, language)
            return
        for path in files:
            yield from xtreme_rows(path, language)

    def hub_rows(self, split, language):
        if language in LOCAL_ONLY:
            raise DataError(f"udpos '{language}' (UD 2.7, XTREME-R) has no hub copy: put its UD 2.7 treebanks "
                            f"({language}_*.conllu) in D/udpos/ and pass --data-dir D", field="language")
        if language not in LANGUAGE_NAMES:
            raise DataError(f"udpos has no hub config for language '{language}' "
                            f"(known: {', '.join(sorted(LANGUAGE_NAMES))})", field="language")
        for where, number, row in super().hub_rows(split, LANGUAGE_NAMES[language]):
            yield where, number, {**row, "tokenization": SYNTACTIC_WORDS}

    def to_example(self, row, split, language):
        tokenization = row.get("tokenization") or UNSPECIFIED
        if tokenization not in (FUSED_FORMS, SYNTACTIC_WORDS, UNSPECIFIED):
            raise DataError(f"{tokenization!r} is not one of {FUSED_FORMS}, {SYNTACTIC_WORDS}",
                            field="tokenization")
        example = {"tokens": row["tokens"], "tags": class_names(row["pos_tags"], UPOS_TAGS, "pos_tags"),
                   "tokenization": tokenization}
        if row.get("id") is not None:
            example["id"] = str(row["id"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(UDPOS())
