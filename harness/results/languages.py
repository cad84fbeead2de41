"""Language facts and the language groups of ``harness report --by-group`` and ``--scaling``.

The facts are data, not code: ``languages.csv`` beside this module (ISO code, in XLM-R's CC-100
pretraining languages, in mBERT's Wikipedia languages, CC-100 size in GiB, Joshi et al. 2020 resource
class). The groups follow from them by these rules, applied in order:

1. ``unseen``: not among the pretraining languages of the reference encoder (``xlmr`` by default,
   ``mbert`` with ``pretraining="mbert"``): zero-shot transfer to it cannot lean on pretraining;
2. ``high``: Joshi class 4 or 5 (the "winners" and "underdogs");
3. ``mid``: Joshi class 3 (the "rising stars");
4. ``low``: Joshi class 0-2.

A language missing from the file is in no group (reported as ``other``); English, the language every
target is trained in, is shown on its own (``en (source)``) rather than averaged into ``high``. A user groups file
(``--groups FILE``) overrides the rules for the languages it names: a CSV with the columns
``language,group`` or a YAML mapping (``language: group``, or ``group: [languages]``).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import DataError, HarnessError

GROUPS = ("high", "mid", "low", "unseen")
OTHER = "other"
#: the training language of every target (X-STILTs): shown on its own, not averaged into a group
SOURCE_LANGUAGE = "en"
SOURCE = f"{SOURCE_LANGUAGE} (source)"
PRETRAINING = ("xlmr", "mbert")
_COLUMNS = ("code", "name", "xlmr", "mbert", "cc100_gib", "joshi_class")
_BOOL = {"yes": True, "no": False}


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    xlmr: bool
    mbert: bool
    cc100_gib: float | None
    joshi_class: int

    def group(self, pretraining: str = "xlmr") -> str:
        if not getattr(self, pretraining):
            return "unseen"
        if self.joshi_class >= 4:
            return "high"
        return "mid" if self.joshi_class == 3 else "low"


def parse_facts(text: str, source: str) -> dict[str, Language]:
    """The rows of a language facts CSV (``#`` lines are comments); a bad cell names file/row/field."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise DataError("no rows", file=source)
    header_number, header = lines[0]
    columns = next(csv.reader([header]))
    missing = [c for c in _COLUMNS if c not in columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=source, row=header_number)
    facts: dict[str, Language] = {}
    for number, line in lines[1:]:
        cells = dict(zip(columns, next(csv.reader([line]))))

        def cell(name: str) -> str:
            value = cells.get(name)
            if value is None:
                raise DataError("missing value", file=source, row=number, field=name)
            return value.strip()

        flags = {}
        for name in ("xlmr", "mbert"):
            if cell(name) not in _BOOL:
                raise DataError(f"expected yes or no, got {cell(name)!r}", file=source, row=number, field=name)
            flags[name] = _BOOL[cell(name)]
        try:
            size = float(cell("cc100_gib")) if cell("cc100_gib") else None
        except ValueError:
            raise DataError(f"expected a number, got {cell('cc100_gib')!r}", file=source, row=number,
                            field="cc100_gib") from None
        if not cell("joshi_class").isdigit() or int(cell("joshi_class")) > 5:
            raise DataError(f"expected 0-5, got {cell('joshi_class')!r}", file=source, row=number,
                            field="joshi_class")
        code = cell("code")
        if not code or code in facts:
            raise DataError("empty or repeated language code", file=source, row=number, field="code")
        facts[code] = Language(code, cell("name"), flags["xlmr"], flags["mbert"], size, int(cell("joshi_class")))
    return facts


def language_facts() -> dict[str, Language]:
    """The packaged facts (``harness/results/languages.csv``)."""
    text = resources.files("harness.results").joinpath("languages.csv").read_text(encoding="utf-8")
    return parse_facts(text, "harness/results/languages.csv")


def read_groups_file(path: str | Path) -> dict[str, str]:
    """language -> group from a user file (CSV ``language,group`` or YAML); errors name file/row/field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read groups file '{path}': {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        return _groups_yaml(text, str(path))
    return _groups_csv(text, str(path))


def _groups_csv(text: str, source: str) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO(text)))
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if row and not row[0].lstrip().startswith("#")]
    if not numbered:
        raise DataError("no rows", file=source)
    header_number, header = numbered[0]
    header = [h.strip() for h in header]
    for name in ("language", "group"):
        if name not in header:
            raise DataError(f"missing column '{name}' (expected a header line: language,group)", file=source,
                            row=header_number, field=name)
    groups: dict[str, str] = {}
    for number, row in numbered[1:]:
        cells = dict(zip(header, (c.strip() for c in row)))
        for name in ("language", "group"):
            if not cells.get(name):
                raise DataError("missing value", file=source, row=number, field=name)
        if cells["language"] in groups:
            raise DataError(f"language '{cells['language']}' appears twice", file=source, row=number, field="language")
        groups[cells["language"]] = cells["group"]
    return groups


def _groups_yaml(text: str, source: str) -> dict[str, str]:
    import yaml

    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(f"not valid YAML ({getattr(exc, 'problem', exc)})", file=source,
                        row=mark.line + 1 if mark is not None else None) from None
    if not isinstance(data, dict) or not data:
        raise DataError("expected a mapping (language: group, or group: [languages])", file=source)
    groups: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, list):                        # group: [languages]
            for language in value:
                if not isinstance(language, str) or not language:
                    raise DataError(f"expected a language code, got {language!r}", file=source, field=str(key))
                if language in groups:
                    raise DataError(f"language '{language}' is in two groups", file=source, field=str(key))
                groups[language] = str(key)
        elif isinstance(value, str) and value:             # language: group
            groups[str(key)] = value
        else:
            raise DataError(f"expected a group name or a list of languages, got {value!r}", file=source,
                            field=str(key))
    return groups


class LanguageGroups:
    """language -> group: the user's file first, then the rules over the packaged facts."""

    def __init__(self, overrides: dict[str, str] | None = None, pretraining: str = "xlmr",
                 facts: dict[str, Language] | None = None):
        if pretraining not in PRETRAINING:
            raise HarnessError(f"unknown pretraining language set '{pretraining}' (known: {', '.join(PRETRAINING)})")
        self.facts = language_facts() if facts is None else facts
        self.overrides = dict(overrides or {})
        self.pretraining = pretraining

    @classmethod
    def load(cls, groups_file: str | Path | None = None, pretraining: str = "xlmr") -> "LanguageGroups":
        return cls(read_groups_file(groups_file) if groups_file else None, pretraining)

    def __call__(self, language: str) -> str:
        if language in self.overrides:
            return self.overrides[language]
        fact = self.facts.get(language)
        return fact.group(self.pretraining) if fact is not None else OTHER

    def transfer_group(self, language: str) -> str:
        """The group of a zero-shot target language; the source language (English) is its own."""
        return SOURCE if language == SOURCE_LANGUAGE else self(language)

    def order(self, groups: set[str] | list[str]) -> list[str]:
        """The groups in reading order: high, mid, low, unseen, the user's own, other, the source."""
        rank = {g: i for i, g in enumerate(GROUPS)}
        return sorted(set(groups), key=lambda g: (g == SOURCE, g == OTHER, rank.get(g, len(GROUPS)), g))

    def describe(self) -> str:
        rule = (f"groups: unseen = not in {'XLM-R (CC-100)' if self.pretraining == 'xlmr' else 'mBERT'} pretraining; "
                f"high = Joshi class 4-5, mid = 3, low = 0-2")
        return rule + (f"; {len(self.overrides)} language(s) set by the groups file" if self.overrides else "")
