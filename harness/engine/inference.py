"""Batched inference shared by every trainable format: length-sorted, token-budget batches, timed."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from harness.engine import distributed
from harness.engine.memory import peak_memory

if TYPE_CHECKING:  # pragma: no cover
    from harness.spec.hparams import Hyperparams


def length_sorted_batches(lengths: list[int], batch_size: int, token_budget: int = 0) -> list[list[int]]:
    """Indices grouped longest-first into batches of at most ``batch_size`` items and (when
    ``token_budget`` > 0) at most ``token_budget`` padded tokens. Sorting removes padding waste."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[current[0]] if current else lengths[index]
        too_many = len(current) >= batch_size
        too_wide = token_budget > 0 and current and (len(current) + 1) * width > token_budget
        if current and (too_many or too_wide):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def autocast_context(device: torch.device, mixed_precision: str):
    if device.type == "cuda" and mixed_precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cuda" and mixed_precision == "fp16":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


class BatchTimer:
    """Per-batch latency without a host sync per batch: wall clock on CPU; on CUDA, events recorded
    on the stream and read once at the end (host collation included via the first event)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self._marks: list[Any] = []

    def start(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def stop(self, started: Any) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append((started, event))
        else:
            self._marks.append(time.perf_counter() - started)

    def latencies(self) -> list[float]:
        """Seconds per batch (synchronises once, on CUDA)."""
        if self.cuda:
            torch.cuda.synchronize()
            return [begin.elapsed_time(end) / 1000.0 for begin, end in self._marks]
        return list(self._marks)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Host -> device copies that do not block the host (pinned memory on CUDA); values that are
    not tensors (image references) pass unchanged."""
    if device.type == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()}
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.inference_mode()
def predict(model: Any, task_name: str, fmt: Any, features: list[dict[str, Any]],
            settings: "Hyperparams") -> tuple[list[np.ndarray], dict[str, float]]:
    """Run ``model.heads[task_name]`` over ``features``; return per-feature logits (feature order)
    and timing stats (seconds, p50/p95 batch latency in ms, peak memory). On CUDA the logits stay
    on the device until the end: no host sync inside the loop."""
    task_model = model.task_model(task_name)
    task_model.eval()
    device = model.device
    lengths = [fmt.length(f) for f in features]
    batches = length_sorted_batches(lengths, settings.eval_batch_size, settings.eval_token_budget)
    outputs: list[np.ndarray | None] = [None] * len(features)
    pending: list[tuple[list[int], Any]] = []
    timer = BatchTimer(device)
    pad_id = model.tokenizer.pad_token_id or 0
    start = time.perf_counter()
    with peak_memory(device) as memory:
        for number, indices in enumerate(batches):
            if not distributed.share(number, len(batches)):
                continue   # another process's batch (several processes: gathered below)
            started = timer.start()
            batch = fmt.collate([features[i] for i in indices], pad_id)
            batch = to_device({k: v for k, v in batch.items() if k != "labels"}, device)
            with autocast_context(device, settings.mixed_precision):
                logits = task_model(batch, task_name)["logits"].float()
            pending.append((indices, logits if timer.cuda else logits.numpy()))
            timer.stop(started)
        latencies = timer.latencies()
        for indices, logits in pending:
            logits = logits.cpu().numpy() if isinstance(logits, torch.Tensor) else logits
            for row, index in enumerate(indices):
                value = logits[row]
                outputs[index] = value[: lengths[index]] if fmt.per_token else value
    timer_latencies = latencies
    if distributed.world_size() > 1:   # each process computed a share of the batches: gather them
        mine = {index: value for index, value in enumerate(outputs) if value is not None}
        latencies = []
        for part, their_latencies in distributed.gather((mine, timer_latencies)):
            for index, value in part.items():
                outputs[index] = value
            latencies.extend(their_latencies)
    seconds = time.perf_counter() - start
    stats = {"seconds": seconds, "batches": len(batches), **memory.stats(), **latency_stats(latencies)}
    return outputs, stats  # type: ignore[return-value]


def latency_stats(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"latency_p50_ms": 0.0, "latency_p95_ms": 0.0}
    values = np.asarray(latencies) * 1000.0
    return {"latency_p50_ms": float(np.percentile(values, 50)),
            "latency_p95_ms": float(np.percentile(values, 95))}
