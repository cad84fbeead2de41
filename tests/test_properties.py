"""Property tests (hypothesis): loaders, metrics, retrieval and tasks.yaml validation on random input
either succeed or fail with the documented user error, never with another exception."""
from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.metrics import scorers as metrics
from harness_plugins.xtreme import mlqa
from harness.engine import retrieval
from harness.spec.config import TASK_KEYS, PRESET_KEYS, load_task_config, preset_from_dict, spec_from_dict
from harness.run.data import load_examples
from harness.errors import ConfigError, DataError
from harness.formats import get_format
from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON-like values, including odd numbers and unicode
# (no infinities: int(inf) in Hyperparams.merged is a known OverflowError, see test_bad_input.py)
scalars = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


# -- loaders ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry():
    return build_registry()


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def good_row(task: str, n: int, draw) -> dict:
    text = draw(st.text(max_size=40))
    if task == "xnli":
        return {"sentence1": text, "sentence2": draw(st.text(max_size=20)),
                "gold_label": draw(st.sampled_from(["entailment", "neutral", "contradiction"]))}
    if task == "udpos":
        tokens = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6))
        return {"tokens": tokens, "pos_tags": draw(st.lists(st.integers(0, 16), min_size=len(tokens),
                                                            max_size=len(tokens)))}
    if task == "tatoeba":
        return {"source_sentence": text, "target_sentence": draw(st.text(max_size=20))}
    context = draw(st.text(min_size=1, max_size=60))
    start = draw(st.integers(0, len(context) - 1))
    end = draw(st.integers(start + 1, len(context)))
    return {"id": f"q{n}", "title": "t", "context": context, "question": text,
            "answers": {"text": [context[start:end]], "answer_start": [start]}}


def corrupt(row: dict, draw) -> dict:
    row = dict(row)
    action = draw(st.sampled_from(["drop", "retype", "add", "huge", "nested"]))
    key = draw(st.sampled_from(sorted(row)))
    if action == "drop":
        row.pop(key)
    elif action == "retype":
        row[key] = draw(json_values)
    elif action == "add":
        row[draw(st.text(max_size=8))] = draw(json_values)
    elif action == "huge":
        row[key] = draw(st.sampled_from(["x", "é", "猫", "\U0001F600", "\u0000", "\ud800"])) * 20_000
    elif action == "nested" and isinstance(row.get("answers"), dict):
        row["answers"] = {**row["answers"], draw(st.sampled_from(["text", "answer_start"])): draw(json_values)}
    return row


@st.composite
def jsonl_file(draw, task: str) -> bytes:
    lines = []
    for n in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["good", "good", "bad", "value", "text", "bytes", "blank"]))
        if kind == "good":
            lines.append(json.dumps(good_row(task, n, draw)).encode())
        elif kind == "bad":
            lines.append(json.dumps(corrupt(good_row(task, n, draw), draw)).encode())
        elif kind == "value":
            lines.append(json.dumps(draw(json_values)).encode())
        elif kind == "text":
            lines.append(draw(st.text(max_size=30)).replace("\n", " ").encode("utf-8", "surrogatepass"))
        elif kind == "bytes":
            lines.append(draw(st.binary(max_size=20)).replace(b"\n", b" "))
        else:
            lines.append(b"   ")
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n"]))


@pytest.mark.parametrize("name", ["xnli", "udpos", "squad", "tatoeba"])
def test_loader_returns_examples_or_a_data_error(registry, scratch, name):
    task = registry.task(name)
    directory = scratch / name
    directory.mkdir(exist_ok=True)
    task.spec = dataclasses.replace(task.spec, local=directory)
    split = "train" if name == "squad" else "test"
    language = "en" if name == "squad" else "de"
    path = directory / f"{split}-{language}.jsonl"
    fmt = get_format(task.format)

    @FAST
    @given(content=jsonl_file(name), limit=st.none() | st.integers(1, 4))
    def check(content, limit):
        path.write_bytes(content)
        try:
            examples = load_examples(registry.plugins, task, split, language, source="local", limit=limit)
        except DataError as exc:
            message = str(exc)
            assert message.startswith(str(path)), message  # names the file ...
            assert "\n" not in message.split(": ", 1)[0]
            return
        assert examples and (limit is None or len(examples) <= limit)
        ids = [e["id"] for e in examples]
        assert len(set(ids)) == len(ids)
        for example in examples:
            fmt.check(example, task)  # every example that came back is valid

    check()


