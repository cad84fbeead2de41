"""Classification and multiple-choice tasks: bundled samples, plugin mappings, bad rows, the
multiple-choice format (featurize / collate / head / decode / evaluate) and a few real training steps."""
from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.run.data import load_examples
from harness.errors import DataError
from harness.formats import get_format
from harness.formats.multiple_choice import MultipleChoice, MultipleChoiceHead, encode_pairs
from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry

SAMPLES = Path(__file__).resolve().parent.parent / "plugins" / "samples"

SAMPLE_FILES = {
    "mnli": [("train", "en"), ("dev", "en")],
    "xnli": [(s, l) for s in ("test", "dev") for l in ("en", "de", "ru", "zh", "ar")],
    "pawsx": [("train", "en"), ("dev", "en")] + [("test", l) for l in ("en", "de", "zh", "ja")],
    "anli": [("train", "en"), ("dev", "en")],
    "qqp": [("train", "en"), ("dev", "en")],
    "sst2": [("train", "en"), ("dev", "en")],
    "hellaswag": [("train", "en"), ("dev", "en")],
    "cosmosqa": [("train", "en"), ("dev", "en")],
    "commonsenseqa": [("train", "en"), ("dev", "en")],
}
MC_TASKS = ("hellaswag", "cosmosqa", "commonsenseqa")


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def load(registry, name, split="train", language="en"):
    return load_examples(registry.plugins, registry.task(name), split, language, source="samples")


