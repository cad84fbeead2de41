"""XTREME's and XTREME-R's tables: the scoring tables of the official ``evaluate.py`` (task groups,
languages per task), the harness task behind each XTREME task, and the leaderboards' column groups.

Two kinds of groups: ``*_GROUP2TASK`` are the official script's (its report keys, kept digit for
digit: XTREME-R's script still calls structured prediction ``tagging`` and adds a ``multi_choice``
group); ``LEADERBOARD_GROUPS`` are the leaderboards' task categories (XTREME's README: sentence
classification, structured prediction, question answering, sentence retrieval; XTREME-R keeps the
four, with XCOPA under classification and Mewsli-X and LAReQA under retrieval), in harness task
names, which ``harness report --suite`` averages.
"""
from __future__ import annotations

XTREME_GROUP2TASK: dict[str, list[str]] = {
    "classification": ["pawsx", "xnli"],
    "tagging": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["bucc2018", "tatoeba"],
}

XTREME_R_GROUP2TASK: dict[str, list[str]] = {
    "classification": ["xnli", "xcopa"],
    "tagging": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["tatoeba", "mewslix"],
    "multi_choice": ["xcopa"],
}


def _langs(spec: str) -> list[str]:
    return spec.split(",")


XTREME_TASK2LANGS: dict[str, list[str]] = {
    "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
    "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
    "panx": _langs("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                   "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu"),
    "udpos": _langs("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                    "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh"),
    "bucc2018": _langs("de,fr,ru,zh"),
    "tatoeba": _langs("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                      "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu"),
    "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi"),
    "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
    "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
}

# XTREME-R drops PAWS-X and BUCC, adds XCOPA, LAReQA and Mewsli-X, and adds languages to UD-POS,
# PAN-X, Tatoeba and XQuAD. LAReQA has no language list in the official script.
XTREME_R_TASK2LANGS: dict[str, list[str]] = {
    "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
    "panx": _langs("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                   "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,"
                   "lt,pa,gu,ro"),
    "udpos": _langs("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                    "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,lt,pl,uk,wo,ro"),
    "tatoeba": _langs("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                      "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu,az,lt,pl,uk,ro"),
    "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
    "lareqa": [],
    "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
    "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro"),
    "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
    "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
}

VERSIONS: dict[str, tuple[dict[str, list[str]], dict[str, list[str]]]] = {
    "xtreme": (XTREME_GROUP2TASK, XTREME_TASK2LANGS),
    "xtreme-r": (XTREME_R_GROUP2TASK, XTREME_R_TASK2LANGS),
}

#: harness task name -> XTREME task name
HARNESS_TO_XTREME: dict[str, str] = {
    "xnli": "xnli", "pawsx": "pawsx", "udpos": "udpos", "panx": "panx", "xquad": "xquad",
    "mlqa": "mlqa", "tydiqa": "tydiqa", "bucc": "bucc2018", "tatoeba": "tatoeba", "xcopa": "xcopa",
}

QA_TASKS = frozenset({"xquad", "mlqa", "tydiqa"})
TAGGING_TASKS = frozenset({"udpos", "panx"})
#: tasks the official script lists but cannot score (LAReQA: no languages, no reader, no metric);
#: a present folder is skipped with a warning
UNSCORED_TASKS = frozenset({"lareqa"})


#: harness task name -> XTREME task name (``bucc`` reads BUCC 2018)
HARNESS_TO_XTREME: dict[str, str] = {
    "xnli": "xnli", "pawsx": "pawsx", "udpos": "udpos", "panx": "panx", "xquad": "xquad",
    "mlqa": "mlqa", "tydiqa": "tydiqa", "bucc": "bucc2018", "tatoeba": "tatoeba", "xcopa": "xcopa",
    "mewslix": "mewslix", "lareqa": "lareqa",
}
XTREME_TO_HARNESS: dict[str, str] = {v: k for k, v in HARNESS_TO_XTREME.items()}

QA_TASKS = frozenset({"xquad", "mlqa", "tydiqa"})
TAGGING_TASKS = frozenset({"udpos", "panx"})
#: tasks the official script lists but cannot score (LAReQA: no languages, no reader, no metric);
#: a present folder is skipped with a warning
UNSCORED_TASKS = frozenset({"lareqa"})

#: the leaderboards' column groups, in harness task names
LEADERBOARD_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme-r": {
        "classification": ("xnli", "xcopa"),
        "structured prediction": ("udpos", "panx"),
        "question answering": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix", "lareqa"),
    },
    "xtreme": {
        "classification": ("pawsx", "xnli"),
        "structured prediction": ("udpos", "panx"),
        "question answering": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc", "tatoeba"),
    },
}


def xtreme_task_name(task: str) -> str:
    """XTREME's name for a harness (or XTREME) task name."""
    return HARNESS_TO_XTREME.get(task, task)


def version_tasks(version: str) -> list[str]:
    """The XTREME task names of a version, in the official table's order."""
    if version not in VERSIONS:
        raise ValueError(f"unknown XTREME version {version!r}; expected one of {sorted(VERSIONS)}")
    return list(VERSIONS[version][1])
