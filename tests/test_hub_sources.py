"""The hub layouts the plugins read, as evidenced in DATA_SOURCES.md: per-language IGLUE test splits
and their column names, the pinned MTEB Tatoeba copy, M3IT's raw files and splits, and that a pinned
revision reaches both the reader and the content key. The hub is never contacted: the readers'
download functions are replaced by fakes that serve rows in the hub's schema."""
from __future__ import annotations

import base64
import copy
import dataclasses
import io
import json
import re
import sys
from pathlib import Path

import pytest

import harness.spec.tasks as spec_tasks
from harness.errors import DataError
from harness.run.data import data_fingerprint, load_examples
from harness.spec.registry import build_registry
from harness.spec.tasks import HubOrigin

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def fake_read_hub(monkeypatch, rows: list[dict]) -> list[tuple]:
    """Replace the shared hub reader; record (path, config, split, revision) of each call."""
    calls: list[tuple] = []

    def read_hub(hub, name, split):
        calls.append((hub.path, name, split, hub.revision))
        origin = HubOrigin(hub.path, name, split, hub.revision, "f" * 40, hub.reader)
        for number, row in enumerate(rows, start=1):
            yield origin, number, row
    monkeypatch.setattr(spec_tasks, "read_hub", read_hub)
    return calls


def fake_builder(monkeypatch, rows: list[dict], sha: str) -> list:
    """Replace ``datasets.load_dataset_builder`` with one serving ``rows`` at commit ``sha``; returns
    the calls it saw: (path, config, revision), then each split asked for."""
    import datasets

    calls: list = []

    class Builder:
        hash = sha

        def download_and_prepare(self):
            pass

        def as_dataset(self, split):
            calls.append(split)
            return rows

    def load_dataset_builder(path, name=None, revision=None):
        calls.append((path, name, revision))
        return Builder()
    monkeypatch.setattr(datasets, "load_dataset_builder", load_dataset_builder)
    return calls


# ------------------------------------------------------------------------------ IGLUE (floschne/*)
def test_xflickrco_reads_the_language_split_at_the_pinned_revision(registry, monkeypatch):
    rows = [{"id": f"img{i}", "image": {"bytes": base64.b64decode(png())}, "sentences": f"ein Bild {i}"}
            for i in range(3)]
    calls = fake_read_hub(monkeypatch, rows)
    task = registry.task("xflickrco")
    examples = load_examples(registry.plugins, task, "test", "de", source="hub")
    assert calls == [("floschne/xflickrco", None, "de", "0af2c2eba58b27a71898787e286be04befdd7a20")]
    assert [e["text_a"] for e in examples] == ["ein Bild 0", "ein Bild 1", "ein Bild 2"]
    assert examples.reads[0]["split"] == "de" and examples.reads[0]["revision"].startswith("0af2c2e")


@pytest.mark.parametrize("split", ["train", "dev"])
def test_iglue_hub_repos_hold_no_training_or_dev_split(registry, monkeypatch, split):
    fake_read_hub(monkeypatch, [])
    with pytest.raises(DataError, match=rf"holds only the IGLUE test sets .* read {split}-en from --data-dir"):
        load_examples(registry.plugins, registry.task("xvnli"), split, "en", source="hub")


def test_marvl_statement_is_the_hypothesis_column(registry, monkeypatch):
    image = png()
    rows = [{"id": "sw-1", "hypothesis": "Picha zote mbili zina mbwa.", "left_img": image, "right_img": image,
             "label": True}]
    calls = fake_read_hub(monkeypatch, rows)
    [example] = load_examples(registry.plugins, registry.task("marvl"), "test", "sw", source="hub")
    assert calls[0][:3] == ("floschne/marvl", None, "sw")
    assert example["text_a"] == "Picha zote mbili zina mbwa." and example["label"] == "true"
    assert len(example["images"]) == 2


def test_xflickrco_caption_list_is_a_one_line_error(registry, monkeypatch):
    fake_read_hub(monkeypatch, [{"id": "a", "image": png(), "sentences": ["one", "two"]}])
    with pytest.raises(DataError, match=r"row 1.*sentences.*expected one caption string, got list"):
        load_examples(registry.plugins, registry.task("xflickrco"), "test", "ja", source="hub")


