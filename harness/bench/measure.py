"""Timing one cell: every arm (model x variant) warms up, then the arms take turns in chunks of
iterations (:func:`harness.bench.stats.turn_order`), each iteration one batch of the cell's
workload through the batched engine evaluation uses (host batch -> device -> forward -> host copy;
collation happens before the clock starts), timed alone by the engine's timer in ``sync`` mode (on
a GPU the device is synchronised at the end of each iteration: the latency is a user's). Memory is
sampled during each turn: process RSS (a background sampler), and on a GPU
``max_memory_allocated`` / ``max_memory_reserved`` since the start of the turn.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness.bench import stats
from harness.bench.inputs import Workload
from harness.bench.variants import Runner
from harness.engine.batches import BatchTimer, synchronize
from harness.engine.inference import predict_features
from harness.engine.memory import peak_memory


@dataclass
class Arm:
    """One model as one variant, with what loading it cost."""

    role: str            # "model" or "compare"
    spec: str            # as given on the command line
    runner: Runner
    loaded: dict[str, Any] = field(default_factory=dict)   # source, checkpoint, head, parameters, memory

    @property
    def variant(self) -> str:
        return self.runner.variant


@dataclass
class Timings:
    """The timed iterations of one arm in one cell: one list of seconds per round."""

    chunks: list[list[float]] = field(default_factory=list)
    examples: int = 0
    tokens: int = 0
    peak_host_mb: float = 0.0
    gpu_allocated_mb: float | None = None
    gpu_reserved_mb: float | None = None


def time_cell(arms: list[Arm], workloads: list[Workload], iterations: int, warmup: int, chunk: int,
              device: torch.device) -> list[Timings]:
    """Interleaved timings of ``arms`` (``workloads[i]`` is arm i's; its batches on the host, or
    already on the runner's device)."""
    n_batches = len(workloads[0].batches)
    for arm, work in zip(arms, workloads):
        for i in range(warmup):
            arm.runner(work.batches[i % n_batches])
    synchronize(device)
    rounds = math.ceil(iterations / chunk)
    results = [Timings() for _ in arms]
    for turn, index in enumerate(stats.turn_order(len(arms), rounds)):
        start_iteration = (turn // len(arms)) * chunk
        arm, work, result = arms[index], workloads[index], results[index]
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        timer = BatchTimer(device, sync=True)
        with peak_memory(device) as memory:
            for i in range(start_iteration, min(start_iteration + chunk, iterations)):
                b = i % n_batches
                started = timer.start()
                arm.runner(work.batches[b])
                timer.stop(started)
                result.examples += work.examples[b]
                result.tokens += work.tokens[b]
        result.chunks.append(timer.latencies())
        result.peak_host_mb = max(result.peak_host_mb, memory.stats()["peak_host_mb"])
        if device.type == "cuda":
            result.gpu_allocated_mb = max(result.gpu_allocated_mb or 0.0, torch.cuda.max_memory_allocated(device) / 2**20)
            result.gpu_reserved_mb = max(result.gpu_reserved_mb or 0.0, torch.cuda.max_memory_reserved(device) / 2**20)
    return results


def figures(timings: Timings, work: Workload, rss_baseline_mb: float) -> dict[str, Any]:
    """Percentiles, bootstrap intervals, throughput and memory of one arm's timings."""
    seconds = [s for chunk in timings.chunks for s in chunk]
    batch_ms = [s * 1000.0 for s in seconds]
    total = sum(seconds)
    per_example = [s * 1000.0 / work.examples[i % len(work.examples)] for i, s in enumerate(seconds)]
    chunks_ms = [[s * 1000.0 for s in chunk] for chunk in timings.chunks]
    memory: dict[str, Any] = {"rss_baseline_mb": round(rss_baseline_mb, 1), "peak_host_mb": round(timings.peak_host_mb, 1),
                              "peak_delta_mb": round(timings.peak_host_mb - rss_baseline_mb, 1)}
    if timings.gpu_allocated_mb is not None:
        memory.update(gpu_max_allocated_mb=round(timings.gpu_allocated_mb, 1),
                      gpu_max_reserved_mb=round(timings.gpu_reserved_mb or 0.0, 1))
    return {
        "iterations": len(seconds),
        "latency_ms": stats.summary(batch_ms),
        "latency_ci95_ms": {"p50": list(stats.percentile_ci(chunks_ms, 50)),
                            "p95": list(stats.percentile_ci(chunks_ms, 95))},
        "example_latency_ms": {"p50": float(np.percentile(per_example, 50)), "mean": float(np.mean(per_example))},
        "examples_per_s": timings.examples / max(total, 1e-12),
        "tokens_per_s": timings.tokens / max(total, 1e-12),
        "memory": memory,
    }


def comparisons(arms: list[Arm], timings: list[Timings], margin: float) -> list[dict[str, Any]]:
    """Per arm: its A/B against the same variant of the first model ("ab", compare arms only) and
    against its own model's fp32 arm ("vs_fp32", other variants only)."""
    index = {(a.role, a.variant): i for i, a in enumerate(arms)}
    found: list[dict[str, Any]] = []
    for arm, own in zip(arms, timings):
        entry: dict[str, Any] = {}
        base = index.get(("model", arm.variant))
        if arm.role == "compare" and base is not None:
            entry["ab"] = {"against": f"model {arms[base].spec}",
                           **stats.compare(timings[base].chunks, own.chunks, margin)}
        fp32 = index.get((arm.role, "fp32"))
        if arm.variant != "fp32" and fp32 is not None:
            entry["vs_fp32"] = {"against": "fp32", **stats.compare(timings[fp32].chunks, own.chunks, margin)}
        found.append(entry)
    return found


def predict_logits(runner: Runner, fmt: Any, features: list[dict[str, Any]], batch_size: int, pad_id: int
                   ) -> list[np.ndarray]:
    """Per-feature logits (feature order) of a runner: its step over the features through the code
    evaluation predicts with (:func:`harness.engine.inference.predict_features`)."""
    if runner.engine is None or runner.step is None:
        raise ValueError(f"runner {runner.variant!r} was not built through the engine (Runner.through)")
    outputs, _ = predict_features(runner.engine, runner.step, fmt, features, pad_id, batch_size=batch_size)
    return outputs


def accuracy(runner: Runner, tokenizer: Any, task: Any, fmt: Any, examples: list[dict[str, Any]], language: str,
             max_length: int, batch_size: int = 32) -> tuple[dict[str, float], list[Any]]:
    """The task's metrics of one runner on ``examples``, and its predictions."""
    features = fmt.featurize(examples, tokenizer, task, max_length, train=False)
    logits = predict_logits(runner, fmt, features, batch_size, tokenizer.pad_token_id or 0)
    predictions = fmt.decode(examples, features, logits, task)
    return fmt.score(examples, predictions, task, language), predictions
