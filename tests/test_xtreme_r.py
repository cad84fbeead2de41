"""XTREME-R: XCOPA/COPA/SIQA, the dual-encoder format (training, sharded candidates), Mewsli-X,
LAReQA, per-language hub sources and splits that exist for some languages only."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harness.commands import cli
from harness.engine.retrieval import knn
from harness.engine.shards import encode_to_shards, knn_shards
from harness.engine.training import train_model
from harness.errors import ConfigError, DataError
from harness.formats import get_format
from harness.run.data import load_examples
from harness.spec.config import load_task_config
from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry

SAMPLES = Path(__file__).resolve().parent.parent / "plugins" / "samples"


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def load(registry, name, split, language):
    return load_examples(registry.plugins, registry.task(name), split, language, source="samples")


# ------------------------------------------------------------------ XCOPA, COPA, SIQA
def test_xcopa_uses_the_xtreme_r_template(registry):
    example = load(registry, "xcopa", "test", "et")[0]
    row = json.loads((SAMPLES / "xcopa" / "test-et.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert example["context"] == f"{row['premise']} What was the {row['question']}?"
    assert example["choices"] == [row["choice1"], row["choice2"]] and example["label"] == row["label"]
    assert registry.task("xcopa").spec.train_task == "copa"
    assert load(registry, "copa", "train", "en")[0]["context"].endswith("What was the effect?")


def test_siqa_labels_are_one_based_strings(registry, tmp_path):
    task = registry.task("siqa")
    row = {"context": "c", "question": "q?", "answerA": "a", "answerB": "b", "answerC": "c", "label": "3\n"}
    assert task.to_example(row, "train", "en")["label"] == 2
    with pytest.raises(DataError):
        task.to_example({**row, "label": "4"}, "train", "en")


def test_siqa_reads_the_parquet_conversion(registry, tmp_path, monkeypatch):
    import huggingface_hub
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"context": "Kai fed the dog.", "question": "Why?", "answerA": "hungry dog", "answerB": "x",
             "answerC": "y", "label": "1"}]
    snapshot = tmp_path / "0123abc"
    (snapshot / "default" / "validation").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), snapshot / "default" / "validation" / "0000.parquet")
    asked = []

    def fake_snapshot(repo, repo_type, revision, allow_patterns, local_files_only=False):
        asked.append((repo, revision, allow_patterns))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    examples = load_examples(registry.plugins, registry.task("siqa"), "dev", "en", source="hub")
    # the conversion branch, unpinned (DATA_SOURCES.md: the hub rebuilds it)
    assert asked == [("allenai/social_i_qa", "refs/convert/parquet", ["default/validation/*.parquet"])]
    assert examples[0]["choices"] == ["hungry dog", "x", "y"] and examples[0]["label"] == 0


def test_xcopa_english_reads_copa_from_its_own_hub_source(registry):
    spec = registry.task("xcopa").spec
    assert spec.hub_for("en").path == "aps/super_glue" and spec.hub_for("en").name == "copa"
    assert spec.hub_for("et").path == "cambridgeltl/xcopa"
    assert not spec.has_split("test", "en") and spec.has_split("dev", "en") and spec.has_split("test", "et")


def write_tasks(tmp_path, text):
    path = tmp_path / "extra.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("entry, message", [
    ("split_languages: {test: [xx]}", "split_languages.test: 'xx' is not among the task's languages"),
    ("split_languages: {tst: [en]}", "split_languages.tst: unknown key"),
    ("hub_overrides: {en: {name: copa}}", "hub_overrides.en.path: missing required key"),
])
def test_bad_split_languages_and_hub_overrides_are_config_errors(tmp_path, entry, message):
    path = write_tasks(tmp_path, f"tasks:\n  xcopa:\n    {entry}\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_task_config((path,))


def run_eval(*args):
    return CliRunner().invoke(cli, ["eval", *args], catch_exceptions=False)


def test_a_split_missing_for_a_language_is_skipped_and_an_empty_plan_is_an_error(tiny_model_path, tmp_path):
    common = ["--model", str(tiny_model_path), "--targets", "xcopa", "--data", "samples", "--hparam", "epochs=1",
              "--hparam", "batch_size=4"]
    result = run_eval(*common, "-l", "xcopa=en,et", "--splits", "dev,test", "-o", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    cells = sorted((r["language"], r["split"]) for r in map(json.loads, (tmp_path / "a" / "results.jsonl").open())
                   if r["type"] == "result")
    assert cells == [("en", "dev"), ("et", "dev"), ("et", "test")]   # XCOPA has no English test set
    result = CliRunner().invoke(cli, ["eval", *common, "-l", "xcopa=en", "-o", str(tmp_path / "b")])
    assert result.exit_code == 2 and "task 'xcopa' has no test split for en" in result.output


# ------------------------------------------------------------------ shards
def test_sharded_encoding_resumes_after_a_kill_and_matches_plain_knn(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(23, 8)).astype(np.float32)
    items = [(f"c{i}", str(i)) for i in range(23)]
    calls = []

    def embed(texts):
        calls.append(len(texts))
        if len(calls) == 3 and killed[0]:
            raise KeyboardInterrupt  # killed while encoding the third shard
        return vectors[[int(t) for t in texts]]

    killed = [True]
    fingerprint = {"model": "m"}
    with pytest.raises(KeyboardInterrupt):
        encode_to_shards(items, embed, tmp_path / "s", rows_per_shard=5, fingerprint=fingerprint)
    killed[0] = False
    calls.clear()
    shards = encode_to_shards(items, embed, tmp_path / "s", rows_per_shard=5, fingerprint=fingerprint)
    assert calls == [5, 5, 3]            # shards 0 and 1 were kept; never more than 5 rows at once
    assert shards.sizes == [5, 5, 5, 5, 3]
    queries = rng.normal(size=(7, 8)).astype(np.float32)
    queries[0] = vectors[4]
    expected = knn(queries, vectors, 6)
    got = knn_shards(queries, shards, 6)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    assert shards.ids_at(got[1])[0, 0] == "c4"
    calls.clear()
    encode_to_shards(items, embed, tmp_path / "s", rows_per_shard=5, fingerprint=fingerprint)
    assert calls == []                   # complete: reused
    encode_to_shards(items, embed, tmp_path / "s", rows_per_shard=5, fingerprint={"model": "other"})
    assert calls == [5, 5, 5, 5, 3]      # another model: encoded again


# ------------------------------------------------------------------ dual encoder
def in_batch_accuracy(model, task, examples) -> float:
    fmt = get_format("dual_encoder")
    features = fmt.featurize(examples, model.tokenizer, task, 32, train=True)
    batch = fmt.collate(features, model.tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model.task_model(task.name)(batch, task.name)["logits"]
    return float((logits.argmax(1) == torch.arange(len(examples))).float().mean())


def test_dual_encoder_training_lifts_in_batch_retrieval_above_chance(registry, tiny_model):
    words = [w for w in sorted(tiny_model.tokenizer.get_vocab()) if w.isalpha() and len(w) > 2][:16]
    examples = [{"id": str(i), "query": q, "positive": p} for i, (q, p) in enumerate(zip(words[:8], words[8:]))]
    base = registry.task("mewslix")
    task = type(base)()   # mean pooling: the first token of a random-init tiny BERT barely depends on the input
    task.spec = dataclasses.replace(base.spec, options={**base.spec.options, "pooling": "mean", "scale": 20.0})
    tiny_model.heads[task.name] = get_format("dual_encoder").build_head(tiny_model.hidden_size, task)
    before = in_batch_accuracy(tiny_model, task, examples)
    hparams = Hyperparams(learning_rate=1e-3, epochs=40, batch_size=8, warmup_ratio=0.0, max_length=16)
    stats = train_model(tiny_model, [task], {task.name: examples}, hparams, seed=1)
    after = in_batch_accuracy(tiny_model, task, examples)
    assert before <= 0.375 and after >= 0.75, (before, after)   # chance: 1/8
    assert stats["final_loss"] < 0.5


def test_equal_positives_in_a_batch_are_not_negatives(registry, tiny_model):
    fmt, task = get_format("dual_encoder"), registry.task("mewslix")
    examples = [{"id": "a", "query": "cat", "positive": "Paris"}, {"id": "b", "query": "dog", "positive": "Paris"},
                {"id": "c", "query": "man", "positive": "Berlin"}]
    head = fmt.build_head(tiny_model.hidden_size, task)
    batch = fmt.collate(fmt.featurize(examples, tiny_model.tokenizer, task, 16, train=True), 0)
    logits = head(tiny_model.encoder, batch)["logits"]
    assert torch.isinf(logits[0, 1]) and torch.isinf(logits[1, 0]) and torch.isfinite(logits[0, 2])


def test_query_and_candidate_lengths_are_separate(registry, tiny_model):
    fmt, base = get_format("dual_encoder"), registry.task("lareqa")
    task = type(base)()
    task.spec = dataclasses.replace(base.spec, options={**base.spec.options, "query_max_length": 4,
                                                       "candidate_max_length": 9})
    long = " ".join(["cat sat on the mat"] * 5)
    feature = fmt.featurize([{"id": "x", "query": long, "positive": long}], tiny_model.tokenizer, task, 64, True)[0]
    assert len(feature["query_ids"]) == 4 and len(feature["candidate_ids"]) == 9


# ------------------------------------------------------------------ Mewsli-X and LAReQA
def test_mewslix_query_and_candidate_strings_follow_utils_mewslix():
    from harness_plugins.mewslix import entity_text, mention_query

    text = "First one. The {old} court met Smith today.\nLast."
    context = {"text": text, "sentence_spans": [{"start": 0, "end": 10}, {"start": 11, "end": 44},
                                                 {"start": 45, "end": 50}]}
    start = text.index("Smith")
    mention = {"mention_span": {"start": start, "end": start + 5, "text": "Smith"}}
    assert mention_query(context, mention) == "Smith: The (old) court met { Smith } today."
    entity = {"description": "A city.\nIn  France. Extra", "sentence_spans": [{"start": 0, "end": 7},
                                                                              {"start": 8, "end": 19}]}
    assert entity_text(entity) == "A city. In France."


def test_mewslix_unnests_mentions_and_links_to_entity_ids(registry):
    examples = load(registry, "mewslix", "test", "de")
    assert [e["relevant"] for e in examples] == [["Q64"], ["Q142"], ["Q1339"], ["Q2807"]]
    assert examples[0]["query"].startswith("Berlin: Die Regierung tagte in { Berlin }")
    train = load(registry, "mewslix", "train", "en")
    assert train[0]["positive"].startswith("Paris is the capital")


def test_lareqa_relevant_answers_span_every_language(registry):
    examples = load(registry, "lareqa", "test", "de")
    assert len(examples) == 2
    relevant = examples[1]["relevant"]
    assert len(relevant) == 11 and {r.split("_")[0] for r in relevant} == set(registry.task("lareqa").languages())
    assert all(r.endswith("_1_2") for r in relevant)   # the third sentence of each language's paragraph
    pool = registry.task("lareqa").reading("samples")._pool("test")[0]
    assert len(pool) == 33 and pool[0]["text"].startswith("أنهى")


def test_bad_candidate_rows_name_file_row_and_field(registry, tmp_path):
    from harness.formats.dual_encoder import candidates

    base = registry.task("mewslix")
    task = type(base)()
    task.spec = dataclasses.replace(base.spec, local=tmp_path)
    (tmp_path / "candidate_set_entities.jsonl").write_text('{"entity_id": "Q1", "description": "x", '
                                                          '"sentence_spans": []}\n{"entity_id": "Q2"}\n')
    with pytest.raises(DataError) as info:
        list(candidates(task, "test", "local"))
    assert "row 1" in str(info.value) and "text" in str(info.value)


def test_samples_r_preset_is_declared_for_every_xtreme_r_target(registry):
    preset = registry.preset("samples-r")
    assert set(preset.targets) == {"xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba",
                                   "mewslix", "lareqa"}
    full = registry.preset("xtreme-r")
    assert full.model == "xlmr-large" and set(full.targets) == set(preset.targets)


def test_a_preset_sets_per_target_hyperparameters_and_the_command_line_wins(registry, tmp_path):
    from harness.run.pipeline import Pipeline
    from harness.run.request import build_request

    # the model is checked against the (offline) hub cache up front; the preset's hyperparameters do not depend on it
    request = build_request(registry, {"preset": "xtreme-r", "targets": "xcopa,mewslix", "hparams": ("epochs=1",),
                                       "model": "minilm", "output_dir": str(tmp_path)})
    pipeline = Pipeline(registry, request)
    xcopa, mewslix = pipeline.target_hparams["xcopa"], pipeline.target_hparams["mewslix"]
    assert (xcopa.learning_rate, xcopa.batch_size, xcopa.grad_accum, xcopa.epochs) == (3e-5, 2, 16, 1.0)
    assert (mewslix.learning_rate, mewslix.max_length, mewslix.weight_decay) == (1e-5, 64, 0.0)
    assert pipeline.target_key(registry.task("xcopa")) != Pipeline(
        registry, build_request(registry, {"preset": "xtreme-r", "targets": "xcopa", "model": "minilm",
                                           "output_dir": str(tmp_path)})
    ).target_key(registry.task("xcopa"))


def test_bad_task_hparams_name_the_preset_and_task(tmp_path):
    path = write_tasks(tmp_path, "presets:\n  p:\n    task_hparams: {xcopa: {learning_rat: 1}}\n")
    with pytest.raises(ConfigError, match="presets.p.task_hparams.xcopa.learning_rat: unknown hyperparameter"):
        load_task_config((path,))


def test_added_languages_have_samples_and_their_own_hub_sources(registry):
    panx, xquad, tatoeba = (registry.task(n).spec for n in ("panx", "xquad", "tatoeba"))
    assert panx.hub_for("pl").path == "unimelb-nlp/wikiann" and panx.hub_for("de").path == "google/xtreme"
    assert xquad.hub_for("ro").name == "xquad.ro"
    assert tatoeba.hub_for("uk").name == "ukr-eng"
    for task, lang in (("panx", "ro"), ("udpos", "pl"), ("xquad", "ro"), ("tatoeba", "pl")):
        assert load(registry, task, "test", lang)
    row = {"sentence1": "Kot śpi.\n", "sentence2": "The cat sleeps.\n"}   # the MTEB copy's columns
    assert registry.task("tatoeba").to_example(row, "test", "pl") == {"source": "Kot śpi.", "target": "The cat sleeps."}


def test_grid_runs_siqa_as_the_intermediate_task_for_xcopa(tiny_model_path, tmp_path):
    result = CliRunner().invoke(cli, ["grid", "--model", str(tiny_model_path), "--intermediate", "siqa",
                                      "--targets", "xcopa", "-l", "xcopa=et", "--data", "samples", "--hparam",
                                      "epochs=1", "--hparam", "batch_size=4", "-o", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [r for r in map(json.loads, (tmp_path / "results.jsonl").open()) if r["type"] == "result"]
    assert sorted(tuple(r["intermediate"]) for r in records) == [(), ("siqa",)]   # COPA-only baseline, SIQA first
    assert all(r["train"]["target"]["task_sizes"] == {"xcopa": 12} for r in records)   # both fine-tune on COPA


def test_task_options_are_part_of_the_result_key(tmp_path):
    from harness.run.pipeline import Pipeline
    from harness.run.request import RunRequest

    keys = []
    for extra in ("", "tasks:\n  mewslix:\n    options: {candidates: candidate_set_entities.jsonl, k: 10}\n"):
        files = (str(write_tasks(tmp_path, extra)),) if extra else ()
        registry = build_registry(tasks_files=files)
        pipeline = Pipeline(registry, RunRequest(model="minilm", targets=["mewslix"], output_dir=tmp_path))
        keys.append(pipeline.cell_key(registry.task("mewslix"), "en", "test"))
    assert keys[0] != keys[1]


def test_candidate_benchmark_script_runs_and_agrees_with_sentence_transformers(tiny_model_path, tmp_path):
    import subprocess
    import sys

    pytest.importorskip("sentence_transformers")
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_candidates.py"
    done = subprocess.run([sys.executable, str(script), "--model", str(tiny_model_path), "--n", "40", "--repeats", "1",
                           "--shard-mb", "0.001", "--json", str(tmp_path / "c.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads((tmp_path / "c.json").read_text())
    assert figures["max_abs_diff"] <= 1e-4 and set(figures["candidates_per_s"]) == {"harness", "st"}
    assert "(5 shards)" in done.stdout    # 0.001 MB holds 8 rows of 32 float32: 40 candidates, 5 shards
