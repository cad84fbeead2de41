"""The one batched-execution engine: everything that runs a model over many inputs without training
goes through :meth:`Engine.run` (prediction in :mod:`harness.engine.inference`, sentence encoding in
:mod:`harness.engine.encoding`, image-text embeddings, and every arm of ``harness bench``), so a
benchmark measures the loop evaluation runs.

One run, batch by batch:

- **ordering**: :func:`length_sorted_batches` groups the items longest first under a batch size and
  a padded-token budget; the outputs come back in input order.
- **transfer**: :func:`to_device` (pinned, non-blocking copies on CUDA; tensors already on the
  device and values that are not tensors pass unchanged).
- **precision**: :func:`precision_policy` is the policy training uses too (``auto``: bf16 on a GPU
  that supports it, fp32 elsewhere); :func:`autocast_context` applies it around the step.
- **outputs**: each batch's output stays on the device; after the loop they are concatenated and
  put in item order there (one scatter), then copied to the host once (no host sync inside the
  loop). Outputs whose trailing sizes differ between batches (per-token logits) are zero-padded
  to the widest.
- **timing**: only when asked. ``"stream"``: per-batch latency without a host sync per batch (CUDA
  events read once at the end; wall clock on CPU), what evaluation records. ``"sync"``: per-batch
  wall time with the device synchronised after each batch (a user's latency), what ``harness
  bench`` records. ``"off"``: no clock and no sync.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

#: how a run is timed (see the module docstring)
TIMINGS = ("off", "stream", "sync")
_HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}

Batch = dict[str, Any]
Step = Callable[[Batch], torch.Tensor]


def precision_policy(device: torch.device, mixed_precision: str) -> str:
    """``"bf16"``, ``"fp16"`` or ``"no"``: the precision a ``mixed_precision`` setting
    (auto / no / bf16 / fp16) gives on ``device``, for training and inference alike."""
    if device.type == "cuda" and mixed_precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return "bf16"
    if device.type == "cuda" and mixed_precision == "fp16":
        return "fp16"
    return "no"


def autocast_context(device: torch.device, mixed_precision: str) -> torch.autocast:
    chosen = precision_policy(device, mixed_precision)
    if chosen == "no":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=_HALF[chosen])


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


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Host -> device copies that do not block the host (pinned memory on CUDA); tensors already on
    ``device`` and values that are not tensors (image references) pass unchanged."""
    moved: Batch = {}
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor) or value.device == device:
            moved[key] = value
        elif device.type == "cuda" and value.device.type == "cpu":
            moved[key] = value.pin_memory().to(device, non_blocking=True)
        else:
            moved[key] = value.to(device)
    return moved


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (nothing to wait for on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def to_host(tensor: torch.Tensor) -> np.ndarray:
    """The one device -> host copy of a run (no copy at all for a CPU tensor)."""
    return tensor.cpu().numpy()


class BatchTimer:
    """Per-batch latency. ``sync=False``: no host sync per batch (CUDA events on the stream, read
    once by :meth:`latencies`; wall clock on CPU). ``sync=True``: wall time with the device
    synchronised at the end of each batch."""

    def __init__(self, device: torch.device, sync: bool = False):
        self.device, self.sync = device, sync
        self.events = device.type == "cuda" and not sync
        self._marks: list[Any] = []

    def start(self) -> Any:
        if self.events:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def stop(self, started: Any) -> None:
        if self.events:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append((started, event))
            return
        if self.sync:
            synchronize(self.device)
        self._marks.append(time.perf_counter() - started)

    def latencies(self) -> list[float]:
        """Seconds per batch (synchronises once when events were recorded)."""
        if self.events:
            synchronize(self.device)
            return [begin.elapsed_time(end) / 1000.0 for begin, end in self._marks]
        return list(self._marks)


@dataclass
class Run:
    """What :meth:`Engine.run` returns."""

    rows: np.ndarray | None            # one row per item, in input order (None when there were no items)
    batches: int
    seconds: float                     # the whole run, host copy included
    batch_seconds: list[float] | None  # per batch, only when timing was asked


def _fit(tensor: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """``tensor`` zero-padded at the end of its trailing dimensions up to ``shape[1:]``."""
    pad: list[int] = []
    for have, want in zip(reversed(tensor.shape[1:]), reversed(list(shape)[1:])):
        pad += [0, want - have]
    return nn.functional.pad(tensor, pad) if any(pad) else tensor


def _check(output: Any, size: int) -> torch.Tensor:
    if not isinstance(output, torch.Tensor) or output.dim() == 0 or output.shape[0] != size:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"a batch step must return a tensor with one row per item: got {shape} for {size} items")
    return output


def _assemble(outputs: list[torch.Tensor], batches: Sequence[list[int]], n: int) -> torch.Tensor | None:
    """The batches' outputs as one ``[n, ...]`` tensor in item order, on their device (rows of items
    in no batch are zeros); ``outputs`` is emptied as it is consumed."""
    if not outputs:
        return None
    if len(outputs) == 1 and list(batches[0]) == list(range(n)):
        return outputs.pop()  # one batch in input order: nothing to move
    if len({o.dim() for o in outputs}) > 1:
        raise ValueError(f"batch outputs differ in rank: {sorted({tuple(o.shape[1:]) for o in outputs})}")
    widest = [0, *(max(sizes) for sizes in zip(*(o.shape[1:] for o in outputs)))]
    stacked = torch.cat([_fit(o, widest) for o in outputs])
    outputs.clear()
    order = torch.as_tensor([i for indices in batches for i in indices], device=stacked.device)
    rows = stacked.new_zeros((n, *stacked.shape[1:]))
    rows[order] = stacked
    return rows


@dataclass(frozen=True)
class Engine:
    """Runs a step over batches on one device under one precision setting (see the module docstring)."""

    device: torch.device
    mixed_precision: str = "auto"

    @property
    def precision(self) -> str:
        return precision_policy(self.device, self.mixed_precision)

    @torch.inference_mode()
    def run(self, step: Step, batches: Sequence[list[int]], collate: Callable[[list[int]], Batch], n: int,
            *, timing: str = "off") -> Run:
        """``step(batch) -> [B, ...]`` over ``batches`` (lists of item indices in ``range(n)``, run in
        the order given), ``collate(indices)`` building each host batch. The rows come back in
        item order, copied to the host once."""
        if timing not in TIMINGS:
            raise ValueError(f"unknown timing {timing!r} (use one of {', '.join(TIMINGS)})")
        timer = BatchTimer(self.device, sync=timing == "sync") if timing != "off" else None
        outputs: list[torch.Tensor] = []   # on the device until the end
        start = time.perf_counter()
        for indices in batches:
            started = timer.start() if timer is not None else None
            batch = to_device(collate(indices), self.device)
            with autocast_context(self.device, self.mixed_precision):
                outputs.append(_check(step(batch), len(indices)))
            if timer is not None:
                timer.stop(started)
        latencies = timer.latencies() if timer is not None else None
        ordered = _assemble(outputs, batches, n)
        rows = to_host(ordered) if ordered is not None else None
        return Run(rows, len(batches), time.perf_counter() - start, latencies)

    def run_batch(self, step: Step, batch: Batch) -> np.ndarray:
        """One ready-made batch through the same loop: its output rows on the host."""
        size = next(v for v in batch.values() if isinstance(v, torch.Tensor)).shape[0]
        rows = self.run(step, [list(range(size))], lambda _: batch, size).rows
        assert rows is not None
        return rows


def latency_stats(latencies: Sequence[float]) -> dict[str, float]:
    """p50 and p95 batch latency in milliseconds."""
    if not latencies:
        return {"latency_p50_ms": 0.0, "latency_p95_ms": 0.0}
    values = np.asarray(latencies) * 1000.0
    return {"latency_p50_ms": float(np.percentile(values, 50)),
            "latency_p95_ms": float(np.percentile(values, 95))}
