"""``harness score``: score a submission folder as XTREME's evaluate.py does."""
from __future__ import annotations


import click

from harness.commands.options import Env, common_options, out
from harness.errors import HarnessError


@click.command("score")
@click.option("--predictions", required=True, type=click.Path(exists=True, file_okay=False),
              help="Submission folder: <task>/test-<lang>.tsv|json.")
@click.option("--labels", required=True, type=click.Path(exists=True, file_okay=False),
              help="Gold folder in the same layout.")
@click.option("--version", "version", type=click.Choice(["xtreme", "xtreme-r"]), default="xtreme", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here.")
@common_options
def score_command(env: Env, predictions: str, labels: str, version: str, output: str | None) -> None:
    """Score a leaderboard submission folder exactly as XTREME's official evaluation does."""
    import json

    from harness.xtreme import score_folder, write_report

    try:
        report = score_folder(predictions, labels, version=version)
    except (FileNotFoundError, ValueError, AssertionError) as exc:
        raise HarnessError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if output:
        write_report(report, output)
        out.print(f"report: {output}", highlight=False)
    click.echo(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=2))
