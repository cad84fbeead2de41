"""The ``train`` statistics of a phase carry its cost: wall time, examples/s, tokens/s real and
padded, peak memory and the optimizer state's size."""
from __future__ import annotations

import torch

from harness.engine.training import batch_tokens, train_model
from harness.formats import get_format
from harness.run.data import load_examples
from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry


def test_batch_tokens_counts_every_mask_on_the_host():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert batch_tokens({"input_ids": torch.zeros(2, 4, dtype=torch.long), "attention_mask": mask}) == (5, 8)
    dual = {"query_attention_mask": mask, "candidate_attention_mask": torch.ones(2, 3, dtype=torch.long),
            "positive_key": torch.tensor([0, 1])}
    assert batch_tokens(dual) == (11, 14)
    choices = torch.zeros(2, 3, 5, dtype=torch.long)   # multiple choice: batch x choices x length
    choices[:, :, :2] = 1
    assert batch_tokens({"input_ids": choices, "attention_mask": choices}) == (12, 30)
    assert batch_tokens({"input_ids": torch.zeros(3, 7, dtype=torch.long)}) == (21, 21)   # no mask: all real


def test_train_stats_are_present_and_plausible(tiny_model):
    registry = build_registry()
    task = registry.task("sst2")
    examples = load_examples(registry.plugins, task, "train", "en", source="samples", limit=24)
    hparams = Hyperparams(batch_size=4, epochs=1, learning_rate=1e-3, max_length=64)
    # the real tokens of one epoch are the lengths of the features, each seen once
    features = get_format(task.format).featurize(examples, tiny_model.tokenizer, task, 64, train=True)
    expected_real = sum(len(f["input_ids"]) for f in features)
    stats = train_model(tiny_model, [task], {"sst2": examples}, hparams, seed=0)
    assert stats["steps"] == 6 and stats["examples"] == 24
    assert stats["tokens_real"] == expected_real
    assert expected_real <= stats["tokens_padded"] <= 4 * max(len(f["input_ids"]) for f in features) * 6
    assert stats["tokens_per_s_real"] <= stats["tokens_per_s_padded"]
    assert abs(stats["tokens_per_s_real"] - stats["tokens_real"] / stats["seconds"]) <= 0.01 * stats["tokens_per_s_real"] + 1
    assert abs(stats["examples_per_s"] - 24 / stats["seconds"]) <= 0.01 * stats["examples_per_s"] + 0.1
    assert stats["wall_seconds"] >= stats["seconds"] > 0
    trainable = sum(p.numel() for p in tiny_model.encoder.parameters()) + \
        sum(p.numel() for p in tiny_model.heads["sst2"].parameters())
    assert stats["trainable_parameters"] == trainable
    assert stats["optimizer_state_bytes"] == 2 * 4 * trainable          # AdamW fp32: two moments per weight
    assert stats["peak_host_mb"] > 50                                    # a Python process with torch loaded
    assert "peak_gpu_mb" not in stats                                    # CPU run
