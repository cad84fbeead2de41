"""Extractive QA: the ``qa`` format (windows, offsets, labels, decoding, scoring) and the SQuAD, XQuAD,
MLQA and TyDiQA plugins with their bundled samples."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import ConfigError, DataError, HarnessError
from harness.formats import get_format
from harness.formats.qa import CLS_INDEX, ExtractiveQA, QAHead
from harness.spec.hparams import Hyperparams
from harness.spec.tasks import HubSource, Task, TaskSpec

SAMPLES = Path(__file__).resolve().parent.parent / "plugins" / "samples"
QA_SAMPLE_FILES = {
    "squad": ["train-en", "dev-en"],
    "xquad": ["test-en", "test-de", "test-ru", "test-zh"],
    "mlqa": ["test-en", "test-de", "test-ar", "test-zh", "dev-en"],
    "tydiqa": ["train-en", "test-en", "test-ru", "test-ar", "test-fi"],
}
FMT = ExtractiveQA()


# ----------------------------------------------------------------------------------- helpers
class _QATask(Task):
    name = "qa-test"
    format = "qa"

    def to_example(self, row, split, language):
        return dict(row)


def make_task(metric: str = "squad_em_f1", **options) -> Task:
    task = _QATask()
    task.spec = TaskSpec(name="qa-test", kind="target", plugin="test", format="qa", metric=metric,
                         languages=["en", "de", "zh"],
                         options={"doc_stride": 128, "max_answer_length": 30, "n_best": 20, **options})
    return task


def example(context: str, answer: str, question: str = "What is it?", id: str = "q1",
            occurrence: int = 0) -> dict:
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(answer, start + 1)
    return {"id": id, "question": question, "context": context,
            "answers": {"text": [answer], "answer_start": [start]}}


def oracle_logits(feature: dict, start: int, end: int, low: float = -5.0, high: float = 5.0) -> np.ndarray:
    logits = np.full((len(feature["input_ids"]), 2), low, dtype=np.float32)
    logits[start, 0] = high
    logits[end, 1] = high
    return logits


_REGISTRY = []


def registry():
    """The built-in registry (tasks.yaml + plugins), built once for this module."""
    if not _REGISTRY:
        from harness.spec.registry import build_registry
        _REGISTRY.append(build_registry())
    return _REGISTRY[0]


@pytest.fixture(scope="module")
def minilm_tokenizer(minilm_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(minilm_path))


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(tiny_model_path))


@pytest.fixture(scope="module")
def sentencepiece_tokenizer():
    """An XLM-R style tokenizer (Unigram + Metaspace with a prefix space, <s> A </s></s> B </s>),
    trained locally: its offsets include the leading '▁' of words."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [json.loads(line)["context"] for name, files in QA_SAMPLE_FILES.items() for f in files
              for line in open(SAMPLES / name / f"{f}.jsonl", encoding="utf-8")]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(corpus, trainers.UnigramTrainer(
        vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>", model_max_length=512)


TOKENIZERS = ["tiny_tokenizer", "minilm_tokenizer", "sentencepiece_tokenizer"]

UNICODE_EXAMPLES = [
    example("Der Rhein   fließt durch  Köln und Düsseldorf.", "Köln"),
    example("Café  Procope in Paris   was founded in 1686 by Francesco Procopio.", "Francesco Procopio"),
    example("Рейн — европейская река,  которая  впадает в Северное море.", "Северное море"),
    example("猫在沙发上睡觉。  莱茵河流入北海。", "北海"),
    example("الصحراء الكبرى  تقع في قارة أفريقيا.", "قارة أفريقيا"),
    example("Ünïcödé   naïve résumé: the answer is Zoë  Saldaña today.", "Zoë  Saldaña"),
    example("Tab\tseparated and\nnewline text, then Ångström units.", "Ångström"),
]


# ----------------------------------------------------------------------------------- format basics
def test_format_is_registered_and_per_token():
    fmt = get_format("qa")
    assert isinstance(fmt, ExtractiveQA)
    assert fmt.per_token is True
    assert FMT.gold(example("a b c", "b")) == ["b"]


def test_an_offset_that_does_not_match_is_moved_to_the_nearest_occurrence_of_the_text():
    task = make_task()
    context = "France borders Spain. Paris is the capital of France; France is big."
    good = example(context, "France", occurrence=1)
    FMT.check(good, task)
    assert "alignment" not in good and good["answers"]["answer_start"] == [46]
    for given, expected in ((44, 46), (50, 46), (51, 54), (3, 0), (400, 54), (-2, 0)):
        row = dict(good, answers={"text": ["France"], "answer_start": [given]})
        FMT.check(row, task)
        assert row["answers"]["answer_start"] == [expected] and row["alignment"] == "realigned", given
    # equally near two occurrences (0 and 46): the earlier one
    row = dict(good, answers={"text": ["France"], "answer_start": [23]})
    FMT.check(row, task)
    assert row["answers"]["answer_start"] == [0]
    # several answers: only the wrong offset moves
    row = dict(good, answers={"text": ["France", "Paris"], "answer_start": [46, 20]})
    FMT.check(row, task)
    assert row["answers"] == {"text": ["France", "Paris"], "answer_start": [46, 22]}
    # an answer that is not in the context: kept as it is (scored on its text), marked
    row = dict(good, answers={"text": ["Lyon", "France"], "answer_start": [3, 40]})
    FMT.check(row, task)
    assert row["answers"]["answer_start"] == [3, 46] and row["alignment"] == "not_found"


def test_malformed_answers_are_data_errors_naming_id_and_answer():
    task = make_task()
    good = example("Paris is the capital of France.", "France")
    for answers, message in (({"text": ["France"], "answer_start": []}, "1 answer texts but 0"),
                             ({"text": ["France"], "answer_start": ["24"]}, "answer 0 answer_start: expected int"),
                             ({"text": [24], "answer_start": [24]}, "answer 0 text: expected a non-empty string"),
                             ({"text": "France", "answer_start": [24]}, "lists 'text' and 'answer_start'")):
        with pytest.raises(DataError, match=message) as caught:
            FMT.check(dict(good, answers=answers), task)
        assert caught.value.field == "answers"
    with pytest.raises(DataError):
        FMT.check({k: v for k, v in good.items() if k != "context"}, task)


def test_rows_of_a_whitespace_stripping_loader_load_and_are_counted(tmp_path, tiny_tokenizer):
    """The google/xtreme loader strips contexts but keeps the offsets into the unstripped text: such
    rows load (re-aligned), an answer that is not in its context is kept for scoring but left out
    of training, and the counts reach the result (describe_data)."""
    from harness.run.data import load_examples

    reg = registry()
    task = reg.task("squad")
    rows = [json.loads(line) for line in open(SAMPLES / "squad" / "dev-en.jsonl", encoding="utf-8")]
    for row in rows[1:4]:
        row["context"] = "  " + row["context"]
        row["answers"]["answer_start"] = [start + 2 for start in row["answers"]["answer_start"]]
        row["context"] = row["context"].strip()      # what the loader does
    rows[5]["answers"]["text"] = ["no such answer"]
    (tmp_path / "dev-en.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    original = task.spec.local
    task.spec.local = tmp_path
    try:
        examples = load_examples(reg.plugins, task, "dev", "en", source="local")
    finally:
        task.spec.local = original
    assert len(examples) == len(rows)
    for row, ex in zip(rows, examples):
        for text, start in zip(ex["answers"]["text"], ex["answers"]["answer_start"]):
            assert text == "no such answer" or ex["context"][start:start + len(text)] == text
    assert FMT.describe_data(examples, task) == {"qa_alignment": {"realigned": 3, "not_found": 1}}
    assert FMT.describe_data(examples, task, train=True) == {"qa_alignment": {"realigned": 3, "dropped": 1}}
    train = FMT.featurize(examples, tiny_tokenizer, task, 384, train=True)
    assert len(train) == len(examples) - 1       # short contexts: one window per row, the bad row dropped


# ----------------------------------------------------------------------------------- offsets
@pytest.mark.parametrize("tokenizer_name", TOKENIZERS)
def test_offsets_map_back_to_the_original_context(tokenizer_name, request):
    tokenizer = request.getfixturevalue(tokenizer_name)
    task = make_task()
    features = FMT.featurize(UNICODE_EXAMPLES, tokenizer, task, 128, train=False)
    train = FMT.featurize(UNICODE_EXAMPLES, tokenizer, task, 128, train=True)
    assert len(features) == len(train) == len(UNICODE_EXAMPLES)     # short contexts: one window each
    for feature, labelled in zip(features, train):
        ex = UNICODE_EXAMPLES[feature["example_index"]]
        context = ex["context"]
        spans = [o for o in feature["offsets"] if o is not None]
        assert spans, "every window has context tokens"
        assert feature["offsets"][0] is None                           # CLS is not context
        covered = set()
        for start, end in spans:
            assert 0 <= start < end <= len(context)
            covered.update(range(start, end))
        assert covered >= {i for i, ch in enumerate(context) if not ch.isspace()}
        # the labelled span cut out of the original context is exactly the answer
        start, end = labelled["start_positions"], labelled["end_positions"]
        assert start != CLS_INDEX and end >= start
        cut = context[feature["offsets"][start][0]:feature["offsets"][end][1]].strip()
        assert cut == ex["answers"]["text"][0]
        # and decoding logits that point at the label gives the answer back, unchanged
        prediction = FMT.decode([ex], [dict(feature, example_index=0)],
                                [oracle_logits(feature, start, end)], task)
        assert prediction == [ex["answers"]["text"][0]]


@pytest.mark.parametrize("tokenizer_name", TOKENIZERS)
def test_sample_labels_decode_back_to_the_gold_answers(tokenizer_name, request):
    """For every sample example (all languages), the training label of each window that holds the
    answer decodes to text whose normalised form is the gold answer's."""
    from harness.metrics import normalize_answer

    tokenizer = request.getfixturevalue(tokenizer_name)
    reg = registry()
    from harness.run.data import load_examples
    checked = 0
    for name, files in QA_SAMPLE_FILES.items():
        task = reg.task(name)
        for stem in files:
            split, language = stem.split("-")
            examples = load_examples(reg.plugins, task, split, language, source="samples")
            train = FMT.featurize(examples, tokenizer, task, 128, train=True)
            evals = FMT.featurize(examples, tokenizer, task, 128, train=False)
            assert [f["example_index"] for f in train] == [f["example_index"] for f in evals]
            for labelled, feature in zip(train, evals):
                if labelled["start_positions"] == CLS_INDEX:
                    continue
                ex = examples[feature["example_index"]]
                offsets = feature["offsets"]
                cut = ex["context"][offsets[labelled["start_positions"]][0]:offsets[labelled["end_positions"]][1]]
                gold = ex["answers"]["text"][0]
                # sub-word tokens may start before / end after the answer (e.g. CJK pieces): the cut covers it
                assert gold in cut
                if tokenizer_name != "sentencepiece_tokenizer" and language != "zh":
                    assert normalize_answer(cut) == normalize_answer(gold)
                checked += 1
    assert checked >= 100


# ----------------------------------------------------------------------------------- windows
def long_example():
    filler = " ".join(f"Sentence number {i} talks about the weather in town {i}." for i in range(60))
    context = filler + " The treasure is hidden under the old oak tree near the river."
    return example(context, "the old oak tree", question="Where is the treasure hidden?", id="long")


@pytest.mark.parametrize("tokenizer_name", ["tiny_tokenizer", "minilm_tokenizer"])
def test_sliding_windows_cover_a_long_context(tokenizer_name, request):
    tokenizer = request.getfixturevalue(tokenizer_name)
    task = make_task(doc_stride=16)
    ex = long_example()
    max_length = 64
    features = FMT.featurize([ex], tokenizer, task, max_length, train=False)
    train = FMT.featurize([ex], tokenizer, task, max_length, train=True)
    assert len(features) > 3 and len(train) == len(features)
    assert all(len(f["input_ids"]) <= max_length for f in features)
    # the windows cover every context token of the full encoding, consecutive windows overlap
    full = tokenizer(ex["question"], ex["context"], return_offsets_mapping=True)
    full_spans = {tuple(o) for o, s in zip(full["offset_mapping"], full.sequence_ids()) if s == 1}
    covered = set()
    previous_end = None
    for feature in features:
        spans = [o for o in feature["offsets"] if o is not None]
        covered.update(spans)
        if previous_end is not None:
            assert spans[0][0] < previous_end, "windows overlap (doc stride)"
        previous_end = spans[-1][1]
    assert covered == full_spans
    # the answer sits in the last window(s) only: earlier windows are labelled CLS
    answer_start = ex["answers"]["answer_start"][0]
    holding = [i for i, f in enumerate(features)
               if any(o is not None and o[0] <= answer_start < o[1] for o in f["offsets"])
               and max(o[1] for o in f["offsets"] if o) >= answer_start + len("the old oak tree")]
    assert holding and holding[0] > 0
    for i, labelled in enumerate(train):
        if i in holding:
            assert labelled["start_positions"] != CLS_INDEX
        else:
            assert (labelled["start_positions"], labelled["end_positions"]) == (CLS_INDEX, CLS_INDEX)
    # eval: logits that favour a wrong span in the first window but the answer (more strongly) in
    # a later window decode to the answer, cut out of the original context
    logits = []
    for i, feature in enumerate(features):
        context_tokens = [t for t, o in enumerate(feature["offsets"]) if o is not None]
        if i == holding[-1]:
            labelled = train[i]
            logits.append(oracle_logits(feature, labelled["start_positions"], labelled["end_positions"], high=9.0))
        else:
            logits.append(oracle_logits(feature, context_tokens[0], context_tokens[1], high=4.0))
    assert FMT.decode([ex], features, logits, task) == ["the old oak tree"]


def one_token_words(n: int) -> str:
    """A context of ``n`` words that the tiny tokenizer keeps as one token each."""
    words = "the cat sat on the mat .".split()
    return " ".join(words[i % len(words)] for i in range(n))


def window_starts(features, context: str, tokenizer) -> list[tuple[int, int]]:
    """(first context token, number of context tokens) of each window, as positions in the
    tokenization of the context alone."""
    offsets = [tuple(o) for o in tokenizer(context, add_special_tokens=False,
                                           return_offsets_mapping=True)["offset_mapping"]]
    spans = []
    for feature in features:
        inside = [o for o in feature["offsets"] if o is not None]
        spans.append((offsets.index(inside[0]), len(inside)))
    return spans


def test_xtreme_windows_start_every_doc_stride_tokens(tiny_tokenizer):
    """XTREME's run_squad.py (and jiant): window k starts at k * 128; 384 tokens per window, here
    3 special tokens and a 4-token question leave L = 377 context tokens, so an 800-token context is
    cut at 0, 128, 256, 384, 512 (the last window is the first one that reaches the end). Hugging
    Face's run_qa.py, kept as ``windows: hf``, overlaps windows by 128 instead: 0, 249, 498."""
    context = one_token_words(800)
    ex = {"id": "w", "question": "who wrote the book", "context": context,
          "answers": {"text": ["cat"], "answer_start": [4]}}
    assert len(tiny_tokenizer(ex["question"], add_special_tokens=False)["input_ids"]) == 4
    room = 384 - 3 - 4
    xtreme = FMT.featurize([ex], tiny_tokenizer, make_task(), 384, train=False)
    assert window_starts(xtreme, context, tiny_tokenizer) == [(0, room), (128, room), (256, room), (384, room),
                                                              (512, 800 - 512)]
    assert all(len(f["input_ids"]) <= 384 for f in xtreme)
    assert len(xtreme[0]["input_ids"]) == 384
    # the same windows when training, with the same token ids
    train = FMT.featurize([ex], tiny_tokenizer, make_task(), 384, train=True)
    assert [f["input_ids"] for f in train] == [f["input_ids"] for f in xtreme]
    # the window's ids are what the tokenizer gives for the question and that stretch of context
    stretch = " ".join(context.split()[128:128 + room])
    assert xtreme[1]["input_ids"] == tiny_tokenizer(ex["question"], stretch)["input_ids"]
    hf = FMT.featurize([ex], tiny_tokenizer, make_task(windows="hf"), 384, train=False)
    assert window_starts(hf, context, tiny_tokenizer) == [(0, room), (room - 128, room), (2 * (room - 128), 800 - 2 * (room - 128))]
    assert "max_context" not in hf[0]


def test_xtreme_windows_match_the_reference_closed_form():
    """Window k starts at 128 k, holds min(N - 128 k, L) tokens, k = 0 .. max(0, ceil((N - L) / 128))."""
    from harness.formats.qa import xtreme_spans

    for n in (0, 1, 300, 361, 362, 489, 490, 700, 800, 1999):
        last = max(0, -(-(n - 361) // 128))
        assert xtreme_spans(n, 361, 128) == [(128 * k, min(n - 128 * k, 361)) for k in range(last + 1)]
    assert xtreme_spans(700, 361, 128) == [(0, 361), (128, 361), (256, 361), (384, 316)]
    # a stride longer than a window (short max_length) is cut to the window: no token is skipped
    assert xtreme_spans(10, 4, 128) == [(0, 4), (4, 4), (8, 2)]


def test_max_context_window_of_each_token():
    from harness.formats.qa import max_context_windows, xtreme_spans

    owner = max_context_windows(xtreme_spans(800, 361, 128))
    assert len(owner) == 800
    assert owner[0] == 0 and owner[200] == 0 and owner[250] == 1 and owner[799] == 4
    # 244 has 116 tokens of context on its nearer side in windows 0 (0-360) and 1 (128-488): the
    # earlier window wins the tie; 245 has 115 in window 0 and 117 in window 1
    assert owner[244] == 0 and owner[245] == 1
    # equal context on the nearer side: the longer window wins (+ 0.01 * length)
    assert max_context_windows([(0, 11), (2, 49)])[6] == 1
    assert max_context_windows([(0, 11), (2, 9)])[6] == 0


def test_decoding_takes_a_start_only_from_its_max_context_window(tiny_tokenizer):
    """A span that starts near the edge of window 0 scores highest there, but its start token has
    more context in window 1: the xtreme protocol ignores it in window 0 and answers from window 1;
    with ``windows: hf`` every window may start a span and the window-0 span wins."""
    context = one_token_words(60)
    ex = {"id": "m", "question": "who", "context": context, "answers": {"text": ["cat"], "answer_start": [4]}}
    results = {}
    for protocol in ("xtreme", "hf"):
        task = make_task(doc_stride=8, windows=protocol)
        features = FMT.featurize([ex], tiny_tokenizer, task, 32, train=False)
        assert len(features) >= 3
        first = [t for t, o in enumerate(features[0]["offsets"]) if o is not None]
        second = [t for t, o in enumerate(features[1]["offsets"]) if o is not None]
        edge = first[-2]                          # next to the end of window 0: little context there
        middle = second[len(second) // 2]
        logits = [np.full((len(f["input_ids"]), 2), -9.0, dtype=np.float32) for f in features]
        logits[0][edge, 0], logits[0][edge + 1, 1] = 9.0, 9.0
        logits[1][middle, 0], logits[1][middle, 1] = 5.0, 5.0
        o0, o1 = features[0]["offsets"], features[1]["offsets"]
        results[protocol] = (FMT.decode([ex], features, logits, task)[0],
                             context[o0[edge][0]:o0[edge + 1][1]], context[o1[middle][0]:o1[middle][1]])
        if protocol == "xtreme":
            assert edge not in features[0]["max_context"] and middle in features[1]["max_context"]
    prediction, edge_span, middle_span = results["xtreme"]
    assert prediction == middle_span != edge_span
    prediction, edge_span, _ = results["hf"]
    assert prediction == edge_span


def test_the_window_protocol_is_part_of_the_content_keys(tmp_path):
    """Another window protocol changes the numbers: results and checkpoints must not be reused."""
    import copy

    from harness.run.pipeline import Pipeline
    from harness.run.request import RunRequest
    from harness.spec.registry import build_registry

    def keys(windows):
        reg = build_registry()
        for name in ("squad", "xquad"):
            reg.tasks[name].spec = copy.deepcopy(reg.tasks[name].spec)
            reg.tasks[name].spec.options["windows"] = windows
        plan = Pipeline(reg, RunRequest(model="minilm", targets=["xquad"], intermediate=["squad"],
                                        output_dir=tmp_path, device="cpu"))
        task = reg.task("xquad")
        return plan.intermediate_key(), plan.target_key(task), plan.cell_key(task, "de", "test")

    xtreme, hf = keys("xtreme"), keys("hf")
    assert all(a != b for a, b in zip(xtreme, hf))
    assert keys("xtreme") == xtreme


def test_unknown_window_protocol_is_a_config_error(tiny_tokenizer):
    with pytest.raises(ConfigError, match="options.windows: 'run_qa' is not one of xtreme, hf"):
        FMT.featurize([example("a b c", "b")], tiny_tokenizer, make_task(windows="run_qa"), 64, train=False)


def test_questions_longer_than_the_window_are_cut(tiny_tokenizer):
    task = make_task()
    ex = example("The answer is forty two.", "forty two", question="why " * 200)
    features = FMT.featurize([ex], tiny_tokenizer, task, 48, train=True)
    assert features and all(len(f["input_ids"]) <= 48 for f in features)
    assert any(f["start_positions"] != CLS_INDEX for f in features)
    with pytest.raises(HarnessError, match="max_length 5"):
        FMT.featurize([ex], tiny_tokenizer, task, 5, train=True)


# ----------------------------------------------------------------------------------- decoding
def _feature(offsets, example_index=0):
    return {"example_index": example_index, "input_ids": [0] * len(offsets), "offsets": offsets}


def test_decode_picks_the_best_valid_span_across_windows():
    context = "alpha beta gamma delta epsilon zeta eta theta"
    words, position = [], 0
    for word in context.split():
        start = context.index(word, position)
        words.append((start, start + len(word)))
        position = start + len(word)
    ex = {"id": "d", "question": "q", "context": context, "answers": {"text": ["gamma"], "answer_start": [11]}}
    # window 1: [CLS] q [SEP] alpha..epsilon [SEP]; window 2: [CLS] q [SEP] delta..theta [SEP]
    w1 = _feature([None, None, None] + words[0:5] + [None])
    w2 = _feature([None, None, None] + words[3:8] + [None])
    task = make_task(max_answer_length=3, n_best=20)

    def logits(**marks):
        array = np.full((9, 2), -10.0, dtype=np.float32)
        for key, value in marks.items():
            kind, position = key[0], int(key[1:])
            array[position, 0 if kind == "s" else 1] = value
        return array

    # window 1: the question token scores highest but is never an answer; the best start ("epsilon")
    # and the best end ("alpha", before it) make no valid pair; the best valid span is "beta gamma" (12)
    l1 = logits(s1=50.0, e1=50.0, s7=20.0, e3=19.0, s4=6.0, e5=6.0)
    assert FMT.decode([ex], [w1], [l1], task) == ["beta gamma"]
    # window 2 holds a better valid span, "epsilon zeta" (13.5): it wins across windows
    l2 = logits(s4=7.0, e5=6.5)
    assert FMT.decode([ex], [w1, w2], [l1, l2], task) == ["epsilon zeta"]
    assert FMT.decode([ex], [w2, w1], [l2, l1], task) == ["epsilon zeta"]
    # window 2's top span "delta .. theta" (20) has 5 tokens: too long for max_answer_length 3 ...
    l3 = logits(s3=10.0, e7=10.0)
    assert FMT.decode([ex], [w1, w2], [l1, l3], task) == ["beta gamma"]
    # ... but allowed with max_answer_length 5
    assert FMT.decode([ex], [w1, w2], [l1, l3], make_task(max_answer_length=5)) == ["delta epsilon zeta eta theta"]
    # n_best=1 only pairs the single best start with the single best end (both the question token)
    assert FMT.decode([ex], [w1], [l1], make_task(max_answer_length=3, n_best=1)) == [""]
    # a window without context tokens offers nothing: empty answer
    empty = _feature([None, None, None])
    assert FMT.decode([ex], [empty], [np.zeros((3, 2), dtype=np.float32)], task) == [""]


def test_decode_groups_windows_by_example_and_skips_whitespace_spans():
    task = make_task()
    a = {"id": "a", "question": "q", "context": "red green blue", "answers": {"text": ["red"], "answer_start": [0]}}
    b = {"id": "b", "question": "q", "context": "one two  three", "answers": {"text": ["two"], "answer_start": [4]}}
    # b's window has a sentencepiece-like token covering only the space at 7..8
    features = [_feature([None, (0, 3), (4, 7), (7, 8), (9, 14)], 1),
                _feature([None, (0, 3), (4, 9), (10, 14)], 0)]
    logits = [np.array([[0, 0], [-9, -9], [4, 4], [8, 8], [-9, -9]], dtype=np.float32),
              np.array([[0, 0], [-9, -9], [-9, -9], [5, 5]], dtype=np.float32)]
    assert FMT.decode([a, b], features, logits, task) == ["blue", "two"]


# ----------------------------------------------------------------------------------- scoring
def test_score_squad_and_mlqa_metrics():
    examples = [
        {"id": "1", "question": "q", "context": "the Eiffel Tower", "answers": {"text": ["the Eiffel Tower"], "answer_start": [0]}},
        {"id": "2", "question": "q", "context": "in 1889", "answers": {"text": ["1889"], "answer_start": [3]}},
    ]
    perfect = FMT.score(examples, ["Eiffel Tower", "1889"], make_task(), "en")
    assert perfect == {"exact_match": 100.0, "f1": 100.0, "score": 100.0}
    half = FMT.score(examples, ["Tower", "1890"], make_task(), "en")
    assert half["exact_match"] == 0.0 and 0 < half["f1"] < 100
    assert half["score"] == pytest.approx((half["exact_match"] + half["f1"]) / 2)
    zh = [{"id": "z", "question": "q", "context": "莱茵河流入北海。", "answers": {"text": ["北海"], "answer_start": [5]}}]
    mlqa = FMT.score(zh, ["流入北海"], make_task("mlqa_em_f1"), "zh")
    assert mlqa["exact_match"] == 0.0 and mlqa["f1"] == pytest.approx(100 * 2 * 0.5 * 1 / 1.5)
    with pytest.raises(ConfigError):
        FMT.score(zh, ["北海"], make_task("accuracy"), "zh")


# ----------------------------------------------------------------------------------- samples and plugins
@pytest.mark.parametrize("name,stem", [(n, f) for n, files in QA_SAMPLE_FILES.items() for f in files])
def test_sample_files_have_exact_offsets(name, stem):
    path = SAMPLES / name / f"{stem}.jsonl"
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    assert len(rows) >= 4
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert set(row) >= {"id", "context", "question", "answers"}
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
            assert row["context"][start:start + len(text)] == text


def test_samples_load_through_the_plugins():
    from harness.run.data import load_examples
    from harness_plugins.tydiqa import id_language

    reg = registry()
    counts = {}
    for name, files in QA_SAMPLE_FILES.items():
        task = reg.task(name)
        assert task.format == "qa" and task.spec.options["doc_stride"] == 128
        for stem in files:
            split, language = stem.split("-")
            examples = load_examples(reg.plugins, task, split, language, source="samples")
            counts[(name, stem)] = len(examples)
            for ex in examples:
                assert ex["answers"]["text"] and isinstance(ex["question"], str)
                if name == "tydiqa":
                    assert id_language(ex["id"]) == language
    assert counts[("squad", "train-en")] >= 30
    # XQuAD is parallel: the same ids in every language
    ids = {lang: [e["id"] for e in load_examples(reg.plugins, reg.task("xquad"), "test", lang, source="samples")]
           for lang in ("en", "de", "ru", "zh")}
    assert ids["en"] == ids["de"] == ids["ru"] == ids["zh"]
    assert reg.task("xquad").spec.train_task == "squad" and reg.task("mlqa").spec.train_task == "squad"


def test_tydiqa_hub_rows_keep_only_the_requested_language(tmp_path):
    """hub_rows reads one all-language config and keeps the rows whose id prefix is the language
    (a local directory stands in for the hub repository: same loader, same row schema)."""
    from harness_plugins.tydiqa import TyDiQA

    rows = []
    for stem in ("test-en", "test-ru", "test-ar", "test-fi"):
        rows += [json.loads(line) for line in open(SAMPLES / "tydiqa" / f"{stem}.jsonl", encoding="utf-8")]
    (tmp_path / "validation.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                                               encoding="utf-8")
    task = TyDiQA()
    task.spec = TaskSpec(name="tydiqa", kind="target", plugin="tydiqa", format="qa", metric="squad_em_f1",
                         languages=["en", "ru", "ar", "fi"], hub=HubSource(path=str(tmp_path)),
                         splits={"train": "train", "test": "validation"})
    for language, prefix in (("ru", "russian-"), ("ar", "arabic-"), ("fi", "finnish-")):
        got = [row["id"] for _, _, row in task.hub_rows("test", language)]
        assert got == [r["id"] for r in rows if r["id"].startswith(prefix)]
    assert list(task.hub_rows("test", "sw")) == []


# ----------------------------------------------------------------------------------- model
def test_head_shapes_masking_and_loss(tiny_model):
    task = make_task()
    head = FMT.build_head(tiny_model.hidden_size, task)
    assert isinstance(head, QAHead)
    examples = [example("Paris is the capital of France.", "France"),
                example("The cat sat on the mat in the afternoon sun.", "the mat")]
    features = FMT.featurize(examples, tiny_model.tokenizer, task, 128, train=True)
    batch = FMT.collate(features, tiny_model.tokenizer.pad_token_id)
    assert batch["start_positions"].shape == (len(features),)
    out = head(tiny_model.encoder, batch)
    width = batch["input_ids"].shape[1]
    assert out["logits"].shape == (len(features), width, 2)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    short = min(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    pad_from = len(features[short]["input_ids"])
    assert pad_from < width
    assert (out["logits"][short, pad_from:] < -1e30).all()      # padding can never be predicted


def test_training_on_the_squad_sample_lowers_the_loss(tiny_model):
    from harness.run.data import load_examples

    torch.manual_seed(0)
    reg = registry()
    task = reg.task("squad")
    examples = load_examples(reg.plugins, task, "train", "en", source="samples")
    features = FMT.featurize(examples, tiny_model.tokenizer, task, 128, train=True)
    answered = [f for f in features if f["start_positions"] != CLS_INDEX][:8]
    batch = FMT.collate(answered, tiny_model.tokenizer.pad_token_id)
    tiny_model.heads["squad"] = FMT.build_head(tiny_model.hidden_size, task)
    model = tiny_model.task_model("squad")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = model(batch, "squad")["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]


def test_overfitting_a_few_questions_then_evaluating_finds_their_answers(tiny_model):
    """Train on three short examples until the loss is small: evaluate must then return their answers
    (exercises featurize -> collate -> head -> predict -> decode -> score end to end)."""
    torch.manual_seed(0)
    task = make_task()
    examples = [example("Paris is the capital of France .", "Paris", "What is the capital of France ?", "a"),
                example("The book was written by Jane Austen in 1813 .", "Jane Austen", "Who wrote the book ?", "b"),
                example("The cat sat on the mat .", "the mat", "Where did the cat sit ?", "c")]
    tiny_model.heads["qa-test"] = FMT.build_head(tiny_model.hidden_size, task)
    model = tiny_model.task_model("qa-test")
    batch = FMT.collate(FMT.featurize(examples, tiny_model.tokenizer, task, 64, train=True),
                        tiny_model.tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(60):
        loss = model(batch, "qa-test")["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    result = FMT.evaluate(tiny_model, task, examples, "en", Hyperparams(max_length=64))
    assert result.predictions == ["Paris", "Jane Austen", "the mat"]
    assert result.metrics == {"exact_match": 100.0, "f1": 100.0, "score": 100.0}
    assert result.golds == [["Paris"], ["Jane Austen"], ["the mat"]]


@pytest.mark.parametrize("name,language", [("xquad", "de"), ("mlqa", "zh")])
def test_evaluate_on_a_sample_returns_em_f1_score(tiny_model, name, language):
    from harness.run.data import load_examples

    reg = registry()
    task = reg.task(name)
    examples = load_examples(reg.plugins, task, "test", language, source="samples")
    torch.manual_seed(0)
    tiny_model.heads[name] = FMT.build_head(tiny_model.hidden_size, task)
    result = ExtractiveQA().evaluate(tiny_model, task, examples, language, Hyperparams(max_length=128))
    assert set(result.metrics) == {"exact_match", "f1", "score"}
    for value in result.metrics.values():
        assert 0.0 <= value <= 100.0
    assert result.metrics["score"] == pytest.approx((result.metrics["exact_match"] + result.metrics["f1"]) / 2)
    assert len(result.predictions) == len(examples) == len(result.ids)
    for ex, prediction in zip(examples, result.predictions):
        assert prediction in ex["context"]
        assert prediction != ""     # every window has context tokens: some valid span always exists
    assert result.stats["examples_per_s"] > 0
