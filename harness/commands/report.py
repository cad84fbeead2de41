"""``harness report``: paper-style tables, exports and a heatmap of results files."""
from __future__ import annotations

import json

import click

from harness.commands.options import common_options, console, out
from harness.results.report import (TaskMetrics, build_report, error_lines, load_records, plot_deltas,
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
@click.option("--split", default="test", show_default=True)
@click.option("--bench", is_flag=True, help="Read `harness bench` records instead: latency, A/B verdicts, "
                                             "per-language cost, variants (--plot: latency vs length and more).")
@click.option("--suite", default="auto", show_default=True, metavar="NAME|auto|none",
              help="Add a benchmark's column groups (a plugin's suite, e.g. xtreme-r); auto: the registered "
                   "suite covering most of the targets (table, md and json formats).")
@click.option("--gap", is_flag=True, help="English/non-English transfer gap, paired weakness rate (needs "
              "--log-samples) and modality reliance; --plot draws the gap against the image dropout rate.")
@common_options
def report_command(env, results: tuple[str, ...], by_language: bool, fmt: str, metric: str | None,
                   plot: str | None, split: str, bench: bool, gap: bool, suite: str) -> None:
    """Tables of one or more results files (or output directories): per target, the baseline, the
    score after each intermediate configuration and the difference (mean over languages and seeds)."""
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
            console.print(f"plot: {plot_gap(rows, plot)}", highlight=False)
        return
    report = build_report(records, split=split, metric=metric, metric_for_task=resolver)
    groups = _suite_tables(env, report, suite) if fmt != "csv" else []
    if fmt == "table":
        render_table(report, out, by_language=by_language)
        if groups:
            from harness.results.groups import render_suite_table
            render_suite_table(groups, out)
    elif fmt == "md":
        click.echo(render_markdown(report, by_language=by_language), nl=False)
        if groups:
            from harness.results.groups import render_suite_markdown
            click.echo("\n" + render_suite_markdown(groups), nl=False)
    elif fmt == "csv":
        click.echo(render_csv(report, by_language=by_language), nl=False)
        for line in error_lines(report):
            console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    else:
        payload = report_dict(report, by_language=by_language)
        if groups:
            payload["suite"] = [table.as_dict() for table in groups]
        click.echo(json.dumps(payload, indent=1, ensure_ascii=False))
    if plot:
        written = plot_deltas(report, plot)
        console.print(f"plot: {written}", highlight=False)


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