# ------------------------------------------------------------------------------ Tatoeba: the MTEB copy
def test_mteb_tatoeba_is_read_at_its_pinned_revision_and_recorded(registry, monkeypatch):
    calls = fake_builder(monkeypatch, [{"sentence1": "Pişik yatır.\n", "sentence2": "The cat sleeps.\n"},
                                       {"sentence1": "İt qaçır.\n", "sentence2": "The dog runs.\n"}], "e" * 40)
    examples = load_examples(registry.plugins, registry.task("tatoeba"), "test", "az", source="hub")
    pinned = "9080400076fbadbb4c4dcb136ff4eddc40b42553"
    assert calls == [("mteb/tatoeba-bitext-mining", "aze-eng", pinned), "test"]
    assert {e["source"] for e in examples} == {"Pişik yatır.", "İt qaçır."}
    assert examples.reads == [{"hub": "mteb/tatoeba-bitext-mining", "config": "aze-eng", "split": "test",
                               "revision": pinned, "resolved_revision": "e" * 40, "reader": "datasets",
                               "rows": 2}]


def test_a_language_override_revision_is_part_of_the_content_key(registry):
    task = registry.task("tatoeba")
    override = task.spec.hub_overrides["az"]
    other = dataclasses.replace(task.spec, hub_overrides={**task.spec.hub_overrides,
                                                          "az": dataclasses.replace(override, revision="0" * 40)})
    moved = copy.copy(task)
    moved.spec = other
    key = data_fingerprint(task, "test", "az", "hub")
    assert key["hub"]["path"] == "mteb/tatoeba-bitext-mining" and key["hub"]["revision"] == override.revision
    assert data_fingerprint(moved, "test", "az", "hub") != key
    # a language without an override keeps the task's source
    assert data_fingerprint(moved, "test", "de", "hub") == data_fingerprint(task, "test", "de", "hub")


# ------------------------------------------------------------------------------ M3IT raw files
def serve_m3it(monkeypatch, tmp_path, sha: str) -> list[tuple]:
    """A fake ``hf_hub_download`` serving one M3IT VQA row from a cache snapshot of commit ``sha``, for
    any file name; returns the calls it saw."""
    import huggingface_hub

    row = {"instruction": "Answer the question.", "inputs": "What colour is the bus?",
           "image_base64_str": [png()], "outputs": "Red."}
    calls: list = []

    def hf_hub_download(repo_id, filename, repo_type=None, revision=None):
        calls.append((repo_id, filename, repo_type, revision))
        path = tmp_path / "snapshots" / sha / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row) + "\n", encoding="utf-8")
        return str(path)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    return calls


def test_m3it_raw_file_read_records_revision_and_commit(registry, monkeypatch, tmp_path):
    sha, name = "d" * 40, "data/vqa/vqa-v2/val.jsonl"
    calls = serve_m3it(monkeypatch, tmp_path, sha)
    task = registry.task("m3it-vqa-v2")
    examples = load_examples(registry.plugins, task, "dev", "en", source="hub")
    assert calls == [("MMInstruction/M3IT", name, "dataset", None)] and examples[0]["label"] == "red"
    assert examples.reads == [{"hub": "MMInstruction/M3IT", "config": name, "split": "val",
                              "revision": None, "resolved_revision": sha, "reader": "files", "rows": 1}]


def test_m3it80_english_arm_reads_m3it_itself(registry, monkeypatch, tmp_path):
    """M3IT-80 has no English (its card); its ``en`` used to ask M3IT-80 for a file it does not have."""
    calls = serve_m3it(monkeypatch, tmp_path, "e" * 40)
    task = registry.task("m3it80-vqa-v2")
    for language in ("en", "de"):
        assert load_examples(registry.plugins, task, "train", language, source="hub")[0]["label"] == "red"
    assert [call[:2] for call in calls] == [("MMInstruction/M3IT", "data/vqa/vqa-v2/train.jsonl"),
                                            ("MMInstruction/M3IT-80", "data/de/vqa-v2/train.jsonl")]


def test_m3it_vqa_v2_declares_no_test_split(registry):
    # the M3IT card: vqa-v2 has 30,000 train, 30,000 val and 0 test rows; M3IT-80: 500 / 500 / 0 per language
    for name in ("m3it-vqa-v2", "m3it80-vqa-v2"):
        assert set(registry.task(name).spec.splits) == {"train", "dev"}, name


