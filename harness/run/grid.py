"""``harness grid``: the baseline and every (intermediate task x target) pair, for several seeds.

One :class:`~harness.run.pipeline.Pipeline` runs per (intermediate configuration, seed) with all the
targets, so each intermediate model is trained once and then fine-tuned for every target. The
configurations are the baseline (no intermediate task), each intermediate task alone and, with
``--multi-task``, one multi-task model over all of them. Two optional axes multiply the
intermediate configurations (never the baseline, which is N = 0 and computed once per seed): the
data volume (``--sizes 1k,2k,full`` or ``--fractions 0.25,1``: nested subsets, run/subset.py) and
the image-dropout probability of ``--modality-dropout`` (``--dropout-p 0,0.3,1``; configurations
without an image-text intermediate task have no images to drop and run once). Planning
(:func:`plan_grid`) builds and validates every step before any work; execution (:func:`run_grid`)
turns each step into a serialisable cell (run/cells.py) and hands the cells to an executor
(run/executors.py: local, pool, slurm, ray) through the manager (run/manager.py,
``grid_state.json``). Every cell writes to the same output directory: ``results.jsonl`` when run
locally, its own shard otherwise; the pipeline's content keys make a rerun skip finished cells and
reuse saved checkpoints, so an interrupted grid resumes where it stopped. A cell that keeps failing
becomes an error record and the grid goes on; the command exits non-zero at the end with a summary.

The grid is a loop over resolved run plans (run/plan.py); it does not import the CLI (the CLI
imports it).
"""
from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


from harness.errors import HarnessError, Interrupted

GRID_PHASE = "run"   # phase of the error record the grid writes when a whole pipeline crashed


# --------------------------------------------------------------------------------- planning
def grid_configs(intermediate: list[str], multi_task: bool) -> list[list[str]]:
    """Baseline, each intermediate task alone, and (``multi_task``) all of them together."""
    unique = list(dict.fromkeys(intermediate))
    configs: list[list[str]] = [[]] + [[name] for name in unique]
    if multi_task and len(unique) > 1:
        configs.append(unique)
    return configs


def parse_seeds(value: str | None) -> list[int]:
    seeds = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            seeds.append(int(part))
        except ValueError:
            raise HarnessError(f"--seeds '{value}': expected comma-separated integers") from None
    return list(dict.fromkeys(seeds))


def config_name(intermediate: list[str]) -> str:
    return "+".join(intermediate) or "baseline"


@dataclass
class GridStep:
    """One pipeline of the grid: an intermediate configuration (with its point on the data-volume
    and dropout axes, None when not swept or full) and a seed, all targets."""

    intermediate: list[str]
    seed: int
    request: Any
    pipeline: Any
    size: int | None = None
    fraction: float | None = None
    dropout_p: float | None = None

    @property
    def label(self) -> str:
        """The configuration with its axis points, e.g. ``mnli N=1000`` or ``m3it-vqa-v2 p=0.3``."""
        extras = [f"N={self.size}" if self.size is not None else "",
                  f"fraction {self.fraction:g}" if self.fraction is not None else "",
                  f"p={self.dropout_p:g}" if self.dropout_p is not None else ""]
        return " ".join([config_name(self.intermediate), *filter(None, extras)])


def parse_axis(value: str | None, parse: Callable[[str], Any]) -> list[Any]:
    """A comma-separated axis, each point parsed (``full`` is None), duplicates dropped in order."""
    points = [None if part.strip().lower() == "full" else parse(part.strip())
              for part in (value or "").split(",") if part.strip()]
    return list(dict.fromkeys(points))


def _fraction_point(text: str) -> float | None:
    from harness.run.request import parse_fraction

    value = parse_fraction(text, f"--fractions '{text}'", "fractions in (0, 1], comma-separated")
    return None if value == 1 else value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise HarnessError(f"--dropout-p '{text}': expected probabilities in [0, 1], comma-separated") from None
    if not 0 <= value <= 1:
        raise HarnessError(f"--dropout-p '{text}': a probability must be in [0, 1]")
    return value


