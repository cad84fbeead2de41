"""``harness report``: paper-style tables, exports and a heatmap of results files."""
from __future__ import annotations

import json

import click

from harness.commands.options import common_options, console, out
from harness.results.report import (TaskMetrics, add_groups, build_report, error_lines, load_records, plot_deltas,
                                     render_csv, render_markdown, render_table, report_dict)


# --------------------------------------------------------------------------------- command
@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--by-language", is_flag=True, help="Also break each target down per language.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table",
              show_default=True)
@click.option("--metric", default=None, help="Show this metric instead of each task's primary metric.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Write a heatmap of the differences to the baseline.")
@click.option("--heatmap-range", type=click.FloatRange(min=0, min_open=True), default=None, metavar="POINTS",
              help="Colour range of the heatmap, ± this many points (default: ±10, or the largest difference "
                   "rounded up when larger).")
@click.option("--split", default="test", show_default=True)
@click.option("--bench", is_flag=True, help="Read `harness bench` records instead: latency, A/B verdicts, "
                                             "per-language cost, variants (--plot: latency vs length and more).")
@click.option("--suite", default="auto", show_default=True, metavar="NAME|auto|none",
              help="Add a benchmark's column groups (a plugin's suite, e.g. xtreme-r); auto: the registered "
                   "suite covering most of the targets (table, md and json formats).")
@click.option("--gap", is_flag=True, help="English/non-English transfer gap, paired weakness rate (needs "
              "--log-samples) and modality reliance; --plot draws the gap against the image dropout rate.")
@click.option("--by-group", is_flag=True, help="Also break each target down per language group (high, mid, "
              "low, unseen: from the packaged language facts, see --groups).")
@click.option("--groups", "groups_file", type=click.Path(exists=True, dir_okay=False), default=None,
              metavar="FILE", help="Your own language groups (CSV language,group or YAML); overrides the rules.")
@click.option("--pretraining", type=click.Choice(["xlmr", "mbert"]), default="xlmr", show_default=True,
              help="Whose pretraining languages decide the 'unseen' group.")
@click.option("--bootstrap", "reps", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Item bootstrap resamples for intervals from --log-samples (0: seed spread only).")
@click.option("--ci-level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--scaling", is_flag=True, help="Score against the amount of intermediate data: per target and "
              "language group, with fits (a + b log N, saturating power law) and their bootstrap intervals; "
              "--plot draws the figure.")
@common_options
def report_command(env, results: tuple[str, ...], by_language: bool, fmt: str, metric: str | None,
                   plot: str | None, split: str, bench: bool, gap: bool, suite: str, by_group: bool,
                   groups_file: str | None, pretraining: str, reps: int, ci_level: float, scaling: bool,
                   heatmap_range: float | None) -> None:
    """Tables of one or more results files (or output directories): per target, the baseline, the
    score after each intermediate configuration and the difference (mean over languages and seeds),
    each difference with its uncertainty (a paired item-bootstrap interval when the samples were
    logged, else the spread over seeds)."""
    if bench:
        from harness.results.bench_report import bench_report

        bench_report(list(results), fmt, plot, out, console, click.echo)
        return

    records = load_records(list(results))
    resolver = TaskMetrics(env, metric, warn=lambda m: console.print(f"warning: {m}", style="yellow",
                                                                     markup=False, highlight=False))
    if gap:
        from harness.results.gap import build_gap, plot_gap, render_gap
        rows = build_gap(records, resolver, split)
        render_gap(rows, out)
        if plot:
            console.print(f"plot: {plot_gap(rows, plot)}", highlight=False, markup=False)
        return
    from harness.results.languages import LanguageGroups
    from harness.results.uncertainty import attach_intervals

    language_groups = LanguageGroups.load(groups_file, pretraining) if (by_group or scaling or groups_file) else None
    if scaling:
        from harness.results.scaling import build_scaling, plot_scaling, render_scaling, scaling_dict

        assert language_groups is not None
        analysis = build_scaling(records, resolver, language_groups, split=split, reps=reps, level=ci_level,
                                 warn=lambda m: console.print(f"warning: {m}", style="yellow", markup=False,
                                                              highlight=False))
        if fmt == "json":
            click.echo(json.dumps(scaling_dict(analysis), indent=1, ensure_ascii=False))
        else:
            render_scaling(analysis, out, markdown=fmt == "md")
        if plot:
            console.print(f"plot: {plot_scaling(analysis, plot)}", highlight=False, markup=False)
        return
    report = build_report(records, split=split, metric=metric, metric_for_task=resolver)
    if language_groups is not None:
        add_groups(report, language_groups.transfer_group, language_groups.order)
    if reps:
        attach_intervals(report, resolver.registered, reps=reps, level=ci_level,
                         warn=lambda m: console.print(f"warning: {m}; seed spread shown", style="yellow",
                                                      markup=False, highlight=False, soft_wrap=True))
    views = {"by_language": by_language, "by_group": by_group}
    groups = _suite_tables(env, report, suite) if fmt != "csv" else []
    if fmt == "table":
        render_table(report, out, **views)
        if groups:
            from harness.results.groups import render_suite_table
            render_suite_table(groups, out)
    elif fmt == "md":
        click.echo(render_markdown(report, **views), nl=False)
        if groups:
            from harness.results.groups import render_suite_markdown
            click.echo("\n" + render_suite_markdown(groups), nl=False)
    elif fmt == "csv":
        click.echo(render_csv(report, **views), nl=False)
        for line in error_lines(report):
            console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    else:
        payload = report_dict(report, **views)
        if groups:
            payload["suite"] = [table.as_dict() for table in groups]
        click.echo(json.dumps(payload, indent=1, ensure_ascii=False))
    if by_group and language_groups is not None and fmt != "json":
        console.print(language_groups.describe(), markup=False, highlight=False, soft_wrap=True)
    if plot:
        written = plot_deltas(report, plot, heatmap_range)
        console.print(f"plot: {written}", highlight=False, markup=False)


def _suite_tables(env, report, name: str) -> list:
    """The group tables of ``--suite`` (the suites come from the plugins: the core names none)."""
    if name == "none" or not report.models:
        return []
    from harness.results.groups import suite_tables
    from harness.spec.suites import collect_suites, get_suite, pick_suite

    suites = collect_suites(env.registry().plugins)
    if name == "auto":
        targets = [t for model in report.models for t in model.targets]
        chosen = pick_suite(suites, targets)
        if chosen is None:
            return []
    else:
        chosen = get_suite(suites, name)
    return suite_tables(report, chosen)