# ------------------------------------------------------------------------------ every pin is documented
def test_every_pinned_revision_is_in_the_evidence_table(registry):
    table = (ROOT / "DATA_SOURCES.md").read_text(encoding="utf-8")
    pins = {hub.revision for task in registry.tasks.values()
            for hub in [task.spec.hub, *task.spec.hub_overrides.values()] if hub is not None and hub.revision}
    assert pins, "tasks.yaml pins no revision"
    for revision in pins:
        assert re.fullmatch(r"[0-9a-f]{40}", revision), revision
        assert revision in table, f"{revision} is pinned in tasks.yaml but not evidenced in DATA_SOURCES.md"
    assert "DATA_SOURCES.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_parallel_hub_rows_without_an_id_join_by_image_and_position(registry, monkeypatch):
    """XVNLI's hub rows carry ``flikr30k_id`` (shared by several hypotheses) but no ``id``: reading
    them used to fail on the missing column. Rows at one position of two languages now share an id
    when they show the same image, and do not when the splits are misaligned."""
    image = png()

    def rows(hypotheses, flickr):
        return [{"flikr30k_id": f, "caption": "c", "hypothesis": h, "label": "neutral", "image": image}
                for h, f in zip(hypotheses, flickr)]
    fake_read_hub(monkeypatch, rows(["a", "b", "c"], ["111", "111", "222"]))
    english = load_examples(registry.plugins, registry.task("xvnli"), "test", "en", source="hub")
    fake_read_hub(monkeypatch, rows(["x", "y", "z"], ["111", "111", "222"]))
    arabic = load_examples(registry.plugins, registry.task("xvnli"), "test", "ar", source="hub")
    assert [e["id"] for e in english] == [e["id"] for e in arabic] == ["111#1", "111#2", "222#3"]
    fake_read_hub(monkeypatch, rows(["x", "y", "z"], ["222", "111", "111"]))
    shifted = load_examples(registry.plugins, registry.task("xvnli"), "test", "ar", source="hub")
    assert {e["id"] for e in shifted} & {e["id"] for e in english} == {"111#2"}


# ------------------------------------------------------------------------------ XTREME core (google/xtreme)
XTREME_PIN = "ec5f1f46e9af79639a90684a7a70a956c4998f04"
SQUAD_ROW = {"id": "q1", "title": "T", "context": "Die Katze schläft.", "question": "Wer schläft?",
             "answers": {"answer_start": [4], "text": ["Katze"]}}


@pytest.mark.parametrize("task, split, language, row, config, hub_split, field, value", [
    # XNLI: one config holding every language, gold_label a string, validation and test only
    ("xnli", "test", "de", {"language": "de", "sentence1": "p", "sentence2": "h", "gold_label": "neutral"},
     "XNLI", "test", "label", "neutral"),
    # PAWS-X: label a string "0"/"1"
    ("pawsx", "dev", "ko", {"sentence1": "a", "sentence2": "b", "label": "1"}, "PAWS-X.ko", "validation",
     "label", "1"),
    # UD-POS: config by English language name, pos_tags ClassLabel codes in UPOS order
    ("udpos", "test", "de", {"tokens": ["Ich", "gehe"], "pos_tags": [10, 15]}, "udpos.German", "test", "tags",
     ["PRON", "VERB"]),
    # PAN-X: ner_tags codes O B-PER I-PER B-ORG I-ORG B-LOC I-LOC, plus an unused langs column
    ("panx", "test", "jv", {"tokens": ["Jakarta"], "ner_tags": [5], "langs": ["jv"]}, "PAN-X.jv", "test", "tags",
     ["B-LOC"]),
    # XQuAD: one validation split, no title column
    ("xquad", "test", "th", {k: v for k, v in SQUAD_ROW.items() if k != "title"}, "XQuAD.th", "validation",
     "answers", {"text": ["Katze"], "answer_start": [4]}),
    # Tatoeba: config by ISO 639-3 code, one validation split, source_sentence the non-English side
    ("tatoeba", "test", "sw", {"source_sentence": "Paka analala.\n", "target_sentence": "The cat sleeps.\n",
                               "source_lang": "swh", "target_lang": "eng"}, "tatoeba.swh", "validation",
     "source", "Paka analala."),
])
def test_xtreme_configs_splits_and_columns(registry, monkeypatch, task, split, language, row, config,
                                           hub_split, field, value):
    """The config, split and columns each task reads, as the google/xtreme card's dataset_info has them."""
    calls = fake_read_hub(monkeypatch, [row])
    [example] = load_examples(registry.plugins, registry.task(task), split, language, source="hub")
    assert calls[0][:3] == ("google/xtreme", config, hub_split)
    assert example[field] == value


def test_tydiqa_reads_one_config_and_keeps_the_language_of_the_id_prefix(registry, monkeypatch):
    rows = [{**SQUAD_ROW, "id": "finnish-123-0"}, {**SQUAD_ROW, "id": "swahili-456-1"}]
    calls = fake_read_hub(monkeypatch, rows)
    examples = load_examples(registry.plugins, registry.task("tydiqa"), "test", "sw", source="hub")
    assert calls == [("google/xtreme", "tydiqa", "validation", None)]
    assert [e["id"] for e in examples] == ["swahili-456-1"]


