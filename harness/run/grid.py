"""``harness grid``: the baseline and every (intermediate task x target) pair, for several seeds.

One :class:`~harness.run.pipeline.Pipeline` runs per (intermediate configuration, seed) with all the
targets, so each intermediate model is trained once and then fine-tuned for every target. The
configurations are the baseline (no intermediate task), each intermediate task alone and, with
``--multi-task``, one multi-task model over all of them. Every cell writes to the same output
directory and ``results.jsonl``; the pipeline's content keys make a rerun skip finished cells and
reuse saved checkpoints, so an interrupted grid resumes where it stopped. A failing cell becomes an
error record and the grid goes on; the command exits non-zero at the end with a summary.

It imports :mod:`harness.commands` only inside functions: the CLI imports this module to register it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


from harness.errors import HarnessError, Interrupted, LockedError, StorageError

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
    """One pipeline of the grid: an intermediate configuration and a seed, all targets."""

    intermediate: list[str]
    seed: int
    request: Any
    pipeline: Any


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
    """Build (and validate, before any work) one RunRequest + Pipeline per (configuration, seed).

    ``options`` are the eval options (see :func:`harness.commands.build_request`) plus ``seeds`` and
    ``multi_task``; ``intermediate`` is the list of tasks the grid crosses with the targets.
    """
    from harness.run.request import build_request, split_list
    from harness.run.pipeline import Pipeline

    preset = registry.preset(options["preset"]) if options.get("preset") else None
    intermediate = (split_list(options["intermediate"]) if options.get("intermediate") is not None
                    else list(preset.intermediate if preset else []))
    seeds = parse_seeds(options.get("seeds")) or list(preset.seeds if preset and preset.seeds else [1])
    multi_task = bool(options.get("multi_task")) or bool(preset and preset.multi_task)
    for value in options.get("fractions") or ():
        task = value.rpartition("=")[0]
        if task and task not in intermediate:
            raise HarnessError(f"--intermediate-fraction names '{task}', which is not among the intermediate tasks")
    steps = []
    for seed in seeds:
        for config in grid_configs(intermediate, multi_task):
            cell_options = {**options, "intermediate": ",".join(config), "seed": seed}
            request = build_request(registry, cell_options)
            request.fraction = {name: f for name, f in request.fraction.items() if name in config}
            if len(config) < 2:
                request.sampling = {}  # temperature and cap only matter for a multi-task model
            steps.append(GridStep(config, seed, request, Pipeline(registry, request, reporter=reporter, log=log)))
    return steps


def _grid_error(step: GridStep, exc: BaseException) -> dict[str, Any]:
    from harness.run.pipeline import SCHEMA_VERSION, one_line, utc_now

    return {"type": "error", "schema_version": SCHEMA_VERSION, "run_id": step.pipeline.run_id,
            "task": config_name(step.intermediate), "language": None, "split": None, "phase": GRID_PHASE,
            "error_type": type(exc).__name__, "message": one_line(exc), "time": utc_now(),
            "model": step.request.model, "intermediate": list(step.intermediate), "seed": step.seed}


def run_grid(registry, options: dict[str, Any], log: Callable[[str], None] | None = None,
             progress: Callable[[str], None] | None = None, reporter=None) -> GridSummary:
    """Run the whole grid; finished cells are skipped, checkpoints reused. Never raises for a
    failing cell (an error record is written instead); a locked output directory aborts."""
    from harness.results.records import ResultsWriter, output_lock, read_records

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
    if overwrite == "never" and any(r.get("type") == "result" for r in read_records(summary.results_file)):
        raise HarnessError(f"{summary.results_file} already holds results and --overwrite is 'never'")
    targets = steps[0].request.targets
    total = len(steps) * len(targets)
    done_cells = 0
    for index, step in enumerate(steps, 1):
        label = f"seed {step.seed} · {config_name(step.intermediate)}"
        progress(f"[{index}/{len(steps)}] {label} → {', '.join(targets)}")
        pipeline = step.pipeline
        step_start = time.perf_counter()
        try:
            result = pipeline.run()
        except (LockedError, Interrupted, StorageError):
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - one failing configuration must not stop the grid
            record = _grid_error(step, exc)
            with output_lock(out):
                writer = ResultsWriter(summary.results_file)
                try:
                    writer.write(record)
                finally:
                    writer.close()
            summary.errors.append(record)
            for target in targets:
                done_cells += 1
                progress(f"  cell {done_cells}/{total} {label} → {target}: failed ({record['error_type']}: "
                         f"{record['message']})")
            continue
        summary.results.extend(result.results)
        # the pipeline's error records name the task only: add the cell for the summary and report
        summary.errors.extend({**e, "model": step.request.model, "intermediate": list(step.intermediate),
                               "seed": step.seed} for e in result.errors)
        summary.computed += result.computed
        summary.skipped += result.skipped
        seconds = time.perf_counter() - step_start
        for target in targets:
            done_cells += 1
            progress(f"  cell {done_cells}/{total} {label} → {target}: "
                     + _cell_status(registry, target, result, pipeline.run_id) + f" [{seconds:.1f}s]")
    summary.wall_seconds = time.perf_counter() - started
    return summary


def _cell_status(registry, target: str, result, run_id: str) -> str:
    from harness.results.report import metric_for

    records = [r for r in result.results if r.get("task") == target]
    errors = [e for e in result.errors if e.get("task") == target or e.get("phase") == "intermediate-train"]
    values = []
    for record in records:
        name, scale = metric_for(registry, target, record.get("metrics") or {})
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


