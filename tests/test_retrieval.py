"""Retrieval: k-NN backends, margin mining (vs a direct LASER-style reference), BUCC/Tatoeba metrics,
sentence encoding, the BUCC/Tatoeba plugins and the retrieval format on the shipped samples."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from harness.engine.encoding import default_layer, encode
from harness.errors import DataError
from harness.engine.retrieval import (bucc_f1, knn, margin_scores, mine, normalize_rows, optimize_threshold,
                               tatoeba_accuracy)

faiss = pytest.importorskip("faiss")


def unit(rng, n, d=16):
    return normalize_rows(rng.standard_normal((n, d)).astype(np.float32))


def brute_force(q, keys, k):
    """Full float64 similarity matrix; (-score, index) order."""
    sims = q.astype(np.float64) @ keys.astype(np.float64).T
    order = np.lexsort((np.broadcast_to(np.arange(len(keys)), sims.shape), -sims), axis=1)[:, :k]
    return np.take_along_axis(sims, order, 1), order


# ---------------------------------------------------------------------------------------------- knn

def test_knn_faiss_and_torch_agree_with_brute_force_including_ties():
    rng = np.random.default_rng(0)
    q, keys = unit(rng, 300), unit(rng, 200)
    keys[[50, 120, 199]] = keys[7]          # exact ties: the lowest index must win
    q[:5] = keys[7]                         # queries whose best neighbours are all tied
    expected_s, expected_i = brute_force(q, keys, 6)
    fs, fi = knn(q, keys, 6, backend="faiss")
    ts, ti = knn(q, keys, 6, backend="torch")
    np.testing.assert_array_equal(fi, ti)
    np.testing.assert_array_equal(fi, expected_i)
    np.testing.assert_allclose(fs, ts, atol=1e-6)
    np.testing.assert_allclose(fs, expected_s, atol=1e-6)
    assert fi[0, :4].tolist() == [7, 50, 120, 199]


def test_knn_blocked_with_tiny_memory_budget_equals_full_matrix():
    rng = np.random.default_rng(1)
    q, keys = rng.standard_normal((97, 8)).astype(np.float32), rng.standard_normal((53, 8)).astype(np.float32)
    expected_s, expected_i = brute_force(normalize_rows(q), normalize_rows(keys), 5)
    scores, indices = knn(q, keys, 5, backend="torch", block_size=7, memory_budget_mb=1e-4)
    np.testing.assert_array_equal(indices, expected_i)
    np.testing.assert_allclose(scores, expected_s, atol=1e-6)
    # inner product (no normalisation) too
    expected_s, expected_i = brute_force(q, keys, 3)
    for backend in ("torch", "faiss"):
        scores, indices = knn(q, keys, 3, metric="ip", backend=backend, block_size=10, memory_budget_mb=1e-4)
        np.testing.assert_array_equal(indices, expected_i)
        np.testing.assert_allclose(scores, expected_s, rtol=1e-5)


def test_knn_rejects_k_larger_than_keys_and_bad_arguments():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="k=4"):
        knn(unit(rng, 5), unit(rng, 3), 4)
    with pytest.raises(ValueError, match="metric"):
        knn(unit(rng, 5), unit(rng, 3), 1, metric="l1")
    with pytest.raises(ValueError, match="backend"):
        knn(unit(rng, 5), unit(rng, 3), 1, backend="gpu-magic")


# ---------------------------------------------------------------------------------------------- mining

def laser_reference(x, y, k, margin, mode):
    """Direct loops over the full similarity matrix, following LASER's mine_bitexts.py."""
    x, y = normalize_rows(x).astype(np.float64), normalize_rows(y).astype(np.float64)
    sim = x @ y.T
    kx, ky = min(k, len(y)), min(k, len(x))
    fwd_ind = np.argsort(-sim, axis=1, kind="stable")[:, :kx]
    bwd_ind = np.argsort(-sim.T, axis=1, kind="stable")[:, :ky]
    fwd_mean = np.array([sim[i, fwd_ind[i]].mean() for i in range(len(x))])
    bwd_mean = np.array([sim[bwd_ind[j], j].mean() for j in range(len(y))])
    f = {"ratio": lambda a, b: a / b, "distance": lambda a, b: a - b, "absolute": lambda a, b: a}[margin]
    fwd = np.array([[f(sim[i, j], (fwd_mean[i] + bwd_mean[j]) / 2) for j in fwd_ind[i]] for i in range(len(x))])
    bwd = np.array([[f(sim[i, j], (bwd_mean[j] + fwd_mean[i]) / 2) for i in bwd_ind[j]] for j in range(len(y))])
    fwd_best = [int(fwd_ind[i, fwd[i].argmax()]) for i in range(len(x))]
    bwd_best = [int(bwd_ind[j, bwd[j].argmax()]) for j in range(len(y))]
    if mode == "forward":
        return [(i, fwd_best[i], fwd[i].max()) for i in range(len(x))], (fwd, fwd_ind)
    if mode == "backward":
        return [(bwd_best[j], j, bwd[j].max()) for j in range(len(y))], (fwd, fwd_ind)
    if mode == "intersect":
        return [(i, j, fwd[i].max()) for i, j in enumerate(fwd_best) if bwd_best[j] == i], (fwd, fwd_ind)
    cands = [(i, fwd_best[i], fwd[i].max()) for i in range(len(x))] + \
            [(bwd_best[j], j, bwd[j].max()) for j in range(len(y))]
    out, seen_s, seen_t = [], set(), set()
    for i, j, s in sorted(cands, key=lambda c: -c[2]):
        if i not in seen_s and j not in seen_t:
            seen_s.add(i)
            seen_t.add(j)
            if s > 0:
                out.append((i, j, s))
    return out, (fwd, fwd_ind)


