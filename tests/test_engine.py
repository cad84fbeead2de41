"""The batched-execution engine (harness/engine/batches.py): input order restored, outputs equal to
a plain loop bit for bit, one host copy per run, timing (and device syncs) only when asked; and
prediction, encoding and the bench runners all running through it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.engine import batches as engine_module
from harness.engine.batches import Engine, length_sorted_batches, precision_policy, to_device

CPU = torch.device("cpu")


def _items(n: int = 23, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 50, size=int(rng.integers(1, 12))).tolist() for _ in range(n)]


def _collate(items: list[list[int]]):
    def collate(indices: list[int]) -> dict[str, torch.Tensor]:
        width = max(len(items[i]) for i in indices)
        ids = torch.zeros((len(indices), width), dtype=torch.long)
        for row, i in enumerate(indices):
            ids[row, : len(items[i])] = torch.tensor(items[i])
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}
    return collate


class TinyTagger(nn.Module):
    """Embedding -> one attention-free mixing layer -> per-token logits (shapes like a tagging head)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.mix, self.out = nn.Embedding(50, 16), nn.Linear(16, 16), nn.Linear(16, 5)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = torch.tanh(self.mix(self.embed(batch["input_ids"])))
        return self.out(hidden)                                   # [B, L, 5]


def test_rows_come_back_in_input_order_and_per_token_widths_are_padded():
    items = _items()
    lengths = [len(x) for x in items]
    batches = length_sorted_batches(lengths, batch_size=4)
    assert len(batches) > 1 and sorted(i for b in batches for i in b) == list(range(len(items)))

    run = Engine(CPU, "auto").run(lambda b: b["input_ids"].float(), batches, _collate(items), len(items))
    assert run.rows is not None and run.rows.shape == (len(items), max(lengths)) and run.batches == len(batches)
    for i, item in enumerate(items):   # each row is its own item, zero-padded past its length
        assert run.rows[i, : len(item)].tolist() == item and not run.rows[i, len(item):].any()
    # a narrower first batch (not longest first) widens the buffer later
    reverse = [b[::-1] for b in batches[::-1]]
    again = Engine(CPU).run(lambda b: b["input_ids"].float(), reverse, _collate(items), len(items))
    np.testing.assert_array_equal(again.rows, run.rows)


def test_outputs_equal_a_plain_loop_bit_for_bit():
    items = _items(31, seed=1)
    model = TinyTagger().eval()
    batches = length_sorted_batches([len(x) for x in items], batch_size=5, token_budget=24)
    collate = _collate(items)
    expected: list[np.ndarray | None] = [None] * len(items)
    with torch.no_grad():
        for indices in batches:                                   # the naive loop over the same batches
            logits = model(collate(indices)).numpy()
            for row, i in enumerate(indices):
                expected[i] = logits[row, : len(items[i])]
    run = Engine(CPU, "auto").run(model, batches, collate, len(items), timing="stream")
    assert run.rows is not None
    for i, item in enumerate(items):
        got = run.rows[i, : len(item)]
        assert got.dtype == expected[i].dtype and got.tobytes() == expected[i].tobytes()


def test_one_host_copy_per_run(monkeypatch):
    copies: list[tuple[int, ...]] = []
    real = engine_module.to_host

    def counting(tensor):
        copies.append(tuple(tensor.shape))
        return real(tensor)

    monkeypatch.setattr(engine_module, "to_host", counting)
    items = _items(40)
    batches = length_sorted_batches([len(x) for x in items], batch_size=3)
    assert len(batches) >= 10
    Engine(CPU).run(lambda b: b["input_ids"].float().sum(1, keepdim=True), batches, _collate(items), len(items))
    assert copies == [(40, 1)]                                    # one copy, of the whole buffer
    rows = Engine(CPU).run_batch(lambda b: b["input_ids"].float(), _collate(items)([0, 1, 2]))
    assert rows.shape[0] == 3 and len(copies) == 2


