"""``harness report --scaling``: the score of each target against the amount of intermediate data.

The x-axis is N, the unique intermediate examples a model was trained on (the record's
``data.intermediate_examples``, summed over the intermediate tasks; else its ``data.size``; the
baseline is N = 0). A record with neither (older runs, or a fraction of unknown size) is left out
with a note. Per (model, intermediate tasks, target) and language group, at each N: the mean over
the group's languages per seed, then over seeds, with a percentile interval from item bootstrap
replicates (``--log-samples``: test items resampled, the metric recomputed) or, without samples, from
resampling the seeds. Fits over N > 0 (``harness.results.fits``): ``a + b ln N`` and a saturating
power law on the error, each with bootstrap intervals; the log-linear slope b per language feeds the
heatmap.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.errors import HarnessError
from harness.results.fits import Fit, fit_loglinear, fit_power_law, loglinear
from harness.results.languages import SOURCE, LanguageGroups
from harness.results.report import latest_results, save_figure
from harness.results.samples import load_item_scores
from harness.results.stats import percentile_interval, resample_indices

def data_size(record: dict[str, Any]) -> int | None:
    """N of a result: 0 for the baseline, else the unique intermediate examples (or the requested
    sizes), None when unknown."""
    names = list(record.get("intermediate") or [])
    if not names:
        return 0
    data = record.get("data") or {}
    for field_name in ("intermediate_examples", "size"):
        values = data.get(field_name)
        if isinstance(values, dict) and all(isinstance(values.get(n), int) and not isinstance(values.get(n), bool)
                                            for n in names):
            return int(sum(values[n] for n in names))
    return None


@dataclass
class Point:
    n: int
    mean: float
    low: float | None
    high: float | None
    seeds: int
    replicates: np.ndarray | None = None      # (reps,) of the mean, when an interval exists
    method: str = ""


@dataclass
class Series:
    """One (model, intermediate, target): per group, the points by N; fits; per-language slopes."""

    model: str
    intermediate: str
    target: str
    metric: str
    higher_is_better: bool
    points: dict[str, list[Point]] = field(default_factory=dict)          # group -> points by N (0 first)
    languages: dict[str, list[str]] = field(default_factory=dict)         # group -> languages
    fits: dict[str, list[Fit]] = field(default_factory=dict)              # group -> [log-linear, power law]
    slopes: dict[str, float] = field(default_factory=dict)                # language -> b of a + b ln N
    gap: dict[str, list[tuple[int, float, float | None, float | None]]] = field(default_factory=dict)

    def baseline(self, group: str) -> Point | None:
        return next((p for p in self.points.get(group, []) if p.n == 0), None)


@dataclass
class Scaling:
    series: list[Series]
    groups: LanguageGroups
    level: float
    reps: int
    notes: list[str] = field(default_factory=list)


def build_scaling(records: list[dict[str, Any]], resolver: Any, groups: LanguageGroups, split: str = "test",
                  reps: int = 1000, level: float = 0.95, seed: int = 0,
                  warn: Callable[[str], None] | None = None) -> Scaling:
    warn = warn or (lambda message: None)
    reps = max(reps, 200)
    results, _ = latest_results(records)
    notes: list[str] = []
    unknown = 0
    # (model, intermediate, target) -> (group, n, seed, language) -> (value, record)
    cells: dict[tuple[str, str, str], dict[tuple[int, int, str], tuple[float, dict[str, Any]]]] = {}
    metrics: dict[tuple[str, str, str], tuple[str, bool]] = {}
    for record in results:
        if record.get("split") != split:
            continue
        n = data_size(record)
        if n is None:
            unknown += 1
            continue
        name, factor = resolver(record)
        value = (record.get("metrics") or {}).get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        better = bool((record.get("main_score") or {}).get("higher_is_better", True))
        intermediates = ["+".join(record.get("intermediate") or [])] if record.get("intermediate") else None
        for inter in intermediates or sorted({"+".join(r.get("intermediate") or []) for r in results
                                              if r.get("intermediate") and r.get("task") == record.get("task")
                                              and r.get("model") == record.get("model")}):
            key = (str(record.get("model")), inter, str(record.get("task")))
            cells.setdefault(key, {})[(n, int(record.get("seed", 1)), str(record.get("language")))] = (
                float(value) * factor, record)
            metrics[key] = (name, better)
    if unknown:
        notes.append(f"{unknown} result(s) do not record their amount of intermediate data (older records, or a "
                     f"fraction of unknown size) and were left out")
    series = []
    for key, bucket in sorted(cells.items()):
        sizes = sorted({n for n, _, _ in bucket})
        if len([n for n in sizes if n > 0]) < 1:
            continue
        s = Series(*key, metric=metrics[key][0], higher_is_better=metrics[key][1])
        _fill(s, bucket, groups, resolver, reps, level, seed, warn)
        series.append(s)
    if not series:
        raise HarnessError("nothing to plot against data size: no intermediate results with a known amount of "
                           "intermediate data (grid --sizes writes data.intermediate_examples)")
    return Scaling(series, groups, level, reps, notes)


def _fill(s: Series, bucket: dict[tuple[int, int, str], tuple[float, dict[str, Any]]], groups: LanguageGroups,
          resolver: Any, reps: int, level: float, seed: int, warn: Callable[[str], None]) -> None:
    languages = sorted({lang for _, _, lang in bucket})
    by_group: dict[str, list[str]] = {}
    for lang in languages:
        by_group.setdefault(groups.transfer_group(lang), []).append(lang)
    s.languages = {g: by_group[g] for g in groups.order(set(by_group))}
    sizes = sorted({n for n, _, _ in bucket})
    registered = getattr(resolver, "registered", None)
    scored: dict[tuple[int, int, str], Any] = {}

    def item_scores(cell: tuple[int, int, str]):
        if cell not in scored:
            record = bucket[cell][1]
            metric = registered(record) if registered else None
            loaded = load_item_scores(record, metric, warn=warn) if metric is not None else None
            scored[cell] = loaded[0] if loaded else None
        return scored[cell]

    rng_seed = seed
    for group, langs in s.languages.items():
        points = []
        for n in sizes:
            seeds = sorted({sd for m, sd, lang in bucket if m == n and lang in langs})
            per_seed = {sd: [bucket[(n, sd, lang)][0] for lang in langs if (n, sd, lang) in bucket] for sd in seeds}
            if not per_seed:
                continue
            mean = float(np.mean([np.mean(v) for v in per_seed.values()]))
            replicates, method = _replicates(bucket, n, per_seed, langs, item_scores, reps, rng_seed)
            rng_seed += 1
            low, high = percentile_interval(replicates, level) if replicates is not None else (None, None)
            points.append(Point(n, mean, low, high, len(seeds), replicates, method))
        s.points[group] = points
        positive = [p for p in points if p.n > 0]
        if len(positive) >= 2 and all(p.replicates is not None for p in positive) or len(positive) >= 3:
            n_arr = np.array([p.n for p in positive], dtype=float)
            y = np.array([p.mean for p in positive])
            columns = [p.replicates for p in positive if p.replicates is not None]
            reps_matrix = np.stack(columns, axis=1) if len(columns) == len(positive) else None
            fits = [fit_loglinear(n_arr, y, reps_matrix, level)]
            if len(positive) >= 3:
                error = 100.0 - y if s.higher_is_better else y
                error_reps = None if reps_matrix is None else (100.0 - reps_matrix if s.higher_is_better else reps_matrix)
                fits.append(fit_power_law(n_arr, error, error_reps, level))
            s.fits[group] = fits
    for lang in languages:
        per_n = {}
        for n in sizes:
            values = [v for (m, _, la), (v, _) in bucket.items() if m == n and la == lang]
            if n > 0 and values:
                per_n[n] = float(np.mean(values))
        if len(per_n) >= 2:
            _, b = loglinear(np.array(list(per_n), dtype=float), np.array(list(per_n.values())))
            s.slopes[lang] = float(b[0])
    english = s.points.get(SOURCE)
    if english:
        by_n = {p.n: p for p in english}
        for group in s.points:
            if group == SOURCE:
                continue
            gaps: list[tuple[int, float, float | None, float | None]] = []
            for p in s.points[group]:
                e = by_n.get(p.n)
                if e is None:
                    continue
                if e.replicates is not None and p.replicates is not None and len(e.replicates) == len(p.replicates):
                    low, high = percentile_interval(e.replicates - p.replicates, level)
                    gaps.append((p.n, e.mean - p.mean, low, high))
                else:
                    gaps.append((p.n, e.mean - p.mean, None, None))
            s.gap[group] = gaps


def _replicates(bucket, n: int, per_seed: dict[int, list[float]], langs: list[str], item_scores, reps: int,
                seed: int) -> tuple[np.ndarray | None, str]:
    """Bootstrap replicates of a point's mean: test items resampled when every part has samples
    (one index matrix per language, shared by its seeds), else seeds resampled; None for one seed
    without samples."""
    rng = np.random.default_rng(seed)
    parts = {(sd, lang): item_scores((n, sd, lang)) for sd in per_seed for lang in langs if (n, sd, lang) in bucket}
    if parts and all(p is not None for p in parts.values()) and len({p.n for p in parts.values() if p}) >= 1:
        total = np.zeros(reps)
        for lang in langs:
            members = [(sd, p) for (sd, la), p in parts.items() if la == lang and p is not None]
            if not members:
                continue
            sizes = {p.n for _, p in members}
            if len(sizes) != 1:
                break
            indices = resample_indices(rng, sizes.pop(), reps)
            for sd, p in members:
                total += p.replicates(indices) / (len(per_seed) * len(per_seed[sd]))
        else:
            return total, "item bootstrap"
    if len(per_seed) >= 2:
        means = np.array([np.mean(v) for v in per_seed.values()])
        picks = rng.integers(0, len(means), size=(reps, len(means)))
        return means[picks].mean(axis=1), "seed bootstrap"
    return None, ""


# --------------------------------------------------------------------------------- output
def _fmt_ci(value: float, interval: tuple[float, float] | None, digits: int = 2) -> str:
    if interval is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def point_rows(scaling: Scaling) -> tuple[list[str], list[list[str]]]:
    header = ["model", "intermediate", "target", "group", "N", "score [CI]", "gain vs N=0 [CI]", "seeds", "interval"]
    rows = []
    for s in scaling.series:
        for group, points in s.points.items():
            base = s.baseline(group)
            for p in points:
                score = _fmt_ci(p.mean, (p.low, p.high) if p.low is not None and p.high is not None else None, 1)
                gain = ""
                if base is not None and p.n > 0:
                    interval = None
                    if base.replicates is not None and p.replicates is not None:
                        interval = percentile_interval(p.replicates - base.replicates, scaling.level)
                    gain = _fmt_ci(p.mean - base.mean, interval, 1)
                rows.append([s.model, s.intermediate, s.target, group, str(p.n), score, gain, str(p.seeds),
                             p.method or "none (1 seed)"])
    return header, rows


def fit_rows(scaling: Scaling) -> tuple[list[str], list[list[str]]]:
    header = ["model", "intermediate", "target", "group", "fit", "parameters [CI]", "rmse", "points"]
    rows = []
    for s in scaling.series:
        for group, fits in s.fits.items():
            for fit in fits:
                params = "; ".join(f"{k} = {_fmt_ci(v, fit.intervals.get(k), 3)}" for k, v in fit.params.items())
                if fit.at_edge:
                    params += " (alpha at the edge of its range: no saturation in these sizes)"
                rows.append([s.model, s.intermediate, s.target, group, fit.kind, params, f"{fit.rmse:.3f}",
                             str(fit.n_points)])
    return header, rows


def render_scaling(scaling: Scaling, console, markdown: bool = False) -> None:
    from rich.table import Table

    from harness.results.tables import print_table

    method = (f"{100 * scaling.level:.0f}% percentile intervals, {scaling.reps} bootstrap replicates: test items "
              f"resampled and the metric recomputed where --log-samples exist, else seeds resampled; fits over "
              f"N > 0 (N = unique intermediate examples), error = 100 - score")
    for title, (header, rows) in (("score against intermediate data size (0-100)", point_rows(scaling)),
                                  ("fitted scaling laws", fit_rows(scaling))):
        if markdown:
            console.print(f"### {title}\n", markup=False, highlight=False)
            console.print("| " + " | ".join(header) + " |", markup=False, highlight=False, soft_wrap=True)
            console.print("|" + "---|" * len(header), markup=False, highlight=False)
            for row in rows:
                console.print("| " + " | ".join(row) + " |", markup=False, highlight=False, soft_wrap=True)
            console.print("", markup=False)
            continue
        table = Table(title=title)
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        print_table(table, console)
    console.print(f"method: {method}", markup=False, highlight=False, soft_wrap=True)
    console.print(scaling.groups.describe(), markup=False, highlight=False, soft_wrap=True)
    for note in scaling.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)


def scaling_dict(scaling: Scaling) -> dict[str, Any]:
    out = []
    for s in scaling.series:
        out.append({"model": s.model, "intermediate": s.intermediate, "target": s.target, "metric": s.metric,
                    "languages": s.languages,
                    "points": {g: [{"n": p.n, "mean": p.mean, "low": p.low, "high": p.high, "seeds": p.seeds,
                                    "interval": p.method} for p in points] for g, points in s.points.items()},
                    "fits": {g: [f.as_dict() for f in fits] for g, fits in s.fits.items()},
                    "slopes": s.slopes,
                    "gap": {g: [{"n": n, "gap": v, "low": lo, "high": hi} for n, v, lo, hi in gaps]
                            for g, gaps in s.gap.items()}})
    return {"level": scaling.level, "reps": scaling.reps, "series": out, "notes": scaling.notes}


def plot_scaling(scaling: Scaling, path: str | Path) -> Path:
    """One row per (intermediate, target): score vs N (log) per group with interval bands, the
    baseline as a horizontal band and the log-linear fit; gain over the baseline; English minus
    group. Last row: the log-linear slope per language as a heatmap."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(scaling.series) + 1
    figure, axes = plt.subplots(rows, 3, figsize=(16, 4.2 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, s in enumerate(scaling.series):
        score_ax, gain_ax, gap_ax = axes[row]
        positive_n = sorted({p.n for points in s.points.values() for p in points if p.n > 0})
        for index, (group, points) in enumerate(s.points.items()):
            colour = colours[index % len(colours)]
            label = group if group == SOURCE else f"{group} ({','.join(s.languages[group])})" \
                if len(s.languages[group]) <= 6 else f"{group} ({len(s.languages[group])} languages)"
            positive = [p for p in points if p.n > 0]
            xs = [p.n for p in positive]
            score_ax.plot(xs, [p.mean for p in positive], marker="o", color=colour, label=label)
            if all(p.low is not None for p in positive) and positive:
                score_ax.fill_between(xs, [p.low for p in positive], [p.high for p in positive], color=colour, alpha=0.2)
            base = s.baseline(group)
            if base is not None and positive_n:
                score_ax.axhline(base.mean, color=colour, linestyle="--", linewidth=1)
                if base.low is not None:
                    score_ax.axhspan(base.low, base.high, color=colour, alpha=0.08)
            fits = s.fits.get(group)
            if fits and positive_n:
                grid = np.geomspace(min(positive_n), max(positive_n), 50)
                score_ax.plot(grid, fits[0].params["a"] + fits[0].params["b"] * np.log(grid), color=colour,
                              linestyle=":", linewidth=1)
            if base is not None:
                gains = [(p.n, p.mean - base.mean, p, base) for p in positive]
                gain_ax.plot([g[0] for g in gains], [g[1] for g in gains], marker="o", color=colour, label=group)
                if all(p.replicates is not None for p in positive) and base.replicates is not None and gains:
                    bands = [percentile_interval(p.replicates - base.replicates, scaling.level) for p in positive]
                    gain_ax.fill_between(xs, [b[0] for b in bands], [b[1] for b in bands], color=colour, alpha=0.2)
            gaps = [g for g in s.gap.get(group, []) if g[0] > 0]
            if gaps:
                gap_ax.plot([g[0] for g in gaps], [g[1] for g in gaps], marker="o", color=colour, label=group)
                if all(g[2] is not None for g in gaps):
                    gap_ax.fill_between([g[0] for g in gaps], [g[2] for g in gaps], [g[3] for g in gaps],
                                        color=colour, alpha=0.2)
        for ax, ylabel, title in ((score_ax, f"{s.metric} (0-100)", "score; dashed: baseline (N = 0) ± CI; "
                                   "dotted: a + b ln N"),
                                  (gain_ax, f"Δ {s.metric} vs. baseline (points)", "gain over the baseline"),
                                  (gap_ax, f"en − group {s.metric} (points)", "English-vs-group transfer gap")):
            ax.set_xscale("log")
            ax.set_xlabel("intermediate training examples N (unique, log scale)")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{s.intermediate} → {s.target}: {title}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        gain_ax.axhline(0.0, color="black", linewidth=0.8)
    heat_ax = axes[-1][0]
    for ax in axes[-1][1:]:
        ax.axis("off")
    _slope_heatmap(heat_ax, scaling, figure)
    figure.suptitle(f"{100 * scaling.level:.0f}% bootstrap intervals ({scaling.reps} replicates)", fontsize=10)
    return save_figure(figure, path)


def _slope_heatmap(ax, scaling: Scaling, figure) -> None:
    columns = [f"{s.intermediate}→{s.target}" for s in scaling.series]
    group_of = scaling.groups.transfer_group
    languages = scaling.groups.order({group_of(lang) for s in scaling.series for lang in s.slopes})
    ordered = [lang for g in languages for lang in sorted({la for s in scaling.series for la in s.slopes
                                                           if group_of(la) == g})]
    if not ordered:
        ax.text(0.5, 0.5, "slopes need two sizes N > 0 per language", ha="center", va="center")
        ax.axis("off")
        return
    data = np.full((len(ordered), len(columns)), np.nan)
    for j, s in enumerate(scaling.series):
        for i, lang in enumerate(ordered):
            if lang in s.slopes:
                data[i, j] = s.slopes[lang]
    bound = float(np.nanmax(np.abs(data))) or 1.0
    image = ax.imshow(np.ma.masked_invalid(data), cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(ordered)), [lang if group_of(lang) == SOURCE else f"{lang} ({group_of(lang)})"
                                        for lang in ordered], fontsize=8)
    for i in range(len(ordered)):
        for j in range(len(columns)):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:+.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(data[i, j]) > 0.6 * bound else "black")
    ax.set_title("slope b of a + b ln N per language (points per e-fold of N)", fontsize=9)
    bar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(f"b (points / ln N), symmetric range ±{bound:.2f}")

