"""``harness rescore``: recompute a registered metric from the logged samples (no model is loaded)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from harness.commands.options import common_options, console, out


@click.command("rescore")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--metric", "metric_name", default=None, metavar="NAME",
              help="A registered metric (e.g. token_accuracy, seqeval_f1); default: each task's own.")
@click.option("--split", default=None, help="Only results of this split.")
@click.option("--write", is_flag=True, help="Write the rescored results to RUN_DIR/rescored/<metric>.jsonl "
              "(the original results are left as they are).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@common_options
def rescore_command(env, run_dir: str, metric_name: str | None, split: str | None, write: bool, as_json: bool) -> None:
    """Recompute a metric for every result of RUN_DIR that has --log-samples files. Each result's
    samples must first reproduce the value it logged; results without samples are skipped."""
    from harness.errors import HarnessError, UnknownNameError
    from harness.metrics.registry import get_metric
    from harness.results.report import TaskMetrics, load_records
    from harness.results.rescore import rescore, rescore_rows, write_rescored

    def warn(message: str) -> None:
        console.print(f"warning: {message}", style="yellow", markup=False, highlight=False, soft_wrap=True)

    metric = None
    if metric_name:
        try:
            metric = get_metric(metric_name)
        except UnknownNameError:
            env.registry()              # plugins register their own metrics through the hooks
            metric = get_metric(metric_name)
    records = load_records([run_dir])
    items = rescore(records, TaskMetrics(env, warn=warn).registered, metric, split, warn)
    if not items:
        raise HarnessError(f"nothing to rescore in '{run_dir}': no result has usable --log-samples files "
                           f"(run eval or grid with --log-samples)")
    rows = rescore_rows(items)
    if as_json:
        click.echo(json.dumps(rows, indent=1, ensure_ascii=False))
    else:
        from rich.table import Table

        from harness.results.tables import print_table

        table = Table(title=f"rescored from the logged samples ({len(rows)} result(s); 0-100 scale)")
        for name in ("task", "language", "split", "configuration", "seed", "metric", "logged", "rescored", "items"):
            table.add_column(name, justify="right" if name in ("seed", "logged", "rescored", "items") else "left")
        for row in rows:
            table.add_row(str(row["task"]), str(row["language"]), str(row["split"]), row["configuration"],
                          str(row["seed"]), f"{row['metric']}:{row['primary']}",
                          "" if row["logged"] is None else f"{row['logged']:.2f}", f"{row['rescored']:.2f}",
                          str(row["n_items"]))
        print_table(table, out)
    if write:
        path = write_rescored(items, Path(run_dir), metric_name or "own")
        console.print(f"wrote {len(items)} record(s) to {path}", markup=False, highlight=False)
