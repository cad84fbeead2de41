"""The tagging format (UD-POS, PAN-X, CCG) and its task plugins, on the bundled samples."""
from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.run.data import load_examples
from harness.errors import ConfigError, DataError
from harness.formats import get_format
from harness.formats.tagging import IGNORE_INDEX, Tagging, fallback_tag, plan_windows
from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "plugins" / "samples"


@pytest.fixture(scope="module")
def registry():
    return build_registry()


@pytest.fixture
def fresh(registry):
    """Fresh task objects with private copies of their specs, for tests that change a spec."""
    class Fresh:
        plugins = registry.plugins

        @staticmethod
        def task(name):
            shared = registry.task(name)
            task = type(shared)()
            task.spec = copy.deepcopy(shared.spec)
            return task
    return Fresh


def word_pieces(tokenizer, word: str) -> int:
    return len(tokenizer([word], is_split_into_words=True, add_special_tokens=False)["input_ids"])


def owned_words(features, example_index=0):
    return sorted(w for f in features if f["example_index"] == example_index for w, _ in f["words"])


# ----------------------------------------------------------------------------------- format
def test_format_is_registered():
    fmt = get_format("tagging")
    assert isinstance(fmt, Tagging) and fmt.per_token and fmt.fields == {"tokens": list, "tags": list}


def test_featurize_labels_only_first_subtokens(tiny_model, registry):
    task = registry.task("udpos")
    tokenizer = tiny_model.tokenizer
    words = ["Schwester", "wohnt", "in", "Hamburg", "."]
    tags = ["NOUN", "VERB", "ADP", "PROPN", "PUNCT"]
    pieces = [word_pieces(tokenizer, w) for w in words]
    assert max(pieces) > 1, "the test needs a word that splits into several sub-tokens"
    [feature] = Tagging().featurize([{"id": "a", "tokens": words, "tags": tags}], tokenizer, task, 128, True)
    assert len(feature["labels"]) == len(feature["input_ids"]) == sum(pieces) + 2
    expected = [IGNORE_INDEX] * len(feature["input_ids"])
    position = 1  # after [CLS]
    for word_pieces_count, tag in zip(pieces, tags):
        expected[position] = task.spec.labels.index(tag)
        position += word_pieces_count
    assert feature["labels"] == expected
    assert feature["words"] == [[i, p] for i, p in enumerate(i for i, v in enumerate(expected) if v != IGNORE_INDEX)]
    assert feature["input_ids"][0] == tokenizer.cls_token_id and feature["input_ids"][-1] == tokenizer.sep_token_id


def test_collate_pads_labels_with_ignore_index(tiny_model, registry):
    task = registry.task("panx")
    examples = [{"id": "a", "tokens": ["Paris", "."], "tags": ["B-LOC", "O"]},
                {"id": "b", "tokens": ["The", "cat", "sat", "on", "the", "mat", "."], "tags": ["O"] * 7}]
    fmt = Tagging()
    features = fmt.featurize(examples, tiny_model.tokenizer, task, 128, train=True)
    batch = fmt.collate(features, tiny_model.tokenizer.pad_token_id)
    assert batch["labels"].shape == batch["input_ids"].shape
    short = len(features[0]["input_ids"])
    assert (batch["labels"][0, short:] == IGNORE_INDEX).all()
    assert (batch["attention_mask"][0, short:] == 0).all() and (batch["attention_mask"][1] == 1).all()