# -- metrics ------------------------------------------------------------------------------------

labels = st.sampled_from(["a", "b", "c", 1, 2, None, "é"])


@FAST
@given(pairs=st.lists(st.tuples(labels, labels), max_size=30))
def test_accuracy_is_a_fraction(pairs):
    golds, predictions = [g for g, _ in pairs], [p for _, p in pairs]
    value = metrics.accuracy(golds, predictions)["accuracy"]
    assert 0.0 <= value <= 1.0
    assert value == (sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0)


tags = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-X", "S-X", "NOUN", "VERB", "X",
                        "B-", "-", "B", "I"])


@FAST
@given(sentences=st.lists(st.integers(0, 8).flatmap(
    lambda n: st.tuples(st.lists(tags, min_size=n, max_size=n), st.lists(tags, min_size=n, max_size=n))),
    max_size=6))
def test_seqeval_scores_are_fractions(sentences):
    golds, predictions = [g for g, _ in sentences], [p for _, p in sentences]
    scores = metrics.seqeval_scores(golds, predictions)
    assert set(scores) == {"f1", "precision", "recall"}
    for value in scores.values():
        assert 0.0 <= value <= 1.0
    assert metrics.seqeval_scores(golds, golds)["f1"] in (0.0, 1.0)  # perfect, or nothing to find
    if any(golds):
        token = metrics.token_accuracy(golds, predictions)["accuracy"]
        assert 0.0 <= token <= 1.0


answer_text = st.lists(st.sampled_from(list("ab c.,!的猫ال\u00a0") + ["the ", " an", " der ", "ال"]),
                       max_size=8).map("".join)


@FAST
@given(golds=st.dictionaries(st.text(max_size=4), st.lists(answer_text, min_size=1, max_size=3), max_size=6),
       predictions=st.dictionaries(st.text(max_size=4), answer_text, max_size=6),
       language=st.sampled_from(list(metrics.MLQA_WHITESPACE_LANGS + metrics.MLQA_MIXED_SEGMENTATION_LANGS)))
def test_qa_scores_are_percentages(golds, predictions, language):
    for scores, normalize in ((metrics.squad_em_f1(golds, predictions), metrics.normalize_answer),
                              (mlqa.mlqa_em_f1(golds, predictions, language),
                               lambda text: mlqa.mlqa_normalize_answer(text, language))):
        assert 0.0 <= scores["exact_match"] <= 100.0 and 0.0 <= scores["f1"] <= 100.0 + 1e-9
        # EM <= F1 holds when no gold answer normalises to nothing; otherwise an exact match of two
        # empty answers scores EM 1 but F1 0, as in the official scripts
        if all(normalize(a) for answers in golds.values() for a in answers):
            assert scores["exact_match"] <= scores["f1"] + 1e-9
        # answering every question with its first gold answer is perfect
        if all(normalize(answers[0]) for answers in golds.values()):
            perfect = {q: answers[0] for q, answers in golds.items()}
            again = (metrics.squad_em_f1(golds, perfect) if normalize is metrics.normalize_answer
                     else mlqa.mlqa_em_f1(golds, perfect, language))
            assert again == {"exact_match": 100.0 if golds else 0.0, "f1": 100.0 if golds else 0.0}


def test_empty_answers_match_exactly_but_score_no_f1():
    """The documented exception to EM <= F1 (official SQuAD v1.1 behaviour)."""
    assert metrics.squad_em_f1({"q": ["the"]}, {"q": "a"}) == {"exact_match": 100.0, "f1": 0.0}


# -- retrieval ----------------------------------------------------------------------------------

BACKENDS = ["torch"] + (["faiss"] if retrieval._have_faiss() else [])