def task_with_rows(registry, name, tmp_path, rows, split="train", language="en"):
    """A fresh instance of ``name``'s plugin class reading ``rows`` from a temporary directory."""
    base = registry.task(name)
    task = type(base)()
    task.spec = dataclasses.replace(base.spec, local=tmp_path)
    with open(tmp_path / f"{split}-{language}.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return task


def first_row(name, split="train", language="en"):
    with open(SAMPLES / name / f"{split}-{language}.jsonl", encoding="utf-8") as handle:
        return json.loads(handle.readline())


# ------------------------------------------------------------------------------ samples load
@pytest.mark.parametrize("name,split,language",
                         [(n, s, l) for n, files in SAMPLE_FILES.items() for s, l in files])
def test_sample_loads_and_maps(registry, name, split, language):
    task = registry.task(name)
    assert task.spec.samples is not None and task.spec.samples.resolve() == (SAMPLES / name).resolve()
    examples = load(registry, name, split, language)
    with open(SAMPLES / name / f"{split}-{language}.jsonl", encoding="utf-8") as handle:
        assert len(examples) == sum(1 for line in handle if line.strip())
    assert len({e["id"] for e in examples}) == len(examples)
    fmt = get_format(task.format)
    for example in examples:
        fmt.check(example, task)
    golds = collections.Counter(fmt.gold(e) for e in examples)
    if task.format == "classification":
        assert set(golds) == set(task.spec.labels)          # every class is represented
        assert all(e["text_a"].strip() for e in examples)
    else:
        assert len(golds) >= 3                               # labels spread over the choices
        assert len({len(e["choices"]) for e in examples}) == 1


def test_sample_sizes(registry):
    assert len(load(registry, "mnli", "train")) >= 100
    assert len(load(registry, "mnli", "dev")) >= 25
    for language in ("en", "de", "ru", "zh", "ar"):
        assert len(load(registry, "xnli", "test", language)) >= 30
        assert len(load(registry, "xnli", "dev", language)) >= 15


def test_xnli_samples_are_parallel(registry):
    """Row n of every language is the translation of the same English item."""
    english = load(registry, "xnli", "test", "en")
    for language in ("de", "ru", "zh", "ar"):
        other = load(registry, "xnli", "test", language)
        assert [e["label"] for e in other] == [e["label"] for e in english]
        assert all(a["text_a"] != b["text_a"] for a, b in zip(english, other))
        assert all(e["id"].startswith(f"test-{language}-") for e in other)


def test_mnli_labels_balanced_and_ids_from_idx(registry):
    examples = load(registry, "mnli", "train")
    counts = collections.Counter(e["label"] for e in examples)
    assert max(counts.values()) - min(counts.values()) <= len(examples) // 10
    assert {e["id"] for e in examples} == {str(i) for i in range(len(examples))}
    assert max(len(e["text_a"]) for e in examples) > 250      # some long premises


def test_pawsx_accepts_string_and_integer_labels(registry, tmp_path):
    rows = [{"sentence1": "a b", "sentence2": "b a", "label": "1"},
            {"id": 7, "sentence1": "c d", "sentence2": "d c", "label": 0}]
    examples = load_examples(registry.plugins, task_with_rows(registry, "pawsx", tmp_path, rows),
                             "train", "en", source="local")
    assert [e["label"] for e in examples] == ["1", "0"]
    assert [e["id"] for e in examples] == ["train-en-1", "7"]


def test_sst2_is_single_sentence(registry):
    assert all(e.get("text_b") is None for e in load(registry, "sst2"))


def test_hellaswag_choice_is_ctx_b_plus_ending(registry):
    row = first_row("hellaswag")
    example = registry.task("hellaswag").to_example(row, "train", "en")
    assert example["context"] == row["ctx_a"]
    assert example["choices"] == [f"{row['ctx_b']} {e}".strip() for e in row["endings"]]
    assert example["label"] == int(row["label"]) and example["id"] == str(row["ind"])
    wikihow = dict(row, ctx_b="", endings=["[step] one.", "[step] two."], label="1")
    assert registry.task("hellaswag").to_example(wikihow, "train", "en")["choices"] == ["[step] one.", "[step] two."]


def test_commonsenseqa_label_is_answer_key_position(registry):
    for example, row in zip(load(registry, "commonsenseqa"),
                            map(json.loads, open(SAMPLES / "commonsenseqa" / "train-en.jsonl", encoding="utf-8"))):
        assert example["context"] == "" and example["question"] == row["question"]
        assert example["choices"][example["label"]] == row["choices"]["text"][row["choices"]["label"].index(row["answerKey"])]


def test_cosmosqa_maps_answers_in_order(registry):
    row = first_row("cosmosqa")
    example = registry.task("cosmosqa").to_example(row, "train", "en")
    assert example["choices"] == [row[f"answer{i}"] for i in range(4)]
    assert example["question"] == row["question"] and example["id"] == row["id"]


def test_anli_rounds_choose_hub_splits(registry):
    base = registry.task("anli")
    assert base.hub_splits("train") == ["train_r1", "train_r2", "train_r3"]
    assert base.hub_splits("dev") == ["dev_r1", "dev_r2", "dev_r3"]
    task = type(base)()
    task.spec = dataclasses.replace(base.spec, options={"rounds": [3, 1]})
    assert task.hub_splits("train") == ["train_r3", "train_r1"]
    task.spec = dataclasses.replace(base.spec, options={"rounds": [4]})
    with pytest.raises(DataError) as info:
        task.hub_splits("dev")
    assert info.value.field == "options.rounds"


# ------------------------------------------------------------------------------ bad rows
BAD_ROWS = [
    ("mnli", {"premise": "p", "hypothesis": "h", "label": 3, "idx": 0}, "label"),
    ("mnli", {"premise": "p", "hypothesis": "h", "label": "0", "idx": 0}, "label"),
    ("mnli", {"premise": "p", "label": 0, "idx": 0}, "hypothesis"),
    ("xnli", {"language": "en", "sentence1": "p", "sentence2": "h", "gold_label": "maybe"}, "gold_label"),
    ("pawsx", {"sentence1": "a", "sentence2": "b", "label": "2"}, "label"),
    ("pawsx", {"sentence1": "a", "label": "1"}, "sentence2"),
    ("anli", {"uid": "x", "premise": "p", "hypothesis": "h", "label": -1, "reason": ""}, "label"),
    ("qqp", {"question1": "a?", "question2": "b?", "label": 2, "idx": 1}, "label"),
    ("sst2", {"label": 1, "idx": 1}, "sentence"),
    ("sst2", {"sentence": "fine", "label": True, "idx": 1}, "label"),
    ("hellaswag", {"ind": 1, "ctx_a": "A.", "ctx_b": "he", "endings": ["a", "b", "c", "d"], "label": ""}, "label"),
    ("hellaswag", {"ind": 1, "ctx_a": "A.", "ctx_b": "he", "endings": ["a", "b", "c", "d"], "label": "4"}, "label"),
    ("hellaswag", {"ind": 1, "ctx_a": "A.", "ctx_b": "", "endings": ["a", " ", "c", "d"], "label": "0"}, "choices"),
    ("hellaswag", {"ind": 1, "ctx_b": "he", "endings": ["a", "b"], "label": "0"}, "ctx_a"),
    ("cosmosqa", {"id": "q", "context": "c", "question": "q?", "answer0": "a", "answer1": "b",
                  "answer2": "c", "answer3": "d", "label": 4}, "label"),
    ("cosmosqa", {"id": "q", "context": "c", "question": "q?", "answer0": "a", "answer1": "b",
                  "answer2": "c", "label": 0}, "answer3"),
    ("cosmosqa", {"id": "q", "context": "c", "question": 5, "answer0": "a", "answer1": "b",
                  "answer2": "c", "answer3": "d", "label": 0}, "question"),
    ("commonsenseqa", {"id": "q", "question": "q?", "question_concept": "c",
                       "choices": {"label": ["A", "B"], "text": ["x", "y"]}, "answerKey": "C"}, "answerKey"),
    ("commonsenseqa", {"id": "q", "question": "q?", "question_concept": "c",
                       "choices": {"label": ["A"], "text": ["x"]}, "answerKey": "A"}, "choices"),
]


@pytest.mark.parametrize("name,row,field", BAD_ROWS, ids=[f"{n}-{f}-{i}" for i, (n, _, f) in enumerate(BAD_ROWS)])
def test_bad_row_names_file_row_and_field(registry, tmp_path, name, row, field):
    good = first_row(name, *SAMPLE_FILES[name][0])
    task = task_with_rows(registry, name, tmp_path, [good, row], *SAMPLE_FILES[name][0])
    with pytest.raises(DataError) as info:
        load_examples(registry.plugins, task, *SAMPLE_FILES[name][0], source="local")
    assert info.value.field == field
    assert info.value.row == 2
    assert str(tmp_path) in str(info.value)


# ------------------------------------------------------------------------------ classification
def test_classification_featurize_decode_roundtrip(registry, tiny_model):
    task = registry.task("mnli")
    fmt = get_format("classification")
    examples = load(registry, "mnli", "dev")
    features = fmt.featurize(examples, tiny_model.tokenizer, task, max_length=32, train=False)
    assert len(features) == len(examples)
    assert all(len(f["input_ids"]) <= 32 for f in features)
    assert [task.spec.labels[f["labels"]] for f in features] == [e["label"] for e in examples]
    gold = [np.eye(3)[f["labels"]] * 5.0 for f in features]
    predictions = fmt.decode(examples, features, gold, task)
    assert predictions == [e["label"] for e in examples]
    assert fmt.score(examples, predictions, task, "en") == {"accuracy": 1.0}
    shifted = [np.roll(row, 1) for row in gold]
    wrong = fmt.decode(examples, features, shifted, task)
    assert fmt.score(examples, wrong, task, "en") == {"accuracy": 0.0}


# ------------------------------------------------------------------------------ multiple choice
def test_multiple_choice_is_registered():
    assert isinstance(get_format("multiple_choice"), MultipleChoice)


def test_mc_check_validates_label_and_choices(registry):
    fmt, task = MultipleChoice(), registry.task("cosmosqa")
    good = {"id": "1", "context": "c", "choices": ["a", "b", "c"], "label": 2}
    fmt.check(good, task)
    for bad, field in [(dict(good, label=3), "label"), (dict(good, label=-1), "label"),
                       (dict(good, label="1"), "label"), (dict(good, label=True), "label"),
                       (dict(good, choices=["a"], label=0), "choices"), (dict(good, choices="ab"), "choices"),
                       (dict(good, choices=["a", 2]), "choices"), (dict(good, question=["q"]), "question"),
                       ({k: v for k, v in good.items() if k != "context"}, "context")]:
        with pytest.raises(DataError) as info:
            fmt.check(bad, task)
        assert info.value.field == field, bad


def test_mc_featurize_and_collate_shapes(registry, tiny_model):
    task, fmt = registry.task("hellaswag"), MultipleChoice()
    examples = load(registry, "hellaswag", "dev")[:5]
    features = fmt.featurize(examples, tiny_model.tokenizer, task, max_length=48, train=True)
    assert [f["labels"] for f in features] == [e["label"] for e in examples]
    assert all(len(f["input_ids"]) == 4 for f in features)
    assert all(len(ids) <= 48 for f in features for ids in f["input_ids"])
    # the token budget counts every choice of an example: 4 choices x the longest one
    assert fmt.length(features[0]) == 4 * max(len(ids) for ids in features[0]["input_ids"])
    batch = fmt.collate(features, pad_id=tiny_model.tokenizer.pad_token_id)
    width = max(max(len(ids) for ids in f["input_ids"]) for f in features)
    assert batch["input_ids"].shape == (5, 4, width)
    assert batch["attention_mask"].shape == (5, 4, width)
    assert batch["labels"].tolist() == [e["label"] for e in examples]
    lengths = [[len(ids) for ids in f["input_ids"]] for f in features]
    assert batch["attention_mask"].sum(-1).tolist() == lengths
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tiny_model.tokenizer.pad_token_id).all()


