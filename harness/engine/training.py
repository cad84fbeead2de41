"""The training loop shared by intermediate (single- or multi-task) and target training.

AdamW with linear warmup/decay, gradient accumulation, length-grouped batches (little padding),
mixed precision on GPU, all through ``accelerate`` so the same code runs on CPU, one or several GPUs.
Multi-task: one shared encoder, one head per task; each step draws a task with probability
proportional to its (capped) size ** (1 / temperature).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from harness.errors import TrainingError
from harness.files import share_like_umask
from harness.formats import get_format
from harness.engine.batches import autocast_context, precision_policy, to_device

LOSS_CHECK_EVERY = 10  # steps between host syncs that check the loss is finite


class Reporter:
    """Progress sink; the CLI passes a rich progress bar, tests and the API a silent one."""

    def __init__(self, log: Callable[[str], None] | None = None):
        self.log = log or (lambda message: None)

    def start(self, description: str, total: int) -> None:  # noqa: D102
        pass

    def advance(self, steps: int = 1, **fields: Any) -> None:  # noqa: D102
        pass

    def finish(self) -> None:  # noqa: D102
        pass


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random,
                           group: int = 50) -> list[list[int]]:
    """Shuffle, sort within mega-batches of ``group`` batches by length, shuffle the batches:
    random order, yet each batch holds examples of similar length (little padding)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    mega = batch_size * group
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def mixing_weights(sizes: dict[str, int], temperature: float = 1.0, cap: int | None = None) -> dict[str, float]:
    """Sampling probability of each task: (min(size, cap)) ** (1 / temperature), normalised."""
    raw = {name: float(min(size, cap) if cap else size) ** (1.0 / temperature) for name, size in sizes.items()}
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


def _batch_stream(lengths: list[int], batch_size: int, rng: random.Random) -> Iterator[list[int]]:
    while True:  # a fresh length-grouped shuffle per pass over the data
        yield from length_grouped_batches(lengths, batch_size, rng)


#: more optimizer steps than this is a typo (``epochs=1e8``), not an experiment
MAX_STEPS = 10_000_000


class Schedule:
    """The whole run as (task, example indices) steps, fixed by the seed and generated lazily: memory
    does not grow with the step count. ``shard(i, n)`` is process ``i``'s share of ``n``."""

    def __init__(self, lengths: dict[str, list[int]], batch_size: int, total: int, seed: int,
                 weights: dict[str, float], start: int = 0, stride: int = 1):
        self.lengths, self.batch_size, self.total, self.seed = lengths, batch_size, total, seed
        self.weights, self.start, self.stride = weights, start, stride

    def shard(self, index: int, count: int) -> "Schedule":
        return Schedule(self.lengths, self.batch_size, self.total, self.seed, self.weights,
                        self.start + index * self.stride, self.stride * count)

    def __len__(self) -> int:
        return max(0, math.ceil((self.total - self.start) / self.stride))

    def _steps(self) -> Iterator[tuple[str, list[int]]]:
        rng = random.Random(self.seed)
        streams = {name: _batch_stream(values, self.batch_size, random.Random(rng.random()))
                   for name, values in self.lengths.items()}
        names = list(self.weights)
        weights = [self.weights[n] for n in names]
        for _ in range(self.total):
            name = rng.choices(names, weights=weights)[0] if len(names) > 1 else names[0]
            yield name, next(streams[name])

    def __iter__(self) -> Iterator[tuple[str, list[int]]]:
        return itertools.islice(self._steps(), self.start, None, self.stride)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and list(self) == list(other)


def budget_steps(sizes: dict[str, int], batch_size: int, epochs: float, cap: int | None = None) -> int:
    """Steps (batches) of ``epochs`` epochs over tasks of ``sizes`` training instances (capped)."""
    batches_per_epoch = sum(math.ceil((min(n, cap) if cap else n) / batch_size) for n in sizes.values())
    return max(1, round(epochs * batches_per_epoch))


def build_schedule(lengths: dict[str, list[int]], batch_size: int, epochs: float, seed: int,
                   temperature: float = 1.0, cap: int | None = None, steps: int | None = None) -> Schedule:
    """The whole run as (task, example indices) steps, fixed by the seed (see :class:`Schedule`):
    ``epochs`` epochs, or exactly ``steps`` steps (an equal-steps budget: small data repeats)."""
    sizes = {name: len(values) for name, values in lengths.items()}
    total = steps if steps is not None else budget_steps(sizes, batch_size, epochs, cap)
    if total > MAX_STEPS:
        why = "the step budget" if steps is not None else \
            f"{epochs:g} epochs of {budget_steps(sizes, batch_size, 1.0, cap):,} batches"
        raise TrainingError(f"training would take {total:,} steps ({why}); at most {MAX_STEPS:,}: "
                            f"lower epochs or raise batch_size")
    return Schedule(lengths, batch_size, total, seed, mixing_weights(sizes, temperature, cap))


