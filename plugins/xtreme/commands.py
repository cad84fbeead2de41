"""``harness score`` and ``harness export-xtreme``, added by the XTREME suite plugin
(``harness_register_commands``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from harness.commands.options import Env, common_options, console, out
from harness.errors import HarnessError
from harness.results.records import read_records
from harness.spec.tasks import Task

VERSION_CHOICE = click.Choice(["xtreme", "xtreme-r"])


@click.command("score")
@click.option("--predictions", required=True, type=click.Path(exists=True, file_okay=False),
              help="Submission folder: <task>/test-<lang>.tsv|json|jsonl (from `harness export-xtreme`).")
@click.option("--labels", required=True, type=click.Path(exists=True, file_okay=False),
              help="Gold folder in the same layout (`harness export-xtreme --labels-dir`, or the official labels).")
@click.option("--version", "version", type=VERSION_CHOICE, default="xtreme", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here.")
@click.option("--strict", is_flag=True,
              help="Fail on a missing language file, as the official script does (default: score what is present).")
@common_options
def score_command(env: Env, predictions: str, labels: str, version: str, output: str | None, strict: bool) -> None:
    """Score a leaderboard submission folder exactly as XTREME's official evaluation does; a partial
    submission is scored on what it has, and one line says what is incomplete."""
    from harness_plugins.xtreme.scoring import score_submission, write_report

    try:
        report, coverage = score_submission(predictions, labels, version=version, partial=not strict)
    except (FileNotFoundError, ValueError, AssertionError) as exc:
        raise HarnessError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if not any(isinstance(v, dict) for v in report.values()):
        raise HarnessError(f"nothing to score: no task of {version} has both a predictions folder under "
                           f"{predictions} and a labels folder under {labels}")
    if output:
        write_report(report, output)
        out.print(f"report: {output}", highlight=False)
    if not coverage.complete:
        console.print(f"incomplete: {coverage.line()}", markup=False, highlight=False, soft_wrap=True)
    summary = {k: v for k, v in report.items() if not isinstance(v, dict)}
    summary.update({task: round(v["avg_metric"], 4) for task, v in report.items()
                    if isinstance(v, dict) and "avg_metric" in v})
    click.echo(json.dumps(summary, indent=2))


@click.command("export-xtreme")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--labels-dir", type=click.Path(file_okay=False), default=None,
              help="Also write the gold labels in the same layout (for `harness score --labels`).")
@click.option("--config", default=None, help="Which configuration of the run (samples/<config>) to export.")
@click.option("--split", default="test", show_default=True)
@click.option("--version", "version", type=VERSION_CHOICE, default=None,
              help="Keep this version's tasks only (default: every task either version has a layout for).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="As for `harness eval`: where golds that the logs lack (mined pairs) are read for --labels-dir.")
@common_options
def export_command(env: Env, run_dir: str, out_dir: str, labels_dir: str | None, config: str | None,
                   split: str, version: str | None, data_dir: str | None) -> None:
    """Write a run's predictions (logged with --log-samples) in the XTREME / XTREME-R submission layout."""
    from harness_plugins.xtreme.export import export_predictions

    registry = env.registry(data_dir) if labels_dir else None
    problems: list[str] = []
    directories: dict[str, Path | None] = {}

    def gold_source(task_name: str, language: str) -> Any:
        """The task's own golds for the split the predictions came from (``Task.export_golds``), read
        from --data-dir or else the directory the run read."""
        task = registry.tasks.get(task_name) if registry is not None else None
        if task is None or type(task).export_golds is Task.export_golds:   # the logs' golds will do
            return None
        if task.spec.local is None:
            if task_name not in directories:
                directories[task_name] = _read_directory(run_dir, task_name)
            directory = directories[task_name]
            if directory is None:
                return None
            task = task.with_local(directory)
        try:
            return task.export_golds(split, language)
        except HarnessError as exc:
            problems.append(f"{task_name} {language}: labels not written: {exc}")
            return None

    try:
        written = export_predictions(run_dir, out_dir, with_labels_dir=labels_dir, split=split,
                                     gold_source=gold_source, config=config, version=version)
    except (FileNotFoundError, ValueError) as exc:
        raise HarnessError(f"{exc} (was the run made with --log-samples?)") from None
    if not written:
        raise HarnessError(f"no per-example predictions under {run_dir}: rerun `harness eval` with --log-samples")
    for task, langs in written.items():
        out.print(f"{task}: {', '.join(langs)}", highlight=False)
    for problem in problems:
        console.print(f"warning: {problem}", markup=False, highlight=False, soft_wrap=True)


def _read_directory(run_dir: str, task: str) -> Path | None:
    """The directory of the files the run's results of ``task`` say were read (``data.read``)."""
    for record in read_records(Path(run_dir) / "results.jsonl"):
        if record.get("type") == "result" and record.get("task") == task:
            for read in (record.get("data") or {}).get("read") or []:
                if "file" in read:
                    return Path(read["file"]).parent
    return None