def volume_axis(options: dict[str, Any]) -> list[tuple[int | None, float | None]]:
    """The (size, fraction) points of ``--sizes`` or ``--fractions``; [(None, None)]: not swept."""
    from harness.run.subset import parse_count

    sizes, fractions = options.get("size_axis"), options.get("fraction_axis")
    if sizes and fractions:
        raise HarnessError("--sizes and --fractions both give the data-volume axis; pass one of them")
    if sizes and options.get("sizes"):
        raise HarnessError("--sizes sweeps the intermediate size; drop --intermediate-size")
    if fractions and options.get("fractions"):
        raise HarnessError("--fractions sweeps the intermediate fraction; drop --intermediate-fraction")
    if sizes:
        return [(size, None) for size in parse_axis(sizes, lambda text: parse_count(text, f"--sizes '{text}'"))]
    if fractions:
        return [(None, fraction) for fraction in parse_axis(fractions, _fraction_point)]
    return [(None, None)]


def dropout_axis(registry, options: dict[str, Any], preset, config: list[str]) -> list[tuple[Any, float | None]]:
    """(--modality-dropout value, swept P) per point of ``--dropout-p`` for one configuration: P
    replaces the image probability of --modality-dropout (its text probability and mode stay)."""
    from harness.run.modality import ModalityDropout

    given = options.get("modality_dropout") or (preset.modality_dropout if preset else "")
    points = parse_axis(options.get("dropout_axis"), _probability)
    if None in points:
        raise HarnessError("--dropout-p takes probabilities in [0, 1] ('full' is a size)")
    if not points or not any(registry.task(name).spec.modality == "image_text" for name in config):
        return [(given, None)]
    base = ModalityDropout.parse(given)
    return [(f"image={p:g},text={base.text:g},mode={base.mode}", p) for p in points]


@dataclass
class GridSummary:
    steps: list[GridStep] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    skipped: int = 0
    wall_seconds: float = 0.0
    results_file: Path | None = None
    splits: list[str] = field(default_factory=list)


def plan_grid(registry, options: dict[str, Any], reporter=None,
              log: Callable[[str], None] | None = None) -> list[GridStep]:
    """Build (and validate, before any work) one RunRequest, its resolved RunPlan and its Pipeline
    per (configuration, seed).

    ``options`` are the eval options (see :func:`harness.run.request.build_request`) plus ``seeds`` and
    ``multi_task``; ``intermediate`` is the list of tasks the grid crosses with the targets.
    """
    from harness.run.request import build_request, split_list
    from harness.run.pipeline import Pipeline
    from harness.run.plan import resolve_plan

    preset = registry.preset(options["preset"]) if options.get("preset") else None
    intermediate = (split_list(options["intermediate"]) if options.get("intermediate") is not None
                    else list(preset.intermediate if preset else []))
    seeds = parse_seeds(options.get("seeds")) or list(preset.seeds if preset and preset.seeds else [1])
    multi_task = bool(options.get("multi_task")) or bool(preset and preset.multi_task)
    for option, values in (("--intermediate-fraction", options.get("fractions")),
                           ("--intermediate-size", options.get("sizes"))):
        for value in values or ():
            task = value.rpartition("=")[0]
            if task and task not in intermediate:
                raise HarnessError(f"{option} names '{task}', which is not among the intermediate tasks")
    volumes = volume_axis(options)
    steps = []
    for seed in seeds:
        for config in grid_configs(intermediate, multi_task):
            for dropout, p in dropout_axis(registry, options, preset, config) if config else [(None, None)]:
                for size, fraction in volumes if config else [(None, None)]:
                    cell_options = {**options, "intermediate": ",".join(config), "seed": seed}
                    if dropout is not None:
                        cell_options["modality_dropout"] = dropout
                    if size is not None:
                        cell_options["sizes"] = (str(size),)
                    if fraction is not None:
                        cell_options["fractions"] = (str(fraction),)
                    request = build_request(registry, cell_options)
                    request.fraction = {name: f for name, f in request.fraction.items() if name in config}
                    request.size = {name: n for name, n in request.size.items() if name in config}
                    if len(config) < 2:
                        request.sampling = {}  # temperature and cap only matter for a multi-task model
                    plan = resolve_plan(registry, request)
                    steps.append(GridStep(config, seed, request,
                                          Pipeline(registry, request, reporter=reporter, log=log, plan=plan),
                                          size=size, fraction=fraction, dropout_p=p))
    return steps