def _optimizer(model: torch.nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, fused=torch.cuda.is_available() and
                             next(model.parameters()).is_cuda)


class TrainState:
    """Mid-phase resume: model, optimizer, scheduler, RNG and counters at an optimizer-step boundary,
    written atomically to ``<state_dir>/train-state.pt`` at most every ``every_s`` seconds. The
    schedule is fixed by the seed, so a rerun skips the steps already done and, on the same CPU
    machine, ends with the same weights as an uninterrupted run."""

    def __init__(self, state_dir: Any, every_s: float):
        self.path = Path(state_dir) / "train-state.pt" if state_dir else None
        self.every_s, self.last = every_s, time.perf_counter()

    def load(self, fingerprint: dict[str, Any], warn: Callable[[str], None]) -> dict[str, Any] | None:
        """The saved state, or None. Read as tensors only (``weights_only``): a file planted in the
        output directory cannot run code; a damaged one is discarded with a warning (the phase restarts)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError(f"expected a dict, got {type(state).__name__}")
        except Exception as exc:  # noqa: BLE001 - truncated, empty, foreign or unsafe: never trusted
            warn(f"[warning] training state {self.path} is damaged or unsafe ({type(exc).__name__}: "
                 f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else 'no detail'}); "
                 f"discarded, the phase restarts")
            self.path.unlink(missing_ok=True)
            return None
        return state if state.get("fingerprint") == fingerprint else None

    def due(self) -> bool:
        return self.path is not None and time.perf_counter() - self.last >= self.every_s

    def save(self, state: dict[str, Any]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        tmp = Path(name)
        try:
            with os.fdopen(handle, "wb") as stream:
                torch.save(state, stream)
                stream.flush()
                os.fsync(stream.fileno())
            share_like_umask(tmp)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self.last = time.perf_counter()


class Stop(KeyboardInterrupt):
    """SIGINT or SIGTERM: the run stops; ``saved`` says what a training loop kept before stopping."""

    def __init__(self, signum: int, saved: str | None = None):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.saved = signum, saved


_STOP: dict[str, Any] = {"signal": None, "training": 0}


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise :class:`Stop` at once, except inside a training loop, which
    saves its state at the next step boundary and then raises it; a second signal raises at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        first = _STOP["signal"] is None
        _STOP["signal"] = signum
        if not (_STOP["training"] and first):
            raise Stop(signum)

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
        _STOP["signal"] = None


class ModelSelection:
    """Model selection during training (``--select-on en-dev``, as jiant does): score the model every
    ``every`` steps (0: once per epoch) and at the last step, at optimizer-step boundaries; keep a
    CPU copy of the weights with the best score (the first of equal scores) and restore it at the end."""

    def __init__(self, select: dict[str, Any], total_steps: int, epochs: float):
        self.score, self.on = select["score"], select.get("on")
        every = int(select.get("every") or 0)
        self.every = every if every > 0 else max(1, round(total_steps / max(epochs, 1e-9)))
        self.total = total_steps
        self.evaluations: list[list[float]] = []
        self.best_step: int | None = None
        self.best_score: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.total

    def check(self, step: int, model: Any, module: torch.nn.Module) -> None:
        module.eval()
        try:
            value = float(self.score(model))
        finally:
            module.train()
        self.evaluations.append([step, value])
        if self.best_score is None or value > self.best_score:
            self.best_step, self.best_score = step, value
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}

    def restore(self, module: torch.nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)

    def state(self) -> dict[str, Any]:
        return {"evaluations": self.evaluations, "best_step": self.best_step, "best_score": self.best_score,
                "best_state": self.best_state}

    def load(self, state: dict[str, Any]) -> None:
        self.evaluations, self.best_step = state["evaluations"], state["best_step"]
        self.best_score, self.best_state = state["best_score"], state["best_state"]

    def stats(self) -> dict[str, Any]:
        return {"on": self.on, "every": self.every, "evaluations": self.evaluations,
                "best_step": self.best_step, "best_score": self.best_score}


def batch_tokens(batch: dict[str, Any]) -> tuple[int, int]:
    """(real, padded) tokens of a collated batch, counted on the host before it goes to the device:
    the ones and the size of every ``*attention_mask`` (several for dual encoders); without a mask,
    the size of the ``*input_ids`` for both."""
    masks = [v for k, v in batch.items() if k.endswith("attention_mask") and isinstance(v, torch.Tensor)]
    if masks:
        return sum(int(m.sum()) for m in masks), sum(m.numel() for m in masks)
    size = sum(v.numel() for k, v in batch.items() if k.endswith("input_ids") and isinstance(v, torch.Tensor))
    return size, size


def optimizer_state_bytes(optimizer: Any) -> int:
    """Bytes of the optimizer's per-parameter state buffers (AdamW: the two moments); scalar step
    counters are left out."""
    inner = getattr(optimizer, "optimizer", optimizer)   # accelerate wraps it
    return sum(value.numel() * value.element_size() for state in inner.state.values() for value in state.values()
               if isinstance(value, torch.Tensor) and value.ndim > 0)


def train_model(model: Any, tasks: list[Any], examples: dict[str, list[dict[str, Any]]], hparams: Any,
                seed: int, sampling: dict[str, Any] | None = None, reporter: Reporter | None = None,
                state_dir: Any = None, save_every_s: float = 600.0,
                select: dict[str, Any] | None = None, steps: int | None = None) -> dict[str, Any]:
    """Train ``model.encoder`` plus one head per task in place; return statistics. With
    ``state_dir``, the training state is saved every ``save_every_s`` seconds and a rerun resumes
    from it (see :class:`TrainState`). With ``select``, the best weights on ``select["score"]`` are
    kept (see :class:`ModelSelection`). ``steps`` fixes the number of steps instead of ``hparams.epochs``.

    The statistics carry the cost of the phase: ``wall_seconds`` (all of it: featurising, set-up,
    training, model selection), ``seconds`` (the training loop), examples/s and tokens/s (real and
    padded) over the loop, ``peak_host_mb`` (RSS) and on GPU ``peak_gpu_mb``/``peak_gpu_reserved_mb``,
    ``trainable_parameters`` and ``optimizer_state_bytes``."""
    from harness.engine.memory import peak_memory

    start = time.perf_counter()
    with peak_memory(model.device) as memory:
        stats = _train(model, tasks, examples, hparams, seed, sampling, reporter, state_dir, save_every_s, select,
                       steps)
    peaks = memory.stats()
    if model.device.type == "cuda":
        peaks["peak_gpu_reserved_mb"] = round(torch.cuda.max_memory_reserved(model.device) / 2**20, 1)
    return {**stats, "wall_seconds": round(time.perf_counter() - start, 3), **peaks}


def _train(model: Any, tasks: list[Any], examples: dict[str, list[dict[str, Any]]], hparams: Any, seed: int,
           sampling: dict[str, Any] | None, reporter: Reporter | None, state_dir: Any, save_every_s: float,
           select: dict[str, Any] | None, steps: int | None) -> dict[str, Any]:
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    reporter = reporter or Reporter()
    sampling = sampling or {}
    set_seed(seed)
    device = model.device
    formats = {task.name: get_format(task.format) for task in tasks}
    features = {task.name: formats[task.name].featurize(examples[task.name], model.tokenizer, task,
                                                        hparams.max_length, train=True) for task in tasks}
    for task in tasks:
        if task.name not in model.heads:
            model.heads[task.name] = formats[task.name].build_head(model.hidden_size, task)
    lengths = {name: [formats[name].length(f) for f in feats] for name, feats in features.items()}
    schedule = build_schedule(lengths, hparams.batch_size, hparams.epochs, seed,
                              float(sampling.get("temperature", 1.0)), sampling.get("cap"), steps)
    accelerator = Accelerator(mixed_precision=precision_policy(device, hparams.mixed_precision),
                              cpu=device.type == "cpu")
    frozen = bool(getattr(hparams, "freeze_encoder", False))
    if frozen:   # heads only: the encoder's weights stay as they started
        model.encoder.requires_grad_(False)
    task_model = model.task_model(*[task.name for task in tasks])
    optimizer = _optimizer(task_model, hparams.learning_rate, hparams.weight_decay)
    optimizer_steps = math.ceil(len(schedule) / hparams.grad_accum)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hparams.warmup_ratio * optimizer_steps),
                                                optimizer_steps)
    task_model, optimizer, scheduler = accelerator.prepare(task_model, optimizer, scheduler)
    # shard the schedule when several processes train data-parallel; each gets as many steps (the
    # last round is filled from the continuing batch stream), or the gradient all-reduces would hang
    if accelerator.num_processes > 1:
        count = accelerator.num_processes
        schedule = Schedule(schedule.lengths, schedule.batch_size, -(-schedule.total // count) * count,
                            schedule.seed, schedule.weights).shard(accelerator.process_index, count)
    pad_id = model.tokenizer.pad_token_id or 0
    task_model.train()
    running = torch.zeros((), device=accelerator.device)
    recent: list[float] = []
    seen = pending = updates = done = 0
    tokens = [0, 0]           # real, padded: of this call (a resumed phase counts from its resumption)
    examples_now = 0
    saver = TrainState(state_dir, save_every_s)
    selection = ModelSelection(select, len(schedule), hparams.epochs) if select else None
    fingerprint = {"steps": len(schedule), "seed": seed, "hparams": hparams.as_dict(),
                   "tasks": {name: len(f) for name, f in features.items()},
                   "select_every": selection.every if selection else None}
    resumed = saver.load(fingerprint, reporter.log)
    if resumed is not None:
        if selection is not None:
            selection.load(resumed["selection"])
        accelerator.unwrap_model(task_model).load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        torch.set_rng_state(resumed["rng"])
        if resumed.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resumed["cuda_rng"])
        done, seen, updates, recent = resumed["step"], resumed["seen"], resumed["updates"], resumed["recent"]
        running += resumed["running"]
        pending = resumed["pending"]
        reporter.log(f"resuming training at step {done} of {len(schedule)} from {saver.path}")
    start = time.perf_counter()
    reporter.start(f"training {'+'.join(t.name for t in tasks)}", len(schedule))
    reporter.advance(done)
    _STOP["training"] += 1
    try:
        for step, (name, indices) in enumerate(schedule, start=1):
            if step <= done:
                continue
            batch = formats[name].collate([features[name][i] for i in indices], pad_id)
            real, padded = batch_tokens(batch)   # on the host, before the copy: no device sync
            tokens[0] += real
            tokens[1] += padded
            examples_now += len(indices)
            batch = to_device(batch, accelerator.device)
            # explicit accumulation: update every grad_accum steps and at the very last step
            # (accelerate's accumulate() only knows the last step of dataloaders it prepared)
            update = step % hparams.grad_accum == 0 or step == len(schedule)
            with (contextlib.nullcontext() if update else accelerator.no_sync(task_model)), \
                    autocast_context(accelerator.device, hparams.mixed_precision):
                loss = task_model(batch, name)["loss"]
                accelerator.backward(loss / hparams.grad_accum)
            if update:
                if hparams.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(task_model.parameters(), hparams.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                updates += 1
            running += loss.detach().float()
            seen += len(indices)
            pending += 1
            if step % LOSS_CHECK_EVERY == 0 or step == len(schedule):
                # every process checks the mean over all of them at the same step: a NaN on one
                # process alone stops them all, where the others would wait in the next all-reduce
                total = accelerator.reduce(running, "sum") if accelerator.num_processes > 1 else running
                value = total.item() / (pending * accelerator.num_processes)
                running.zero_()
                pending = 0
                if not math.isfinite(value):
                    raise TrainingError(f"training {'+'.join(t.name for t in tasks)}: loss became "
                                        f"{value} near step {step}; lower the learning rate or check the data")
                recent.append(value)
                reporter.advance(0, loss=value)
            if update and selection is not None and selection.due(step):
                selection.check(step, model, accelerator.unwrap_model(task_model))
            stopping = update and _STOP["signal"] is not None
            if stopping or (update and step < len(schedule) and saver.due()):
                saved = None
                if saver.path is not None and accelerator.is_main_process:   # one writer of the state
                    saver.save({"fingerprint": fingerprint, "step": step, "seen": seen, "updates": updates,
                                "recent": recent, "running": running.item(), "pending": pending,
                                "selection": selection.state() if selection else None,
                                "model": accelerator.unwrap_model(task_model).state_dict(),
                                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                "rng": torch.get_rng_state(),
                                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None})
                    saved = f"training state at step {step} of {len(schedule)} in {saver.path.parent}"
                if stopping:
                    raise Stop(_STOP["signal"], saved)
            reporter.advance(1)
    finally:
        _STOP["training"] -= 1
        reporter.finish()
    seconds = time.perf_counter() - start
    if selection is not None:
        selection.restore(accelerator.unwrap_model(task_model))
    task_model.eval()
    loop = max(seconds, 1e-9)
    stats = {"steps": len(schedule), "optimizer_steps": updates, "seconds": round(seconds, 3),
             "examples": seen, "examples_per_s": round(examples_now / loop, 2),
             "examples_seen": seen, "unique_examples": {task.name: len(examples[task.name]) for task in tasks},
             "tokens_real": tokens[0], "tokens_padded": tokens[1],
             "tokens_per_s_real": round(tokens[0] / loop, 1), "tokens_per_s_padded": round(tokens[1] / loop, 1),
             "trainable_parameters": sum(p.numel() for p in task_model.parameters() if p.requires_grad),
             "optimizer_state_bytes": optimizer_state_bytes(optimizer),
             "final_loss": recent[-1] if recent else None,
             "task_sizes": {name: len(f) for name, f in features.items()},
             "data": {task.name: facts for task in tasks
                      if (facts := formats[task.name].describe_data(examples[task.name], task, train=True))},
             "mixing": mixing_weights({n: len(f) for n, f in features.items()},
                                      float(sampling.get("temperature", 1.0)), sampling.get("cap"))}
    if selection is not None:
        stats["selection"] = selection.stats()
    if frozen:
        stats["frozen_encoder"] = True
        model.encoder.requires_grad_(True)
    return stats