def test_margin_scores_match_a_direct_loop():
    rng = np.random.default_rng(3)
    x, y = unit(rng, 40), unit(rng, 30)
    for margin in ("ratio", "distance", "absolute"):
        _, (expected, fwd_ind) = laser_reference(x, y, 4, margin, "forward")
        fs, fi = knn(x, y, 4)
        bs, _ = knn(y, x, 4)
        np.testing.assert_array_equal(fi, fwd_ind)
        got = margin_scores(fs, fi, fs.mean(1), bs.mean(1), margin)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the ratio margin formula on one hand-made row: 0.9 / ((0.8 + 0.6) / 2)
    got = margin_scores(np.array([[0.9]]), np.array([[1]]), np.array([0.8]), np.array([0.0, 0.6]), "ratio")
    assert got[0, 0] == pytest.approx(0.9 / 0.7)


@pytest.mark.parametrize("mode", ["max", "forward", "backward", "intersect"])
@pytest.mark.parametrize("margin", ["ratio", "distance"])
def test_mine_matches_laser_reference(mode, margin):
    rng = np.random.default_rng(4)
    x = unit(rng, 60)
    y = np.concatenate([x[:25] + 0.3 * unit(rng, 25), unit(rng, 20)])   # 25 noisy translations + distractors
    expected, _ = laser_reference(x, y, 4, margin, mode)
    for backend in ("faiss", "torch"):
        got = mine(x, y, k=4, margin=margin, mode=mode, backend=backend)
        assert [(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in expected]
        np.testing.assert_allclose([s for *_, s in got], [s for *_, s in expected], rtol=1e-5)


def test_mine_recovers_planted_pairs_and_clips_k():
    rng = np.random.default_rng(5)
    x = unit(rng, 50, 32)
    perm = rng.permutation(50)
    y = x[perm] + 0.05 * unit(rng, 50, 32)
    pairs = mine(x, y, k=4, mode="max")
    assert {(i, j) for i, j, _ in pairs} == {(int(perm[j]), j) for j in range(50)}
    assert all(s > 1 for *_, s in pairs)          # a true pair beats its neighbourhood: ratio > 1
    assert len(mine(x[:2], y[:3], k=10, mode="forward")) == 2     # k clipped to the other side
    with pytest.raises(ValueError, match="mode"):
        mine(x, y, mode="both")


# ---------------------------------------------------------------------------------------------- metrics

def test_optimize_threshold_hand_checked():
    gold = {("a", "1"), ("c", "3"), ("e", "5")}
    candidates = [("a", "1", 0.9), ("b", "2", 0.8), ("c", "3", 0.7), ("d", "4", 0.6)]
    threshold, p, r, f1 = optimize_threshold(candidates, gold)
    # F1 after 1 candidate: 0.5; after 3: 2/3 (best) -> midpoint of 0.7 and 0.6
    assert threshold == pytest.approx(0.65)
    assert (p, r, f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # best at the last candidate: its own score
    assert optimize_threshold([("a", "1", 0.9), ("b", "2", 0.5)], {("a", "1"), ("b", "2")}) == (0.5, 1.0, 1.0, 1.0)
    # a tie at the threshold: XTREME extracts every pair scoring >= threshold
    threshold, p, r, f1 = optimize_threshold([("a", "1", 0.9), ("b", "2", 0.9)], {("a", "1")})
    assert (threshold, p, r) == (0.9, 0.5, 1.0)
    # nothing correct: threshold 0, all zero
    assert optimize_threshold([("a", "2", 0.9)], {("a", "1")}) == (0.0, 0.0, 0.0, 0.0)


def test_bucc_f1_and_tatoeba_accuracy_hand_checked():
    scores = bucc_f1([("a", "1"), ("b", "2"), ("b", "2"), ("c", "9")], [("a", "1"), ("b", "2"), ("d", "4"), ("e", "5")])
    assert scores["precision"] == pytest.approx(2 / 3)     # duplicates count once (sets)
    assert scores["recall"] == pytest.approx(2 / 4)
    assert scores["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert bucc_f1([("a", "2")], [("a", "1")]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert bucc_f1([], [("a", "1")])["f1"] == 0.0
    assert tatoeba_accuracy([0, 2, 1, 3], [0, 1, 2, 3]) == 0.5
    assert tatoeba_accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        tatoeba_accuracy([0], [0, 1])


# ---------------------------------------------------------------------------------------------- encoding

def test_default_layer():
    assert [default_layer(n) for n in (24, 12, 6, 2)] == [14, 7, 4, 1]


SENTENCES = ["The cat sat on the mat .", "Paris is the capital of France . Berlin is the capital of Germany .",
             "Кошка спит на диване .", "猫在沙发上睡觉。", "Who wrote the book ?", "A man is playing a guitar on stage .",
             "Der Hund läuft schnell über die Wiese ."]


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_encode_equals_naive_per_sentence_loop(tiny_model, layer):
    encoder, tokenizer = tiny_model.encoder, tiny_model.tokenizer
    got = encode(tiny_model, tokenizer, SENTENCES, layer=layer, batch_size=3, token_budget=40)
    expected = []
    with torch.no_grad():
        for sentence in SENTENCES:
            inputs = tokenizer(sentence, return_tensors="pt")
            hidden = encoder(**inputs, output_hidden_states=True).hidden_states[layer]
            expected.append(hidden[0].mean(0).numpy())
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-5)
    assert len(encoder.encoder.layer) == 2            # the truncation is undone
    reverse = encode(tiny_model.encoder, tokenizer, SENTENCES[::-1], layer=layer, batch_size=2)
    np.testing.assert_allclose(reverse, got[::-1], atol=1e-5)
    stats = {}
    normed = encode(tiny_model, None, SENTENCES, layer=layer, normalize=True, stats=stats)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    assert stats["batches"] == len(stats["batch_seconds"]) >= 1 and stats["sentences_per_s"] > 0
    with pytest.raises(ValueError, match="layer"):
        encode(tiny_model, None, SENTENCES, layer=3)


# ---------------------------------------------------------------------------------------------- plugins

@pytest.fixture(scope="module")
def registry():
    from harness.spec.registry import build_registry
    return build_registry()


def load(registry, task, split, language):
    from harness.run.data import load_examples
    return load_examples(registry.plugins, task, split, language, source="samples")


def test_bucc_loader_reads_samples_and_rejects_unknown_gold_ids(registry, tmp_path):
    task = registry.task("bucc")
    examples = load(registry, task, "dev", "de")
    sides = [e["side"] for e in examples]
    assert sides.count("gold") == 16 and sides.count("source") == 32 and sides.count("target") == 32
    for name in ("sample.de", "sample.en"):
        (tmp_path / f"de-en.{name}").write_text((task.spec.samples / f"de-en.{name}").read_text("utf-8"), "utf-8")
    (tmp_path / "de-en.sample.gold").write_text("de-000001\ten-000001\nde-000002\ten-999999\n", "utf-8")
    broken = type(task)()
    broken.spec = dataclasses.replace(task.spec, local=tmp_path)
    with pytest.raises(DataError) as info:
        list(broken.local_rows("dev", "de"))
    assert info.value.file.endswith("de-en.sample.gold") and info.value.row == 2
    assert info.value.field == "target_id" and "en-999999" in str(info.value)
    with pytest.raises(DataError, match="comparable.limsi.fr"):
        list(task.hub_rows("test", "de"))


def test_tatoeba_maps_every_language_to_a_hub_config(registry):
    import sys
    task = registry.task("tatoeba")
    ISO3 = sys.modules[type(task).__module__].ISO3
    assert set(task.spec.languages) <= set(ISO3)
    assert (ISO3["zh"], ISO3["fa"], ISO3["sw"]) == ("cmn", "pes", "swh")
    example = task.to_example({"source_sentence": "Hallo.\n", "target_sentence": "Hello.\n"}, "test", "de")
    assert example == {"source": "Hallo.", "target": "Hello."}


@pytest.fixture(scope="module")
def minilm(minilm_path):
    from harness.engine.modeling import load_pretrained
    return load_pretrained(str(minilm_path), torch.device("cpu"))


def test_retrieval_format_tatoeba_on_samples(registry, minilm):
    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams
    task = registry.task("tatoeba")
    examples = load(registry, task, "test", "de")
    out = get_format("retrieval").evaluate(minilm, task, examples, "de", Hyperparams())
    assert len(out.predictions) == len(out.golds) == len(out.ids) == len(examples) == 30
    assert out.golds == list(range(30))
    assert out.metrics["accuracy"] == tatoeba_accuracy(out.predictions, out.golds)
    assert out.metrics["accuracy"] >= 4 / 30 and out.metrics["accuracy_reverse"] >= 3 / 30   # chance: 1/30
    assert out.stats["layer"] == 4 and out.stats["examples_per_s"] > 0 and out.stats["peak_host_mb"] > 0
    assert out.stats["latency_p95_ms"] >= out.stats["latency_p50_ms"] > 0


def test_retrieval_format_bucc_on_samples(registry, minilm):
    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams
    task = registry.task("bucc")
    examples = load(registry, task, "test", "fr")
    fmt = get_format("retrieval")
    out = fmt.evaluate(minilm, task, examples, "fr", Hyperparams(), split="test",
                       load=lambda split: load(registry, task, split, "fr"))
    gold = [e for e in examples if e["side"] == "gold"]
    assert len(out.golds) == len(gold) == 16
    assert out.stats["threshold_from_dev"] == 1.0
    predicted = [tuple(p.split("\t")) for p in out.predictions]
    expected = bucc_f1(predicted, [(e["source_id"], e["target_id"]) for e in gold])
    assert {k: out.metrics[k] for k in expected} == expected
    assert out.metrics["f1"] > 0.2 and np.isfinite(out.metrics["threshold"])
    # tuning on the evaluated split itself can only fit it at least as well
    own = fmt.evaluate(minilm, task, examples, "fr", Hyperparams())
    assert own.stats["threshold_from_dev"] == 0.0 and own.metrics["f1"] >= out.metrics["f1"]