def _grid_error(step: GridStep, exc: BaseException) -> dict[str, Any]:
    from harness.results.records import SCHEMA_VERSION
    from harness.run.records import one_line, utc_now

    return {"type": "error", "schema_version": SCHEMA_VERSION, "run_id": step.pipeline.run_id,
            "task": config_name(step.intermediate), "language": None, "split": None, "phase": GRID_PHASE,
            "error_type": type(exc).__name__, "message": one_line(exc), "time": utc_now(),
            "model": step.request.model, "intermediate": list(step.intermediate), "seed": step.seed}


# --------------------------------------------------------------------------------- execution
def cell_resources(preset: Any, options: dict[str, Any], intermediate: list[str]) -> dict[str, Any]:
    """What one cell's job asks for: the preset's ``resources:``, its per-task overrides (each task of
    the configuration, ``baseline`` for none), then the command line's options."""
    base = dict(getattr(preset, "resources", None) or {})
    overrides = base.pop("tasks", {}) or {}
    for name in intermediate or ["baseline"]:
        base.update(overrides.get(name) or {})
    base.update({k: options[k] for k in ("partition", "gpus_per_job", "cpus_per_job", "mem_gb", "time_min",
                                          "account", "qos", "constraint") if options.get(k) is not None})
    return base


def grid_cells(steps: list[GridStep], options: dict[str, Any], preset: Any = None) -> list[Any]:
    """The serialisable cell spec of every step (see harness/run/cells.py)."""
    from harness.run.cells import CellSpec

    registry_args = dict(options.get("registry_args") or {})
    registry_args.setdefault("data_dir", str(Path(options["data_dir"]).resolve()) if options.get("data_dir") else None)
    return [CellSpec.from_request(step.intermediate, step.seed, step.request, registry_args,
                                  cell_resources(preset, options, step.intermediate), title=step.label)
            for step in steps]


def preview_grid(registry, options: dict[str, Any]) -> dict[str, Any]:
    """What :func:`run_grid` would do, doing none of it (``--dry-run``): per cell, its intermediate
    checkpoint (present, to train, not needed), the results done and to compute, and what the cell's
    job would ask the executor for. The data sources are checked as :meth:`Pipeline.preview` does."""
    from harness.spec.hub import hub_offline

    steps = plan_grid(registry, options)
    preset = registry.preset(options["preset"]) if options.get("preset") else None
    rows = []
    for step, cell in zip(steps, grid_cells(steps, options, preset)):
        preview = step.pipeline.preview()
        rows.append({"cell": step.label, "seed": step.seed, "shard": cell.shard,
                     "intermediate": (preview["intermediate"] or {}).get("checkpoint", "-"),
                     "done": preview["done"], "to_compute": preview["to_compute"],
                     "samples_only": preview["samples_only"], "resources": cell.resources})
    return {"output_dir": str(steps[0].request.output_dir) if steps else None,
            "executor": options.get("executor") or "local", "cells": rows,
            "cells_to_run": sum(1 for row in rows if row["to_compute"] or row["samples_only"]),
            "to_compute": sum(row["to_compute"] for row in rows), "done": sum(row["done"] for row in rows),
            "hub_checked": hub_offline()}


