"""Loading the models a benchmark compares, each with the head of the benchmark's task, and turning
each into its arms (one per variant), with the RSS that loading and converting each one added."""
from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import torch

from harness.bench.measure import Arm
from harness.bench.variants import build
from harness.engine.memory import current_rss_mb
from harness.engine.modeling import LoadedModel, encoder_source, load_head_state
from harness.errors import HarnessError


def model_source(registry: Any, spec: str, revision: str | None) -> tuple[str, str | None, Path | None]:
    """(what to load, at which revision, the harness checkpoint directory or None) for a hub id,
    path, alias or checkpoint directory (its encoder: its ``encoder/`` subdirectory or, saved as
    heads only, the encoder its ``encoder-ref.json`` points at)."""
    checkpoint = Path(spec).expanduser()
    found = encoder_source(checkpoint) if LoadedModel.is_checkpoint(checkpoint) else None
    if found is None:   # not a harness checkpoint (whose heads bench reads beside its encoder)
        return registry.resolve_model(spec), revision, None
    return found[0], found[1], checkpoint


def _import_model_code(source: str, revision: str | None) -> None:
    """Import the model class's module before measuring: transformers imports it lazily on first
    use, which would otherwise count in the first model's load time and memory only."""
    try:
        from transformers import AutoConfig, AutoModel

        AutoModel._model_mapping[type(AutoConfig.from_pretrained(source, revision=revision))]
    except Exception:  # noqa: BLE001 - the real load reports any problem
        pass


def load_with_head(registry: Any, spec: str, task: Any, fmt: Any, device: torch.device,
                   revision: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The loaded model with ``task``'s head: the trained one of a harness checkpoint that has it,
    else a fresh head (seeded; its accuracy is chance, its cost is the trained head's)."""
    from transformers.utils import logging as hf_logging

    source, revision, checkpoint = model_source(registry, spec, revision)
    _import_model_code(source, revision)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        started = time.perf_counter()
        model = registry.plugins.load_model(model=source, device=device, revision=revision)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if model is None:
        raise HarnessError(f"no plugin could load model '{spec}'")
    load_s = time.perf_counter() - started
    torch.manual_seed(0)
    head = fmt.build_head(model.hidden_size, task)
    state = load_head_state(checkpoint, task.name) if checkpoint else None
    if state is not None:
        head.load_state_dict(state)
    model.heads[task.name] = head.to(device)
    info = {"source": source, "checkpoint": checkpoint is not None, "head": "trained" if state is not None else "random",
            "parameters": sum(p.numel() for p in model.encoder.parameters()) + sum(p.numel() for p in head.parameters()),
            "layers": model.num_layers, "hidden_size": model.hidden_size, "load_s": round(load_s, 3)}
    return model, info


def build_arms(role: str, spec: str, model: Any, info: dict[str, Any], task: Any, variants: list[str],
               device: torch.device, example: dict[str, torch.Tensor], workdir: Path,
               rss_before_load: float) -> list[Arm]:
    """One arm per variant of a loaded model; the fp32 arm's RSS delta includes loading the model."""
    task_model = model.task_model(task.name)
    task_model.eval()
    arms, before = [], rss_before_load
    for variant in variants:
        runner = build(variant, task_model, task.name, device, example, workdir / role)
        gc.collect()
        after = current_rss_mb()
        arms.append(Arm(role, spec, runner, {**info, "load_delta_mb": round(after - before, 1)}))
        before = after
    return arms
