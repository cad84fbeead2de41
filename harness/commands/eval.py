"""``harness eval``: one run of the pipeline, then the score table."""
from __future__ import annotations

from typing import Any
import json
import sys

import click
from rich.table import Table
from rich.text import Text

from harness.commands.options import Env, common_options, console, out
from harness.results.tables import print_table
from harness.commands.options import rich_reporter, run_options, say
from harness.errors import HarnessError
from harness.run.request import build_request


@click.command("eval")
@click.option("--model", "-m", help="Hub id, local directory, alias (e.g. minilm, xlmr-large) or harness checkpoint directory.")
@click.option("--intermediate", "-i", help="English intermediate task(s), comma-separated (several = multi-task).")
@click.option("--targets", "-t", help="Target tasks, comma-separated.")
@click.option("--seed", type=int, default=None, help="Random seed (default 1).")
@click.option("--dry-run", is_flag=True, help="Say what would be trained and computed (and check the data "
                                              "sources: local ones always, hub ones offline), then stop: no model "
                                              "loaded, nothing written.")
@run_options
@common_options
def eval_command(env: Env, as_json: bool, dry_run: bool, **options: Any) -> None:
    """Train (optionally) on intermediate tasks, then on each target's English data, and evaluate
    zero-shot on every language of each target."""
    registry = env.registry(options["data_dir"])
    request = build_request(registry, options)
    for name in (*request.intermediate, *request.targets):   # bad names fail here, before torch is imported:
        registry.task(name)                                  # the tasks first (as the pipeline checks them),
    registry.resolve_model(request.model, request.revision)  # then the model
    from harness.run.pipeline import Pipeline

    pipeline = Pipeline(registry, request, reporter=rich_reporter(), log=lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True))
    if dry_run:
        print_preview(pipeline.preview(), as_json)
        return
    summary = pipeline.run()
    if not pipeline.main:
        return   # several processes (accelerate launch): the main one reports
    if as_json:
        print_json(summary)
    else:
        print_scores(registry, summary.results)
        if any(task.spec.modality == "image_text" for task in (*pipeline.targets, *pipeline.intermediate)):
            print_gap(registry, summary)
        out.print(f"results: {summary.results_file} ({summary.computed} computed, {summary.skipped} reused"
                  f"{', ' + str(len(summary.errors)) + ' failed' if summary.errors else ''})", highlight=False,
                  soft_wrap=True, markup=False)
    if summary.errors:
        for error in summary.errors:
            say("[red]failed:[/] ", f"{error['task']} {error['language'] or ''} {error['phase']}: "
                                    f"{error['error_type']}: {error['message']}")
        # every failure is the user's input (bad data, diverged training): exit 2 like any user error;
        # anything else (a bug, a crashing plugin) exits 1
        user_errors = _subclass_names(HarnessError)
        sys.exit(2 if all(error["error_type"] in user_errors for error in summary.errors) else 1)


def print_preview(preview: dict[str, Any], as_json: bool) -> None:
    """What ``--dry-run`` found: the checkpoints and, per target, the cells done and to compute."""
    if as_json:
        click.echo(json.dumps(preview, indent=1, ensure_ascii=False))
        return
    inter = preview["intermediate"]
    if inter:
        out.print(f"intermediate {'+'.join(inter['tasks'])}: {inter['checkpoint']} (key {inter['key']})",
                  highlight=False, markup=False)
    columns = ["target", "checkpoint", "cells", "done", "to compute"]
    rows = [[row["target"], row["checkpoint"], row["cells"], row["done"], row["to_compute"]]
            for row in preview["targets"]]
    if preview["samples_only"]:
        columns.append("samples only")
        for row, target in zip(rows, preview["targets"]):
            row.append(target["samples_only"])
    print_dry_run_table(f"dry run: {preview['model']} -> {preview['output_dir']}", columns, rows)
    out.print(f"{preview['to_compute']} cell(s) to compute"
              + (f", {preview['samples_only']} evaluated again for their samples" if preview["samples_only"] else "")
              + f", {preview['done']} done; {data_checked(preview['hub_checked'])}", highlight=False, markup=False)


def data_checked(hub_checked: bool) -> str:
    return ("every data source it would read is there" if hub_checked else
            "every local data source it would read is there (hub sources are checked only offline)")


def print_dry_run_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A dry run's table; its text (paths, names) is printed as written, never read as markup."""
    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "checkpoint", "cell", "intermediate",
                                                               "resources") else "right")
    for row in rows:
        table.add_row(*(Text(str(value)) for value in row))
    out.print(table)


def print_json(summary) -> None:
    """The records of a run (computed and reused results, errors) and its counts, as one JSON object."""
    click.echo(json.dumps({"results_file": str(summary.results_file), "computed": summary.computed,
                           "reused": summary.skipped, "failed": len(summary.errors),
                           "results": summary.results, "errors": summary.errors}, indent=1, ensure_ascii=False))


def _subclass_names(cls: type) -> set[str]:
    names, stack = set(), [cls]
    while stack:
        current = stack.pop()
        names.add(current.__name__)
        stack.extend(current.__subclasses__())
    return names


def print_gap(registry, summary) -> None:
    """The English/non-English gap of this run's results (``harness report --gap``)."""
    from harness.results.gap import build_gap, render_gap
    from harness.results.report import metric_for

    records = [{**record, "_source": str(summary.results_file)} for record in summary.results]
    render_gap(build_gap(records, lambda record: metric_for(registry, record)), out)


def print_scores(registry, results: list[dict[str, Any]]) -> None:
    """One row per target: the primary metric per language and the mean over languages."""
    if not results:
        return
    by_task: dict[str, dict[str, dict[str, Any]]] = {}
    for record in results:
        by_task.setdefault(record["task"], {})[f"{record['language']}" + (
            "" if record["split"] == "test" else f" ({record['split']})")] = record
    table = Table(title="zero-shot scores", show_lines=False)
    table.add_column("task", style="bold")
    table.add_column("metric")
    table.add_column("mean", justify="right", style="bold")
    table.add_column("per language")
    from harness.results.report import metric_for

    for task, cells in by_task.items():
        metric, scale = metric_for(registry, next(iter(cells.values())))
        values = {lang: float(r["metrics"][metric]) * scale for lang, r in cells.items()
                  if isinstance(r["metrics"].get(metric), (int, float))}
        mean = sum(values.values()) / len(values) if values else float("nan")
        table.add_row(task, metric, f"{mean:.1f}", "  ".join(f"{lang} {v:.1f}" for lang, v in values.items()))
    print_table(table, out)