def make_executor(name: str, options: dict[str, Any], registry, out: Path, reporter=None,
                  log: Callable[[str], None] | None = None, say: Callable[[str], None] | None = None):
    """The executor ``--executor NAME`` asks for, configured from the options and the preset."""
    from harness.run import executors

    say = say or log or (lambda message: None)
    preset = registry.preset(options["preset"]) if options.get("preset") else None
    resources = cell_resources(preset, options, ["baseline"])
    if name == "local":
        return executors.LocalExecutor(registry, reporter, log)
    if name == "pool":
        devices = [d.strip() for d in str(options.get("devices") or "").split(",") if d.strip()]
        return executors.PoolExecutor(devices, out / "grid_logs")
    if name == "slurm":
        defaults = executors.SlurmSettings()
        settings = executors.SlurmSettings(
            **{k: resources.get(k, getattr(defaults, k)) for k in ("partition", "gpus_per_job", "cpus_per_job",
                                                                  "mem_gb", "time_min", "account", "qos",
                                                                  "constraint")},
            max_concurrent=int(options.get("max_concurrent") or resources.get("max_concurrent") or 0),
            cluster=options.get("slurm_cluster"))
        return executors.SlurmExecutor(settings, out / "grid_logs" / "%j", say)
    if name == "ray":
        return executors.RayExecutor(options.get("ray_address"), gpus_per_job=float(resources.get("gpus_per_job", 0)),
                                     cpus_per_job=float(resources.get("cpus_per_job", 1)),
                                     max_concurrent=int(options.get("max_concurrent") or
                                                        resources.get("max_concurrent") or 0),
                                     num_cpus=options.get("ray_num_cpus"), say=say)
    raise HarnessError(f"--executor '{name}': expected one of {', '.join(executors.EXECUTORS)}")