def test_mlqa_reads_google_xtreme_at_the_evidenced_commit(registry, monkeypatch):
    """Public code reads ``MLQA.en.en/{validation,test}-00000-of-00001.parquet`` of google/xtreme at this
    commit: a data-file layout the installed ``datasets`` loads (DATA_SOURCES.md). It used to be unpinned."""
    calls = fake_read_hub(monkeypatch, [SQUAD_ROW])
    examples = load_examples(registry.plugins, registry.task("mlqa"), "test", "de", source="hub")
    assert calls == [("google/xtreme", "MLQA.de.de", "test", XTREME_PIN)]
    assert examples.reads[0]["revision"] == XTREME_PIN
    assert data_fingerprint(registry.task("mlqa"), "test", "de", "hub")["hub"]["revision"] == XTREME_PIN


def test_udpos_declares_no_dev_split_where_ud_has_none(registry):
    """UD 2.5 (and the udpos.* configs) has no dev set for Kazakh (train/test) nor for Tagalog, Thai and
    Yoruba (test only): a dev cell for them used to be planned and to fail on the missing split."""
    spec = registry.task("udpos").spec
    assert [lang for lang in spec.languages if not spec.has_split("dev", lang)] == ["kk", "th", "tl", "yo"]
    assert all(spec.has_split("test", lang) for lang in spec.languages)


# ------------------------------------------------------------------------------ English intermediate tasks
def serve_parquet(monkeypatch, tmp_path, rows, config="default", split="validation") -> list[tuple]:
    """A fake ``snapshot_download`` serving ``rows`` as the hub's parquet conversion of one split."""
    import huggingface_hub
    import pyarrow as pa
    import pyarrow.parquet as pq

    snapshot = tmp_path / ("c" * 40)
    (snapshot / config / split).mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), snapshot / config / split / "0000.parquet")
    asked: list[tuple] = []

    def snapshot_download(repo, repo_type, revision, allow_patterns, local_files_only=False):
        asked.append((repo, revision, allow_patterns))
        return str(snapshot)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return asked


def test_cosmosqa_reads_the_parquet_conversion_of_its_script_only_repo(registry, monkeypatch, tmp_path):
    """allenai/cosmos_qa still ships a loading script, which the installed ``datasets`` refuses; it used to
    be read through ``datasets`` and failed. Public code reads ``default/train/0000.parquet`` of its
    conversion branch (not pinned: the hub rebuilds that branch)."""
    row = {"id": "q1", "context": "It rained.", "question": "Why wet?", "answer0": "rain", "answer1": "b",
           "answer2": "c", "answer3": "d", "label": 0}
    asked = serve_parquet(monkeypatch, tmp_path, [row])
    [example] = load_examples(registry.plugins, registry.task("cosmosqa"), "dev", "en", source="hub")
    assert asked == [("allenai/cosmos_qa", "refs/convert/parquet", ["default/validation/*.parquet"])]
    assert example["choices"] == ["rain", "b", "c", "d"] and example["label"] == 0


def test_hellaswag_reads_its_data_files_through_datasets(registry, monkeypatch):
    """Rowan/hellaswag holds data files (public code reads ``data/validation-00000-of-00001.parquet`` at the
    pinned commit, and loads it with ``datasets`` 4/5 and no ``trust_remote_code``): it is read there
    through ``datasets``, not from the conversion branch of a loading script it no longer has."""
    row = {"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is on a roof.", "ctx_b": "he",
           "ctx": "A man is on a roof. he", "endings": ["a", "b", "c", "d"], "source_id": "activitynet~v_x",
           "split": "val", "split_type": "indomain", "label": "3"}
    calls = fake_builder(monkeypatch, [row], "b" * 40)
    examples = load_examples(registry.plugins, registry.task("hellaswag"), "dev", "en", source="hub")
    assert calls == [("Rowan/hellaswag", None, "218ec52e09a7e7462a5400043bb9a69a41d06b76"), "validation"]
    assert examples[0]["label"] == 3 and examples[0]["choices"][3] == "he d"
    assert examples.reads[0]["reader"] == "datasets" and examples.reads[0]["resolved_revision"] == "b" * 40


