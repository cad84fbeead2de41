"""TyDiQA-GoldP: information-seeking QA in typologically diverse languages.

Hub: ``google/xtreme``, config ``tydiqa``, splits ``train`` and ``validation``, every language in one
config; rows ``id, title, context, question, answers{answer_start: [int], text: [str]}``. The language
is the prefix of the id (``"arabic-2387335860751143628-1"``), as in XTREME's ``utils_preprocess.py``
(``example_lang = question_id.split('-')[0]``). Target training uses the English part only.
"""
from __future__ import annotations

from harness import hookimpl
from harness.formats.adapters import SquadTask

#: id prefix -> ISO 639-1 code (XTREME's LANG2ISO)
PREFIX_TO_LANGUAGE = {"arabic": "ar", "bengali": "bn", "english": "en", "finnish": "fi",
                      "indonesian": "id", "korean": "ko", "russian": "ru", "swahili": "sw",
                      "telugu": "te"}


def id_language(example_id: str) -> str | None:
    """The ISO code of a TyDiQA id's language prefix (None for an unknown prefix)."""
    return PREFIX_TO_LANGUAGE.get(str(example_id).split("-", 1)[0].lower())


class TyDiQA(SquadTask):
    name = "tydiqa"

    def hub_rows(self, split, language):
        for where, number, row in super().hub_rows(split, language):
            if id_language(row["id"]) == language:
                yield where, number, row


@hookimpl
def harness_register_tasks(register):
    register(TyDiQA())
