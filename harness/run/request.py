"""What one run asks for (:class:`RunRequest`), and how command-line options and a preset become one."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.run.subset import parse_count
from harness.spec.hparams import Hyperparams, in_range, range_text
from harness.spec.options import check_options
from harness.spec.registry import options_schema


@dataclass
class RunRequest:
    """Everything one ``harness eval`` needs; presets fill the fields the user did not set."""

    model: str
    targets: list[str]
    intermediate: list[str] = field(default_factory=list)
    languages: dict[str, list[str]] = field(default_factory=dict)
    splits: list[str] = field(default_factory=lambda: ["test"])
    seed: int = 1
    limit: int | None = None
    data: str = "auto"
    output_dir: Path = Path("runs")
    log_samples: bool = False
    hparams: dict[str, Any] = field(default_factory=dict)
    intermediate_hparams: dict[str, Any] = field(default_factory=dict)
    #: per task: the preset's task_hparams with the command line's --hparam (or --intermediate-hparam) on top
    task_hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    select_on: str = "none"                                    # none | en-dev (model selection)
    select_every: int = 0                                      # steps between evaluations; 0 = each epoch
    fraction: dict[str, float] = field(default_factory=dict)   # intermediate task -> fraction
    size: dict[str, int] = field(default_factory=dict)         # intermediate task -> N examples
    data_seed: int = 0                                         # ranks examples for the subsets (run/subset.py)
    stratify: bool = False                                     # subsets keep the label proportions
    budget: str = "epochs"                                     # epochs | steps (intermediate training)
    budget_steps: int | None = None                            # steps of --budget steps (None: the full-data run's)
    sampling: dict[str, Any] = field(default_factory=dict)     # temperature, cap
    overwrite: str = "only-missing"
    keep_head: bool = False
    save_every_s: float = 600.0                                # mid-phase training state interval
    hook_timeout_s: float | None = None                        # --hook-timeout: a hanging plugin hook fails
    device: str | None = None
    revision: str | None = None
    preset: str | None = None
    modality_dropout: str | dict[str, Any] = ""                # image=P[,text=Q][,mode=...] (intermediate training)
    contamination: str = "drop"                                # drop | keep intermediate images seen in target tests
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)   # target -> options over tasks.yaml's
    # checkpoint retention (storage only: no number depends on these)
    keep_checkpoints: str = "all"                              # all | intermediate | none
    whole_targets: bool = False                                # --whole-target-checkpoints


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def parse_assignments(values: tuple[str, ...], what: str) -> dict[str, str]:
    result = {}
    for value in values:
        if "=" not in value:
            raise HarnessError(f"{what} '{value}': expected KEY=VALUE")
        key, _, item = value.partition("=")
        result[key.strip()] = item.strip()
    return result


def yaml_value(text: str, where: str = "value") -> Any:
    """A command-line value read as YAML (``3`` an int, ``true`` a bool, ``jiant`` a string);
    malformed YAML (``[1``) is a one-line error naming ``where``."""
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not a valid value"
        raise HarnessError(f"{where}={text[:80]!r}: {problem}; write a number or a word") from None


def parse_hparams(values: tuple[str, ...], what: str) -> dict[str, Any]:
    raw = {k: yaml_value(v, f"{what} {k}") for k, v in parse_assignments(values, what).items()}
    Hyperparams().merged(raw, where=what)  # validate names, types and ranges now
    return raw


#: option -> (lowest, highest, whether the lowest is allowed); a value outside is a one-line error
OPTION_RANGES: dict[str, tuple[float, float, bool]] = {
    "--limit": (1, 1e12, True), "--seed": (0, 2**32 - 1, True), "--save-every": (0, 1e6, False),
    "--temperature": (0, 1e6, False), "--cap": (1, 1e12, True), "--hook-timeout": (0, 1e6, False),
    "--data-seed": (0, 2**32 - 1, True), "--budget-steps": (1, 1e7, True),
}

BUDGETS = ("epochs", "steps")


def check_option(name: str, value: Any, shown: str = "") -> Any:
    """``value`` when it lies in the declared range of option ``name`` (None passes: not given);
    ``shown`` names where the value came from when not the option itself (a preset)."""
    if value is None:
        return None
    if not in_range(float(value), *OPTION_RANGES[name]):
        raise HarnessError(f"{shown or name} {value!r}: {range_text(*OPTION_RANGES[name])}")
    return value


def build_request(registry, options: dict[str, Any]):
    """CLI options over preset values over defaults."""

    preset = registry.preset(options["preset"]) if options.get("preset") else None
    model = options.get("model") or (preset.model if preset else None)
    if not model:
        raise HarnessError("no model: pass --model (or a --preset that names one)")
    targets = split_list(options.get("targets")) or (preset.targets if preset else [])
    if not targets:
        raise HarnessError("no targets: pass --targets (or a --preset that names them)")
    intermediate = (split_list(options["intermediate"]) if options.get("intermediate") is not None
                    else (preset.intermediate if preset else []))
    languages = dict(preset.languages) if preset else {}
    for task, langs in parse_assignments(options.get("languages") or (), "--languages").items():
        languages[task] = split_list(langs)
    languages = {task: langs for task, langs in languages.items() if task in targets}
    fractions, sizes = subset_requests(options, intermediate)
    cli_hparams = parse_hparams(options.get("hparams") or (), "--hparam")
    cli_inter = parse_hparams(options.get("intermediate_hparams") or (), "--intermediate-hparam")
    hparams = {**(preset.hparams if preset else {}), **cli_hparams}
    inter_hparams = {**(preset.intermediate_hparams if preset else {}), **cli_inter}
    task_hparams = {task: {**values, **((cli_inter or cli_hparams) if task in intermediate else cli_hparams)}
                    for task, values in (preset.task_hparams if preset else {}).items()}
    data = options.get("data") or (preset.data if preset else "auto")
    if data == "samples" and options.get("data_dir"):
        raise HarnessError("--data-dir and the bundled samples (--data samples"
                           f"{', from preset ' + preset.name if preset and not options.get('data') else ''}) "
                           "exclude each other: pass --data local or --data auto to read --data-dir")
    select_every = options.get("select_every")
    if select_every is not None and select_every < 0:
        raise HarnessError("--select-every must be 0 (once per epoch) or a positive number of steps")
    sampling = {k: check_option(f"--{k}", options[k]) for k in ("temperature", "cap") if options.get(k) is not None}
    if options.get("limit") is not None:
        limit = check_option("--limit", options["limit"])
    else:
        limit = check_option("--limit", preset.limit if preset else None, f"preset '{preset.name}' limit" if preset else "")
    seed = check_option("--seed", options["seed"] if options.get("seed") is not None else 1)
    save_every = check_option("--save-every", options["save_every"] if options.get("save_every") is not None else 10.0)
    budget, budget_steps = budget_request(options)
    task_options = {task: dict(values) for task, values in (preset.options if preset else {}).items()
                    if task in targets}
    preset_name = preset.name if preset else ""
    for task, values in task_options.items():   # a preset's, so far
        check_options(values, options_schema(registry.task(task)), f"presets.{preset_name}.options.{task}",
                      f"preset {preset_name}")
    for assignment, value in parse_assignments(options.get("task_options") or (), "--task-option").items():
        task, _, key = assignment.partition(".")
        if not task or not key:
            raise HarnessError(f"--task-option '{assignment}={value}': expected TASK.KEY=VALUE")
        parsed = yaml_value(value, f"--task-option {assignment}")
        check_options({key: parsed}, options_schema(registry.task(task)), task, "--task-option")
        task_options.setdefault(task, {})[key] = parsed
    return RunRequest(
        model=model, targets=targets, intermediate=intermediate, languages=languages,
        splits=split_list(options.get("splits")) or (preset.splits if preset and preset.splits else ["test"]),
        seed=seed, limit=limit,
        data=data, select_on=options.get("select_on") or (preset.select_on if preset else "none"),
        select_every=select_every or 0, task_hparams=task_hparams,
        output_dir=Path(options.get("output_dir") or "runs"), log_samples=bool(options.get("log_samples") or (preset and preset.log_samples)),
        hparams=hparams, intermediate_hparams=inter_hparams or hparams, fraction=fractions, sampling=sampling,
        size=sizes, data_seed=check_option("--data-seed", options.get("data_seed")) or 0,
        stratify=bool(options.get("stratify")), budget=budget, budget_steps=budget_steps,
        overwrite=options.get("overwrite") or "only-missing", keep_head=bool(options.get("keep_head")),
        save_every_s=60.0 * float(save_every),
        hook_timeout_s=check_option("--hook-timeout", options.get("hook_timeout")),
        device=options.get("device"), revision=options.get("revision"),
        preset=preset.name if preset else None,
        task_options=task_options,
        modality_dropout=options.get("modality_dropout") or (preset.modality_dropout if preset else ""),
        contamination=options.get("contamination") or "drop",
        # checkpoint retention
        keep_checkpoints=options.get("keep_checkpoints") or "all",
        whole_targets=bool(options.get("whole_target_checkpoints")))


def parse_fraction(text: str, where: str, expected: str) -> float:
    """A fraction in (0, 1]; otherwise a one-line error: ``{where}: expected {expected}``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:   # also false for NaN
        raise HarnessError(f"{where}: expected {expected}")
    return value


def subset_requests(options: dict[str, Any], intermediate: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """``--intermediate-fraction F|TASK=F`` and ``--intermediate-size N|TASK=N`` per intermediate task
    (a bare value applies to every one); a task named by both is a one-line error."""
    fractions: dict[str, float] = {}
    for value in options.get("fractions") or ():
        task, _, number = value.rpartition("=")
        fraction = parse_fraction(number, f"--intermediate-fraction '{value}'", "F or TASK=F with F in (0, 1]")
        for name in ([task.strip()] if task else intermediate):
            fractions[name] = fraction
    sizes: dict[str, int] = {}
    for value in options.get("sizes") or ():
        task, _, number = value.rpartition("=")
        count = parse_count(number, f"--intermediate-size '{value}'")
        for name in ([task.strip()] if task else intermediate):
            if name in fractions:
                raise HarnessError(f"--intermediate-size '{value}' and --intermediate-fraction both name task "
                                   f"'{name}'; give it one of them")
            sizes[name] = count
    return fractions, sizes


def budget_request(options: dict[str, Any]) -> tuple[str, int | None]:
    """``--budget epochs|steps`` and ``--budget-steps S`` (which implies ``steps``)."""
    budget = options.get("budget")
    steps = check_option("--budget-steps", options.get("budget_steps"))
    if budget is not None and budget not in BUDGETS:
        raise HarnessError(f"--budget must be one of {', '.join(BUDGETS)}; got '{budget}'")
    if steps is not None and budget == "epochs":
        raise HarnessError("--budget-steps sets an equal-steps budget; it contradicts --budget epochs")
    return ("steps" if steps is not None else budget or "epochs"), (int(steps) if steps is not None else None)
