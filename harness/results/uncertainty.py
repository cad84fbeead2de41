"""Item bootstrap intervals and paired tests for the cells of a report, from ``--log-samples``.

A report cell is a mean over (seed, language) parts, each part one result with its samples file.
Its interval resamples the test items of each language (one index matrix per language, shared by
the seeds and, for a difference, by the two configurations) and recomputes the target's registered
metric on each resample (see ``harness.results.stats``). A cell with any part lacking samples (or
samples that do not reproduce the logged score) keeps the seed spread only.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from harness.metrics.metric import Metric
from harness.results.report import BASELINE, ModelReport, Report, Score
from harness.results.samples import ItemScores, align, load_item_scores
from harness.results.stats import DEFAULT_LEVEL, Interval, bootstrap_mean, holm, paired_test

#: resamples when a metric must be recomputed by its scorer on each one (F1 over entities)
EXACT_REPS = 200

Cell = tuple[str, str, int, str]          # (configuration, target, seed, language)


class CellSamples:
    """The samples of a model's cells, read and scored once."""

    def __init__(self, model: ModelReport, metric_of: Callable[[dict[str, Any]], Metric | None],
                 warn: Callable[[str], None]):
        self.model, self.metric_of, self.warn = model, metric_of, warn
        self._cache: dict[Cell, tuple[ItemScores, list[dict[str, Any]]] | None] = {}

    def get(self, cell: Cell) -> tuple[ItemScores, list[dict[str, Any]]] | None:
        if cell not in self._cache:
            record = self.model.cells.get(cell)
            metric = self.metric_of(record) if record is not None else None
            self._cache[cell] = None if metric is None or record is None else load_item_scores(
                record, metric, warn=self.warn)
        return self._cache[cell]

    def aligned(self, cell: Cell, reference: Cell) -> ItemScores | None:
        """The cell's scores in the item order of ``reference`` (same test set, another run)."""
        mine, theirs = self.get(cell), self.get(reference)
        if mine is None or theirs is None:
            return None
        scores, rows = mine
        if [str(r["id"]) for r in rows] == [str(r["id"]) for r in theirs[1]]:
            return scores
        ordered = align(theirs[1], rows, f"{cell[1]} {cell[3]}")
        return ItemScores.from_rows(ordered, scores.metric, scores.language, scores.where)


def _parts(score: Score, config: str, target: str, languages: list[str] | None,
           model: ModelReport) -> dict[str, list[tuple[int, float]]] | None:
    """language -> [(seed, weight)] of a cell, weights as the report averages (languages per seed,
    then seeds); None when a part has no value."""
    seeds = sorted(score.seeds)
    langs = languages if languages is not None else score.languages
    parts: dict[str, list[tuple[int, float]]] = {}
    for seed in seeds:
        present = [lang for lang in langs if (config, target, seed, lang) in model.values]
        if not present:
            return None
        for lang in present:
            parts.setdefault(lang, []).append((seed, 1.0 / (len(seeds) * len(present))))
    return parts


def _reps(parts: list[ItemScores], reps: int) -> int:
    return reps if all(p.item_values is not None for p in parts) else min(reps, EXACT_REPS)


def score_interval(samples: CellSamples, score: Score, config: str, target: str, reps: int, seed: int,
                   level: float, languages: list[str] | None = None) -> Interval | None:
    parts = _parts(score, config, target, languages, samples.model)
    if not parts:
        return None
    blocks: list[list[tuple[ItemScores, float]]] = []
    for lang, seeds in parts.items():
        reference = (config, target, seeds[0][0], lang)
        block: list[tuple[ItemScores, float]] = []
        for s, weight in seeds:
            scored = samples.aligned((config, target, s, lang), reference)
            if scored is None:
                return None
            block.append((scored, weight))
        blocks.append(block)
    return bootstrap_mean(blocks, _reps([p for b in blocks for p, _ in b], reps), seed, level)


