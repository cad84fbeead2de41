"""The ``bench`` record: one per (cell, model, variant) of ``harness bench``, written like results
(whole JSONL lines) and described once, here; ``records.RECORD_FIELDS`` includes it, so
``validate_record`` checks it and the README's schema table lists it.

A cell is one workload: ``length`` (synthetic rows of exactly ``length`` tokens) or ``language``
(a task's real inputs in one language) at one batch size. Times are milliseconds per batch.
"""
from __future__ import annotations

from typing import Any

from harness.results.head import head_fields

BENCH_FIELDS: dict[str, tuple[Any, bool, str]] = {
    **head_fields("bench", "the bench invocation"),
    "role": (str, True, "'model' or 'compare' (the A/B side)"),
    "model": (str, True, "model spec as given"),
    "model_info": (dict, True, "source, checkpoint flag, head (trained/random), parameters, load seconds"),
    "variant": (str, True, "fp32, int8-dynamic, bf16, fp16, onnx-fp32 or onnx-int8"),
    "backend": (dict, True, "runtime and the API that built the variant (export, quantization)"),
    "workload": (str, True, "'length' (synthetic, no padding) or 'language' (real inputs)"),
    "task": (str, True, "task whose head and texts are used"),
    "language": ((str, type(None)), True, "language of the inputs"),
    "split": (str, True, "split the inputs come from"),
    "length": ((int, type(None)), True, "tokens per row (length workload), else null"),
    "batch_size": (int, True, "rows (features) per batch"),
    "iterations": (int, True, "timed iterations (batches) after warm-up"),
    "warmup": (int, True, "untimed iterations per arm before timing"),
    "chunk": (int, True, "iterations per turn of the interleaving (A B B A ...)"),
    "latency_ms": (dict, True, "batch latency p50, p90, p95, p99, mean, min, max"),
    "latency_ci95_ms": (dict, True, "bootstrap 95% intervals of p50 and p95 (rounds resampled)"),
    "example_latency_ms": (dict, True, "batch latency / examples in the batch: p50 and mean"),
    "examples_per_s": (float, True, "examples over timed seconds"),
    "tokens_per_s": (float, True, "real (unpadded) tokens over timed seconds"),
    "inputs": (dict, True, "length workload: length; language workload: examples, features, tokens per word/char"),
    "memory": (dict, True, "RSS baseline before loading, peak RSS and its delta; GPU max allocated/reserved"),
    "size": (dict, True, "parameters, bytes per dtype, bytes serialised, RSS added by loading this variant"),
    "ab": (dict, False, "compare vs model, same variant: p50 ratio, 95%/90% CI, margin, verdict"),
    "vs_fp32": (dict, False, "this variant vs the same model in fp32: p50 ratio, CIs, margin, verdict"),
    "accuracy": (dict, False, "--accuracy: task, language, split, metrics, agreement with fp32"),
    "device": (dict, True, "device type and name, torch threads"),
    "versions": (dict, True, "torch, transformers, onnxruntime versions"),
    "time": (str, True, "UTC time written"),
}
