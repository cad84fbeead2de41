"""The multimodal track: vision tower, prefix fusion, image-text formats, samples, modality dropout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.engine.vision import Preprocessing, decode_image, encode_png, image_ref
from harness.errors import DataError, HarnessError


def solid(rgb, size=(24, 30)) -> str:
    pixels = np.zeros((*size, 3), np.uint8)
    pixels[:, :] = rgb
    return encode_png(pixels)


@pytest.fixture(scope="session")
def tiny_clip_path(tmp_path_factory) -> Path:
    from harness_plugins.vision_models import build_tiny_clip
    return build_tiny_clip(tmp_path_factory.mktemp("vision") / "tiny-clip")


@pytest.fixture
def fused(tiny_model_path, tiny_clip_path):
    from harness_plugins.vision_models import harness_load_model
    return harness_load_model(model=f"{tiny_model_path}+{tiny_clip_path}", device=torch.device("cpu"), revision=None)


# -- model -------------------------------------------------------------------------------------

def test_text_only_batch_is_bit_identical_to_the_text_encoder(fused):
    batch = fused.tokenizer(["the cat sat on the mat", "a man"], padding=True, return_tensors="pt")
    plain = fused.encoder(**batch).last_hidden_state
    through_fusion = fused.task_model().encoder(**batch, images=[[], []], image_modes=["", ""]).last_hidden_state
    assert torch.equal(plain, through_fusion)


def test_image_tokens_are_inserted_after_the_first_token(fused):
    batch = fused.tokenizer(["the cat", "a man is playing"], padding=True, return_tensors="pt")
    encoder = fused.task_model().encoder
    ref = image_ref(solid((255, 0, 0)))
    tokens = fused.fusion.tokens_per_image
    out = encoder(**batch, images=[[ref], []]).last_hidden_state
    lengths = batch["attention_mask"].sum(1).tolist()
    assert out.shape[1] == max(lengths[0] + tokens, lengths[1])
    # two images, and the learned no-image token (one token)
    out = encoder(**batch, images=[[ref, ref], []], image_modes=["", "token"]).last_hidden_state
    assert out.shape[1] == max(lengths[0] + 2 * tokens, lengths[1] + 1)


def test_features_are_cached_by_pixel_hash(fused):
    tower = fused.fusion.tower
    red, also_red = image_ref(solid((255, 0, 0))), image_ref(solid((255, 0, 0)))
    blue = image_ref(solid((0, 0, 255)))
    assert red.key == also_red.key != blue.key
    first = tower.features([red, blue])
    again = tower.features([also_red, blue, red])
    assert (tower.misses, tower.hits) == (2, 3)
    assert torch.equal(again[0], first[0]) and torch.equal(again[1], first[1])
    assert not any(p.requires_grad for p in tower.parameters())  # frozen by default


@pytest.mark.parametrize("shape", [(40, 50), (37, 61), (61, 37), (32, 32)])
def test_preprocessing_matches_transformers_pil_processor(shape):
    from transformers import CLIPImageProcessor
    from harness_plugins.vision_models import CLIP_PROCESSOR

    pixels = (np.random.RandomState(0).rand(*shape, 3) * 255).astype(np.uint8)
    processor = CLIPImageProcessor(**{k: v for k, v in CLIP_PROCESSOR.items() if k != "image_processor_type"})
    expected = processor(images=pixels, return_tensors="np")["pixel_values"][0]
    assert np.abs(Preprocessing.from_config(CLIP_PROCESSOR)(pixels) - expected).max() < 1e-5


def test_checkpoint_keeps_a_plain_text_encoder_and_the_fusion_beside_it(fused, tmp_path):
    from transformers import AutoModel
    from harness_plugins.vision_models import harness_load_model

    with torch.no_grad():
        fused.fusion.projection[0].weight.add_(1.0)
    fused.save(tmp_path / "ckpt")
    assert AutoModel.from_pretrained(tmp_path / "ckpt" / "encoder").config.model_type == "bert"
    again = harness_load_model(model=str(tmp_path / "ckpt" / "encoder"), device=torch.device("cpu"), revision=None)
    assert torch.equal(again.fusion.projection[0].weight, fused.fusion.projection[0].weight)
    assert again.provenance["vision"]["tower"]["source"] == fused.fusion.tower.source
    assert harness_load_model(model=str(fused.provenance["source"]), device=torch.device("cpu"),
                              revision=None) is None  # a text model is left to the core


def test_an_image_text_checkpoint_given_as_the_model_keeps_its_vision_tower(fused, tmp_path):
    """``--model <checkpoint>`` resolves to the checkpoint's encoder folder, so the vision plugin finds
    the fusion saved beside it (loading the encoder alone dropped the tower)."""
    from harness.spec.registry import build_registry
    from harness_plugins.vision_models import harness_load_model

    fused.save(tmp_path / "ckpt", meta={"provenance": fused.provenance})
    resolved = build_registry().resolve_model(str(tmp_path / "ckpt"))
    assert resolved == str(tmp_path / "ckpt" / "encoder")
    again = harness_load_model(model=resolved, device=torch.device("cpu"), revision=None)
    assert again is not None and again.fusion is not None


def test_text_model_refuses_image_text_task(tiny_model):
    from harness.formats.image_text_classification import fused_encode
    with pytest.raises(HarnessError, match="vision tower"):
        fused_encode(tiny_model.encoder, {"input_ids": torch.ones(1, 3, dtype=torch.long)})


@pytest.mark.parametrize("data, message", [("not base64!!", "invalid base64"),
                                           ("aGVsbG8gd29ybGQ=", "unreadable image")])
def test_bad_images_are_data_errors(data, message):
    with pytest.raises(DataError, match=message):
        decode_image(data)


# -- samples, plugins and formats -----------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "plugins" / "samples"
MM_FILES = {"m3it-snli-ve": [("train", "en"), ("dev", "en")], "m3it-coco-itm": [("train", "en")],
            "m3it-vqa-v2": [("train", "en"), ("dev", "en")], "m3it-coco": [("train", "en")],
            "m3it80-vqa-v2": [("train", "de")], "xvnli": [("train", "en"), ("test", "ar")],
            "xvnli-text": [("test", "ru")], "xvnli-both": [("test", "fr")], "xgqa": [("test", "ko")],
            "marvl": [("train", "en"), ("test", "sw")], "xflickrco": [("test", "ja")]}


@pytest.fixture(scope="module")
def registry():
    from harness.spec.registry import build_registry
    return build_registry()


@pytest.mark.parametrize("name, split, language", [(n, s, l) for n, files in MM_FILES.items() for s, l in files])
def test_multimodal_samples_load(registry, name, split, language):
    from harness.run.data import load_examples

    task = registry.task(name)
    examples = load_examples(registry.plugins, task, split, language, source="samples")
    assert len(examples) >= 20
    if task.spec.modality == "image_text":
        assert all(example["images"] for example in examples)
    if task.format == "image_text_classification":  # labels depend on the image: no label dominates
        counts = {label: sum(e["label"] == label for e in examples) for label in {e["label"] for e in examples}}
        assert len(counts) >= 2 and max(counts.values()) <= 0.75 * len(examples)


def test_label_adapters(registry):
    task = registry.task("m3it-coco-itm")
    row = {"instruction": "i", "inputs": "a cat", "image_base64_str": [solid((1, 2, 3))], "outputs": "Yes."}
    assert task.to_example(row, "train", "en")["label"] == "match"
    snli = registry.task("m3it-snli-ve")
    assert snli.to_example({**row, "outputs": "The answer is contradiction."}, "train", "en")["label"] == "contradiction"
    with pytest.raises(DataError, match="names no label"):
        snli.to_example({**row, "outputs": "maybe"}, "train", "en")
    assert registry.task("m3it-vqa-v2").to_example({**row, "outputs": "purple"}, "train", "en") is None


def test_test_sets_are_parallel_by_id(registry):
    from harness.run.data import load_examples

    for name, languages in (("xvnli", ("en", "ru")), ("marvl", ("en", "ta"))):
        task = registry.task(name)
        en, other = (load_examples(registry.plugins, task, "test", lang, source="samples") for lang in languages)
        assert [e["id"] for e in en] == [e["id"] for e in other]
        assert [e["images"] for e in en] == [e["images"] for e in other]
        assert [e["text_a"] for e in en] != [e["text_a"] for e in other]


@pytest.mark.parametrize("image, message", [("@@notbase64", "image_base64_str.*image 0: invalid base64"),
                                            ("aGVsbG8=", "image_base64_str.*image 0: unreadable image")])
def test_bad_image_row_names_file_row_and_field(registry, tmp_path, image, message):
    import dataclasses
    from harness.run.data import load_examples

    good = json.loads((SAMPLES / "m3it-snli-ve" / "train-en.jsonl").read_text().splitlines()[0])
    (tmp_path / "train-en.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, "image_base64_str": [image]}) + "\n")
    task = registry.task("m3it-snli-ve")
    task.spec = dataclasses.replace(task.spec, local=tmp_path)
    with pytest.raises(DataError, match=f"train-en.jsonl.*row 2.*{message}") as info:
        load_examples(registry.plugins, task, "train", "en", source="local")
    assert "\n" not in str(info.value)


def test_bad_image_is_exit_2_on_the_command_line(tmp_path, tiny_model_path, monkeypatch):
    from click.testing import CliRunner
    from harness.commands import cli

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    good = json.loads((SAMPLES / "xvnli" / "test-en.jsonl").read_text().splitlines()[0])
    (tmp_path / "data" / "xvnli").mkdir(parents=True)
    (tmp_path / "data" / "xvnli" / "test-en.jsonl").write_text(json.dumps(good) + "\n")
    (tmp_path / "data" / "xvnli" / "train-en.jsonl").write_text(json.dumps({**good, "image": "%%%"}) + "\n")
    result = CliRunner().invoke(cli, ["eval", "--model", f"{tiny_model_path}+clip-tiny-random", "--targets", "xvnli",
                                      "--languages", "xvnli=en", "--data-dir", str(tmp_path / "data"),
                                      "--data", "local", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "train-en.jsonl" in result.output and "row 1" in result.output and "image 0: invalid base64" in result.output


# -- modality dropout and contamination ---------------------------------------------------------

def _examples(n=200):
    return [{"id": f"e{i}", "text_a": f"question {i}", "images": [solid((i % 256, 0, 0))], "label": "red"}
            for i in range(n)]


def test_dropout_zero_never_drops_and_one_always_drops():
    from harness.run.modality import ModalityDropout, drop_modalities

    examples = _examples()
    same, counts = drop_modalities(examples, ModalityDropout.parse("image=0,text=0"), 1, "t")
    assert same == examples and counts == {"images_dropped": 0, "texts_dropped": 0}
    dropped, counts = drop_modalities(examples, ModalityDropout.parse("image=1"), 1, "t")
    assert counts["images_dropped"] == len(examples) and all(e["images"] == [] for e in dropped)
    assert [e["text_a"] for e in dropped] == [e["text_a"] for e in examples]
    # text=1 drops the text of every example, but never together with its image
    both, counts = drop_modalities(examples, ModalityDropout.parse("image=0.5,text=1"), 1, "t")
    assert counts["images_dropped"] + counts["texts_dropped"] == len(examples)
    assert all(bool(e["images"]) == (e["text_a"] == "") for e in both)  # exactly one modality left
    assert 60 < counts["images_dropped"] < 140


def test_dropout_masks_are_deterministic_per_example_and_seed():
    from harness.run.modality import ModalityDropout, drop_modalities

    dropout = ModalityDropout.parse("image=0.5")
    examples = _examples()
    first, _ = drop_modalities(examples, dropout, 7, "t")
    again, _ = drop_modalities(list(reversed(examples)), dropout, 7, "t")  # order and resume point do not matter
    resumed, _ = drop_modalities(examples[120:], dropout, 7, "t")
    mask = {e["id"]: not e["images"] for e in first}
    assert mask == {e["id"]: not e["images"] for e in again}
    assert all(mask[e["id"]] == (not e["images"]) for e in resumed)
    other_seed, _ = drop_modalities(examples, dropout, 8, "t")
    assert mask != {e["id"]: not e["images"] for e in other_seed}


@pytest.mark.parametrize("mode, tokens", [("remove", 0), ("token", 1), ("zeros", "image")])
def test_dropout_modes_reach_the_fused_encoder(fused, mode, tokens):
    from harness.formats import get_format
    from harness.run.modality import ModalityDropout, drop_modalities

    registry_task = type("T", (), {"spec": type("S", (), {"labels": ["red"], "options": {}})()})()
    example = {"id": "a", "text_a": "what colour", "images": [solid((255, 0, 0))], "label": "red"}
    [dropped], _ = drop_modalities([example], ModalityDropout(image=1.0, mode=mode), 1, "t")
    fmt = get_format("image_text_classification")
    batch = fmt.collate(fmt.featurize([dropped], fused.tokenizer, registry_task, 32, train=True), 0)
    plain = len(fused.tokenizer("what colour")["input_ids"])
    hidden = fused.task_model().encoder(**{k: v for k, v in batch.items() if k != "labels"}).last_hidden_state
    expected = fused.fusion.tokens_per_image if tokens == "image" else tokens
    assert hidden.shape[1] == plain + expected


@pytest.mark.parametrize("value", ["image=2", "img=0.1", "image=0.1,mode=blank", "image=x"])
def test_bad_dropout_settings_are_one_line_errors(value):
    from harness.run.modality import ModalityDropout
    with pytest.raises(HarnessError, match="--modality-dropout"):
        ModalityDropout.parse(value)


def test_contaminated_examples_are_dropped():
    from harness.run.modality import drop_contaminated, image_keys

    examples = _examples(10)
    banned = image_keys(examples[3:5]) | {"f" * 64}
    kept, dropped = drop_contaminated(examples, banned)
    assert dropped == 2 and [e["id"] for e in kept] == [e["id"] for e in examples if e["id"] not in ("e3", "e4")]


def test_fused_model_learns_what_text_alone_cannot(tiny_model_path, tiny_clip_path, registry):
    """xGQA-style colour questions: the question is the same for every image, so text alone is at
    chance (1/4); with the image prefix the model answers them."""
    from harness.engine.training import train_model
    from harness.formats import get_format
    from harness.run.data import load_examples
    from harness.spec.hparams import Hyperparams
    from harness_plugins.vision_models import harness_load_model

    task = registry.task("xgqa")
    train = load_examples(registry.plugins, task, "train", "en", source="samples")
    dev = load_examples(registry.plugins, task, "dev", "en", source="samples")
    model = harness_load_model(model=f"{tiny_model_path}+{tiny_clip_path}", device=torch.device("cpu"), revision=None)
    hparams = Hyperparams(learning_rate=3e-3, epochs=10, batch_size=16, max_length=32, warmup_ratio=0.0)
    train_model(model, [task], {task.name: train}, hparams, seed=1)
    metrics = get_format(task.format).evaluate(model, task, dev, "en", hparams).metrics
    assert metrics["accuracy"] >= 0.8
    assert metrics["text_only_accuracy"] <= 0.45


# -- end to end --------------------------------------------------------------------------------

def test_multimodal_run_records_vision_dropout_and_contamination_then_gap_report(tmp_path, tiny_model_path,
                                                                                   tiny_clip_path):
    from click.testing import CliRunner
    from harness.commands import cli
    from harness.results.records import read_records

    out = tmp_path / "out"
    args = ["eval", "--model", f"{tiny_model_path}+{tiny_clip_path}", "--intermediate", "m3it-vqa-v2",
            "--targets", "xgqa,xvnli-text", "-l", "xgqa=en,de", "-l", "xvnli-text=en,ru", "--limit", "16",
            "--modality-dropout", "image=0.5", "--hparam", "epochs=1", "--hparam", "max_length=32",
            "--data", "samples", "--device", "cpu", "--log-samples", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "English / non-English gap" in result.output
    records = read_records(out / "results.jsonl")
    run = next(r for r in records if r["type"] == "run")
    multimodal = run["config"]["multimodal"]
    assert multimodal["modality_dropout"] == {"image": 0.5, "text": 0.0, "mode": "remove"}
    assert multimodal["contamination"]["dropped"] == 3  # the samples leak three xGQA test images
    assert multimodal["multimodal_tasks"]["m3it-vqa-v2"]["images_dropped"] > 0
    results = [r for r in records if r["type"] == "result"]
    assert {(r["task"], r["language"]) for r in results} == {("xgqa", "en"), ("xgqa", "de"),
                                                             ("xvnli-text", "en"), ("xvnli-text", "ru")}
    xgqa = next(r for r in results if r["task"] == "xgqa")
    assert xgqa["model_info"]["vision"]["tower"]["source"] == str(tiny_clip_path)
    assert xgqa["train"]["intermediate"]["modality_dropout"]["image"] == 0.5
    assert "text_only_accuracy" in xgqa["metrics"]
    # the dropout setting is part of the key: another P trains another intermediate checkpoint
    again = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "other"), "--modality-dropout", "image=0.4"])
    assert again.exit_code == 0
    other = next(r for r in read_records(tmp_path / "other" / "results.jsonl") if r["type"] == "result")
    assert other["checkpoints"]["intermediate"]["key"] != xgqa["checkpoints"]["intermediate"]["key"]

    report = CliRunner().invoke(cli, ["report", str(out), "--gap"])
    assert report.exit_code == 0, report.output
    assert "xgqa" in report.output and "de=" in report.output and "ru=" in report.output


def test_weakness_rate_needs_parallel_ids():
    from harness.results.gap import weakness_rate

    english = {"a": True, "b": True, "c": False}
    assert weakness_rate(english, {"a": False, "b": True, "c": False}, "x de") == pytest.approx(1 / 3)
    with pytest.raises(HarnessError, match="no English counterpart.*parallel id"):
        weakness_rate(english, {"a": True, "zz": False}, "x de")


def test_retrieval_recall_both_directions():
    from harness.metrics.recall import retrieval_recall

    # 3 texts, 2 images; texts 0 and 1 describe image 0, text 2 image 1
    similarity = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    metrics = retrieval_recall(similarity, [0, 0, 1], ks=(1, 2))
    assert metrics["t2i_r1"] == pytest.approx(2 / 3) and metrics["t2i_r2"] == 1.0
    assert metrics["i2t_r1"] == 0.5   # image 0's best text is 0 (right), image 1's is 1 (wrong)
    assert metrics["i2t_r2"] == 1.0   # image 1: texts 1 then 2 -> hit at rank 2
    assert metrics["mean_recall"] == pytest.approx(np.mean([2 / 3, 1.0, 0.5, 1.0]))


def test_image_text_retrieval_trains_and_scores(fused, registry):
    from harness.engine.training import train_model
    from harness.formats import get_format
    from harness.run.data import load_examples
    from harness.spec.hparams import Hyperparams

    task = registry.task("xflickrco")
    train = load_examples(registry.plugins, task, "train", "en", source="samples", limit=32)
    test = load_examples(registry.plugins, task, "test", "en", source="samples")
    stats = train_model(fused, [task], {task.name: train}, Hyperparams(learning_rate=1e-3, epochs=1, batch_size=16,
                                                                       max_length=32), seed=1)
    assert stats["final_loss"] is not None and np.isfinite(stats["final_loss"])
    output = get_format(task.format).evaluate(fused, task, test, "en", Hyperparams(max_length=32))
    assert set(output.metrics) == {f"{d}_r{k}" for d in ("t2i", "i2t") for k in (1, 5, 10)} | {"mean_recall"}
    assert all(0.0 <= v <= 1.0 for v in output.metrics.values())
    assert output.metrics["t2i_r10"] >= output.metrics["t2i_r1"]
    assert len(output.predictions) == len(test) and output.golds[0] == output.golds[0][:16]


def test_report_labels_configurations_by_their_modality_dropout():
    from harness.results.report import config_label

    record = {"intermediate": ["m3it-vqa-v2"], "data": {},
              "train": {"intermediate": {"modality_dropout": {"image": 0.5, "text": 0.0, "mode": "remove"}}}}
    assert config_label(record) == "m3it-vqa-v2 (dropout image=0.5,text=0,remove)"
    none = {**record, "train": {"intermediate": {"modality_dropout": {"image": 0.0, "text": 0.0, "mode": "remove"}}}}
    assert config_label(none) == "m3it-vqa-v2"


def test_killed_multimodal_training_with_dropout_resumes_bit_identically(tiny_model_path, tiny_clip_path,
                                                                          registry, tmp_path):
    from test_training import Crash, CrashAfter
    from harness.engine.training import train_model
    from harness.run.data import load_examples
    from harness.run.modality import ModalityDropout, drop_modalities
    from harness.spec.hparams import Hyperparams
    from harness_plugins.vision_models import harness_load_model

    task = registry.task("xgqa")
    fresh = lambda: harness_load_model(model=f"{tiny_model_path}+{tiny_clip_path}",  # noqa: E731
                                       device=torch.device("cpu"), revision=None)
    hparams = Hyperparams(batch_size=4, epochs=1, learning_rate=1e-3, max_length=32)  # 6 steps

    def examples():  # read and dropped again, as a rerun of the command does
        rows = load_examples(registry.plugins, task, "train", "en", source="samples", limit=24)
        return {task.name: drop_modalities(rows, ModalityDropout(image=0.5, mode="token"), 3, task.name)[0]}

    reference = fresh()
    train_model(reference, [task], examples(), hparams, seed=3)
    with pytest.raises(Crash):
        train_model(fresh(), [task], examples(), hparams, seed=3, reporter=CrashAfter(4),
                    state_dir=tmp_path / "state", save_every_s=0)
    resumed = fresh()
    train_model(resumed, [task], examples(), hparams, seed=3, state_dir=tmp_path / "state", save_every_s=0)
    for part in ("encoder", "fusion"):
        expected, got = getattr(reference, part).state_dict(), getattr(resumed, part).state_dict()
        assert all(torch.equal(value, got[name]) for name, value in expected.items())
    assert all(torch.equal(v, resumed.heads["xgqa"].state_dict()[k]) for k, v in reference.heads["xgqa"].state_dict().items())
