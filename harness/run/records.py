"""The records a run writes to its results file: ``run`` (what was asked and where it ran),
``result`` (one evaluated cell), ``error`` (a failed phase or cell) and ``run_end``.

Built from the resolved :class:`~harness.run.plan.RunPlan` and what the phases report; the
schema is :mod:`harness.results.records`'s.
"""
from __future__ import annotations

import shlex
import sys
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from harness.errors import HarnessError
from harness.metrics.registry import get_metric
from harness.results.records import SCHEMA_VERSION
from harness.run.plan import RunPlan
from harness.run.provenance import device_info, harness_info, library_versions


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def volume(plan: RunPlan, stats: dict[str, Any], intermediate_counts: dict[str, int]) -> dict[str, Any]:
    """Where a result lies on the data-volume axis: the data seed, the requested size per
    intermediate task (null: a fraction or all of it), the unique examples it trained on ({} for
    the baseline: N = 0), stratification and the budget (mode and the steps taken)."""
    r = plan.request
    steps = (stats.get("intermediate") or {}).get("steps")
    return {"data_seed": r.data_seed, "size": {t.name: r.size.get(t.name) for t in plan.intermediate},
            "intermediate_examples": dict(intermediate_counts), "stratify": r.stratify,
            "budget": {"mode": r.budget, "steps": steps if plan.intermediate else None}}


def result_record(plan: RunPlan, run_id: str, *, model, task, language: str, split: str, key: str,
                  examples, output, inter: dict[str, Any], target: dict[str, Any], stats: dict[str, Any],
                  intermediate_counts: dict[str, int]) -> dict[str, Any]:
    """The ``result`` record of one evaluated (task, language, split) cell."""
    r, s = plan.request, output.stats
    hparams = plan.target_hparams[task.name]
    record = {"type": "result", "schema_version": SCHEMA_VERSION, "run_id": run_id, "key": key,
              "task": task.name, "language": language, "split": split, "metrics": output.metrics,
              "main_score": get_metric(task.spec.metric).main_score(output.metrics),
              "options": task.spec.options,
              "n_examples": len(examples), "model": r.model, "intermediate": plan.intermediate_names,
              "checkpoints": {"intermediate": inter, "target": target}, "hparams": hparams.as_dict(),
              "seed": r.seed, "data": {"source": r.data,
                                       "data_dir": str(plan.data_dir) if plan.data_dir else None,
                                       "limit": r.limit, "fraction": r.fraction, "sampling": r.sampling,
                                       "select_on": r.select_on, "read": examples.reads,
                                       **volume(plan, stats, intermediate_counts)},
              "examples_per_s": round(float(s.get("examples_per_s", 0.0)), 3),
              "latency_p50_ms": round(float(s.get("latency_p50_ms", 0.0)), 3),
              "latency_p95_ms": round(float(s.get("latency_p95_ms", 0.0)), 3),
              "peak_host_mb": float(s.get("peak_host_mb", 0.0)),
              "eval_seconds": round(float(s.get("seconds", 0.0)), 3), "train": stats, "time": utc_now()}
    record["data"].update(output.data)    # what the format reports about the examples
    if plan.intermediate:
        record["intermediate_hparams"] = plan.intermediate_hparams.as_dict()
    if model.provenance:
        record["model_info"] = model.provenance
    if "peak_gpu_mb" in s:
        record["peak_gpu_mb"] = float(s["peak_gpu_mb"])
    return record


def error_record(plan: RunPlan, run_id: str, task: str, language: str | None, split: str | None, phase: str,
                 exc: BaseException) -> dict[str, Any]:
    """The ``error`` record of a failed phase or cell (a traceback unless it is a HarnessError)."""
    record = {"type": "error", "schema_version": SCHEMA_VERSION, "run_id": run_id, "task": task,
              "language": language, "split": split, "phase": phase, "error_type": type(exc).__name__,
              "message": one_line(exc), "model": plan.request.model,
              "intermediate": plan.intermediate_names, "seed": plan.request.seed,
              "time": utc_now()}
    if not isinstance(exc, HarnessError):
        record["traceback"] = traceback.format_exc(limit=-8)
    plugin = getattr(exc, "harness_plugin", None)
    if plugin:
        record["plugin"] = plugin
    return record


def run_record(plan: RunPlan, run_id: str, *, plugins, device, intermediate_key: str | None,
               multimodal: dict[str, Any]) -> dict[str, Any]:
    """The ``run`` record: the command, versions, plugins, model, device and resolved configuration."""
    r = plan.request
    datasets = {}
    for task in [*plan.intermediate, *plan.targets]:
        spec = task.spec
        datasets[task.name] = {"hub": asdict(spec.hub) if spec.hub else None,
                               "hub_overrides": {lang: asdict(h) for lang, h in spec.hub_overrides.items()},
                               "local": str(spec.local) if spec.local else None,
                               "samples": str(spec.samples) if spec.samples else None,
                               "train_task": spec.train_task, "spec_file": spec.source_file}
    model_info = {"spec": r.model, "source": plan.model_source, "revision": r.revision}
    return {"type": "run", "schema_version": SCHEMA_VERSION, "run_id": run_id, "started": utc_now(),
            "command": " ".join(shlex.quote(a) for a in sys.argv), "harness": harness_info(),
            "versions": library_versions(),
            "plugins": [{"name": i.name, "source": i.source, "origin": i.origin, "distribution": i.distribution,
                         "version": i.version} for i in plugins.registered()],
            "model": model_info, "device": device_info(device), "seed": r.seed,
            "config": {"preset": r.preset, "intermediate": r.intermediate, "targets": r.targets,
                       "languages": plan.languages, "splits": r.splits, "data": r.data, "limit": r.limit,
                       "data_dir": str(plan.data_dir) if plan.data_dir else None,
                       "select_on": r.select_on, "select_every": r.select_every, "fraction": r.fraction,
                       "sampling": r.sampling, "overwrite": r.overwrite,
                       "size": r.size, "data_seed": r.data_seed, "stratify": r.stratify,
                       "budget": {"mode": r.budget, "steps": r.budget_steps},
                       "keep_head": r.keep_head, "keep_checkpoints": r.keep_checkpoints,
                       "whole_target_checkpoints": r.whole_targets, "intermediate_key": intermediate_key,
                       "multimodal": multimodal or None,
                       "target_hparams": {k: v.as_dict() for k, v in plan.target_hparams.items()},
                       "intermediate_hparams": plan.intermediate_hparams.as_dict() if plan.intermediate else None},
            "datasets": datasets}


def run_end_record(run_id: str, wall_seconds: float, computed: int, skipped: int, errors: int) -> dict[str, Any]:
    return {"type": "run_end", "schema_version": SCHEMA_VERSION, "run_id": run_id,
            "wall_seconds": round(wall_seconds, 3), "n_results": computed, "n_skipped": skipped, "n_errors": errors}