def test_long_sentence_is_split_into_windows_and_every_word_gets_one_prediction(tiny_model, registry):
    task = registry.task("udpos")
    labels = task.spec.labels
    vocabulary = ["the", "cat", "sat", "on", "mat", "Hund", "läuft", "über", "Wiese", "Paris", "capital"]
    words = [vocabulary[i % len(vocabulary)] for i in range(50)]
    gold = [labels[i % len(labels)] for i in range(50)]
    example = {"id": "long", "tokens": words, "tags": gold}
    fmt = Tagging()
    features = fmt.featurize([example], tiny_model.tokenizer, task, 16, train=True)
    assert len(features) > 3
    assert all(len(f["input_ids"]) <= 16 for f in features)
    assert owned_words(features) == list(range(50))  # every word exactly once
    # windows overlap: some words are labelled (trained on) in two windows
    labelled = sum(sum(v != IGNORE_INDEX for v in f["labels"]) for f in features)
    assert labelled > 50
    # hand-made logits: the owner's position says the gold tag, every other position a wrong one
    logits = []
    for feature in features:
        scores = np.zeros((len(feature["input_ids"]), len(labels)), dtype=np.float32)
        scores[:, labels.index("X")] = 1.0
        for word, position in feature["words"]:
            scores[position, :] = 0.0
            scores[position, labels.index(gold[word])] = 5.0
        logits.append(scores)
    # a non-owner window that disagrees must not win: poison every non-owned first sub-token
    for feature, scores in zip(features, logits):
        owned = {p for _, p in feature["words"]}
        for position, value in enumerate(feature["labels"]):
            if value != IGNORE_INDEX and position not in owned:
                scores[position, :] = 0.0
                scores[position, labels.index("SYM")] = 9.0
    [prediction] = fmt.decode([example], features, logits, task)
    assert prediction == gold
    assert fmt.score([example], [prediction], task, "en")["f1"] == pytest.approx(1.0)


def test_owner_window_is_the_most_central_one():
    counts = [1] * 30
    windows = plan_windows(counts, budget=10, overlap=3)
    assert windows[0] == (0, 10) and all(end - start <= 10 for start, end in windows)
    assert windows[-1][1] == 30
    for (s1, e1), (s2, _) in zip(windows, windows[1:]):
        assert s1 < s2 < e1  # overlapping and advancing


def test_word_longer_than_a_window_is_kept(tiny_model, registry):
    task = registry.task("panx")
    long_word = "thecatsatonthemat" * 3
    assert word_pieces(tiny_model.tokenizer, long_word) > 14
    example = {"id": "w", "tokens": ["Paris", long_word, "."], "tags": ["B-LOC", "O", "O"]}
    features = Tagging().featurize([example], tiny_model.tokenizer, task, 16, train=False)
    assert all(len(f["input_ids"]) <= 16 for f in features)
    assert owned_words(features) == [0, 1, 2]


def test_words_without_subtokens_still_get_a_prediction(tiny_model, registry):
    task = registry.task("panx")
    tokens = ["Paris", "\u200b", "", "\u0301", "London"]
    assert word_pieces(tiny_model.tokenizer, "\u200b") == 0
    example = {"id": "z", "tokens": tokens, "tags": ["B-LOC", "O", "O", "O", "B-LOC"]}
    fmt = Tagging()
    features = fmt.featurize([example], tiny_model.tokenizer, task, 128, train=False)
    assert owned_words(features) == [0, 1, 2, 3, 4]  # replaced by the unknown token
    unk = tiny_model.tokenizer.unk_token_id
    positions = dict((w, p) for w, p in features[0]["words"])
    assert [features[0]["input_ids"][positions[w]] for w in (1, 2, 3)] == [unk] * 3
    # a word no feature covers (a tokenizer without an unknown token) falls back
    [prediction] = fmt.decode([example], [], [], task)
    assert prediction == ["O"] * 5
    assert fallback_tag(registry.task("udpos").spec.labels) == "X"
    assert fallback_tag(["N", "NP"]) == "N"


def test_max_length_too_small_is_a_config_error(tiny_model, registry):
    with pytest.raises(ConfigError, match="max_length"):
        Tagging().featurize([{"id": "a", "tokens": ["a"], "tags": ["O"]}], tiny_model.tokenizer,
                            registry.task("panx"), 2, train=False)