@pytest.mark.parametrize("timing, per_batch_syncs", [("off", False), ("stream", False), ("sync", True)])
def test_timing_and_syncs_only_when_asked(monkeypatch, timing, per_batch_syncs):
    syncs: list[torch.device] = []
    clock_reads = [0]
    real_clock = engine_module.time.perf_counter

    def clock() -> float:
        clock_reads[0] += 1
        return real_clock()

    monkeypatch.setattr(engine_module, "synchronize", syncs.append)
    monkeypatch.setattr(engine_module.time, "perf_counter", clock)
    items = _items(12)
    batches = length_sorted_batches([len(x) for x in items], batch_size=4)
    run = Engine(CPU).run(lambda b: b["input_ids"].float(), batches, _collate(items), len(items), timing=timing)
    monkeypatch.undo()
    if timing == "off":
        assert run.batch_seconds is None and clock_reads[0] == 2   # the run's start and end only
    else:
        assert run.batch_seconds is not None and len(run.batch_seconds) == len(batches)
        assert all(s >= 0 for s in run.batch_seconds)
    assert len(syncs) == (len(batches) if per_batch_syncs else 0)
    with pytest.raises(ValueError, match="timing"):
        Engine(CPU).run(lambda b: b["input_ids"], batches, _collate(items), len(items), timing="events")


def test_bad_step_output_is_named():
    items = _items(6)
    with pytest.raises(ValueError, match="one row per item"):
        Engine(CPU).run(lambda b: b["input_ids"][:1].float(), [[0, 1], [2, 3, 4, 5]], _collate(items), 6)


def test_precision_policy_and_transfer_on_cpu():
    for setting in ("auto", "no", "bf16", "fp16"):
        assert precision_policy(CPU, setting) == "no"             # autocast never runs on CPU
    assert Engine(CPU, "bf16").precision == "no"
    tensor, ref = torch.ones(2), object()
    moved = to_device({"x": tensor, "images": ref}, CPU)
    assert moved["x"] is tensor and moved["images"] is ref        # already there / not a tensor
    assert Engine(CPU).run(lambda b: b["x"], [], lambda i: {}, 0).rows is None


# ---------------------------------------------------------------- the callers run through the engine
def _tagging(tiny_model):
    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams
    from harness.spec.registry import build_registry

    task = build_registry().task("udpos")
    fmt = get_format(task.format)
    torch.manual_seed(0)
    tiny_model.heads[task.name] = fmt.build_head(tiny_model.hidden_size, task)
    examples = [{"id": str(i), "tokens": s.split(), "tags": ["NOUN"] * len(s.split())}
                for i, s in enumerate(["The cat sat on the mat .", "Der Hund läuft schnell über die Wiese .",
                                       "Кошка спит на диване .", "Who wrote the book ?", "A man is playing ."])]
    features = fmt.featurize(examples, tiny_model.tokenizer, task, 64, train=False)
    return task, fmt, features, Hyperparams(eval_batch_size=2)


def test_predict_equals_the_previous_loop_and_bench_accuracy_path(tiny_model):
    from harness.bench.measure import predict_logits
    from harness.bench.variants import build
    from harness.engine.inference import predict

    task, fmt, features, settings = _tagging(tiny_model)
    logits, stats = predict(tiny_model, task.name, fmt, features, settings)
    assert stats["batches"] == 3 and stats["latency_p95_ms"] >= stats["latency_p50_ms"] > 0
    # the loop predict ran before the engine: same batches, per-batch numpy, rows trimmed
    task_model = tiny_model.task_model(task.name).eval()
    lengths = [fmt.length(f) for f in features]
    expected: list = [None] * len(features)
    with torch.inference_mode():
        for indices in length_sorted_batches(lengths, settings.eval_batch_size, settings.eval_token_budget):
            batch = fmt.collate([features[i] for i in indices], 0)
            batch.pop("labels", None)
            out = task_model(batch, task.name)["logits"].float().numpy()
            for row, i in enumerate(indices):
                expected[i] = out[row][: lengths[i]]
    assert all(a.tobytes() == b.tobytes() and a.shape == b.shape for a, b in zip(logits, expected))
    # harness bench's fp32 runner predicts through the same code: the same numbers
    runner = build("fp32", task_model, task.name, CPU, fmt.collate(features[:2], 0), None)  # type: ignore[arg-type]
    assert runner.engine is not None and runner.info["mixed_precision"] == "no"
    bench = predict_logits(runner, fmt, features, settings.eval_batch_size, 0)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(bench, logits))


def test_bench_engine_script_runs_with_identical_outputs(tiny_model_path, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "engine.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_engine.py"), "--model", str(tiny_model_path),
                           "--n", "24", "--predict-n", "8", "--batch-size", "4", "--repeats", "1", "--chunks", "2",
                           "--json", str(out)], capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())["paths"]
    assert figures["encode"]["identical"] and figures["predict"]["identical"]
    assert figures["encode"]["ratio_best"] > 0 and "engine/before" in done.stdout