def delta_blocks(samples: CellSamples, score: Score, base: Score, config: str, target: str,
                 scale: float = 1.0, languages: list[str] | None = None) -> list | None:
    """Paired blocks (configuration, baseline, weight) of a difference, or None when the two do not
    cover the same seeds and languages or a part has no usable samples."""
    if set(score.seeds) != set(base.seeds):
        return None
    parts = _parts(score, config, target, languages, samples.model)
    base_parts = _parts(base, BASELINE, target, languages, samples.model)
    if not parts or parts != base_parts:
        return None
    blocks = []
    for lang, seeds in parts.items():
        reference = (config, target, seeds[0][0], lang)
        block = []
        for s, weight in seeds:
            mine = samples.aligned((config, target, s, lang), reference)
            theirs = samples.aligned((BASELINE, target, s, lang), reference)
            if mine is None or theirs is None:
                return None
            block.append((mine, theirs, weight * scale))
        blocks.append(block)
    return blocks


def attach_intervals(report: Report, metric_of: Callable[[dict[str, Any]], Metric | None], reps: int = 1000,
                     seed: int = 0, level: float = DEFAULT_LEVEL, warn: Callable[[str], None] | None = None,
                     permutation: bool = True) -> int:
    """Fill ``interval`` and ``delta_interval`` of every score, language and group cell whose parts
    all have samples; returns how many cells got one."""
    warn = warn or (lambda message: None)
    filled = 0
    for model in report.models:
        samples = CellSamples(model, metric_of, warn)

        def paired(blocks: list) -> Interval:
            flat = [side for block in blocks for a, b, _ in block for side in (a, b)]
            return paired_test(blocks, _reps(flat, reps), seed, level, permutation)

        views: list[tuple[str, str, Score, Score | None, list[str] | None]] = []
        for config, row in model.scores.items():
            for target, score in row.items():
                views.append((config, target, score, model.scores.get(BASELINE, {}).get(target), None))
        for target, per_config in model.by_language.items():
            for config, per_lang in per_config.items():
                for lang, score in per_lang.items():
                    views.append((config, target, score, per_config.get(BASELINE, {}).get(lang), [lang]))
        for target, per_config in model.by_group.items():
            for config, per_group in per_config.items():
                for group, score in per_group.items():
                    base_group = per_config.get(BASELINE, {}).get(group)
                    views.append((config, target, score, base_group, list(score.languages)))
        for config, target, score, base, languages in views:
            score.interval = score_interval(samples, score, config, target, reps, seed, level, languages)
            if config != BASELINE and base is not None and score.delta is not None:
                blocks = delta_blocks(samples, score, base, config, target, 1.0, languages)
                if blocks:
                    score.delta_interval = paired(blocks)
            filled += score.interval is not None
        # the average column: the mean of the targets' differences
        base_row = model.scores.get(BASELINE, {})
        for config, average in model.averages.items():
            row = model.scores.get(config, {})
            shared = [t for t in model.targets if t in row and t in base_row]
            if config == BASELINE or not shared or average.delta is None:
                continue
            all_blocks: list = []
            for target in shared:
                blocks = delta_blocks(samples, row[target], base_row[target], config, target, 1.0 / len(shared))
                if blocks is None:
                    all_blocks = []
                    break
                all_blocks += blocks
            if all_blocks:
                average.delta_interval = paired(all_blocks)
        adjust_family(model)
    return filled


def adjust_family(model: ModelReport) -> None:
    """Holm-adjust the p-values of the main table's differences (each configuration against the
    baseline on each target; not the per-language, per-group or average cells, which re-test the
    same data): the family a reader scans for "which intermediate task helped which target"."""
    family = [(score, score.delta_interval) for config, row in model.scores.items() if config != BASELINE
              for score in row.values() if score.delta_interval is not None and score.delta_interval.p is not None]
    adjusted = holm([interval.p for _, interval in family if interval.p is not None])
    for (score, interval), p_holm in zip(family, adjusted):
        score.delta_interval = replace(interval, p_holm=p_holm, family=len(family))