def test_check_rejects_bad_examples(registry):
    task, fmt = registry.task("panx"), Tagging()
    fmt.check({"id": "ok", "tokens": ["Paris"], "tags": ["B-LOC"]}, task)
    with pytest.raises(DataError, match="B-MISC") as info:
        fmt.check({"id": "x", "tokens": ["Paris"], "tags": ["B-MISC"]}, task)
    assert info.value.field == "tags"
    with pytest.raises(DataError, match="2 tags for 1 tokens") as info:
        fmt.check({"id": "x", "tokens": ["Paris"], "tags": ["B-LOC", "O"]}, task)
    assert info.value.field == "tags"
    with pytest.raises(DataError) as info:
        fmt.check({"id": "x", "tokens": ["Paris", 3], "tags": ["B-LOC", "O"]}, task)
    assert info.value.field == "tokens"
    with pytest.raises(DataError) as info:
        fmt.check({"id": "x", "tokens": "Paris", "tags": ["B-LOC"]}, task)
    assert info.value.field == "tokens"


def test_score_follows_the_task_metric(registry):
    fmt = Tagging()
    examples = [{"id": "a", "tokens": ["Tom", "Smith", "ran"], "tags": ["B-PER", "I-PER", "O"]}]
    scores = fmt.score(examples, [["B-PER", "O", "O"]], registry.task("panx"), "en")
    assert set(scores) == {"f1", "precision", "recall"} and scores["f1"] == 0.0
    ccg = registry.task("ccg")
    ccg_examples = [{"id": "a", "tokens": ["John", "sleeps"], "tags": ["N", "<UNK>"]}]
    assert fmt.score(ccg_examples, [["N", "N"]], ccg, "en") == {"accuracy": 0.5}


# ----------------------------------------------------------------------------------- samples
@pytest.mark.parametrize("task_name, files, field", [
    ("udpos", ["train-en", "dev-en", "test-en", "test-de", "test-ru", "test-zh"], "pos_tags"),
    ("panx", ["train-en", "dev-en", "test-en", "test-de", "test-ru", "test-ar"], "ner_tags"),
])
def test_samples_load_through_the_plugins(registry, task_name, files, field):
    task = registry.task(task_name)
    for name in files:
        split, language = name.split("-")
        assert language in task.spec.languages
        examples = load_examples(registry.plugins, task, split, language, source="samples")
        raw = [json.loads(line) for line in (SAMPLES / task_name / f"{name}.jsonl").read_text("utf-8").splitlines()]
        assert len(examples) == len(raw) >= 8
        for example, row in zip(examples, raw):
            assert example["tokens"] == row["tokens"]
            assert example["tags"] == [task.spec.labels[i] for i in row[field]]  # hub order = yaml order
    assert len(load_examples(registry.plugins, task, "train", "en", source="samples")) >= 20


def test_non_latin_samples(registry):
    zh = load_examples(registry.plugins, registry.task("udpos"), "test", "zh", source="samples")
    assert zh[0]["tokens"][0] == "狗" and zh[0]["tags"][0] == "NOUN"
    ar = load_examples(registry.plugins, registry.task("panx"), "test", "ar", source="samples")
    assert any("B-PER" in e["tags"] for e in ar)


def test_bad_class_code_names_file_row_and_field(fresh, tmp_path):
    task = fresh.task("udpos")
    task.spec.local = tmp_path
    (tmp_path / "test-de.jsonl").write_text(
        '{"tokens": ["Ja", "."], "pos_tags": [6, 12]}\n{"tokens": ["Nein", "."], "pos_tags": [6, 17]}\n')
    with pytest.raises(DataError, match="outside 0..16") as info:
        load_examples(fresh.plugins, task, "test", "de", source="local")
    assert info.value.row == 2 and info.value.field == "pos_tags" and "test-de.jsonl" in str(info.value)


def test_udpos_hub_configs_use_language_names(registry):
    task = registry.task("udpos")
    plugin = importlib.import_module(type(task).__module__)
    LANGUAGE_NAMES, UPOS_TAGS = plugin.LANGUAGE_NAMES, plugin.UPOS_TAGS
    assert set(task.spec.languages) == set(LANGUAGE_NAMES) | set(plugin.LOCAL_ONLY) and len(LANGUAGE_NAMES) == 33
    with pytest.raises(DataError, match="UD 2.7"):
        next(iter(task.hub_rows("test", "wo")))
    assert task.spec.hub.name.format(lang=LANGUAGE_NAMES["de"]) == "udpos.German"
    assert UPOS_TAGS == task.spec.labels
    with pytest.raises(DataError, match="no hub config"):
        next(iter(task.hub_rows("test", "xx")))


