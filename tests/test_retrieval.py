"""Retrieval: k-NN backends, margin mining (vs a direct LASER-style reference), BUCC/Tatoeba metrics,
sentence encoding, the BUCC/Tatoeba plugins and the retrieval format on the shipped samples."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from harness.engine.encoding import default_layer, encode
from harness.errors import DataError
from harness.engine.retrieval import (knn, margin_scores, mine, normalize_rows, optimize_threshold, pair_f1,
                                     top1_accuracy)

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


def test_pair_f1_and_top1_accuracy_hand_checked():
    scores = pair_f1([("a", "1"), ("b", "2"), ("b", "2"), ("c", "9")], [("a", "1"), ("b", "2"), ("d", "4"), ("e", "5")])
    assert scores["precision"] == pytest.approx(2 / 3)     # duplicates count once (sets)
    assert scores["recall"] == pytest.approx(2 / 4)
    assert scores["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert pair_f1([("a", "2")], [("a", "1")]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert pair_f1([], [("a", "1")])["f1"] == 0.0
    assert top1_accuracy([0, 2, 1, 3], [0, 1, 2, 3]) == 0.5
    assert top1_accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        top1_accuracy([0], [0, 1])


# ---------------------------------------------------------------------------------------------- encoding

def test_default_layer():
    # 12 blocks: XTREME's hidden_states[8] (mBERT, XLM-R base); 24: hidden_states[14] (XTREME's Tatoeba
    # script for XLM-R large, jiant); other depths keep the relative depth of 14 of 24
    assert [default_layer(n) for n in (24, 12, 6, 2)] == [14, 8, 4, 1]


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
    assert set(task.spec.languages) <= set(ISO3) | set(task.spec.hub_overrides)   # XTREME-R's added ones
    assert (ISO3["zh"], ISO3["fa"], ISO3["sw"]) == ("cmn", "pes", "swh")
    example = task.to_example({"source_sentence": "Hallo.\n", "target_sentence": "Hello.\n"}, "test", "de")
    assert example == {"source": "Hallo.", "target": "Hello."}


def test_tatoeba_export_of_a_perfect_model_scores_100_against_xtreme_order_labels(registry, tmp_path,
                                                                                  monkeypatch):
    """XTREME's tatoeba_preprocess sorts the English side (stable) and the hidden labels give, per
    sorted English line, the index of its translation in the unsorted other side. A perfect model's
    export must score 100 against labels built that way (in hub order it scored ~0)."""
    import json
    import types

    import harness.formats.retrieval as retrieval_format
    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams
    from harness_plugins.xtreme.api import export_predictions, score_file

    task = registry.task("tatoeba")
    examples = load(registry, task, "test", "de")
    english = [e["target"] for e in examples]
    assert english != sorted(english)                   # the hub order is not XTREME's
    pair = {text: i for i, e in enumerate(examples) for text in (e["source"], e["target"])}

    def perfect(model, tokenizer, sentences, stats, **_):   # both sides of pair i embed as e_i
        stats["batch_seconds"] = [0.0]
        return np.eye(len(examples), dtype=np.float32)[[pair[s] for s in sentences]]

    monkeypatch.setattr(retrieval_format, "encode", perfect)
    model = types.SimpleNamespace(num_layers=2, tokenizer=None, device=torch.device("cpu"))
    out = get_format("retrieval").evaluate(model, task, examples, "de", Hyperparams())
    log = tmp_path / "samples" / "tatoeba" / "test-de.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(json.dumps({"id": i, "prediction": p, "gold": g}) + "\n"
                           for i, p, g in zip(out.ids, out.predictions, out.golds)), "utf-8")
    export_predictions(tmp_path / "samples", tmp_path / "sub", with_labels_dir=tmp_path / "labels")

    xtreme_labels = tmp_path / "xtreme" / "test-de.tsv"
    xtreme_labels.parent.mkdir()
    xtreme_labels.write_text("".join(f"{i}\n" for i in sorted(range(len(english)), key=english.__getitem__)))
    assert score_file(tmp_path / "sub" / "tatoeba" / "test-de.tsv", xtreme_labels, "tatoeba", "de") == {
        "accuracy": 100.0}
    assert (tmp_path / "labels" / "tatoeba" / "test-de.tsv").read_text() == xtreme_labels.read_text()
    assert out.metrics["accuracy"] == 1.0


def _bucc_examples(source_lines, target_lines, gold=()):
    rows = [{"id": f"de-{n}", "side": "source", "text": t} for n, t in enumerate(source_lines, 1)]
    rows += [{"id": f"en-{n}", "side": "target", "text": t} for n, t in enumerate(target_lines, 1)]
    return rows + [{"id": f"gold:{s}:{t}", "side": "gold", "source_id": s, "target_id": t} for s, t in gold]


#: translations share a direction; "bird" is orthogonal to everything
MEANING = {"Hund": 0, "dog": 0, "Katze": 1, "cat": 1, "Maus": 2, "mouse": 2, "bird": 3}


def _recording_embed(calls):
    def embed(sentences):
        calls.append(list(sentences))
        return np.eye(4, dtype=np.float32)[[MEANING[s] for s in sentences]]
    return embed


BUCC_SOURCE = ["Hund", "Hund ", "Katze", "Katze", "Maus"]   # a whitespace variant, an exact repeat
BUCC_TARGET = ["dog", "cat", "mouse", "bird"]


def test_bucc_xtreme_protocol_embeds_every_line_and_drops_repeated_sentences():
    from harness.formats.retrieval import _candidates

    calls = []
    settings = {"k": 4, "margin": "ratio", "mode": "max"}
    candidates, _ = _candidates(_recording_embed(calls), _bucc_examples(BUCC_SOURCE, BUCC_TARGET), settings)
    # XTREME embeds every line; LASER's text_load_unify merges only exact repeats of a line, so
    # "Hund " is a point of its own (embedded from its stripped text)
    assert calls == [["Hund", "Hund", "Katze", "Maus"], BUCC_TARGET]
    # read_sent2id: a (stripped) sentence on two lines has no id, so only Maus-mouse is a candidate
    assert [(s, t) for s, t, _ in candidates] == [("de-5", "en-3")]


def test_bucc_jiant_protocol_merges_sentences_and_keeps_every_id_pair():
    from harness.formats.retrieval import _candidates

    calls = []
    settings = {"k": 4, "margin": "ratio", "mode": "max"}
    candidates, _ = _candidates(_recording_embed(calls), _bucc_examples(BUCC_SOURCE, BUCC_TARGET), settings,
                                "jiant")
    assert calls == [["Hund", "Katze", "Maus"], BUCC_TARGET]          # one point per stripped text
    assert sorted((s, t) for s, t, _ in candidates) == [("de-1", "en-1"), ("de-2", "en-1"), ("de-3", "en-2"),
                                                         ("de-4", "en-2"), ("de-5", "en-3")]


def test_mining_ties_are_broken_by_line_order():
    # two identical source points tie for the same target in both directions: the forward pair of
    # the first line comes first and takes the target; the second line gets nothing
    x = np.eye(3, dtype=np.float32)[[0, 0, 1]]
    y = np.eye(3, dtype=np.float32)[[0, 1]]
    for backend in ("faiss", "torch"):
        first, second = mine(x, y, k=2, backend=backend), mine(x[::-1].copy(), y, k=2, backend=backend)
        assert {(i, j) for i, j, _ in first} == {(0, 0), (2, 1)}
        assert {(i, j) for i, j, _ in second} == {(0, 1), (1, 0)}     # reversed lines: line 1 takes it


def test_bucc_protocol_option_and_jiant_split(registry):
    task = registry.task("bucc").with_local(registry.task("bucc").spec.samples)
    jiant = type(task)()
    jiant.spec = dataclasses.replace(task.spec, options={**task.spec.options, "protocol": "jiant"})
    files = {path for path, _, _ in jiant.local_rows("test", "de")}
    assert all(".sample." in f for f in files) and len(files) == 3          # jiant reports on sample
    assert {path for path, _, _ in task.local_rows("test", "de")} == {f.replace(".sample.", ".training.")
                                                                       for f in files}
    broken = type(task)()
    broken.spec = dataclasses.replace(task.spec, options={"protocol": "laser"})
    with pytest.raises(DataError, match="protocol must be one of xtreme, jiant"):
        list(broken.local_rows("test", "de"))


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
    assert out.golds == sorted(range(30), key=lambda i: examples[i]["target"])     # XTREME's order
    assert out.metrics["accuracy"] == top1_accuracy(out.predictions, out.golds)
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
    expected = pair_f1(predicted, [(e["source_id"], e["target_id"]) for e in gold])
    assert {k: out.metrics[k] for k in expected} == expected
    assert out.metrics["f1"] > 0.2 and np.isfinite(out.metrics["threshold"])
    # tuning on the evaluated split itself can only fit it at least as well
    own = fmt.evaluate(minilm, task, examples, "fr", Hyperparams())
    assert own.stats["threshold_from_dev"] == 0.0 and own.metrics["f1"] >= out.metrics["f1"]
    # jiant's protocol: the test result is the sample split, with the threshold tuned on its own gold
    jiant = type(task)()
    jiant.spec = dataclasses.replace(task.spec, options={**task.spec.options, "protocol": "jiant"})
    sample = load(registry, jiant, "test", "fr")
    assert sample == load(registry, task, "dev", "fr")
    paper = fmt.evaluate(minilm, jiant, sample, "fr", Hyperparams(), split="test",
                         load=lambda split: pytest.fail("jiant tunes on the evaluated gold"))
    dev = fmt.evaluate(minilm, task, sample, "fr", Hyperparams(), split="dev")
    assert paper.stats["threshold_from_dev"] == 0.0 and paper.metrics == dev.metrics


def test_bucc_protocol_is_in_every_result_and_its_key(tiny_model_path, tmp_path):
    from click.testing import CliRunner

    from harness.commands import cli
    from harness.results.records import read_records

    def run(*extra):
        result = CliRunner().invoke(cli, ["eval", "--model", str(tiny_model_path), "--targets", "bucc", "-l", "bucc=de",
                                          "--data", "samples", "--device", "cpu", "-o", str(tmp_path), *extra])
        assert result.exit_code == 0, result.output
        return [r for r in read_records(tmp_path / "results.jsonl") if r["type"] == "result"]

    (default,) = run()
    assert default["options"]["protocol"] == "xtreme"
    records = run("--task-option", "bucc.protocol=jiant")          # another protocol: recomputed
    assert [r["options"]["protocol"] for r in records] == ["xtreme", "jiant"]
    assert records[0]["key"] != records[1]["key"]
    assert len(run("--task-option", "bucc.protocol=jiant")) == 2   # the same one: reused
    result = CliRunner().invoke(cli, ["eval", "--model", str(tiny_model_path), "--targets", "bucc",
                                      "--task-option", "tatoeba.protocol=jiant", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "options given for 'tatoeba'" in result.output


def test_paper_preset_scores_bucc_as_jiant(registry):
    from harness.run.request import build_request

    request = build_request(registry, {"preset": "paper"})
    assert request.task_options == {"bucc": {"protocol": "jiant"}}
    assert build_request(registry, {"preset": "paper", "targets": "xnli"}).task_options == {}
    assert registry.task("bucc").spec.options["protocol"] == "xtreme"       # the default elsewhere


def test_preset_task_options_must_be_mappings(tmp_path):
    from harness.errors import ConfigError
    from harness.spec.config import load_task_config

    bad = tmp_path / "tasks.yaml"
    bad.write_text("presets:\n  paper:\n    options: {bucc: jiant}\n")
    with pytest.raises(ConfigError, match="presets.paper.options.bucc: expected a mapping"):
        load_task_config((bad,))
