"""LAReQA's SQuAD reading: sentence breaks inferred for training paragraphs that have none (XTREME-R's
sb_sed.py rules), the training rows it gives, and evaluation files that must carry their breaks."""
from __future__ import annotations

import dataclasses
import json

import pytest

from harness.errors import DataError
from harness.run.data import load_examples
from harness.spec.registry import build_registry
from harness_plugins.lareqa import answer_recoverable, infer_sentence_breaks, whitespace_tokens

# A SQuAD-style paragraph touching most of the breaker's rules: a title (Dr.), a two-space gap, initials
# before a last name, "e.g." and "Vol. 2", a Wikipedia note after the full stop, "Warner Bros. Records",
# a newline inside the paragraph, "U.S. 1990", "approx. 5", and a quote ending in "?" before lower case.
PARAGRAPH = ("Dr. Watson lived on Baker St. in London.  It was 1881. J. R. R. Tolkien read e.g. Vol. 2 of it."
             "[citation needed] The book sold well; Warner Bros. Records bought it. In 1960 it stopped.\n"
             "Meanwhile, sales of the U.S. 1990 edition (approx. 5 copies) rose! \"Why?\" he asked.")
# What xtreme's third_party/processors/sb_sed.py infer_sentence_breaks gives for it
OFFICIAL_BREAKS = [(0, 40), (42, 54), (55, 112), (113, 164), (165, 184), (185, 251), (252, 268)]
OFFICIAL_SENTENCES = [
    "Dr. Watson lived on Baker St. in London.",
    "It was 1881.",
    "J. R. R. Tolkien read e.g. Vol. 2 of it.[citation needed]",
    "The book sold well; Warner Bros. Records bought it.",
    "In 1960 it stopped.",
    "Meanwhile, sales of the U.S. 1990 edition (approx. 5 copies) rose!",
    "\"Why?\" he asked.",
]


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def lareqa_at(registry, directory, languages=("en",)):
    base = registry.task("lareqa")
    task = type(base)()
    task.spec = dataclasses.replace(base.spec, local=directory, languages=list(languages))
    return task


def squad(*paragraphs):
    return {"version": "1.1", "data": [{"title": "T", "paragraphs": list(paragraphs)}]}


def qa(qid, question, context, answer, start=None):
    start = context.index(answer) if start is None else start
    return {"id": qid, "question": question, "answers": [{"answer_start": start, "text": answer}]}


def write(directory, name, data):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(data), encoding="utf-8")


# ------------------------------------------------------------------ the sentence breaker
def test_inferred_breaks_are_those_of_the_official_rule():
    breaks = infer_sentence_breaks(PARAGRAPH)
    assert breaks == OFFICIAL_BREAKS
    assert [PARAGRAPH[s:e] for s, e in breaks] == OFFICIAL_SENTENCES


@pytest.mark.parametrize("text, sentences", [
    # the cuts the main rule makes and the joins after it undo, one at a time
    ("He met Mr. Darcy. She left.", ["He met Mr. Darcy.", "She left."]),
    ("It opened on Jan. 5 in town. Crowds came.", ["It opened on Jan. 5 in town.", "Crowds came."]),
    ("Written by H. G. Wells. A classic.", ["Written by H. G. Wells.", "A classic."]),
    ("Founded c. 1850 by monks. It grew.", ["Founded c. 1850 by monks.", "It grew."]),
    ("Smith et al. 2005 says so. Others disagree.", ["Smith et al. 2005 says so.", "Others disagree."]),
    ("He was born in Washington, D.C. He moved.", ["He was born in Washington, D.C.", "He moved."]),
    # the re-cut after a join ("Dr." then "This"), the two spaces "As" needs, bullets, elisions
    ("See Dr. This is new.", ["See Dr.", "This is new."]),
    ("It fell. As  before, it rose.", ["It fell.", "As  before, it rose."]),
    ("Items: \u2022 Apples \u2022 Pears", ["Items:", "\u2022 Apples", "\u2022 Pears"]),
    ("They need such things [...] But not now.", ["They need such things", "[...]", "But not now."]),
    # no cut before lower case, after a question in quotes, or inside a number
    ("It costs 3.5 dollars. why not.", ["It costs 3.5 dollars. why not."]),
    ("", []),
])
def test_breaker_rules(text, sentences):
    assert [text[s:e] for s, e in infer_sentence_breaks(text)] == sentences


def test_answer_recovery_is_squads_whitespace_token_check():
    context = "The price rose to\u202f5\u00a0dollars in 1990."
    tokens = whitespace_tokens(context)
    assert tokens[0] == ["The", "price", "rose", "to", "5\u00a0dollars", "in", "1990."]
    assert answer_recoverable(tokens, context.index("rose"), "rose to 5")
    assert answer_recoverable(tokens, context.index("1990"), "1990")
    # a span whose tokens do not hold the answer text, or running past the paragraph
    assert not answer_recoverable(tokens, context.index("price"), "prize")
    assert not answer_recoverable(tokens, context.index("1990"), "1990. And more")


