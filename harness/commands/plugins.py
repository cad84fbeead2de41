"""``harness plugins``: what is loaded, from where, providing what."""
from __future__ import annotations


import click
from rich.table import Table

from harness.commands.options import Env, common_options, out
from harness.results.tables import print_table


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@common_options
def plugins_command(env: Env, as_json: bool) -> None:
    """List plugins: name, distribution and version, origin, hooks implemented, tasks provided."""
    registry = env.registry()
    infos = list(registry.plugins.infos.values())
    if as_json:
        import json
        from dataclasses import asdict
        click.echo(json.dumps([asdict(i) for i in infos], indent=1))
        return
    table = Table(title=f"{len(infos)} plugins")
    for column in ("plugin", "source", "distribution", "hooks", "provides"):
        table.add_column(column)
    for info in infos:
        status = "disabled" if info.disabled else (f"[red]failed: {info.error}[/]" if info.error else None)
        dist = f"{info.distribution} {info.version or ''}".strip() if info.distribution else "-"
        provides = ", ".join(info.tasks + [f"model:{m}" for m in info.models])
        table.add_row(info.name, f"{info.source}\n{info.origin}", dist,
                      status or ", ".join(h.replace("harness_", "") for h in info.hooks), provides)
    print_table(table, out)
