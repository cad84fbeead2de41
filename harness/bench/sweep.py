"""A whole benchmark: load the models, build their variants, time every cell with all arms
interleaved, compare the arms, measure accuracy, and return one ``bench`` record per (cell, arm)."""
from __future__ import annotations

import platform
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from harness.bench import inputs
from harness.bench.measure import Arm, accuracy, comparisons, figures, time_cell
from harness.bench.models import build_arms, load_with_head
from harness.engine.memory import current_rss_mb
from harness.results.records import SCHEMA_VERSION, validate_record


@dataclass
class BenchPlan:
    """What to measure (validated by the command)."""

    models: list[str]                      # [model] or [model, compare]
    task: Any
    fmt: Any
    split: str
    examples: Mapping[str, list[dict[str, Any]]]  # language -> inputs
    batch_sizes: list[int]
    lengths: list[int] = field(default_factory=list)          # synthetic cells
    languages: list[str] = field(default_factory=list)        # real-input cells
    text_language: str = "en"              # where synthetic rows take their tokens from
    variants: list[str] = field(default_factory=lambda: ["fp32"])
    iterations: int = 30
    warmup: int = 3
    chunk: int = 2
    margin: float = 0.05
    max_length: int = 128
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    revision: str | None = None
    accuracy_examples: list[dict[str, Any]] | None = None
    accuracy_where: dict[str, Any] = field(default_factory=dict)   # task, language, split

    def cells(self) -> list[tuple[str, int, Any]]:
        """(workload, batch size, length or language), in the order they are measured."""
        return ([("length", b, n) for b in self.batch_sizes for n in self.lengths]
                + [("language", b, lang) for lang in self.languages for b in self.batch_sizes])


def _versions() -> dict[str, Any]:
    import transformers

    found = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import onnxruntime
        found["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return found


def _device(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"type": device.type, "name": name, "torch_threads": torch.get_num_threads()}


def _workload(plan: BenchPlan, model: Any, cell: tuple[str, int, Any]) -> inputs.Workload:
    kind, batch_size, value = cell
    if kind == "length":
        return inputs.synthetic_workload(model, plan.examples[plan.text_language], batch_size, value)
    return inputs.language_workload(model, plan.task, plan.fmt, plan.examples[value], batch_size, plan.max_length,
                                    {"language": value})


def run_bench(registry: Any, plan: BenchPlan, log: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Every cell of ``plan`` for every arm: the ``bench`` records (validated)."""
    run_id = uuid.uuid4().hex[:12]
    rss_baseline = current_rss_mb()
    arms: list[Arm] = []
    models: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as workdir:
        for role, spec in zip(("model", "compare"), plan.models):
            before = current_rss_mb()
            log(f"loading {role} {spec}")
            model, info = load_with_head(registry, spec, plan.task, plan.fmt, plan.device, plan.revision)
            example = inputs.synthetic_workload(model, plan.examples[plan.text_language], 2, 16).batches[0]
            arms += build_arms(role, spec, model, info, plan.task, plan.variants, plan.device,
                               {k: v.to(plan.device) for k, v in example.items()}, Path(workdir), before)
            models[role] = model
        scores = _accuracy(plan, arms, models, log) if plan.accuracy_examples else {}
        records = []
        for number, cell in enumerate(plan.cells(), 1):
            log(f"cell {number}/{len(plan.cells())}: {cell[0]} {cell[2]}, batch {cell[1]}")
            per_model = {role: _workload(plan, model, cell) for role, model in models.items()}
            works = [per_model[arm.role] for arm in arms]  # host batches: the engine moves them, timed
            timings = time_cell(arms, works, plan.iterations, plan.warmup, plan.chunk, plan.device)
            for arm, work, timed, compared in zip(arms, works, timings, comparisons(arms, timings, plan.margin)):
                record = _record(plan, run_id, cell, arm, work, figures(timed, work, rss_baseline), compared,
                                 scores.get((arm.role, arm.variant)))
                problems = validate_record(record)
                if problems:  # a bug, not a user error
                    raise AssertionError(f"bench record does not match its schema: {problems}")
                records.append(record)
    return records


def _accuracy(plan: BenchPlan, arms: list[Arm], models: dict[str, Any], log: Callable[[str], None]
              ) -> dict[tuple[str, str], dict[str, Any]]:
    """Metrics of every arm on the accuracy examples, with the share of predictions equal to fp32's."""
    where, examples = plan.accuracy_where, plan.accuracy_examples or []
    scores: dict[tuple[str, str], dict[str, Any]] = {}
    fp32_predictions: dict[str, list[Any]] = {}
    for arm in arms:  # fp32 comes first for each model
        log(f"accuracy of {arm.role} {arm.variant} on {where['task']}:{where['language']}")
        metrics, predictions = accuracy(arm.runner, models[arm.role].tokenizer, plan.task, plan.fmt,
                                        examples, where["language"], plan.max_length)
        reference = fp32_predictions.setdefault(arm.role, predictions)
        agreement = float(np.mean([a == b for a, b in zip(predictions, reference)]))
        scores[(arm.role, arm.variant)] = {**where, "n_examples": len(predictions), "metrics": metrics,
                                           "metric": plan.task.spec.metric, "head": arm.loaded["head"],
                                           "agreement_with_fp32": agreement}
    return scores


def _record(plan: BenchPlan, run_id: str, cell: tuple[str, int, Any], arm: Arm, work: inputs.Workload,
            measured: dict[str, Any], compared: dict[str, Any], score: dict[str, Any] | None) -> dict[str, Any]:
    kind, batch_size, value = cell
    info = dict(arm.runner.info)
    size = {"parameters": arm.loaded["parameters"], "dtype_bytes": info.pop("dtype_bytes"),
            "serialized_bytes": info.pop("serialized_bytes"), "load_delta_mb": arm.loaded["load_delta_mb"]}
    model_info = {k: arm.loaded[k] for k in ("source", "checkpoint", "head", "layers", "hidden_size", "load_s")}
    described = dict(work.describe)
    record: dict[str, Any] = {
        "type": "bench", "schema_version": SCHEMA_VERSION, "run_id": run_id, "role": arm.role,
        "model": arm.spec, "model_info": model_info, "variant": arm.variant, "backend": info,
        "workload": kind, "task": plan.task.name,
        "language": value if kind == "language" else plan.text_language, "split": plan.split,
        "length": value if kind == "length" else None, "batch_size": batch_size,
        "warmup": plan.warmup, "chunk": plan.chunk, **measured,
        "inputs": {**described, "padded_tokens_per_batch": float(np.mean(work.padded_tokens)),
                   "tokens_per_batch": float(np.mean(work.tokens))},
        "size": size, **compared, "device": _device(plan.device), "versions": _versions(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if score is not None:
        record["accuracy"] = score
    return record