def test_mc_collate_rejects_different_choice_counts(registry, tiny_model):
    fmt = MultipleChoice()
    features = [{"example_index": 0, "input_ids": [[2, 5, 3], [2, 6, 3]], "labels": 0},
                {"example_index": 1, "input_ids": [[2, 5, 3], [2, 6, 3], [2, 7, 3]], "labels": 1}]
    with pytest.raises(DataError) as info:
        fmt.collate(features, pad_id=0)
    assert info.value.field == "choices"


def test_mc_truncates_the_context_not_the_choice(tiny_model):
    tokenizer = tiny_model.tokenizer
    context = "the cat sat on the mat . " * 40
    choice = "the dog runs fast"
    encoded = encode_pairs(tokenizer, [context], [choice], max_length=24)
    ids = encoded["input_ids"][0]
    choice_ids = tokenizer(choice, add_special_tokens=False)["input_ids"]
    assert len(ids) == 24
    assert ids[-len(choice_ids) - 1: -1] == choice_ids     # the choice survives whole, before [SEP]
    # a choice longer than max_length alone: falls back to longest_first instead of failing
    encoded = encode_pairs(tokenizer, ["short"], ["the cat sat on the mat . " * 40], max_length=16)
    assert len(encoded["input_ids"][0]) == 16