# ----------------------------------------------------------------------------------- UD-POS from CoNLL-U
def udpos_module():
    return importlib.import_module("harness_plugins.udpos")


def conllu_sentence(rows: list[str]):
    """One sentence parsed from tab-less shorthand: 'ID FORM UPOS HEAD [DEPS]' per word."""
    from harness.formats.tagging import read_conllu

    lines = []
    for row in rows:
        ident, form, upos, head, *deps = row.split()
        lines.append("\t".join([ident, form, "_", upos, "_", "_", head, "dep", deps[0] if deps else "_", "_"]))
    return next(read_conllu(lines + [""], "test.conllu"))


def test_conllu_sample_is_read_with_xtremes_fused_forms(fresh):
    """zu + dem -> 'zum' (ADP), as XTREME's conversion writes it; withheld text and empty nodes are
    dropped; the examples say which tokenization they are."""
    task = fresh.task("udpos")
    task.spec.local = SAMPLES / "udpos" / "conllu"
    examples = load_examples(fresh.plugins, task, "test", "de", source="local")
    assert [e["tokens"] for e in examples] == [
        ["Wir", "gehen", "zum", "Bahnhof", "."],
        ["Das", "Buch", "liegt", "im", "Regal", "und", "am", "Fenster", "."],
        ["Er", "fährt", "heute", "zur", "Schule", "."]]
    assert examples[0]["tags"] == ["PRON", "VERB", "ADP", "NOUN", "PUNCT"]
    assert examples[1]["tags"] == ["DET", "NOUN", "VERB", "ADP", "NOUN", "CCONJ", "ADP", "NOUN", "PUNCT"]
    assert examples[0]["id"] == "de_sample-ud-test.conllu:4"
    assert {e["tokenization"] for e in examples} == {"fused-forms"}
    assert Tagging().describe_data(examples, task) == {"tokenization": "fused-forms"}
    # the same sentence as the hub keeps it: the syntactic words
    words = [w["form"] for w in conllu_sentence(["1 Wir PRON 2", "2 gehen VERB 0", "3 zu ADP 5",
                                                 "4 dem DET 5", "5 Bahnhof NOUN 2", "6 . PUNCT 2"]).words]
    assert words == ["Wir", "gehen", "zu", "dem", "Bahnhof", "."]


def test_span_head_of_a_multiword_token():
    """The span head has the fewest ancestors (basic and enhanced edges); among equally high words
    the best rank in the language's precedence list, the first on equal rank."""
    udpos = udpos_module()

    def convert(rows, span, language="xx"):
        sentence = conllu_sentence(rows)
        sentence.multiword.append((span[0], span[1], "FUSED"))
        return udpos.fused_forms(sentence, language, "test.conllu")

    # da (root) me lo: the unique highest word keeps the form
    assert convert(["1 da VERB 0", "2 me PRON 1", "3 lo PRON 1"], (1, 3), "es") == (["FUSED"], ["VERB"])
    assert convert(["1 x NOUN 0", "2 de ADP 4", "3 el DET 4", "4 casa NOUN 1"], (2, 3), "es") == \
        (["x", "FUSED", "casa"], ["NOUN", "ADP", "NOUN"])
    # a tie between AUX and PRON: PRON ranks first by default, AUX in Spanish
    tie = ["1 v VERB 0", "2 a AUX 1", "3 p PRON 1"]
    assert convert(tie, (2, 3)) == (["v", "FUSED"], ["VERB", "PRON"])
    assert convert(tie, (2, 3), "es") == (["v", "FUSED"], ["VERB", "AUX"])
    # equal rank: the first word; a tag the list lacks (SYM) ranks last
    assert convert(["1 v VERB 0", "2 a NOUN 1", "3 b NOUN 1"], (2, 3)) == (["v", "FUSED"], ["VERB", "NOUN"])
    assert convert(["1 v VERB 0", "2 a SYM 1", "3 b PUNCT 1"], (2, 3)) == (["v", "FUSED"], ["VERB", "PUNCT"])
    # an enhanced edge gives word 2 one more ancestor: word 3 becomes the highest
    assert convert(["1 v VERB 0", "2 a ADP 1 1:x|4:y", "3 b DET 1", "4 n NOUN 1"], (2, 3)) == \
        (["v", "FUSED", "n"], ["VERB", "DET", "NOUN"])
    with pytest.raises(DataError, match="multi-word token 2-4 'FUSED' covers words that are not in") as info:
        convert(["1 v VERB 0", "2 a ADP 1"], (2, 4))
    assert "test.conllu" in str(info.value)


