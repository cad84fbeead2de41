"""``harness tasks``: the task registry."""
from __future__ import annotations


import click
from rich.table import Table

from harness.commands.options import Env, common_options, out
from harness.results.tables import print_table


@click.command("tasks")
@click.option("--kind", type=click.Choice(["intermediate", "target"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@common_options
def tasks_command(env: Env, kind: str | None, as_json: bool) -> None:
    """List the tasks: kind, format, metric, languages, data source and plugin."""
    registry = env.registry()
    rows = []
    for name, task in sorted(registry.tasks.items()):
        spec = task.spec
        if kind and spec.kind != kind:
            continue
        rows.append({"name": name, "kind": spec.kind, "format": spec.format, "metric": spec.metric,
                     "languages": spec.languages, "plugin": spec.plugin, "status": "ok",
                     "hub": f"{spec.hub.path}{':' + spec.hub.name if spec.hub and spec.hub.name else ''}" if spec.hub else None,
                     "local": str(spec.local) if spec.local else None})
    for name, reason in sorted(registry.unavailable.items()):
        spec = registry.config.specs[name]
        if not kind or spec.kind == kind:
            rows.append({"name": name, "kind": spec.kind, "format": spec.format, "metric": spec.metric,
                         "languages": spec.languages, "plugin": spec.plugin, "status": f"unavailable: {reason}",
                         "hub": None, "local": None})
    if as_json:
        import json
        click.echo(json.dumps(rows, indent=1))
        return
    table = Table(title=f"{len(rows)} tasks")
    for column in ("task", "kind", "format", "metric", "languages", "plugin", "data"):
        table.add_column(column)
    for row in rows:
        langs = row["languages"]
        shown = f"{len(langs)}: " + ",".join(langs)
        data = row["status"] if row["status"] != "ok" else (row["hub"] or "local only")
        table.add_row(row["name"], row["kind"], row["format"], row["metric"], shown, row["plugin"], data)
    print_table(table, out)