@st.composite
def search_case(draw):
    n, m, d = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 5))
    values = st.integers(-3, 3)  # small integers: exact dot products and plenty of ties
    queries = np.array(draw(st.lists(st.lists(values, min_size=d, max_size=d), min_size=n, max_size=n)),
                       dtype=np.float32)
    keys = np.array(draw(st.lists(st.lists(values, min_size=d, max_size=d), min_size=m, max_size=m)),
                    dtype=np.float32)
    return queries, keys, draw(st.integers(1, m)), draw(st.integers(1, 13)), draw(st.sampled_from([1e-5, 256.0]))


def brute_force(queries, keys, k, metric):
    if metric == "cosine":
        queries, keys = retrieval.normalize_rows(queries), retrieval.normalize_rows(keys)
    full = queries.astype(np.float64) @ keys.astype(np.float64).T
    order = np.array([np.lexsort((np.arange(len(keys)), -row))[:k] for row in full])
    return np.take_along_axis(full, order, 1), order


@FAST
@given(case=search_case(), backend=st.sampled_from(BACKENDS))
def test_knn_equals_brute_force(case, backend):
    queries, keys, k, block, budget = case
    scores, indices = retrieval.knn(queries, keys, k, metric="ip", backend=backend, block_size=block,
                                    memory_budget_mb=budget)
    expected_scores, expected_indices = brute_force(queries, keys, k, "ip")
    assert scores.shape == indices.shape == (len(queries), k)
    np.testing.assert_array_equal(indices, expected_indices)  # ties: ascending key index
    np.testing.assert_array_equal(scores, expected_scores.astype(np.float32))
    # cosine: the same neighbour scores as brute force (indices may differ only among near-ties)
    cos_scores, cos_indices = retrieval.knn(queries, keys, k, backend=backend, block_size=block,
                                            memory_budget_mb=budget)
    expected_cos, _ = brute_force(queries, keys, k, "cosine")
    np.testing.assert_allclose(cos_scores, expected_cos, atol=1e-5)
    assert all(len(set(row)) == k for row in cos_indices.tolist())


@FAST
@given(src=st.integers(0, 10), trg=st.integers(0, 10), d=st.integers(1, 4), k=st.integers(1, 6),
       margin=st.sampled_from(retrieval.MARGINS), mode=st.sampled_from(retrieval.MODES),
       threshold=st.none() | st.floats(-2, 2), data=st.data())
def test_mine_never_crashes_and_returns_valid_pairs(src, trg, d, k, margin, mode, threshold, data):
    values = st.floats(-2, 2, allow_nan=False, width=32)
    x = np.array(data.draw(st.lists(st.lists(values, min_size=d, max_size=d), min_size=src, max_size=src)),
                 dtype=np.float32).reshape(src, d)
    y = np.array(data.draw(st.lists(st.lists(values, min_size=d, max_size=d), min_size=trg, max_size=trg)),
                 dtype=np.float32).reshape(trg, d)
    with np.errstate(all="ignore"):
        pairs = retrieval.mine(x, y, k=k, margin=margin, mode=mode, threshold=threshold, backend="torch")
    for i, j, score in pairs:
        assert 0 <= i < src and 0 <= j < trg
        limit = threshold if threshold is not None else (0.0 if mode == "max" else -math.inf)
        assert score > limit
    if mode == "max":
        assert len({i for i, _, _ in pairs}) == len(pairs) == len({j for _, j, _ in pairs})
        assert [s for _, _, s in pairs] == sorted((s for _, _, s in pairs), reverse=True)
    if mode == "forward":
        assert [i for i, _, _ in pairs] == sorted(i for i, _, _ in pairs)


@FAST
@given(n=st.integers(1, 8), k=st.integers(1, 8), margin=st.sampled_from(retrieval.MARGINS), data=st.data())
def test_margin_scores_shape_and_absolute(n, k, margin, data):
    m = data.draw(st.integers(1, 8))
    k = min(k, m)
    sims = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=n * k, max_size=n * k))).reshape(n, k)
    indices = np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=n * k, max_size=n * k))).reshape(n, k)
    query_mean = np.array(data.draw(st.lists(st.floats(0.1, 1), min_size=n, max_size=n)))
    key_mean = np.array(data.draw(st.lists(st.floats(0.1, 1), min_size=m, max_size=m)))
    scores = retrieval.margin_scores(sims, indices, query_mean, key_mean, margin)
    assert scores.shape == (n, k) and np.isfinite(scores).all()
    if margin == "absolute":
        np.testing.assert_array_equal(scores, sims)