def test_conllu_forms_and_withheld_sentences_as_xtreme_cleans_them(tmp_path):
    udpos = udpos_module()
    text = "\n\n".join([
        "1\tc c\t_\tNOUN\t_\t_\t0\troot\t_\t_\n2\ta\u200cb\t_\tX\t_\t_\t1\tdep\t_\t_",
        "1\t_\t_\tNOUN\t_\t_\t0\troot\t_\t_\n2\tx\t_\tX\t_\t_\t1\tdep\t_\t_\n3\t_\t_\tX\t_\t_\t1\tdep\t_\t_",
        "1\t_\t_\tNOUN\t_\t_\t0\troot\t_\t_\n2\ty\t_\tX\t_\t_\t1\tdep\t_\t_\n3\tz\t_\tX\t_\t_\t1\tdep\t_\t_"]) + "\n\n"
    path = tmp_path / "xx_t-ud-test.conllu"
    path.write_text(text, encoding="utf-8")
    rows = [row for _, _, row in udpos.xtreme_rows(path, "xx")]
    # spaces and U+200C inside a form are removed; 2 of 3 forms withheld: dropped; 1 of 3: kept
    assert [row["tokens"] for row in rows] == [["cc", "ab"], ["_", "y", "z"]]


@pytest.mark.parametrize("language", ["de", "es", "fr", "it", "en"])
def test_conversion_equals_xtremes_tools_on_random_treebanks(language):
    """tests/data/udpos_xtreme/<lang>.tsv is what XTREME's conllu_to_conll.py and utils_preprocess.py
    make of <lang>.conllu (random trees with multi-word tokens; scripts/udpos_reference_fixture.py)."""
    udpos = udpos_module()
    folder = ROOT / "tests" / "data" / "udpos_xtreme"
    expected, words = [], []
    for line in (folder / f"{language}.tsv").read_text(encoding="utf-8").split("\n") + [""]:
        if line:
            words.append(tuple(line.split("\t")))
        elif words:
            expected.append(words)
            words = []
    got = [list(zip(row["tokens"], row["pos_tags"])) for _, _, row in udpos.xtreme_rows(folder / f"{language}.conllu",
                                                                                        language)]
    assert len(expected) >= 50 and got == expected


def test_ud_release_layout_merges_a_languages_treebanks_in_name_order(fresh, tmp_path):
    sample = (SAMPLES / "udpos" / "conllu" / "de_sample-ud-test.conllu").read_text(encoding="utf-8")
    sentences = sample.strip("\n").split("\n\n")
    for folder, name, text in (("UD_German-B", "de_b-ud-test.conllu", sentences[0]),
                               ("UD_German-A", "de_a-ud-test.conllu", sentences[1]),
                               ("UD_German-A", "de_a-ud-train.conllu", sentences[3]),
                               ("UD_English-A", "en_a-ud-test.conllu", sentences[3])):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_text(text + "\n\n", encoding="utf-8")
    task = fresh.task("udpos")
    task.spec.local = tmp_path
    assert [f.name for f in task.local_files("test", "de")] == ["de_a-ud-test.conllu", "de_b-ud-test.conllu"]
    assert task.has_local("test", "de") and task.has_local("train", "de") and not task.has_local("dev", "de")

    def first_fused(split):
        return [next(t for t in e["tokens"] if t in ("zum", "im", "zur"))
                for e in load_examples(fresh.plugins, task, split, "de", source="local")]

    assert first_fused("test") == ["im", "zum"] and first_fused("train") == ["zur"]
    # a one-file layout wins over the release layout
    (tmp_path / "test-de.conllu").write_text(sentences[3] + "\n\n", encoding="utf-8")
    assert first_fused("test") == ["zur"]


