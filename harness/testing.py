"""Helpers for testing plugins, public API: a third-party package's tests need only the harness.

* :func:`build_tiny_model` writes a random-init BERT (a few layers, hidden size 32 by default) and a
  WordPiece tokenizer trained on a small multilingual corpus to a directory: pass that directory as
  ``--model``. It builds in well under a second, offline, and trains in seconds on a CPU.
* :func:`run_cli` runs ``harness ARGS`` in-process (click's ``CliRunner``), offline, and returns the
  result (``exit_code``, ``stdout``, ``stderr``, ``output``).

Example (pytest)::

    import pytest
    from harness.testing import build_tiny_model, run_cli

    @pytest.fixture(scope="session")
    def tiny_model(tmp_path_factory):
        return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))

    def test_end_to_end(tiny_model, tmp_path):
        result = run_cli("eval", "--model", tiny_model, "--targets", "xsent", "--limit", "8",
                         "--hparam", "epochs=1", "-o", tmp_path)
        assert result.exit_code == 0, result.output

This module imports no torch at import time (the builder imports it when called).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

#: sentences the tiny tokenizer is trained on: English, German, Russian, Chinese, Arabic, French,
#: Spanish, so that every sample language has real word pieces
CORPUS: tuple[str, ...] = (
    "The cat sat on the mat .", "A man is playing a guitar on stage .",
    "Der Hund läuft schnell über die Wiese .", "Die Katze schläft auf dem Sofa .",
    "Собака быстро бежит по лугу .", "Кошка спит на диване .",
    "狗在草地上快速奔跑。", "猫在沙发上睡觉。", "الكلب يركض بسرعة في المرج .",
    "Le chien court vite dans le pré .", "El perro corre rápido por el prado .",
    "Who wrote the book ? The book was written by Jane Austen in 1813 .",
    "Paris is the capital of France . Berlin is the capital of Germany .",
)

#: what :func:`run_cli` sets unless the caller's ``env`` says otherwise: nothing is downloaded
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def build_tiny_model(directory: str | Path, hidden: int = 32, layers: int = 2, heads: int = 2,
                     corpus: Iterable[str] = CORPUS, vocab_size: int = 400, seed: int = 0) -> Path:
    """Write a random-init BERT (``layers`` x ``hidden``, ``heads`` attention heads; weights fixed by
    ``seed``) and a lower-casing WordPiece tokenizer trained on ``corpus`` to ``directory``, in the
    Hugging Face layout (``config.json``, ``model.safetensors``, tokenizer files). Returns the directory."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(list(corpus) * 3, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)
    fast.save_pretrained(directory)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        config = BertConfig(vocab_size=fast.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=512)
        BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    finally:
        torch.random.set_rng_state(state)
    return directory


def run_cli(*args: Any, env: Mapping[str, str] | None = None, catch_exceptions: bool = False) -> Any:
    """``harness ARGS`` in-process; arguments may be paths or numbers (turned into strings). ``env``
    is added to the environment for this call, over :data:`OFFLINE_ENV`. Returns click's ``Result``:
    ``exit_code``, ``stdout`` (tables, JSON), ``stderr`` (warnings, errors), ``output`` (both)."""
    from click.testing import CliRunner

    from harness.commands import cli

    merged = {key: value for key, value in OFFLINE_ENV.items() if key not in os.environ}
    merged.update(env or {})
    return CliRunner().invoke(cli, [str(arg) for arg in args], env=merged, catch_exceptions=catch_exceptions)
