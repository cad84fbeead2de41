"""``harness report``: paper-style tables of results JSONL files (baseline, each intermediate
configuration, and its difference to the baseline), with exports and a heatmap.

Aggregation, per model (never mixed):

1. keep the latest ``result`` record per result key (by its ``time``, then file order);
2. keep the records of one split; group by (intermediate configuration, target, seed, language),
   where the configuration is ``'+'.join(intermediate)`` or ``baseline`` (with the intermediate
   fraction and multi-task sampling added when they were set); when several keys fall into one
   group (e.g. other hyperparameters), the latest wins and a note says how many were set aside;
3. the primary metric of the target (the record's ``main_score``, from its registered metric; or
   ``--metric``) on a 0-100 scale (QA EM/F1 already are; accuracy/F1 fractions are multiplied by 100);
4. mean over languages per seed, then mean and sample standard deviation (n-1) over seeds;
5. delta = configuration mean - baseline mean of the same target; the average column is the
   mean over the row's targets, its delta the mean of the row's deltas.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError, UnknownNameError
from harness.metrics.registry import SCALES, Metric, get_metric
from harness.results.samples import BASELINE, config_names
from harness.results.stats import Interval, Spread, seed_spread
from harness.results.tables import print_table

AVERAGE = "avg"

MetricFor = Callable[[dict[str, Any]], tuple[str, float]]


# --------------------------------------------------------------------------------- metric
def metric_for(registry, record: dict[str, Any], override: str | None = None) -> tuple[str, float]:
    """(metric name, factor to a 0-100 scale) of a result record: its ``main_score``; for records
    written before that field existed, the registered metric of the task's spec (``registry`` is a
    Registry or a TaskConfig); for a task unknown to both, a guess from the metric names."""
    main = record.get("main_score")
    if isinstance(main, dict) and main.get("name") and main.get("scale") in SCALES:
        return override or str(main["name"]), 100.0 / main["scale"]
    metric = _registered_metric(registry, str(record.get("task")))
    if metric is not None:
        return override or metric.primary, 100.0 / metric.scale
    metrics = record.get("metrics") or {}
    scale = 1.0 if "exact_match" in metrics else 100.0   # only the QA scorers report exact_match
    if override:
        return override, scale
    return next((name for name in ("f1", "accuracy") if name in metrics), next(iter(metrics), "accuracy")), scale


def _registered_metric(registry, task: str) -> Metric | None:
    if registry is None:
        return None
    known = getattr(registry, "tasks", {}).get(task)       # a Registry
    spec = known.spec if known is not None else getattr(getattr(registry, "config", registry), "specs", {}).get(task)
    if spec is None:
        return None
    try:
        return get_metric(spec.metric)
    except UnknownNameError:
        return None


class TaskMetrics:
    """``metric_for`` for the report command: a record's own ``main_score``; else tasks.yaml (and
    --tasks-file) with the built-in metrics, which needs no plugins; the full registry (plugins' own
    tasks and metrics) is built only for a record neither answers."""

    def __init__(self, env, override: str | None = None, warn: Callable[[str], None] | None = None):
        self.env, self.override, self.warn = env, override, warn or (lambda message: None)
        self._config: Any = None
        self._registry: Any = None
        self._registry_tried = False

    def __call__(self, record: dict[str, Any]) -> tuple[str, float]:
        from harness.spec.config import load_task_config

        if record.get("main_score"):
            return metric_for(None, record, self.override)
        if self._config is None:
            self._config = load_task_config(tuple(self.env.tasks_files))
        if _registered_metric(self._config, str(record.get("task"))) is not None:
            return metric_for(self._config, record, self.override)
        if not self._registry_tried:
            self._registry_tried = True
            try:
                self._registry = self.env.registry()
            except HarnessError as exc:
                self.warn(f"{exc}; guessing the metric of tasks not in tasks.yaml")
        return metric_for(self._registry, record, self.override)

    def registered(self, record: dict[str, Any]) -> Metric | None:
        """The registered metric that scored a record's task (for rescoring its samples), or None
        (unknown task, or ``--metric`` shows a value other than that metric's primary one)."""
        from harness.spec.config import load_task_config

        if self._config is None:
            self._config = load_task_config(tuple(self.env.tasks_files))
        metric = _registered_metric(self._config, str(record.get("task")))
        if metric is None:
            if not self._registry_tried:
                self._registry_tried = True
                try:
                    self._registry = self.env.registry()
                except HarnessError as exc:
                    self.warn(str(exc))
            metric = _registered_metric(self._registry, str(record.get("task")))
        if metric is None or (self.override and self.override != metric.primary):
            return None
        return metric


# --------------------------------------------------------------------------------- reading
def results_path(value: str | Path) -> Path:
    """The results file of a path; an output directory's ``results.jsonl``, read with its shards
    (read_records), which may be all the directory holds (a grid run by several jobs)."""
    from harness.results.records import shard_files

    path = Path(value)
    if path.is_dir():
        if not (path / "results.jsonl").is_file() and shard_files(path):
            return path / "results.jsonl"
        path = path / "results.jsonl"
    if not path.is_file():
        raise HarnessError(f"no results file at '{value}' (expected a results JSONL file or an output "
                           f"directory containing results.jsonl or shards/)")
    return path


def load_records(paths: list[str | Path]) -> list[dict[str, Any]]:
    """All complete records of the files, in order (a torn last line is skipped)."""
    from harness.results.records import read_records

    records: list[dict[str, Any]] = []
    for value in paths:
        path = results_path(value)
        for record in read_records(path):
            if isinstance(record, dict):
                record.setdefault("_source", str(path))
                records.append(record)
    return records


def config_label(record: dict[str, Any]) -> str:
    """:func:`~harness.results.samples.config_names`, plus a non-default intermediate fraction, size or sampling."""
    names = list(record.get("intermediate") or [])
    label = config_names(record)
    if not names:
        return label
    data = record.get("data") or {}
    extras = []
    fractions = {k: v for k, v in (data.get("fraction") or {}).items() if k in names and float(v) != 1.0}
    if fractions:
        values = set(fractions.values())
        if len(values) == 1 and len(fractions) == len(names):
            extras.append(f"fraction {values.pop():g}")
        else:
            extras.append("fraction " + ",".join(f"{k}={v:g}" for k, v in fractions.items()))
    sizes = {k: v for k, v in (data.get("size") or {}).items() if k in names and v is not None}
    if sizes:   # the data-volume axis (run/subset.py); a subset's data seed and budget tell it apart too
        values = set(sizes.values())
        extras.append(f"N={values.pop()}" if len(values) == 1 and len(sizes) == len(names)
                      else "N " + ",".join(f"{k}={v}" for k, v in sizes.items()))
    if (sizes or fractions) and data.get("data_seed"):
        extras.append(f"data seed {data['data_seed']}")
    if (sizes or fractions) and (data.get("budget") or {}).get("mode") == "steps":
        extras.append("equal steps")
    dropout = ((record.get("train") or {}).get("intermediate") or {}).get("modality_dropout") or {}
    if dropout.get("image") or dropout.get("text"):  # image-text intermediate training (results/gap.py)
        extras.append(f"dropout image={dropout['image']:g},text={dropout['text']:g},{dropout.get('mode', 'remove')}")
    sampling = data.get("sampling") or {}
    if len(names) > 1:
        if sampling.get("temperature") is not None:
            extras.append(f"T={float(sampling['temperature']):g}")
        if sampling.get("cap") is not None:
            extras.append(f"cap={sampling['cap']}")
    return label + (f" ({', '.join(extras)})" if extras else "")


# --------------------------------------------------------------------------------- aggregation
@dataclass
class Score:
    """A (configuration, target[, language]) cell: mean/std over seeds of the per-seed value."""

    mean: float
    std: float | None
    seeds: dict[int, float]
    languages: list[str] = field(default_factory=list)
    delta: float | None = None
    #: spread over seeds of the per-seed difference to the baseline (seeds both have)
    delta_spread: Spread | None = None
    #: item bootstrap interval of the score, and paired interval + tests of the difference (--log-samples)
    interval: Interval | None = None
    delta_interval: Interval | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {"mean": self.mean, "std": self.std, "n_seeds": len(self.seeds),
                "seeds": {str(k): v for k, v in sorted(self.seeds.items())}, "languages": self.languages,
                "delta": self.delta}
        if self.seeds:
            data["spread"] = seed_spread(list(self.seeds.values())).as_dict()
        if self.delta_spread is not None:
            data["delta_spread"] = self.delta_spread.as_dict()
        if self.interval is not None:
            data["ci"] = self.interval.as_dict()
        if self.delta_interval is not None:
            data["delta_ci"] = self.delta_interval.as_dict()
        return data


@dataclass
class ModelReport:
    model: str
    targets: list[str]
    configs: list[str]
    metrics: dict[str, str]                                # target -> metric name
    scores: dict[str, dict[str, Score]]                     # config -> target -> Score
    averages: dict[str, Score]                              # config -> mean over its targets
    by_language: dict[str, dict[str, dict[str, Score]]]     # target -> config -> language -> Score
    languages: dict[str, list[str]]                         # target -> languages in order
    notes: list[str] = field(default_factory=list)
    #: (config, target, seed, language) -> the result record / its value on the 0-100 scale
    cells: dict[tuple[str, str, int, str], dict[str, Any]] = field(default_factory=dict)
    values: dict[tuple[str, str, int, str], float] = field(default_factory=dict)
    #: target -> config -> language group -> Score (--by-group)
    by_group: dict[str, dict[str, dict[str, Score]]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


@dataclass
class Report:
    split: str
    metric: str | None
    models: list[ModelReport]
    errors: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def _score(per_seed: dict[int, float], languages: list[str]) -> Score:
    mean, std = _mean_std(list(per_seed.values()))
    return Score(mean=mean, std=std, seeds=dict(sorted(per_seed.items())), languages=languages)


def latest_results(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The latest result record per key (by ``time``, then order), and how many were replaced."""
    latest: dict[str, tuple[tuple[str, int], dict[str, Any]]] = {}
    replaced = 0
    for index, record in enumerate(records):
        if record.get("type") != "result" or "key" not in record:
            continue
        rank = (str(record.get("time") or ""), index)
        if record["key"] in latest:
            replaced += 1
            if latest[record["key"]][0] > rank:
                continue
        latest[record["key"]] = (rank, record)
    return [record for _, record in sorted(latest.values(), key=lambda item: item[0][1])], replaced


def build_report(records: list[dict[str, Any]], split: str = "test", metric: str | None = None,
                 metric_for_task: MetricFor | None = None) -> Report:
    """Aggregate records (see the module docstring); ``metric_for_task(record)`` gives the metric
    name and the factor to 0-100 (default: the record's ``main_score``)."""
    def resolve(record: dict[str, Any]) -> tuple[str, float]:
        if metric_for_task is not None:
            name, scale = metric_for_task(record)
        else:
            name, scale = metric_for(None, record)
        return (metric or name), scale

    results, _ = latest_results(records)
    notes: list[str] = []
    other_splits = sorted({str(r["split"]) for r in results if r.get("split") not in (split, None)})
    results = [r for r in results if r.get("split") == split]
    if other_splits:
        notes.append(f"showing split '{split}'; also present: {', '.join(other_splits)} (use --split)")
    # model -> (config, target, seed, language) -> (rank, record)
    cells: dict[str, dict[tuple[str, str, int, str], tuple[tuple[str, int], dict[str, Any]]]] = {}
    set_aside: dict[str, int] = {}
    for index, record in enumerate(results):
        model = str(record.get("model"))
        group = (config_label(record), str(record.get("task")), int(record.get("seed", 1)),
                 str(record.get("language")))
        rank = (str(record.get("time") or ""), index)
        bucket = cells.setdefault(model, {})
        if group in bucket:
            set_aside[model] = set_aside.get(model, 0) + 1
            if bucket[group][0] > rank:
                continue
        bucket[group] = (rank, record)
    models = []
    for model, bucket in cells.items():
        models.append(_model_report(model, {g: r for g, (_, r) in bucket.items()}, resolve, set_aside.get(model, 0)))
    return Report(split=split, metric=metric, models=models, errors=error_entries(records), notes=notes)


def _model_report(model: str, cells: dict[tuple[str, str, int, str], dict[str, Any]],
                  resolve: MetricFor, set_aside: int) -> ModelReport:
    targets: list[str] = []
    configs: list[str] = []
    languages: dict[str, list[str]] = {}
    metrics: dict[str, str] = {}
    values: dict[tuple[str, str, int, str], float] = {}
    missing = 0
    for (config, target, seed, language), record in cells.items():
        if target not in targets:
            targets.append(target)
        if config not in configs:
            configs.append(config)
        if language not in languages.setdefault(target, []):
            languages[target].append(language)
        recorded = record.get("metrics") or {}
        name, scale = resolve(record)
        metrics.setdefault(target, name)
        value = recorded.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            values[(config, target, seed, language)] = float(value) * scale
        else:
            missing += 1
    order = {c: i for i, c in enumerate(configs)}
    configs.sort(key=lambda c: (c != BASELINE, c.split(" (")[0].count("+"), order[c]))
    scores: dict[str, dict[str, Score]] = {}
    by_language: dict[str, dict[str, dict[str, Score]]] = {}
    for config in configs:
        for target in targets:
            per_seed_langs: dict[int, dict[str, float]] = {}
            for (c, t, seed, language), value in values.items():
                if c == config and t == target:
                    per_seed_langs.setdefault(seed, {})[language] = value
            if not per_seed_langs:
                continue
            langs = [lang for lang in languages[target]
                     if any(lang in per_lang for per_lang in per_seed_langs.values())]
            per_seed = {seed: sum(v.values()) / len(v) for seed, v in per_seed_langs.items()}
            scores.setdefault(config, {})[target] = _score(per_seed, langs)
            for language in langs:
                seeds = {seed: v[language] for seed, v in per_seed_langs.items() if language in v}
                by_language.setdefault(target, {}).setdefault(config, {})[language] = _score(seeds, [language])
    notes = []
    base = scores.get(BASELINE, {})
    for config, row in scores.items():
        for target, score in row.items():
            if config != BASELINE and target in base:
                score.delta = score.mean - base[target].mean
                if score.languages != base[target].languages:
                    notes.append(f"{config} / {target}: languages differ from the baseline "
                                 f"({','.join(score.languages)} vs {','.join(base[target].languages)})")
                seeds_here, seeds_base = set(score.seeds), set(base[target].seeds)
                if seeds_here != seeds_base:
                    notes.append(f"{config} / {target}: seeds differ from the baseline "
                                 f"({_seed_list(seeds_here)} vs {_seed_list(seeds_base)})")
    for per_config in by_language.values():
        base_lang = per_config.get(BASELINE, {})
        for config, per_lang in per_config.items():
            if config == BASELINE:
                continue
            for language, score in per_lang.items():
                if language in base_lang:
                    score.delta = score.mean - base_lang[language].mean
    averages: dict[str, Score] = {}
    for config, row in scores.items():
        means = [row[t].mean for t in targets if t in row]
        deltas = [delta for t in targets if t in row and (delta := row[t].delta) is not None]
        average = Score(mean=sum(means) / len(means), std=None, seeds={}, languages=[])
        average.delta = sum(deltas) / len(deltas) if deltas else None
        averages[config] = average
        if len(means) < len(targets):
            notes.append(f"{config}: average over {len(means)} of {len(targets)} targets")
    for config in configs:
        if config == BASELINE:
            continue
        for target, score in scores.get(config, {}).items():
            if target in base:
                score.delta_spread = paired_seed_spread(score.seeds, base[target].seeds)
        for target_langs in by_language.values():
            for language, lang_score in target_langs.get(config, {}).items():
                base_score = target_langs.get(BASELINE, {}).get(language)
                if base_score is not None:
                    lang_score.delta_spread = paired_seed_spread(lang_score.seeds, base_score.seeds)
        if config in averages and averages[config].delta is not None:
            row, shared = scores.get(config, {}), [t for t in targets if t in scores.get(config, {}) and t in base]
            common = set.intersection(*(set(row[t].seeds) & set(base[t].seeds) for t in shared)) if shared else set()
            per_seed = {s: sum(row[t].seeds[s] - base[t].seeds[s] for t in shared) / len(shared) for s in common}
            averages[config].delta_spread = seed_spread(list(per_seed.values())) if per_seed else None
    if set_aside:
        notes.append(f"{set_aside} result(s) for an already filled (configuration, target, seed, language) cell "
                     f"with other settings were set aside (the latest is shown)")
    if missing:
        notes.append(f"{missing} result(s) lack the metric shown and were left out")
    if BASELINE not in scores and scores:
        notes.append("no baseline results: no differences shown")
    return ModelReport(model=model, targets=targets, configs=[c for c in configs if c in scores], metrics=metrics,
                       scores=scores, averages=averages, by_language=by_language,
                       languages={t: [lang for lang in langs if any(lang in by_language.get(t, {}).get(c, {})
                                                                      for c in configs)]
                                  for t, langs in languages.items()},
                       notes=notes, cells=cells, values=values)


def add_groups(report: Report, group_of: Callable[[str], str], order: Callable[[set[str]], list[str]]) -> None:
    """Fill ``by_group``: per target and configuration, the mean over the languages of each group
    (per seed, then over seeds, as the main table), its difference to the baseline and its spread."""
    for model in report.models:
        per_seed: dict[tuple[str, str, str], dict[int, list[float]]] = {}
        members: dict[tuple[str, str, str], list[str]] = {}
        for (config, target, seed, language), value in model.values.items():
            group = group_of(language)
            per_seed.setdefault((target, config, group), {}).setdefault(seed, []).append(value)
            langs = members.setdefault((target, config, group), [])
            if language not in langs:
                langs.append(language)
        for (target, config, group), seeds in per_seed.items():
            model.by_group.setdefault(target, {}).setdefault(config, {})[group] = _score(
                {seed: sum(v) / len(v) for seed, v in seeds.items()}, members[(target, config, group)])
        for per_config in model.by_group.values():
            base = per_config.get(BASELINE, {})
            for config, per_group in per_config.items():
                for group, score in per_group.items():
                    if config != BASELINE and group in base:
                        score.delta = score.mean - base[group].mean
                        score.delta_spread = paired_seed_spread(score.seeds, base[group].seeds)
        model.groups = order({g for per_config in model.by_group.values() for per_group in per_config.values()
                              for g in per_group})


def paired_seed_spread(seeds: dict[int, float], base: dict[int, float]) -> Spread | None:
    """Spread over the seeds both have of the per-seed difference (configuration - baseline)."""
    common = sorted(set(seeds) & set(base))
    return seed_spread([seeds[s] - base[s] for s in common]) if common else None


def _seed_list(seeds: set[int]) -> str:
    return ",".join(str(s) for s in sorted(seeds)) or "-"


def error_entries(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Error records with the model, configuration and seed of their run, and whether a later
    result for the same cell resolved them."""
    runs = {r.get("run_id"): r for r in records if r.get("type") == "run"}
    results = [r for r in records if r.get("type") == "result"]
    entries = []
    for error in records:
        if error.get("type") != "error":
            continue
        run = runs.get(error.get("run_id")) or {}
        config = run.get("config") or {}
        model = error.get("model") or (run.get("model") or {}).get("spec")
        intermediate = error.get("intermediate", config.get("intermediate"))
        seed = error.get("seed", run.get("seed"))
        entry = {"run_id": error.get("run_id"), "model": model,
                 "intermediate": None if intermediate is None else ("+".join(intermediate) or BASELINE),
                 "seed": seed, "task": error.get("task"), "language": error.get("language"),
                 "split": error.get("split"), "phase": error.get("phase"), "error_type": error.get("error_type"),
                 "message": error.get("message"), "time": error.get("time"), "resolved": False}
        if model is not None and intermediate is not None:
            targets = {r.get("task") for r in results}
            for result in results:
                if (result.get("model") == model and list(result.get("intermediate") or []) == list(intermediate)
                        and result.get("seed") == seed and str(result.get("time") or "") > str(error.get("time") or "")
                        and (error.get("task") not in targets or result.get("task") == error.get("task"))
                        and error.get("language") in (None, result.get("language"))
                        and error.get("split") in (None, result.get("split"))):
                    entry["resolved"] = True
                    break
        entries.append(entry)
    return entries


# --------------------------------------------------------------------------------- rendering
def fmt_score(score: Score | None, with_delta: bool = True) -> str:
    if score is None:
        return "—"
    text = f"{score.mean:.1f}"
    if score.std is not None:
        text += f" ± {score.std:.1f}"
    if with_delta and score.delta is not None:
        text += f" ({fmt_delta(score)})"
    return text


def fmt_delta(score: Score) -> str:
    """The difference with its uncertainty: the paired item-bootstrap interval when the samples
    were logged (``n.s.`` when it includes 0), else ``±`` the standard deviation over seeds of the
    per-seed difference, else the one seed it rests on."""
    delta = score.delta
    if delta is None:
        return ""
    ci = score.delta_interval
    if ci is not None:
        held = ci.p_holm is not None and (ci.family or 0) > 1 and ci.p_holm < 1.0 - ci.level
        return f"{delta:+.1f} [{ci.low:+.1f}, {ci.high:+.1f}]" + (" n.s." if ci.includes(0.0) else " *" if held else "")
    spread = score.delta_spread
    if spread is not None and spread.std is not None:
        return f"{delta:+.1f} ±{spread.std:.1f} sd"
    return f"{delta:+.1f}, 1 seed"


def method_note(model: ModelReport) -> str:
    """How the numbers next to each score and difference were made (printed under every table)."""
    scores = [s for row in model.scores.values() for s in row.values()]
    with_ci = [s.delta_interval for s in scores if s.delta_interval is not None]
    parts = ["± after a score: standard deviation over seeds (n-1)"]
    if with_ci:
        ci = with_ci[0]
        parts.append(f"Δ [a, b]: {100 * ci.level:.0f}% paired item bootstrap interval ({ci.reps} resamples of the "
                     f"test items from --log-samples, the same resample for both configurations and every seed; "
                     f"metric recomputed on each); n.s. = the interval includes 0")
        family = max((ci.family or 0 for ci in with_ci), default=0)
        if family > 1:
            parts.append(f"* = still significant (p < {1 - ci.level:.2f}) after Holm's correction over the table's "
                         f"{family} target differences (p_holm in csv/json)")
    if any(s.delta is not None and s.delta_interval is None for s in scores):
        parts.append("Δ ±x sd: standard deviation over seeds of the per-seed difference (no usable --log-samples on both sides); "
                     "'1 seed': no spread to show")
    return "; ".join(parts)


def _header(model: ModelReport, report: Report) -> str:
    metrics = sorted(set(model.metrics.values()))
    seeds = sorted({s for row in model.scores.values() for score in row.values() for s in score.seeds})
    return (f"{model.model} — split {report.split}, {'/'.join(metrics) or 'score'} (0-100), mean over languages"
            f" then over {len(seeds)} seed(s) [{_seed_list(set(seeds))}]; (Δ vs. baseline)")


def table_rows(model: ModelReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: configurations x (targets + average)."""
    header = ["intermediate", *model.targets, AVERAGE]
    rows = []
    for config in model.configs:
        row = model.scores.get(config, {})
        rows.append([config, *(fmt_score(row.get(t)) for t in model.targets), fmt_score(model.averages.get(config))])
    return header, rows


def language_rows(model: ModelReport, target: str) -> tuple[list[str], list[list[str]]]:
    langs = model.languages.get(target, [])
    header = ["intermediate", *langs, AVERAGE]
    rows = []
    per_config = model.by_language.get(target, {})
    for config in model.configs:
        if config not in per_config:
            continue
        cells = per_config[config]
        rows.append([config, *(fmt_score(cells.get(lang)) for lang in langs),
                     fmt_score(model.scores.get(config, {}).get(target))])
    return header, rows


def group_rows(model: ModelReport, target: str) -> tuple[list[str], list[list[str]]]:
    per_config = model.by_group.get(target, {})
    groups = [g for g in model.groups if any(g in per_group for per_group in per_config.values())]
    header = ["intermediate", *groups]
    rows = []
    for config in model.configs:
        if config in per_config:
            cells = per_config[config]
            rows.append([config, *(fmt_score(cells.get(g)) for g in groups)])
    languages = {g: sorted({lang for per_group in per_config.values() if g in per_group
                            for lang in per_group[g].languages}) for g in groups}
    header = ["intermediate", *(g if g.endswith(")") else f"{g} ({','.join(languages[g])})" for g in groups)]
    return header, rows


def _tables(model: ModelReport, by_language: bool, by_group: bool) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    tables = [("", table_rows(model))]
    if by_language:
        tables += [(f" · {t} by language", language_rows(model, t)) for t in model.targets]
    if by_group:
        tables += [(f" · {t} by language group", group_rows(model, t)) for t in model.targets if t in model.by_group]
    return tables


def error_lines(report: Report) -> list[str]:
    lines = []
    for e in report.errors:
        where = " ".join(str(x) for x in (e["task"], e["language"], e["split"]) if x)
        cell = ", ".join(str(x) for x in (e["model"], e["intermediate"],
                                          f"seed {e['seed']}" if e["seed"] is not None else None) if x)
        lines.append(f"{where} [{e['phase']}] {e['error_type']}: {e['message']}"
                     + (f" ({cell})" if cell else "") + (" — resolved by a later result" if e["resolved"] else ""))
    return lines


def render_table(report: Report, console, by_language: bool = False, by_group: bool = False) -> None:
    """Rich tables on ``console``: one per model (and per target with ``by_language``)."""
    from rich.table import Table
    from rich.text import Text

    def cell(text: str) -> Text:
        styled = Text(text)
        if "(+" in text:
            styled.stylize("green", text.index("(+"))
        elif "(-" in text:
            styled.stylize("red", text.index("(-"))
        return styled

    for model in report.models:
        for suffix, (header, rows) in _tables(model, by_language, by_group):
            console.print(f"{_header(model, report)}{suffix}", style="bold", markup=False, highlight=False,
                          soft_wrap=True)
            table = Table()
            for index, column in enumerate(header):
                table.add_column(column, justify="left" if index == 0 else "right", style="bold" if index == 0 else None)
            for row in rows:
                table.add_row(row[0], *(cell(c) for c in row[1:]), style="dim" if row[0] == BASELINE else None)
            print_table(table, console)
        console.print(f"method: {method_note(model)}", markup=False, highlight=False, soft_wrap=True)
        for note in model.notes:
            console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if not report.models:
        console.print(f"no results for split '{report.split}'", markup=False, highlight=False)
    if report.errors:
        console.print(f"errors ({len(report.errors)}):", style="bold red", highlight=False)
        for line in error_lines(report):
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


def render_markdown(report: Report, by_language: bool = False, by_group: bool = False) -> str:
    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        esc = [[c.replace("|", "\\|") for c in row] for row in [header, *rows]]
        return ["| " + " | ".join(esc[0]) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
                *("| " + " | ".join(row) + " |" for row in esc[1:])]

    lines: list[str] = []
    for model in report.models:
        for suffix, (header, rows) in _tables(model, by_language, by_group):
            title = f"### {_header(model, report)}" if not suffix else f"#### {suffix[3:]}"
            lines += [title, "", *table(header, rows), ""]
        lines += [f"- method: {method_note(model)}"]
        lines += [f"- note: {note}" for note in model.notes]
        lines.append("")
    lines += [f"- note: {note}" for note in report.notes]
    if not report.models:
        lines.append(f"no results for split '{report.split}'")
    if report.errors:
        lines += ["", f"### Errors ({len(report.errors)})", ""] + [f"- {line}" for line in error_lines(report)]
    return "\n".join(lines).rstrip() + "\n"


CSV_FIELDS = ["model", "intermediate", "target", "language", "metric", "mean", "std", "n_seeds", "delta",
              "delta_sd", "delta_low", "delta_high", "p_bootstrap", "p_permutation", "p_holm", "ci_low", "ci_high",
              "ci_method"]


def _rounded(value: float | None) -> Any:
    return "" if value is None else round(value, 4)


def _ci_method(score: Score) -> str:
    interval = score.delta_interval or score.interval
    return interval.method if interval is not None else ("seed spread" if score.seeds else "")


def render_csv(report: Report, by_language: bool = False, by_group: bool = False) -> str:
    """Long format: one row per (model, configuration, target, language); language 'avg' is the
    mean over languages, 'group:NAME' a language group's, target 'avg' the row's average column."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()

    def row(model, config, target, language, metric, score: Score) -> None:
        writer.writerow({"model": model.model, "intermediate": config, "target": target, "language": language,
                         "metric": metric, "mean": round(score.mean, 4),
                         "std": "" if score.std is None else round(score.std, 4),
                         "n_seeds": len(score.seeds) or "", "delta": _rounded(score.delta),
                         "delta_sd": _rounded(score.delta_spread.std if score.delta_spread else None),
                         "delta_low": _rounded(score.delta_interval.low if score.delta_interval else None),
                         "delta_high": _rounded(score.delta_interval.high if score.delta_interval else None),
                         "p_bootstrap": _rounded(score.delta_interval.p_bootstrap if score.delta_interval else None),
                         "p_permutation": _rounded(score.delta_interval.p_permutation if score.delta_interval else None),
                         "p_holm": _rounded(score.delta_interval.p_holm if score.delta_interval else None),
                         "ci_low": _rounded(score.interval.low if score.interval else None),
                         "ci_high": _rounded(score.interval.high if score.interval else None),
                         "ci_method": _ci_method(score)})

    for model in report.models:
        for config in model.configs:
            for target in model.targets:
                score = model.scores.get(config, {}).get(target)
                if score is None:
                    continue
                row(model, config, target, AVERAGE, model.metrics[target], score)
                if by_language:
                    for language, lang_score in model.by_language.get(target, {}).get(config, {}).items():
                        row(model, config, target, language, model.metrics[target], lang_score)
                if by_group:
                    for group, group_score in model.by_group.get(target, {}).get(config, {}).items():
                        row(model, config, target, f"group:{group}", model.metrics[target], group_score)
            if config in model.averages:
                row(model, config, AVERAGE, AVERAGE, "/".join(sorted(set(model.metrics.values()))),
                    model.averages[config])
    return buffer.getvalue()


def _average_dict(score: Score) -> dict[str, Any]:
    data: dict[str, Any] = {"mean": score.mean, "delta": score.delta}
    if score.delta_spread is not None:
        data["delta_spread"] = score.delta_spread.as_dict()
    if score.delta_interval is not None:
        data["delta_ci"] = score.delta_interval.as_dict()
    return data


def report_dict(report: Report, by_language: bool = False, by_group: bool = False) -> dict[str, Any]:
    models = []
    for model in report.models:
        entry = {"model": model.model, "targets": model.targets, "metrics": model.metrics,
                 "rows": [{"intermediate": config,
                           "scores": {t: s.as_dict() for t, s in model.scores.get(config, {}).items()},
                           "average": _average_dict(model.averages[config])}
                          for config in model.configs],
                 "method": method_note(model), "notes": model.notes}
        if by_group:
            entry["by_group"] = {t: {c: {g: s.as_dict() for g, s in per_group.items()}
                                     for c, per_group in per_config.items()}
                                 for t, per_config in model.by_group.items()}
        if by_language:
            entry["by_language"] = {t: {c: {lang: s.as_dict() for lang, s in per_lang.items()}
                                        for c, per_lang in per_config.items()}
                                    for t, per_config in model.by_language.items()}
        models.append(entry)
    return {"split": report.split, "metric": report.metric or "primary", "scale": "0-100",
            "models": models, "errors": report.errors, "notes": report.notes}


#: the heatmap's colour range in points when no larger difference needs more (a stated, fixed scale:
#: a small difference stays pale instead of taking the full colour of the largest one)
HEATMAP_RANGE = 10.0


def _nice_ceiling(value: float) -> float:
    for power in range(-1, 4):
        for step in (1.0, 2.0, 5.0):
            if step * 10 ** power >= value:
                return step * 10 ** power
    return value


def delta_interval_of(score: Score) -> tuple[float, float, str] | None:
    """The interval a heatmap cell is judged by: the paired item-bootstrap interval, else the range
    of the per-seed differences; None with a single seed and no samples."""
    if score.delta_interval is not None:
        return score.delta_interval.low, score.delta_interval.high, "bootstrap"
    spread = score.delta_spread
    if spread is not None and spread.n > 1:
        return spread.low, spread.high, "seed range"
    return None


def cell_counts(model: ModelReport, config: str, target: str | None) -> tuple[int, int]:
    """(seeds, test examples per seed summed over languages and targets) behind a cell."""
    seeds = {s for (c, t, s, _) in model.cells if c == config and (target is None or t == target)}
    if not seeds:
        return 0, 0
    first = min(seeds)
    examples = sum(int(r.get("n_examples") or 0) for (c, t, s, _), r in model.cells.items()
                   if c == config and s == first and (target is None or t == target))
    return len(seeds), examples


def plot_deltas(report: Report, path: str | Path, value_range: float | None = None) -> Path:
    """Heatmap of the differences to the baseline: configurations (rows) x targets + average
    (columns), one panel per model. The diverging colour scale is symmetric around zero with a
    stated range (``value_range``, default the larger of ±10 points and the largest difference
    rounded up), hatched cells are those whose interval includes zero (paired item bootstrap, or
    the per-seed range without samples; '?' when there is no interval), and each cell prints n:
    seeds and test examples per seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    panels = [m for m in report.models if BASELINE in m.scores and any(c != BASELINE for c in m.configs)]
    if not panels:
        raise HarnessError("nothing to plot: the heatmap needs baseline results and at least one "
                           "intermediate configuration of the same model")
    shapes = [(len([c for c in m.configs if c != BASELINE]), len(m.targets) + 1) for m in panels]
    width = max(8.0, 1.6 * max(cols for _, cols in shapes) + 3.5)
    heights = [max(3.0, 0.85 * rows + 2.6) for rows, _ in shapes]
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, model in zip(axes[:, 0], panels):
        configs = [c for c in model.configs if c != BASELINE]
        columns = [*model.targets, AVERAGE]
        data = np.full((len(configs), len(columns)), np.nan)
        cells: dict[tuple[int, int], Score] = {}
        for i, config in enumerate(configs):
            row = model.scores.get(config, {})
            for j, target in enumerate(model.targets):
                if target in row and row[target].delta is not None:
                    data[i, j] = row[target].delta
                    cells[(i, j)] = row[target]
            average = model.averages.get(config)
            if average is not None and average.delta is not None:
                data[i, -1] = average.delta
                cells[(i, len(columns) - 1)] = average
        finite = data[np.isfinite(data)]
        largest = float(np.max(np.abs(finite))) if finite.size else 0.0
        bound = value_range if value_range else max(HEATMAP_RANGE, _nice_ceiling(largest))
        image = ax.imshow(np.ma.masked_invalid(data), cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        base = model.scores[BASELINE]
        base_avg = model.averages.get(BASELINE)
        labels = [f"{t}\n(base {base[t].mean:.1f})" if t in base else t for t in model.targets]
        labels.append(f"{AVERAGE}\n(base {base_avg.mean:.1f})" if base_avg is not None else AVERAGE)
        ax.set_xticks(range(len(columns)), labels)
        ax.set_yticks(range(len(configs)), configs)
        ax.set_xlabel("target task (baseline score)")
        ax.set_ylabel("intermediate task(s)")
        ax.axvline(len(columns) - 1.5, color="black", linewidth=1.2)
        metrics = "/".join(sorted(set(model.metrics.values())))
        kinds = {k for score in cells.values() if (iv := delta_interval_of(score)) for k in [iv[2]]}
        judged = " or ".join(sorted({"95% paired item bootstrap" if k == "bootstrap" else "per-seed range"
                                     for k in kinds})) or "no interval"
        ax.set_title(f"Δ vs. baseline: {model.model}\n({report.split} split, {metrics}, 0-100, mean over languages and "
                     f"seeds)\nhatched: the interval ({judged}) includes 0; ?: no interval", fontsize=9)
        for i, config in enumerate(configs):
            for j in range(len(columns)):
                value = data[i, j]
                if not np.isfinite(value):
                    ax.text(j, i, "n/a", ha="center", va="center", color="grey", fontsize=8)
                    continue
                interval = delta_interval_of(cells[(i, j)])
                uncertain = interval is None or interval[0] <= 0.0 <= interval[1]
                if interval is not None and uncertain:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="grey",
                                           linewidth=0))
                seeds, examples = cell_counts(model, config, None if j == len(columns) - 1 else columns[j])
                colour = "white" if abs(value) > 0.6 * bound else "black"
                mark = "?" if interval is None else ""
                ax.text(j, i - 0.12, f"{value:+.1f}{mark}", ha="center", va="center", color=colour, fontsize=10,
                        fontweight="bold" if j == len(columns) - 1 else "normal")
                ax.text(j, i + 0.22, f"n={seeds} seed{'s' if seeds != 1 else ''}, {examples:,} ex.", ha="center",
                        va="center", color=colour, fontsize=7)
        colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, extend="both" if largest > bound else "neither")
        colorbar.set_label(f"Δ (points), range ±{bound:g}")
    return save_figure(fig, path)


def save_figure(figure: Any, path: str | Path) -> Path:
    """Lay out, write (120 dpi, parent folders made) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