@pytest.mark.parametrize("task, split, row, hub_split, label", [
    ("mnli", "dev", {"premise": "p", "hypothesis": "h", "label": 2, "idx": 7}, ("mnli", "validation_matched"),
     "contradiction"),
    ("qqp", "dev", {"question1": "a?", "question2": "b?", "label": 1, "idx": 3}, ("qqp", "validation"),
     "duplicate"),
    ("sst2", "train", {"sentence": "fine", "label": 0, "idx": 1}, ("sst2", "train"), "negative"),
])
def test_glue_configs_splits_and_label_codes(registry, monkeypatch, task, split, row, hub_split, label):
    calls = fake_read_hub(monkeypatch, [row])
    [example] = load_examples(registry.plugins, registry.task(task), split, "en", source="hub")
    assert calls == [("nyu-mll/glue", *hub_split, "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c")]   # pinned
    assert example["label"] == label


def test_anli_and_commonsenseqa_read_their_evidenced_splits(registry, monkeypatch):
    calls: list[tuple] = []

    def read_round(hub, name, split):   # one hub split per round, each with its own uids
        calls.append((hub.path, name, split, hub.revision))
        yield HubOrigin(hub.path, name, split, hub.revision, "f" * 40), 1, {"uid": split, "premise": "p", "hypothesis": "h",
                                                                    "label": 1, "reason": ""}
    anli = registry.task("anli")   # reads through the reader it imported
    monkeypatch.setattr(sys.modules[type(anli).__module__], "read_hub", read_round)
    examples = load_examples(registry.plugins, anli, "dev", "en", source="hub")
    pinned = "8e4813d81f46d313dac7892e1c28076917cfcdf9"   # plain_text/dev_r<n>-00000-of-00001.parquet there
    assert calls == [("facebook/anli", None, f"dev_r{n}", pinned) for n in (1, 2, 3)]
    assert [e["label"] for e in examples] == ["neutral"] * 3
    calls = fake_read_hub(monkeypatch, [{"id": "c", "question": "q?", "question_concept": "x", "answerKey": "B",
                                         "choices": {"label": ["A", "B"], "text": ["one", "two"]}}])
    [example] = load_examples(registry.plugins, registry.task("commonsenseqa"), "dev", "en", source="hub")
    assert calls[0][:3] == ("tau/commonsense_qa", None, "validation") and example["label"] == 1


@pytest.mark.parametrize("task, repo, revision", [
    ("squad", "rajpurkar/squad", "7b6d24c440a36b6815f21b70d25016731768db1f"),
    ("commonsenseqa", "tau/commonsense_qa", "94630fe30dad47192a8546eb75f094926d47e155"),
])
def test_intermediate_sources_read_their_evidenced_commit(registry, monkeypatch, task, repo, revision):
    """Both repos were read at whatever their default branch held; public code loads them at these commits,
    where their data files are shown (DATA_SOURCES.md)."""
    row = SQUAD_ROW if task == "squad" else {"id": "c", "question": "q?", "question_concept": "x",
                                             "answerKey": "A", "choices": {"label": ["A", "B"], "text": ["one", "two"]}}
    calls = fake_read_hub(monkeypatch, [row])
    examples = load_examples(registry.plugins, registry.task(task), "train", "en", source="hub")
    assert calls == [(repo, None, "train", revision)] and examples.reads[0]["revision"] == revision


def test_an_m3it_file_the_hub_does_not_have_is_a_one_line_error_naming_it(registry, monkeypatch):
    """The raw M3IT paths are not evidenced: a wrong one used to surface as the hub client's 404
    traceback; it is a data error naming the repo, the file and how to point elsewhere."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    def missing(repo_id, filename, repo_type=None, revision=None):
        raise EntryNotFoundError(f"404: {filename}")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", missing)
    with pytest.raises(DataError, match=r"MMInstruction/M3IT has no file data/reasoning/snli-ve/train.jsonl at its "
                                        r"main branch .*options.file"):
        load_examples(registry.plugins, registry.task("m3it-snli-ve"), "train", "en", source="hub")


def test_a_run_that_would_read_iglue_training_data_from_the_hub_stops_before_any_work(tmp_path):
    """xVNLI trains on English data the hub repo does not hold: the run used to train its
    intermediate task first and fail at target training; it now stops at the start, dry run included."""
    from harness.testing import build_tiny_model, run_cli

    model = build_tiny_model(tmp_path / "model")
    for extra in ((), ("--dry-run",)):
        result = run_cli("eval", "--model", model, "-i", "mnli", "-t", "xvnli-text", "-l", "xvnli-text=en",
                         "--data", "hub", "--device", "cpu", "-o", tmp_path / "run", *extra)
        assert result.exit_code == 2, result.output
        assert "holds only the IGLUE test sets" in result.stderr and "--data-dir" in result.stderr
        assert not (tmp_path / "run" / "checkpoints").exists()
