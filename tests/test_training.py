"""The training loop's own rules: batching, multi-task mixing, gradient accumulation."""
from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry
from harness.run.data import load_examples
from harness.engine.training import build_schedule, length_grouped_batches, mixing_weights, train_model


def test_length_grouped_batches_cover_every_example_once_with_little_padding():
    rng = random.Random(0)
    lengths = [rng.randint(3, 120) for _ in range(500)]
    batches = length_grouped_batches(lengths, 16, random.Random(1), group=10)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(500))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    naive = sum(len(b) * max(lengths[i] for i in b) for b in
                (list(range(s, min(s + 16, 500))) for s in range(0, 500, 16)))
    assert padded < 0.8 * naive  # sorting within mega-batches removes most padding


def test_mixing_weights_follow_size_temperature_and_cap():
    assert mixing_weights({"a": 300, "b": 100}) == pytest.approx({"a": 0.75, "b": 0.25})
    # temperature 2: sqrt(300) : sqrt(100)
    assert mixing_weights({"a": 300, "b": 100}, temperature=2.0)["a"] == pytest.approx(17.3205 / 27.3205, abs=1e-4)
    assert mixing_weights({"a": 300, "b": 100}, cap=100) == pytest.approx({"a": 0.5, "b": 0.5})


def test_schedule_is_fixed_by_the_seed_and_proportional():
    lengths = {"big": [10] * 900, "small": [10] * 100}
    first = build_schedule(lengths, batch_size=10, epochs=1, seed=3)
    assert first == build_schedule(lengths, batch_size=10, epochs=1, seed=3)
    assert first != build_schedule(lengths, batch_size=10, epochs=1, seed=4)
    assert len(first) == 100  # one epoch = 90 + 10 batches
    counts = Counter(name for name, _ in first)
    assert 80 <= counts["big"] <= 98


@pytest.mark.parametrize("grad_accum, expected_updates", [(1, 7), (3, 3), (8, 1)])
def test_gradient_accumulation_updates_every_n_steps_and_at_the_end(tiny_model, grad_accum, expected_updates):
    registry = build_registry()
    task = registry.task("sst2")
    examples = load_examples(registry.plugins, task, "train", "en", source="samples", limit=28)
    before = {k: v.clone() for k, v in tiny_model.encoder.state_dict().items()}
    stats = train_model(tiny_model, [task], {"sst2": examples}, Hyperparams(batch_size=4, epochs=1, grad_accum=grad_accum,
                                                                            warmup_ratio=0.0, learning_rate=1e-3), seed=0)
    assert stats["steps"] == 7
    assert stats["optimizer_steps"] == expected_updates
    changed = any(not torch.equal(before[k], v) for k, v in tiny_model.encoder.state_dict().items())
    assert changed  # the trailing partial accumulation group was applied too


class Crash(Exception):
    pass


class CrashAfter:
    """A reporter that dies after N training steps, like a kill between two steps."""

    def __init__(self, steps: int):
        self.steps, self.seen = steps, 0
        self.log = lambda message: None

    def start(self, description, total):
        pass

    def advance(self, steps=1, **fields):
        self.seen += steps
        if self.seen >= self.steps:
            raise Crash()

    def finish(self):
        pass


def test_a_killed_training_phase_resumes_inside_the_phase(tiny_model_path, tmp_path):
    from harness.engine.modeling import load_pretrained
    from harness.engine.training import Reporter

    registry = build_registry()
    task = registry.task("sst2")
    examples = {"sst2": load_examples(registry.plugins, task, "train", "en", source="samples", limit=40)}
    hparams = Hyperparams(batch_size=4, epochs=1, learning_rate=1e-3, grad_accum=2)  # 10 steps, 5 updates
    fresh = lambda: load_pretrained(str(tiny_model_path), torch.device("cpu"))  # noqa: E731

    reference = fresh()
    expected = train_model(reference, [task], examples, hparams, seed=5)

    state_dir = tmp_path / "state"
    with pytest.raises(Crash):
        train_model(fresh(), [task], examples, hparams, seed=5, reporter=CrashAfter(7), state_dir=state_dir,
                    save_every_s=0)
    assert (state_dir / "train-state.pt").exists()  # saved at the last update boundary (step 6)

    logs: list[str] = []
    resumed = fresh()
    stats = train_model(resumed, [task], examples, hparams, seed=5, reporter=Reporter(logs.append),
                        state_dir=state_dir, save_every_s=0)
    assert any("resuming training at step 6 of 10" in line for line in logs)
    assert (stats["steps"], stats["optimizer_steps"], stats["examples"]) == \
           (expected["steps"], expected["optimizer_steps"], expected["examples"])
    for name, value in reference.encoder.state_dict().items():
        assert torch.equal(value, resumed.encoder.state_dict()[name]), name
    for name, value in reference.heads["sst2"].state_dict().items():
        assert torch.equal(value, resumed.heads["sst2"].state_dict()[name]), name
    assert stats["final_loss"] == pytest.approx(expected["final_loss"], rel=1e-6)


def test_training_state_of_another_configuration_is_ignored(tiny_model_path, tmp_path):
    from harness.engine.modeling import load_pretrained

    registry = build_registry()
    task = registry.task("sst2")
    examples = {"sst2": load_examples(registry.plugins, task, "train", "en", source="samples", limit=40)}
    state_dir = tmp_path / "state"
    with pytest.raises(Crash):
        train_model(load_pretrained(str(tiny_model_path), torch.device("cpu")), [task], examples,
                    Hyperparams(batch_size=4, epochs=1), seed=5, reporter=CrashAfter(3), state_dir=state_dir,
                    save_every_s=0)
    logs: list[str] = []
    from harness.engine.training import Reporter
    stats = train_model(load_pretrained(str(tiny_model_path), torch.device("cpu")), [task], examples,
                        Hyperparams(batch_size=8, epochs=1), seed=5, reporter=Reporter(logs.append),
                        state_dir=state_dir, save_every_s=0)
    assert not any("resuming" in line for line in logs)
    assert stats["steps"] == 5
