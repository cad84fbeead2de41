"""``harness bench``: what a model costs at inference time, and whether another (e.g. the same
model after intermediate training) costs the same, per shape, per language and per precision::

    harness bench --model minilm --compare runs/x/checkpoints/intermediate-1a2b --batch-sizes 1,8 \\
        --lengths 32,128 --quantize int8-dynamic --accuracy TASK:de --json out.json

Cells: ``--lengths`` gives synthetic rows of exactly that many real tokens (no padding), one cell
per (batch size, length); ``--languages`` (default when no ``--lengths``: the task's English or
first language) gives the task's real inputs per language, one cell per (language, batch size).
Arms: each model (``--model``, ``--compare``) as fp32 and as each ``--variants`` entry. In a cell
the arms take turns (A B B A ...) in chunks of ``--chunk`` iterations, ``--iterations`` timed
batches each after ``--warmup``. The measurement lives in :mod:`harness.bench`, the tables and
plots in :mod:`harness.results.bench_report`, the record schema in
:mod:`harness.results.bench_records`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from harness.commands.options import common_options, console, out
from harness.errors import HarnessError, UnknownNameError

#: without --task or --accuracy: the first trainable target of this tasks.yaml preset
DEFAULT_PRESET = "demo"


def default_task(registry: Any) -> Any:
    """The first target of the ``demo`` preset whose format has a task head (tasks.yaml decides)."""
    from harness.formats import get_format

    preset = registry.config.presets.get(DEFAULT_PRESET)
    for name in (preset.targets if preset is not None else []):
        task = registry.tasks.get(name)
        if task is not None and get_format(task.format).trainable:
            return task
    raise HarnessError(f"no default task: the '{DEFAULT_PRESET}' preset has no trainable target; give --task")


def _positive_ints(option: str, text: str | None) -> list[int]:
    if not text:
        return []
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HarnessError(f"{option}: expected comma-separated integers, got '{text}'") from None
    if not values or min(values) < 1:
        raise HarnessError(f"{option}: every value must be a positive integer, got '{text}'")
    return values


def _variants(text: str) -> list[str]:
    from harness.bench.variants import VARIANTS

    asked = {v.strip() for v in text.split(",") if v.strip()}
    for name in asked:
        if name not in VARIANTS:
            raise UnknownNameError("variant", name, VARIANTS)
    return [v for v in VARIANTS if v == "fp32" or v in asked]  # fp32 first: the reference of every ratio


def _split(task: Any, wanted: str | None, prefer: str) -> str:
    splits = list(task.spec.splits)
    split = wanted or (prefer if prefer in splits else splits[0])
    if split not in splits:
        raise HarnessError(f"task '{task.name}' has no split '{split}' (it has {', '.join(splits)})")
    return split


@click.command("bench")
@click.option("--model", "-m", required=True, help="Hub id, local directory, alias or harness checkpoint directory.")
@click.option("--compare", "-c", default=None, help="A second model, measured interleaved with the first (A/B).")
@click.option("--batch-sizes", "-b", default="32", show_default=True, help="Comma-separated batch sizes.")
@click.option("--lengths", default=None, help="Comma-separated token lengths: synthetic cells, no padding.")
@click.option("--task", "-t", "task_name", default=None,
              help=f"Task whose head and texts are used (default: the --accuracy task, else the first trainable "
                   f"target of the '{DEFAULT_PRESET}' preset).")
@click.option("--languages", "-l", default=None, help="Comma-separated languages: one cell of real inputs each.")
@click.option("--split", default=None, help="Split of the inputs (default: test, else the task's first).")
@click.option("--limit", type=int, default=256, show_default=True, help="At most N examples per language.")
@click.option("--variants", "--quantize", "variants", default="", metavar="LIST",
              help="Variants measured next to fp32: int8-dynamic, bf16, fp16 (weights), autocast-bf16, "
                   "autocast-fp16 (fp32 weights under autocast: what eval runs on a GPU), onnx-fp32, onnx-int8.")
@click.option("--accuracy", "accuracy_at", default=None, metavar="TASK:LANG",
              help="Score every variant on this dev set (the head of a checkpoint that has one, else a fresh head).")
@click.option("--iterations", type=int, default=30, show_default=True, help="Timed batches per arm and cell.")
@click.option("--warmup", type=int, default=3, show_default=True, help="Untimed batches per arm and cell.")
@click.option("--chunk", type=int, default=2, show_default=True, help="Batches per turn of the interleaving.")
@click.option("--margin", type=float, default=0.05, show_default=True,
              help="Equivalence margin of the verdicts, as a fraction (0.05: +/-5%).")
@click.option("--max-length", type=int, default=None, help="Truncation of real inputs (default: the task's).")
@click.option("--threads", type=int, default=None, help="torch and onnxruntime threads (default: torch's).")
@click.option("--data", type=click.Choice(["samples", "local", "hub", "auto"]), default="auto", show_default=True,
              help="Where the inputs come from (samples: the bundled ones).")
@click.option("--data-dir", type=click.Path(), default=None, help="Directory with one sub-directory per task.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available).")
@click.option("--revision", default=None, help="Hub revision of --model / --compare.")
@click.option("--json", "json_path", default=None, metavar="FILE", help="Write settings and records as JSON ('-': stdout).")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), metavar="FILE.jsonl",
              help="Append the bench records (read them with: harness report --bench FILE.jsonl).")
@common_options
def bench_command(env: Any, model: str, compare: str | None, batch_sizes: str, lengths: str | None,
                  task_name: str | None, languages: str | None, split: str | None, limit: int, variants: str,
                  accuracy_at: str | None, iterations: int, warmup: int, chunk: int, margin: float,
                  max_length: int | None, threads: int | None, data: str, data_dir: str | None,
                  device: str | None, revision: str | None, json_path: str | None, output: str | None) -> None:
    """Latency percentiles with intervals, throughput and memory per cell; A/B ratios with
    equivalence verdicts; int8, ONNX and half-precision variants with their accuracy."""
    import torch   # here, not at start-up: --help stays fast

    from harness.bench.sweep import BenchPlan, run_bench
    from harness.formats import get_format
    from harness.run.data import load_examples
    from harness.spec.hparams import Hyperparams

    if limit < 1 or iterations < 1 or chunk < 1 or warmup < 0 or (threads is not None and threads < 1):
        raise HarnessError("--limit, --iterations, --chunk and --threads must be positive, --warmup >= 0")
    if not 0 < margin < 1:
        raise HarnessError(f"--margin: expected a fraction between 0 and 1, got {margin}")
    sizes, cut = _positive_ints("--batch-sizes", batch_sizes), _positive_ints("--lengths", lengths)
    chosen = _variants(variants)
    accuracy_task, accuracy_language = None, None
    if accuracy_at is not None:
        accuracy_task, sep, accuracy_language = accuracy_at.partition(":")
        if not sep or not accuracy_task or not accuracy_language:
            raise HarnessError(f"--accuracy: expected TASK:LANG (e.g. TASK:de), got '{accuracy_at}'")
        if task_name and task_name != accuracy_task:
            raise HarnessError(f"--accuracy scores the variants of --task '{task_name}': give that task, "
                               f"not '{accuracy_task}'")
    registry = env.registry(data_dir)
    name = task_name or accuracy_task
    task = registry.task(name) if name else default_task(registry)
    fmt = get_format(task.format)
    if not fmt.trainable:
        raise HarnessError(f"task '{task.name}' ({task.format} format) has no task head to benchmark; "
                           f"pick a trainable target (`harness tasks` lists each task's format)")
    langs = [v.strip() for v in (languages or "").split(",") if v.strip()]
    default_language = "en" if "en" in task.spec.languages else task.spec.languages[0]
    registry.check_languages(task, langs or [default_language])
    split = _split(task, split, "test")
    examples: dict[str, list[dict[str, Any]]] = {lang: load_examples(registry.plugins, task, split, lang, source=data, limit=limit)
                for lang in dict.fromkeys(langs or [default_language])}
    if any(not rows for rows in examples.values()):
        raise HarnessError(f"task '{task.name}': no examples in split '{split}' for "
                           f"{', '.join(k for k, v in examples.items() if not v)}")
    settings = Hyperparams().merged(task.spec.hparams)
    if threads:
        torch.set_num_threads(threads)
    target = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if target.type == "cuda" and not torch.cuda.is_available():
        raise HarnessError(f"--device {device}: no CUDA device is available")
    plan = BenchPlan(models=[model] + ([compare] if compare else []), task=task, fmt=fmt, split=split,
                     examples=examples, batch_sizes=sizes, lengths=cut,
                     languages=list(examples) if (langs or not cut) else [], text_language=next(iter(examples)),
                     variants=chosen, iterations=iterations, warmup=warmup, chunk=chunk, margin=margin,
                     max_length=max_length or settings.max_length, device=target, revision=revision)
    if accuracy_task and accuracy_language:
        registry.check_languages(task, [accuracy_language])
        where = {"task": task.name, "language": accuracy_language, "split": _split(task, None, "dev")}
        plan.accuracy_examples = load_examples(registry.plugins, task, where["split"], accuracy_language, source=data)
        plan.accuracy_where = where
    if iterations < 30:
        console.print(f"note: {iterations} timed iterations per cell; p95/p99 and their intervals want >= 30",
                      style="yellow", highlight=False)

    records = run_bench(registry, plan, log=lambda m: console.print(m, style="dim", highlight=False, markup=False))
    if output:
        from harness.results.records import ResultsWriter

        writer = ResultsWriter(Path(output))
        try:
            for record in records:
                writer.write(record)
        finally:
            writer.close()
    if json_path:
        document = json.dumps({"settings": _settings(plan), "records": records}, indent=1, ensure_ascii=False)
        if json_path == "-":
            click.echo(document)
            return
        Path(json_path).write_text(document + "\n", encoding="utf-8")
    from harness.results.bench_report import render_bench

    render_bench(records, out)


def _settings(plan: Any) -> dict[str, Any]:
    import torch

    return {"models": plan.models, "task": plan.task.name, "split": plan.split, "batch_sizes": plan.batch_sizes,
            "lengths": plan.lengths, "languages": plan.languages, "variants": plan.variants,
            "iterations": plan.iterations, "warmup": plan.warmup, "chunk": plan.chunk, "margin": plan.margin,
            "device": str(plan.device), "threads": torch.get_num_threads(), "accuracy": plan.accuracy_where or None}