def test_malformed_conllu_names_file_and_line(fresh, tmp_path):
    task = fresh.task("udpos")
    task.spec.local = tmp_path
    (tmp_path / "test-de.conllu").write_text("# a comment\n1\tJa\t_\tINTJ\t_\t_\t0\troot\t_\t_\n"
                                             "2\t.\t_\tPUNCT\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="expected 10 tab-separated columns, got 4") as info:
        load_examples(fresh.plugins, task, "test", "de", source="local")
    assert "test-de.conllu" in str(info.value) and info.value.row == 3
    (tmp_path / "test-de.conllu").write_text("one\tJa\t_\tINTJ\t_\t_\t0\troot\t_\t_\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a word id") as info:
        load_examples(fresh.plugins, task, "test", "de", source="local")
    assert info.value.row == 1 and info.value.field == "ID"


def test_hub_rows_are_syntactic_words(fresh, tmp_path):
    """The hub config keeps UD's syntactic words; its results say so (a local directory stands in
    for the hub repository: same loader, same row schema)."""
    from harness.spec.tasks import HubSource

    (tmp_path / "test.jsonl").write_text('{"tokens": ["zu", "dem", "Haus"], "pos_tags": [1, 5, 7]}\n',
                                         encoding="utf-8")
    task = fresh.task("udpos")
    task.spec.hub = HubSource(path=str(tmp_path))
    examples = load_examples(fresh.plugins, task, "test", "de", source="hub")
    assert examples[0]["tokens"] == ["zu", "dem", "Haus"] and examples[0]["tokenization"] == "syntactic-words"
    assert Tagging().describe_data(examples, task) == {"tokenization": "syntactic-words"}


# ----------------------------------------------------------------------------------- CCG
def test_ccg_parses_auto_files(fresh):
    task = fresh.task("ccg")
    sample = task.with_local(task.spec.samples)
    rows = [row for _, _, row in sample.local_rows("train", "en")]
    assert len(rows) >= 10
    assert rows[0] == {"id": "wsj_0201.1", "tokens": ["John", "loves", "Mary", "."],
                       "supertags": ["N", "(S[dcl]\\NP)/NP", "N", "."]}
    assert all(len(r["tokens"]) == len(r["supertags"]) for r in rows)
    dev = [row for _, _, row in sample.local_rows("dev", "en")]
    assert dev and dev[0]["id"].startswith("wsj_0001.")


def test_ccg_label_set_comes_from_training_data(fresh):
    task = fresh.task("ccg")
    assert task.spec.labels is None
    task.spec.options["min_tag_count"] = 2
    task.spec.local = task.spec.samples   # the labels come from the training split of the directory read
    examples = load_examples(fresh.plugins, task, "dev", "en", source="local")
    labels = task.spec.labels
    assert labels[-1] == "<UNK>" and labels[0] == "N"  # most frequent first
    counts: dict[str, int] = {}
    for _, _, row in task.with_local(task.spec.samples).local_rows("train", "en"):
        for tag in row["supertags"]:
            counts[tag] = counts.get(tag, 0) + 1
    assert set(labels[:-1]) == {t for t, n in counts.items() if n >= 2}
    # 'approved' ((S[dcl]\NP)/NP) is frequent in train; rare categories became <UNK>
    assert examples[0]["tags"][2] == "(S[dcl]\\NP)/NP"
    assert all(t in labels for e in examples for t in e["tags"])
    assert "<UNK>" in {t for e in load_examples(fresh.plugins, task, "train", "en", source="local") for t in e["tags"]}


def test_ccg_default_cutoff_and_head_size(fresh):
    task = fresh.task("ccg")
    task.spec.local = task.spec.samples
    head = Tagging().build_head(32, task)  # asks the task for its labels first
    assert head.out.out_features == len(task.spec.labels) < 10  # default cutoff 10 on a tiny sample


def test_ccg_hub_and_missing_files_explain_the_license(fresh, tmp_path):
    task = fresh.task("ccg")
    with pytest.raises(DataError, match="LDC2005T13") as info:
        next(iter(task.hub_rows("train", "en")))
    assert "--data-dir" in str(info.value)
    task.spec.local = tmp_path
    with pytest.raises(DataError, match="LDC2005T13"):
        load_examples(fresh.plugins, task, "train", "en", source="local")


def test_ccg_reads_the_ccgbank_release_layout(fresh, tmp_path):
    task = fresh.task("ccg")
    sample = (SAMPLES / "ccg" / "train-en.auto").read_text("utf-8").splitlines()
    for section, lines in (("00", sample[:4]), ("02", sample[4:8]), ("21", sample[8:12]), ("23", sample[12:14])):
        folder = tmp_path / "data" / "AUTO" / section
        folder.mkdir(parents=True)
        (folder / f"wsj_{section}01.auto").write_text("\n".join(lines) + "\n")
    task.spec.local = tmp_path
    assert len(list(task.local_rows("train", "en"))) == 4  # sections 02-21
    assert len(list(task.local_rows("dev", "en"))) == 2    # section 00
    assert len(list(task.local_rows("test", "en"))) == 1   # section 23


@pytest.mark.parametrize("text, message", [
    ("(<T S 0 1> (<L N NNP NNP John N>) )\n", "without an 'ID=' header"),
    ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n(<T S 0 1> (<L N NNP John N>) )\n", "4 fields"),
    ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\nID=wsj_0001.2 PARSER=GOLD NUMPARSE=1\n", "without a tree"),
    ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\nJohn loves Mary\n", "not a CCGbank AUTO derivation"),
])
def test_ccg_malformed_auto_files(fresh, tmp_path, text, message):
    task = fresh.task("ccg")
    task.spec.local = tmp_path
    (tmp_path / "dev-en.auto").write_text(text)
    with pytest.raises(DataError, match=message) as info:
        list(task.local_rows("dev", "en"))
    assert "dev-en.auto" in str(info.value) and info.value.row is not None


# ----------------------------------------------------------------------------------- training
def test_tiny_model_learns_udpos_and_evaluates(tiny_model, registry):
    task = registry.task("udpos")
    fmt = Tagging()
    train = load_examples(registry.plugins, task, "train", "en", source="samples")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 40k-parameter model: more threads only contend on a busy machine
    try:
        _train_and_evaluate(tiny_model, task, fmt, train, registry)
    finally:
        torch.set_num_threads(threads)


def _train_and_evaluate(tiny_model, task, fmt, train, registry):
    torch.manual_seed(0)
    tiny_model.heads[task.name] = fmt.build_head(tiny_model.hidden_size, task)
    model = tiny_model.task_model(task.name)
    model.train()
    features = fmt.featurize(train, tiny_model.tokenizer, task, 32, train=True)
    batch = fmt.collate(features, tiny_model.tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model(batch, task.name)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])

    test = load_examples(registry.plugins, task, "test", "de", source="samples")
    output = fmt.evaluate(tiny_model, task, test, "de", Hyperparams(max_length=16, eval_batch_size=4))
    assert 0.0 <= output.metrics["f1"] <= 1.0 and set(output.metrics) == {"f1", "precision", "recall"}
    assert [len(p) for p in output.predictions] == [len(e["tokens"]) for e in test]
    assert all(tag in task.spec.labels for p in output.predictions for tag in p)
    assert output.golds == [e["tags"] for e in test] and output.ids == [e["id"] for e in test]
    assert output.data == {"tokenization": "unspecified"}     # JSONL rows that do not say
    train_eval = fmt.evaluate(tiny_model, task, train, "en", Hyperparams())
    assert train_eval.metrics["f1"] > 0.5  # it did learn the training sentences
