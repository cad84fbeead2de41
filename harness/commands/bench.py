"""``harness bench``: what a model (e.g. one after intermediate training) costs at inference time.

Measures, on a target task's inputs (featurized by the task's format, with a fresh head), the
batch and per-example latency (p50/p95), throughput and peak memory of one model, or of two side
by side with their ratios::

    harness bench --model minilm --compare runs/ckpt/mnli-1a2b3c --task xnli --language de

A model is a hub id, a local directory, an alias (``registry.resolve_model``) or a harness
checkpoint directory (one with an ``encoder/`` subdirectory; the encoder is loaded from there).

Batches are formed as in evaluation (:func:`harness.engine.inference.predict`): longest first, at most
``--batch-size`` features and ``eval_token_budget`` padded tokens. One warm-up batch runs first and
is not counted. Per-example latency is each batch's latency divided by its number of features,
counted once per feature. Peak host memory is the process RSS sampled during the inference
(``host_delta_mb``: above the RSS before the model was loaded); peak GPU memory is
``torch.cuda.max_memory_allocated`` on GPU. Models are measured one after another, the first one
freed before the second is loaded.
"""
from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from harness.errors import HarnessError
from harness.commands.options import common_options, out
from harness.results.tables import print_table

#: figures of one model, in table order: key -> (header, higher is better)
COLUMNS = {
    "parameters_m": ("parameters (M)", None),
    "load_s": ("load s", False),
    "examples_per_s": ("examples/s", True),
    "batch_p50_ms": ("batch p50 ms", False),
    "batch_p95_ms": ("batch p95 ms", False),
    "example_p50_ms": ("example p50 ms", False),
    "example_p95_ms": ("example p95 ms", False),
    "peak_host_mb": ("peak host MB", False),
    "host_delta_mb": ("host +MB", False),
    "peak_gpu_mb": ("peak GPU MB", False),
}


def model_source(registry, spec: str) -> tuple[str, bool]:
    """(what to load, whether it is a harness checkpoint) for a hub id, path, alias or checkpoint."""
    resolved = registry.resolve_model(spec)
    path = Path(resolved).expanduser()
    if (path / "encoder").is_dir() and (path / "encoder" / "config.json").exists():
        return str(path / "encoder"), True
    return resolved, False


def _import_model_code(source: str, revision: str | None) -> None:
    """Import the model class's module before the timer starts: transformers imports it lazily on
    first use, which would otherwise count in the first model's load time and memory only."""
    try:
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.from_pretrained(source, revision=revision)
        AutoModel._model_mapping[type(config)]
    except Exception:  # noqa: BLE001 - the real load reports any problem
        pass


def measure(registry, spec: str, task, fmt, examples: list[dict[str, Any]], settings, device: torch.device,
            warmup: int = 1, revision: str | None = None) -> dict[str, Any]:
    """Load ``spec``, featurize ``examples`` with a fresh head of ``task``, run batched inference."""
    from harness.engine.inference import autocast_context, length_sorted_batches
    from harness.engine.memory import current_rss_mb, peak_memory

    source, checkpoint = model_source(registry, spec)
    _import_model_code(source, None if checkpoint else revision)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    rss_before = current_rss_mb()
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        start = time.perf_counter()
        model = registry.plugins.load_model(model=source, device=device, revision=None if checkpoint else revision)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if model is None:
        raise HarnessError(f"no plugin could load model '{spec}'")
    load_s = time.perf_counter() - start
    torch.manual_seed(0)
    model.heads[task.name] = fmt.build_head(model.hidden_size, task)
    task_model = model.task_model(task.name)
    task_model.eval()
    features = fmt.featurize(examples, model.tokenizer, task, settings.max_length, train=False)
    if not features:
        raise HarnessError(f"task '{task.name}': no features to run")
    lengths = [fmt.length(f) for f in features]
    batches = length_sorted_batches(lengths, settings.eval_batch_size, settings.eval_token_budget)
    pad_id = model.tokenizer.pad_token_id or 0

    def run(indices: list[int]) -> None:
        batch = fmt.collate([features[i] for i in indices], pad_id)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}
        with autocast_context(device, settings.mixed_precision):
            logits = task_model(batch, task.name)["logits"]  # noqa: F821 - bound above, deleted after use
        logits.float().cpu()  # waits for the device, as evaluation does

    latencies: list[float] = []
    with torch.inference_mode():
        for indices in batches[-warmup:] if warmup > 0 else []:  # the shortest batches: cheap warm-up
            run(indices)
        with peak_memory(device) as memory:
            total_start = time.perf_counter()
            for indices in batches:
                t0 = time.perf_counter()
                run(indices)
                latencies.append(time.perf_counter() - t0)
            seconds = time.perf_counter() - total_start
    per_example = np.repeat([lat / len(b) for lat, b in zip(latencies, batches)], [len(b) for b in batches])
    batch_ms, example_ms = np.asarray(latencies) * 1000.0, per_example * 1000.0
    memory_stats = memory.stats()
    figures = {
        "model": spec, "source": source, "checkpoint": checkpoint,
        "parameters_m": round(sum(p.numel() for p in model.encoder.parameters()) / 1e6, 2),
        "layers": model.num_layers, "hidden_size": model.hidden_size,
        "load_s": round(load_s, 3), "seconds": round(seconds, 4),
        "examples": len(examples), "features": len(features), "tokens": int(sum(lengths)),
        "batches": len(batches),
        "examples_per_s": round(len(examples) / max(seconds, 1e-9), 2),
        "features_per_s": round(len(features) / max(seconds, 1e-9), 2),
        "batch_p50_ms": round(float(np.percentile(batch_ms, 50)), 3),
        "batch_p95_ms": round(float(np.percentile(batch_ms, 95)), 3),
        "example_p50_ms": round(float(np.percentile(example_ms, 50)), 4),
        "example_p95_ms": round(float(np.percentile(example_ms, 95)), 4),
        "peak_host_mb": memory_stats["peak_host_mb"],
        "host_delta_mb": round(memory_stats["peak_host_mb"] - rss_before, 1),
    }
    if "peak_gpu_mb" in memory_stats:
        figures["peak_gpu_mb"] = memory_stats["peak_gpu_mb"]
    del task_model, model
    gc.collect()
    return figures