# ------------------------------------------------------------------ training rows
def test_training_rows_carry_the_answer_sentence_of_inferred_breaks(registry, tmp_path):
    write(tmp_path, "train-en.json", squad({"context": PARAGRAPH, "qas": [
        qa("q1", "Where did Watson live?", PARAGRAPH, "London"),
        qa("q2", "Who read it?", PARAGRAPH, "Tolkien"),
        qa("q3", "Which label bought it?", PARAGRAPH, "Records"),
        qa("q4", "Which edition?", PARAGRAPH, "1990 edition"),
        qa("gap", "Starts between two sentences", PARAGRAPH, " It was", start=PARAGRAPH.index("  It") + 1),
        qa("typo", "Answer text not at its offset", PARAGRAPH, "Lundon", start=PARAGRAPH.index("London")),
    ]}))
    examples = load_examples(registry.plugins, lareqa_at(registry, tmp_path), "train", "en", source="local")
    positives = {e["id"]: e["positive"] for e in examples}
    context = PARAGRAPH.replace("\n", "")
    assert positives == {"q1_en": OFFICIAL_SENTENCES[0] + context, "q2_en": OFFICIAL_SENTENCES[2] + context,
                         "q3_en": OFFICIAL_SENTENCES[3] + context, "q4_en": OFFICIAL_SENTENCES[5] + context}
    assert examples[0]["query"] == "Where did Watson live?"


def test_paragraphs_with_breaks_keep_them(registry, tmp_path):
    whole = [[0, len(PARAGRAPH)]]   # one "sentence": not what the breaker infers
    write(tmp_path, "train-en.json", squad(
        {"context": PARAGRAPH, "sentence_breaks": whole, "qas": [qa("q1", "Who?", PARAGRAPH, "Tolkien")]},
        {"context": PARAGRAPH, "qas": [qa("q2", "Who?", PARAGRAPH, "Tolkien")]}))
    examples = load_examples(registry.plugins, lareqa_at(registry, tmp_path), "train", "en", source="local")
    context = PARAGRAPH.replace("\n", "")
    assert [(e["id"], e["positive"]) for e in examples] == [("q1_en", context + context),
                                                            ("q2_en", OFFICIAL_SENTENCES[2] + context)]


def test_sample_training_file_reads_with_and_without_breaks(registry):
    examples = load_examples(registry.plugins, registry.task("lareqa"), "train", "en", source="samples")
    assert len(examples) == 8   # two of the four sample paragraphs leave their breaks to the breaker
    assert examples[0]["positive"].startswith("It has about two million inhabitants.Paris is")
    assert examples[-1]["positive"].startswith("Stradivari made famous violins.The violin")


# ------------------------------------------------------------------ evaluation files
def test_evaluation_file_without_breaks_fails_naming_file_and_field(registry, tmp_path):
    write(tmp_path, "test-en.json", squad({"context": PARAGRAPH, "qas": [qa("q1", "Who?", PARAGRAPH, "Tolkien")]}))
    with pytest.raises(DataError) as info:
        load_examples(registry.plugins, lareqa_at(registry, tmp_path), "test", "en", source="local")
    assert "test-en.json" in str(info.value) and "data[0].paragraphs[0].sentence_breaks" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("answers, field", [
    ([], "data[0].paragraphs[0].qas[1].answers"),
    ([{"answer_start": "7", "text": "x"}], "data[0].paragraphs[0].qas[1].answers[0].answer_start"),
])
def test_bad_question_names_file_row_and_field(registry, tmp_path, answers, field):
    context = "One. Two."
    write(tmp_path, "train-en.json", squad({"context": context, "qas": [
        qa("q1", "First?", context, "One"), {"id": "q2", "question": "Second?", "answers": answers}]}))
    with pytest.raises(DataError) as info:
        load_examples(registry.plugins, lareqa_at(registry, tmp_path), "train", "en", source="local")
    assert info.value.file.endswith("train-en.json") and info.value.row == 2 and info.value.field == field


def test_paragraph_without_a_kept_question_adds_no_candidates(registry, tmp_path):
    """As utils_lareqa.load_data, which adds a paragraph's sentences with each question it yields."""
    one, two = "Alpha is first. Beta is second.", "Gamma is third. Delta is fourth."
    breaks = [[0, 15], [16, 31]]
    for language in ("en", "de"):
        write(tmp_path, f"test-{language}.json", squad(
            {"context": one, "sentence_breaks": breaks, "qas": [qa("q1", "Which is second?", one, "Beta")]},
            {"context": two, "sentence_breaks": breaks, "qas": [qa("q2", "Between?", two, " ", start=15)]}))
    task = lareqa_at(registry, tmp_path, ("en", "de"))
    candidates, relevant = task._pool("test")
    assert [c["id"] for c in candidates] == ["en_1_0", "en_1_1", "de_1_0", "de_1_1"]
    assert relevant == {"q1": ["en_1_1", "de_1_1"]}
    examples = load_examples(registry.plugins, task, "test", "de", source="local")
    assert [(e["id"], e["relevant"]) for e in examples] == [("q1_de", ["en_1_1", "de_1_1"])]