def test_mc_question_joins_the_first_segment(registry, tiny_model):
    fmt, task = MultipleChoice(), registry.task("cosmosqa")
    with_question = {"id": "1", "context": "the cat sat .", "question": "who sat ?", "choices": ["the cat", "the dog"], "label": 0}
    without = dict(with_question, question=None)
    a = fmt.featurize([with_question], tiny_model.tokenizer, task, 64, train=False)[0]
    b = fmt.featurize([without], tiny_model.tokenizer, task, 64, train=False)[0]
    assert all(len(x) > len(y) for x, y in zip(a["input_ids"], b["input_ids"]))


def test_mc_token_type_ids_follow_choices(registry, minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    fmt, task = MultipleChoice(), registry.task("commonsenseqa")
    examples = load(registry, "commonsenseqa", "dev")[:3]
    features = fmt.featurize(examples, tokenizer, task, 32, train=False)
    assert all(len(f["token_type_ids"]) == 5 for f in features)
    batch = fmt.collate(features, tokenizer.pad_token_id)
    assert batch["token_type_ids"].shape == batch["input_ids"].shape == (3, 5, batch["input_ids"].shape[-1])
    assert batch["token_type_ids"].max().item() == 1


def test_mc_head_logits_and_decode(registry, tiny_model):
    task, fmt = registry.task("hellaswag"), MultipleChoice()
    examples = load(registry, "hellaswag", "dev")[:3]
    features = fmt.featurize(examples, tiny_model.tokenizer, task, 48, train=False)
    batch = fmt.collate(features, tiny_model.tokenizer.pad_token_id)
    head = fmt.build_head(tiny_model.hidden_size, task)
    assert isinstance(head, MultipleChoiceHead)
    out = head(tiny_model.encoder, batch)
    assert out["logits"].shape == (3, 4)
    assert torch.isfinite(out["loss"])
    logits = [np.eye(4)[(e["label"] + 1) % 4] for e in examples]
    assert fmt.decode(examples, features, logits, task) == [(e["label"] + 1) % 4 for e in examples]
    assert fmt.score(examples, [e["label"] for e in examples], task, "en") == {"accuracy": 1.0}


def test_mc_training_steps_reduce_loss(registry, tiny_model):
    torch.manual_seed(0)
    task, fmt = registry.task("hellaswag"), MultipleChoice()
    examples = load(registry, "hellaswag", "train")[:8]
    features = fmt.featurize(examples, tiny_model.tokenizer, task, 64, train=True)
    batch = fmt.collate(features, tiny_model.tokenizer.pad_token_id)
    tiny_model.heads[task.name] = fmt.build_head(tiny_model.hidden_size, task)
    model = tiny_model.task_model(task.name)

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(model(batch, task.name)["loss"])

    before = eval_loss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(20):
        optimizer.zero_grad()
        loss = model(batch, task.name)["loss"]
        loss.backward()
        optimizer.step()
    after = eval_loss()
    assert after < 0.7 * before, (before, after)


def test_mc_evaluate_returns_accuracy(registry, tiny_model):
    task, fmt = registry.task("cosmosqa"), MultipleChoice()
    examples = load(registry, "cosmosqa", "dev")
    tiny_model.heads[task.name] = fmt.build_head(tiny_model.hidden_size, task)
    output = fmt.evaluate(tiny_model, task, examples, "en", Hyperparams(max_length=64, eval_batch_size=4))
    assert 0.0 <= output.metrics["accuracy"] <= 1.0
    assert output.ids == [e["id"] for e in examples]
    assert len(output.predictions) == len(examples)
    assert all(isinstance(p, int) and 0 <= p < 4 for p in output.predictions)
    assert output.golds == [e["label"] for e in examples]
    expected = sum(p == g for p, g in zip(output.predictions, output.golds)) / len(examples)
    assert output.metrics["accuracy"] == pytest.approx(expected)
    assert output.stats["examples_per_s"] > 0
