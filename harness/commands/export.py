"""``harness export-xtreme``: a run's logged predictions in the leaderboard layout."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from harness.commands.options import Env, common_options, out
from harness.errors import HarnessError
from harness.results.records import read_records


@click.command("export-xtreme")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--labels-dir", type=click.Path(file_okay=False), default=None,
              help="Also write the gold labels in the same layout (for `harness score`).")
@click.option("--config", default=None, help="Which configuration of the run (samples/<config>) to export.")
@click.option("--split", default="test", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="As for `harness eval`: where BUCC's gold pairs are read for --labels-dir.")
@common_options
def export_command(env: Env, run_dir: str, out_dir: str, labels_dir: str | None, config: str | None,
                   split: str, data_dir: str | None) -> None:
    """Write a run's predictions (logged with --log-samples) in the XTREME submission layout."""
    from harness.xtreme import export_predictions

    bucc = env.registry(data_dir).tasks.get("bucc") if labels_dir else None
    if bucc is not None and bucc.spec.local is None:   # no --data-dir: the directory the run read
        bucc = bucc.with_local(_read_directory(run_dir, "bucc"))
    # BUCC's gold is not in the logs: read it for the split the predictions came from
    bucc_gold = (partial(bucc.gold_pairs, split)
                 if bucc is not None and bucc.spec.local and hasattr(bucc, "gold_pairs") else None)
    try:
        written = export_predictions(run_dir, out_dir, with_labels_dir=labels_dir, split=split,
                                     bucc_gold=bucc_gold, config=config)
    except (FileNotFoundError, ValueError) as exc:
        raise HarnessError(f"{exc} (was the run made with --log-samples?)") from None
    if not written:
        raise HarnessError(f"no per-example predictions under {run_dir}: rerun `harness eval` with --log-samples")
    for task, langs in written.items():
        out.print(f"{task}: {', '.join(langs)}", highlight=False)


def _read_directory(run_dir: str, task: str) -> Path | None:
    """The directory of the files the run's results of ``task`` say were read (``data.read``)."""
    for record in read_records(Path(run_dir) / "results.jsonl"):
        if record.get("type") == "result" and record.get("task") == task:
            for read in (record.get("data") or {}).get("read") or []:
                if "file" in read:
                    return Path(read["file"]).parent
    return None