candidate = st.tuples(st.integers(0, 5), st.integers(0, 5), st.floats(-3, 3, allow_nan=False))


@FAST
@given(candidates=st.lists(candidate, max_size=15), gold=st.sets(st.tuples(st.integers(0, 5), st.integers(0, 5)),
                                                                  min_size=1, max_size=6))
def test_optimize_threshold_is_within_the_score_range(candidates, gold):
    threshold, precision, recall, f1 = retrieval.optimize_threshold(candidates, gold)
    for value in (precision, recall, f1):
        assert 0.0 <= value <= 1.0
    best: dict = {}
    for i, j, s in candidates:
        best[(i, j)] = max(s, best.get((i, j), s))
    if not any(pair in gold for pair in best):
        assert (threshold, f1) == (0.0, 0.0)
        return
    assert min(best.values()) <= threshold <= max(best.values())
    # with distinct scores, the reported F1 is the best F1 of any cut of the ranked list
    scores = sorted(best.values(), reverse=True)
    if len(set(scores)) == len(scores):
        ranked = sorted(best, key=lambda pair: -best[pair])
        cuts = [retrieval.pair_f1(ranked[:n], gold)["f1"] for n in range(1, len(ranked) + 1)]
        assert f1 == pytest.approx(max(cuts))
        assert (precision, recall, f1) == pytest.approx(tuple(retrieval.pair_f1(
            [p for p in ranked if best[p] >= threshold], gold).values()))


# -- tasks.yaml validation ----------------------------------------------------------------------

VALID_TASK = {"kind": "target", "plugin": "xnli", "format": "classification", "metric": "accuracy",
              "languages": ["de", "en"], "labels": ["a", "b"], "hparams": {"epochs": 1},
              "splits": {"test": "test"}, "hub": {"path": "x/y"}, "local": "data"}
VALID_PRESET = {"model": "m", "targets": ["xnli"], "languages": {"xnli": ["de"]}, "limit": 3, "seeds": [1],
                "hparams": {"learning_rate": 1e-5}}


@st.composite
def mutated(draw, base: dict, schema: dict) -> dict:
    data = dict(base)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "set", "add", "nested"]))
        key = draw(st.sampled_from(sorted(schema)))
        if action == "drop":
            data.pop(key, None)
        elif action == "set":
            data[key] = draw(json_values)
        elif action == "add":
            data[draw(st.text(max_size=8) | st.integers())] = draw(json_values)
        else:
            data[key] = {draw(st.sampled_from(["epochs", "batch_size", "path", "test", "de", "x"])):
                         draw(json_values | st.just(float("nan")) | st.just(1e300))}
    return data


@FAST
@given(entry=mutated(VALID_TASK, TASK_KEYS))
def test_task_entry_validation_raises_only_config_errors(entry):
    try:
        spec = spec_from_dict("t", entry, "extra.yaml", Path("."))
    except ConfigError as exc:
        assert str(exc).startswith("extra.yaml: ") and "tasks.t" in str(exc)
        return
    assert spec.kind in ("intermediate", "target") and all(isinstance(x, str) for x in spec.languages)
    Hyperparams().merged(spec.hparams)


@FAST
@given(entry=mutated(VALID_PRESET, PRESET_KEYS))
def test_preset_validation_raises_only_config_errors(entry):
    try:
        preset = preset_from_dict("p", entry, "extra.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("extra.yaml: ") and "presets.p" in str(exc)
        return
    assert isinstance(preset.targets, list)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(document=json_values | st.dictionaries(st.sampled_from(["version", "tasks", "presets", "other"]),
                                               json_values | st.dictionaries(st.text(max_size=5),
                                                                             json_values, max_size=3)))
def test_random_tasks_files_load_or_raise_config_errors(document, tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    try:
        load_task_config((path,))
    except ConfigError as exc:
        assert str(path) in str(exc)
