"""``harness grid``: the baseline and every intermediate x target pair, for several seeds."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness.commands.options import common_options, console, out
from harness.commands.options import rich_reporter, run_options
from harness.commands.eval import data_checked, print_dry_run_table, print_json
from harness.run.grid import config_name, preview_grid, run_grid


# --------------------------------------------------------------------------------- command
@click.command("grid")
@click.option("--model", "-m", help="Hub id, local directory, alias (e.g. minilm, xlmr-large) or harness checkpoint directory.")
@click.option("--intermediate", "-i", help="English intermediate tasks, comma-separated; each is crossed with "
                                           "every target (and, with --multi-task, all together).")
@click.option("--targets", "-t", help="Target tasks, comma-separated.")
@click.option("--multi-task", "multi_task", is_flag=True, help="Also one multi-task model over all intermediate tasks.")
@click.option("--seeds", default=None, metavar="1,2,3", help="Seeds, comma-separated (default: the preset's, else 1).")
@click.option("--sizes", "size_axis", default=None, metavar="1k,2k,full",
              help="Data-volume axis: intermediate example counts (k = 1000; full = all); the baseline is N = 0.")
@click.option("--fractions", "fraction_axis", default=None, metavar="0.25,0.5,1",
              help="Data-volume axis as fractions of each intermediate task's data.")
@click.option("--dropout-p", "dropout_axis", default=None, metavar="0,0.3,1",
              help="Axis of the image probability of --modality-dropout (image-text intermediate tasks).")
@click.option("--executor", type=click.Choice(["local", "pool", "slurm", "ray"]), default="local", show_default=True,
              help="Where cells run: local (one after the other, here), pool (one process per --devices entry), "
                   "slurm (jobs through submitit), ray (tasks on a Ray cluster).")
@click.option("--devices", default=None, metavar="0,1,2,3", help="--executor pool: CUDA devices, one cell on each "
                                                                 "at a time ('cpu,cpu': two CPU workers).")
@click.option("--max-concurrent", "max_concurrent", type=click.IntRange(min=0), default=None,
              help="At most this many cells at once (default: the preset's resources, else no limit).")
@click.option("--retries", type=click.IntRange(min=0), default=None,
              help="Resubmit a failing cell this many times before recording its error (default: 0 local, 1 else).")
@click.option("--partition", default=None, help="slurm: partition (default: the preset's resources).")
@click.option("--gpus-per-job", "gpus_per_job", type=click.IntRange(min=0), default=None, help="slurm/ray: GPUs per cell.")
@click.option("--cpus-per-job", "cpus_per_job", type=click.IntRange(min=1), default=None, help="slurm/ray: CPUs per cell.")
@click.option("--mem-gb", "mem_gb", type=click.FloatRange(min=0, min_open=True), default=None, help="slurm: memory per job.")
@click.option("--time-min", "time_min", type=click.IntRange(min=1), default=None, help="slurm: time limit per job.")
@click.option("--account", default=None, help="slurm: account to charge.")
@click.option("--ray-address", "ray_address", default=None, metavar="ADDRESS",
              help="ray: the cluster to join (auto, or ray://host:10001); default: start a local one.")
@click.option("--merge", is_flag=True, help="Only merge the output directory's shards into one sorted "
                                            "results.jsonl (no cell runs).")
@click.option("--dry-run", is_flag=True, help="Say which cells would run, what each would train and compute and "
                                              "what its job would ask for (and check the data sources: local "
                                              "ones always, hub ones offline), then stop: nothing submitted, "
                                              "loaded or written.")
@run_options
@common_options
def grid_command(env, as_json: bool, merge: bool, dry_run: bool, **options: Any) -> None:
    """Run the baseline and every intermediate x target pair (and a multi-task model) for each seed,
    into one output directory; rerun the same command to resume an interrupted grid."""
    from harness.results.report import build_report, metric_for, render_table
    from harness.run.cells import registry_args

    if merge:
        from harness.results.records import merge_shards

        target, n_records, n_shards = merge_shards(Path(options["output_dir"]))
        out.print(f"merged {n_shards} shard(s): {target} ({n_records} records, sorted)", highlight=False, markup=False)
        return
    registry = env.registry(options["data_dir"])
    options["registry_args"] = registry_args(env, options["data_dir"])
    if dry_run:
        print_grid_preview(preview_grid(registry, options), as_json)
        return
    summary = run_grid(registry, options, reporter=rich_reporter(),
                       log=lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True),
                       progress=lambda m: console.print(m, style="bold", markup=False, highlight=False,
                                                        soft_wrap=True))
    if as_json:
        print_json(summary)
    else:
        records = summary.results + summary.errors
        for split in summary.splits:
            report = build_report(records, split=split, metric_for_task=lambda record: metric_for(registry, record))
            report.errors = []   # listed once, below
            render_table(report, out)
        out.print(f"results: {summary.results_file} ({summary.computed} computed, {summary.skipped} reused, "
                  f"{len(summary.errors)} failed; {summary.wall_seconds:.1f}s)", highlight=False, soft_wrap=True,
                  markup=False)
    if summary.errors:
        console.print(f"[bold red]{len(summary.errors)} failure(s) in the grid:[/]", highlight=False)
        for error in summary.errors:
            where = " ".join(str(x) for x in (error.get("task"), error.get("language"), error.get("split")) if x)
            cell = f"seed {error.get('seed')} · {config_name(error.get('intermediate') or [])}"
            console.print(f"failed: {cell}: {where} [{error.get('phase')}] {error.get('error_type')}: "
                          f"{error.get('message')}", style="red", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


def print_grid_preview(preview: dict[str, Any], as_json: bool) -> None:
    """What ``grid --dry-run`` found: one row per cell, then what would be submitted."""
    import json

    if as_json:
        click.echo(json.dumps(preview, indent=1, ensure_ascii=False))
        return

    def asks(resources: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in resources.items()) or "-"

    shared = len({asks(row["resources"]) for row in preview["cells"]}) <= 1   # one line instead of a column
    columns = ["cell", "seed", "intermediate", "done", "to compute", *(() if shared else ("resources",))]
    rows = [[row["cell"], row["seed"], row["intermediate"], row["done"], row["to_compute"],
             *(() if shared else (asks(row["resources"]),))] for row in preview["cells"]]
    print_dry_run_table(f"dry run: {preview['output_dir']}", columns, rows)
    if shared and preview["cells"]:
        out.print(f"each job asks for: {asks(preview['cells'][0]['resources'])}", highlight=False, markup=False)
    out.print(f"{preview['cells_to_run']} of {len(preview['cells'])} cell(s) would run on the {preview['executor']} "
              f"executor: {preview['to_compute']} result(s) to compute, {preview['done']} done; "
              f"{data_checked(preview['hub_checked'])}", highlight=False, markup=False)