def run_grid(registry, options: dict[str, Any], log: Callable[[str], None] | None = None,
             progress: Callable[[str], None] | None = None, reporter=None, executor=None) -> GridSummary:
    """Run the whole grid through an executor (``options['executor']``: local, pool, slurm or ray;
    or ``executor``, an :class:`~harness.run.executors.Executor`); finished cells are skipped,
    checkpoints reused. Never raises for a failing cell (it is retried ``options['retries']``
    times, then an error record is written instead); a locked output directory aborts."""
    from harness.engine.training import stop_on_signals
    from harness.results.records import read_records
    from harness.run.manager import STATE_FILE, GridManager, GridState

    log = log or (lambda message: None)
    progress = progress or log
    started = time.perf_counter()
    overwrite = options.get("overwrite") or "only-missing"
    steps = plan_grid(registry, {**options, "overwrite": "only-missing" if overwrite == "never" else overwrite},
                      reporter=reporter, log=log)
    summary = GridSummary(steps=steps)
    if not steps:
        return summary
    out = Path(steps[0].request.output_dir)
    summary.results_file = out / "results.jsonl"
    summary.splits = list(steps[0].request.splits)
    if overwrite == "never" and any(r.get("type") == "result" for r in read_records(out)):
        raise HarnessError(f"{out} already holds results and --overwrite is 'never'")
    preset = registry.preset(options["preset"]) if options.get("preset") else None
    cells = grid_cells(steps, options, preset)
    name = options.get("executor") or "local"
    if executor is None:
        executor = make_executor(name, options, registry, out, reporter=reporter, log=log, say=progress)
    sharded = executor.name != "local"
    by_shard = {cell.shard: step for cell, step in zip(cells, steps)}
    targets = steps[0].request.targets

    total, counted = len(cells) * len(targets), [0]

    def give_up(cell, exc: BaseException) -> dict[str, Any]:
        record = _grid_error(by_shard[cell.shard], exc)
        _write_error(out, cell.shard if sharded else None, record)
        for target in targets:
            counted[0] += 1
            progress(f"  cell {counted[0]}/{total} {cell.label} → {target}: failed ({record['error_type']}: "
                     f"{record['message']})")
        return {"results": [], "errors": [record], "computed": 0, "skipped": 0}

    results_by_key: dict[str, dict[str, Any]] | None = None

    def done_results() -> dict[str, dict[str, Any]]:
        nonlocal results_by_key
        if results_by_key is None:
            results_by_key = {r["key"]: r for r in read_records(out) if r.get("type") == "result"}
        return results_by_key

    def still_done(entry: dict[str, Any]) -> bool:
        """A cell done without errors whose results are all still in the directory is not resubmitted."""
        brief = entry.get("outcome") or {}
        keys = brief.get("result_keys") or []
        return bool(keys) and not brief.get("errors") and all(k in done_results() for k in keys)

    def cell_done(cell, result: dict[str, Any]) -> None:
        for target in targets:
            counted[0] += 1
            progress(f"  cell {counted[0]}/{total} {cell.label} → {target}: "
                     + _cell_status(registry, target, result.get("results") or [], result.get("errors") or [],
                                    str(result.get("run_id"))))

    state = GridState.load(out / STATE_FILE, executor.name)
    retries = options.get("retries")
    manager = GridManager(executor, state, max_concurrent=int(options.get("max_concurrent") or 0),
                          retries=int(retries) if retries is not None else (0 if executor.name == "local" else 1),
                          poll_s=float(options.get("poll_s") or 1.0), progress=progress, on_give_up=give_up,
                          still_done=still_done if overwrite != "always" else None, on_done=cell_done)
    progress(f"grid: {len(cells)} cell(s) (configuration x seed, each with {', '.join(targets)}) through "
             f"--executor {executor.name}" + (f", at most {manager.max_concurrent} at a time"
                                              if manager.max_concurrent else "") + f"; state: {state.path}")
    try:
        with stop_on_signals() if sharded else contextlib.nullcontext():   # local: the pipeline's own
            outcomes = manager.run(cells)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        raise Interrupted(f"{signal.Signals(signum).name}: cancelled the running jobs (grid state in {state.path}); "
                          f"resume with the same command", 128 + signum) from None
    for outcome in outcomes:
        step = by_shard[outcome.cell.shard]
        result = outcome.outcome or {}
        if outcome.skipped:   # done in an earlier run: its results are read back by key
            found = [done_results()[k] for k in result.get("result_keys") or []]
            summary.results.extend(found)
            summary.skipped += len(found)
            continue
        summary.results.extend(result.get("results") or [])
        # the pipeline's error records name the task only: add the cell for the summary and report
        summary.errors.extend({**e, "model": step.request.model, "intermediate": list(step.intermediate),
                               "seed": step.seed} for e in result.get("errors") or [])
        summary.computed += int(result.get("computed") or 0)
        summary.skipped += int(result.get("skipped") or 0)
    summary.wall_seconds = time.perf_counter() - started
    return summary


def _write_error(out: Path, shard: str | None, record: dict[str, Any]) -> None:
    """The error record of a cell that kept failing: into its shard under its lock, or results.jsonl."""
    from harness.results.records import SHARDS_DIR, ResultsWriter, cell_lock, output_lock

    lock = cell_lock(out, shard) if shard else output_lock(out)
    with lock:
        writer = ResultsWriter(out / SHARDS_DIR / f"{shard}.jsonl" if shard else out / "results.jsonl")
        try:
            writer.write(record)
        finally:
            writer.close()


def _cell_status(registry, target: str, results: list[dict[str, Any]], errors: list[dict[str, Any]],
                 run_id: str) -> str:
    from harness.results.report import metric_for

    records = [r for r in results if r.get("task") == target]
    errors = [e for e in errors if e.get("task") == target or e.get("phase") == "intermediate-train"]
    values = []
    for record in records:
        name, scale = metric_for(registry, record)
        value = (record.get("metrics") or {}).get(name)
        if isinstance(value, (int, float)):
            values.append(float(value) * scale)
    computed = sum(1 for r in records if r.get("run_id") == run_id)
    parts = []
    if values:
        parts.append(f"{sum(values) / len(values):.1f} over {len(values)} language/split cell(s)")
    parts.append(f"{computed} computed, {len(records) - computed} reused")
    if errors:
        parts.append(f"{len(errors)} failed")
    return "; ".join(parts)
