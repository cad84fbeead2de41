"""``harness grid``: the baseline and every (intermediate task x target) pair, for several seeds.

One :class:`~harness.run.pipeline.Pipeline` runs per (intermediate configuration, seed) with all the
targets, so each intermediate model is trained once and then fine-tuned for every target. The
configurations are the baseline (no intermediate task), each intermediate task alone and, with
``--multi-task``, one multi-task model over all of them. Two optional axes multiply the
intermediate configurations (never the baseline, which is N = 0 and computed once per seed): the
data volume (``--sizes 1k,2k,full`` or ``--fractions 0.25,1``: nested subsets, run/subset.py) and
the image-dropout probability of ``--modality-dropout`` (``--dropout-p 0,0.3,1``; configurations
without an image-text intermediate task have no images to drop and run once). Every cell writes to the same output
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
    try:
        value = float(text)
    except ValueError:
        raise HarnessError(f"--fractions '{text}': expected fractions in (0, 1], comma-separated") from None
    if not 0 < value <= 1:
        raise HarnessError(f"--fractions '{text}': a fraction must be in (0, 1]")
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
                    steps.append(GridStep(config, seed, request, Pipeline(registry, request, reporter=reporter, log=log),
                                          size=size, fraction=fraction, dropout_p=p))
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
        label = f"seed {step.seed} · {step.label}"
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


