"""UD-POS (Universal Dependencies v2.5 as packaged by XTREME): universal part-of-speech tagging.

Hub layout (``google/xtreme``): one config per language, named by the language's English name
(``udpos.German``, ``udpos.Chinese`` ...; see :data:`LANGUAGE_NAMES`), columns ``tokens`` (list of
str) and ``pos_tags`` (list of ClassLabel ints, names in :data:`UPOS_TAGS` order). Kazakh has only
train/test, Tagalog, Thai and Yoruba only test. Local sample rows use the same schema.
XTREME-R's added languages (lt pl uk wo ro, UD 2.7) have no hub copy in this layout: convert every
treebank of the language as XTREME-R's ``download_data.sh`` does (fused forms, all treebanks merged)
into ``D/udpos/test-<lang>.jsonl`` (pos_tags may be tag names) and pass ``--data-dir D``.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError
from harness.formats.tagging import class_names

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


#: XTREME-R's added languages (UD 2.7): no hub copy in this layout, local data only
LOCAL_ONLY = ("lt", "pl", "uk", "wo", "ro")


class UDPOS(Task):
    name = "udpos"
    format = "tagging"

    def to_example(self, row, split, language):
        example = {"tokens": row["tokens"], "tags": class_names(row["pos_tags"], UPOS_TAGS, "pos_tags")}
        if row.get("id") is not None:
            example["id"] = str(row["id"])
        return example

    def hub_rows(self, split, language):
        if language in LOCAL_ONLY:
            raise DataError(f"udpos '{language}' (UD 2.7, XTREME-R) has no hub copy: convert its treebanks into "
                            f"D/udpos/{split}-{language}.jsonl and pass --data-dir D", field="language")
        if language not in LANGUAGE_NAMES:
            raise DataError(f"udpos has no hub config for language '{language}' "
                            f"(known: {', '.join(sorted(LANGUAGE_NAMES))})", field="language")
        yield from super().hub_rows(split, LANGUAGE_NAMES[language])


@hookimpl
def harness_register_tasks(register):
    register(UDPOS())