def ratios(first: dict[str, Any], second: dict[str, Any]) -> dict[str, float | None]:
    """second / first for every numeric column both have."""
    result: dict[str, float | None] = {}
    for key in COLUMNS:
        if key in first and key in second:
            a, b = first[key], second[key]
            result[key] = round(b / a, 3) if a else None
    return result


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


@click.command("bench")
@click.option("--model", "-m", required=True, help="Hub id, local directory, alias or harness checkpoint directory.")
@click.option("--compare", "-c", default=None, help="A second model to measure side by side (ratios: compare / model).")
@click.option("--task", "-t", "task_name", default="xnli", show_default=True, help="Target task whose inputs are used.")
@click.option("--language", "-l", default=None, help="Language of the inputs (default: en, else the task's first).")
@click.option("--split", default=None, help="Split (default: test, else the task's first split).")
@click.option("--batch-size", "-b", type=int, default=32, show_default=True, help="Features per batch (at most).")
@click.option("--limit", type=int, default=256, show_default=True, help="At most N examples.")
@click.option("--max-length", type=int, default=None, help="Default: the task's max_length.")
@click.option("--precision", type=click.Choice(["auto", "no", "bf16", "fp16"]), default="auto", show_default=True,
              help="auto: bf16 autocast on GPUs that support it, fp32 on CPU.")
@click.option("--warmup", type=int, default=1, show_default=True, help="Uncounted warm-up batches.")
@click.option("--data", type=click.Choice(["samples", "local", "hub", "auto"]), default="auto", show_default=True)
@click.option("--data-dir", type=click.Path(), default=None, help="Directory with one sub-directory per task.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available).")
@click.option("--revision", default=None, help="Hub revision of --model / --compare.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@common_options
def bench_command(env: Any, model: str, compare: str | None, task_name: str, language: str | None,
                  split: str | None, batch_size: int, limit: int, max_length: int | None, precision: str,
                  warmup: int, data: str, data_dir: str | None, device: str | None, revision: str | None,
                  as_json: bool) -> None:
    """Inference latency, throughput and peak memory of a model (or two, side by side) on a target task."""
    from harness.run.data import load_examples
    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams

    if batch_size < 1 or limit < 1:
        raise HarnessError("--batch-size and --limit must be positive")
    registry = env.registry(data_dir)
    task = registry.task(task_name)
    fmt = get_format(task.format)
    if not fmt.trainable:
        raise HarnessError(f"task '{task.name}' ({task.format} format) has no task head to benchmark; "
                           f"pick a trainable target (e.g. xnli, udpos, xquad)")
    language = language or ("en" if "en" in task.spec.languages else task.spec.languages[0])
    registry.check_languages(task, [language])
    splits = list(task.spec.splits)
    split = split or ("test" if "test" in splits else splits[0])
    if split not in splits:
        raise HarnessError(f"task '{task.name}' has no split '{split}' (it has {', '.join(splits)})")
    examples = load_examples(registry.plugins, task, split, language, source=data, limit=limit)
    settings = Hyperparams().merged(task.spec.hparams).merged(
        {"eval_batch_size": batch_size, "mixed_precision": precision,
         **({"max_length": max_length} if max_length else {})}, where="bench options")
    from harness.run.pipeline import pick_device
    target = pick_device(device)

    results = [measure(registry, spec, task, fmt, examples, settings, target, warmup, revision)
               for spec in [model] + ([compare] if compare else [])]
    report: dict[str, Any] = {"task": task.name, "language": language, "split": split,
                              "examples": len(examples), "batch_size": batch_size,
                              "max_length": settings.max_length, "token_budget": settings.eval_token_budget,
                              "device": str(target), "precision": precision,
                              "torch_threads": torch.get_num_threads(), "models": results}
    if compare:
        report["ratios"] = ratios(results[0], results[1])
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    _print_table(report)


def _print_table(report: dict[str, Any]) -> None:
    from rich.table import Table


    models = report["models"]
    labels = ["model"] + (["compare"] if len(models) > 1 else [])
    table = Table(title=f"{report['task']} ({report['language']}, {report['split']}): {report['examples']} examples, "
                        f"batch {report['batch_size']}, {report['device']}", title_justify="left")
    table.add_column("measure")
    for label in labels:
        table.add_column(label, justify="right")
    if len(models) > 1:
        table.add_column("compare / model", justify="right")
    for key, (header, higher_better) in COLUMNS.items():
        if not any(key in m for m in models):
            continue
        row = [header] + [_fmt(m.get(key)) for m in models]
        if len(models) > 1:
            value = report["ratios"].get(key)
            row.append("-" if value is None else f"{value:.2f}x")
        table.add_row(*row)
    for label, m in zip(labels, models):
        kind = "checkpoint" if m["checkpoint"] else "model"
        out.print(f"{label}: {m['model']} ({kind}; {m['layers']} layers x {m['hidden_size']}, {m['features']} "
                  f"features, {m['tokens']:,} tokens in {m['batches']} batches)", highlight=False, soft_wrap=True)
    print_table(table, out)
