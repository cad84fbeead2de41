"""The ``harness`` command line (click + rich)."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from .bench import bench_command
from .errors import HarnessError
from .grid import grid_command
from .hparams import Hyperparams
from .options import _DEBUG, Env, common_options, console, out, run_options
from .report import report_command



class HarnessGroup(click.Group):
    """User errors become one line and exit code 2; ``--debug`` shows the traceback.
    Plugin subcommands (harness_register_commands) are loaded on first need."""

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is None:
            _load_plugin_commands(self)
            command = super().get_command(ctx, name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        _load_plugin_commands(self)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            if _DEBUG["on"]:
                raise
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            ctx.exit(exc.exit_code)


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def parse_assignments(values: tuple[str, ...], what: str) -> dict[str, str]:
    result = {}
    for value in values:
        if "=" not in value:
            raise HarnessError(f"{what} '{value}': expected KEY=VALUE")
        key, _, item = value.partition("=")
        result[key.strip()] = item.strip()
    return result


def parse_hparams(values: tuple[str, ...], what: str) -> dict[str, Any]:
    import yaml
    raw = {k: yaml.safe_load(v) for k, v in parse_assignments(values, what).items()}
    Hyperparams().merged(raw, where=what)  # validate names and types now
    return raw


@click.group(cls=HarnessGroup)
@click.version_option(package_name="xstilts-harness")
def cli() -> None:
    """English intermediate-task training and zero-shot cross-lingual transfer (X-STILTs on XTREME)."""


@cli.command("eval")
@click.option("--model", "-m", help="Hub id, local directory, or alias (e.g. minilm, xlmr-large).")
@click.option("--intermediate", "-i", help="English intermediate task(s), comma-separated (several = multi-task).")
@click.option("--targets", "-t", help="Target tasks, comma-separated.")
@click.option("--seed", type=int, default=None, help="Random seed (default 1).")
@run_options
@common_options
def eval_command(env: Env, **options: Any) -> None:
    """Train (optionally) on intermediate tasks, then on each target's English data, and evaluate
    zero-shot on every language of each target."""
    from .pipeline import Pipeline

    registry = env.registry(options["data_dir"])
    request = build_request(registry, options)
    summary = Pipeline(registry, request, reporter=rich_reporter(), log=lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True)).run()
    print_scores(registry, summary.results)
    out.print(f"results: {summary.results_file} ({summary.computed} computed, {summary.skipped} reused"
              f"{', ' + str(len(summary.errors)) + ' failed' if summary.errors else ''})", highlight=False,
              soft_wrap=True)
    if summary.errors:
        for error in summary.errors:
            console.print(f"[red]failed:[/] {error['task']} {error['language'] or ''} {error['phase']}: "
                          f"{error['error_type']}: {error['message']}", highlight=False, soft_wrap=True)
        # every failure is the user's input (bad data, diverged training): exit 2 like any user error;
        # anything else (a bug, a crashing plugin) exits 1
        user_errors = _subclass_names(HarnessError)
        sys.exit(2 if all(error["error_type"] in user_errors for error in summary.errors) else 1)


def _subclass_names(cls: type) -> set[str]:
    names, stack = set(), [cls]
    while stack:
        current = stack.pop()
        names.add(current.__name__)
        stack.extend(current.__subclasses__())
    return names


def build_request(registry, options: dict[str, Any]):
    """CLI options over preset values over defaults."""
    from .pipeline import RunRequest

    preset = registry.preset(options["preset"]) if options.get("preset") else None
    model = options.get("model") or (preset.model if preset else None)
    if not model:
        raise HarnessError("no model: pass --model (or a --preset that names one)")
    targets = split_list(options.get("targets")) or (preset.targets if preset else [])
    if not targets:
        raise HarnessError("no targets: pass --targets (or a --preset that names them)")
    intermediate = (split_list(options["intermediate"]) if options.get("intermediate") is not None
                    else (preset.intermediate if preset else []))
    languages = dict(preset.languages) if preset else {}
    for task, langs in parse_assignments(options.get("languages") or (), "--languages").items():
        languages[task] = split_list(langs)
    languages = {task: langs for task, langs in languages.items() if task in targets}
    fractions: dict[str, float] = {}
    for value in options.get("fractions") or ():
        task, _, number = value.rpartition("=")
        try:
            fraction = float(number)
        except ValueError:
            raise HarnessError(f"--intermediate-fraction '{value}': expected F or TASK=F with F in (0, 1]") from None
        if not 0 < fraction <= 1:
            raise HarnessError(f"--intermediate-fraction '{value}': F must be in (0, 1]")
        for name in ([task] if task else intermediate):
            fractions[name] = fraction
    hparams = {**(preset.hparams if preset else {}), **parse_hparams(options.get("hparams") or (), "--hparam")}
    inter_hparams = {**(preset.intermediate_hparams if preset else {}),
                     **parse_hparams(options.get("intermediate_hparams") or (), "--intermediate-hparam")}
    sampling = {k: options[k] for k in ("temperature", "cap") if options.get(k) is not None}
    return RunRequest(
        model=model, targets=targets, intermediate=intermediate, languages=languages,
        splits=split_list(options.get("splits")) or (preset.splits if preset and preset.splits else ["test"]),
        seed=options["seed"] if options.get("seed") is not None else 1,
        limit=options["limit"] if options.get("limit") is not None else (preset.limit if preset else None),
        data=options.get("data") or (preset.data if preset else "auto"),
        output_dir=Path(options.get("output_dir") or "runs"), log_samples=bool(options.get("log_samples")),
        hparams=hparams, intermediate_hparams=inter_hparams or hparams, fraction=fractions, sampling=sampling,
        overwrite=options.get("overwrite") or "only-missing", keep_head=bool(options.get("keep_head")),
        save_every_s=60.0 * float(options["save_every"] if options.get("save_every") is not None else 10.0),
        device=options.get("device"), revision=options.get("revision"),
        preset=preset.name if preset else None)


def rich_reporter():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .training import Reporter

    class RichReporter(Reporter):
        def __init__(self) -> None:
            super().__init__()
            self.progress: Progress | None = None

        def start(self, description: str, total: int) -> None:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                                     console=console, transient=True, disable=not console.is_terminal)
            self.progress.start()
            self.task_id = self.progress.add_task(description, total=total, loss="-")

        def advance(self, steps: int = 1, **fields: Any) -> None:
            if self.progress is not None:
                if "loss" in fields:
                    fields["loss"] = f"{fields['loss']:.4f}"
                self.progress.update(self.task_id, advance=steps, **fields)

        def finish(self) -> None:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return RichReporter()


def print_scores(registry, results: list[dict[str, Any]]) -> None:
    """One row per target: the primary metric per language and the mean over languages."""
    if not results:
        return
    by_task: dict[str, dict[str, dict[str, Any]]] = {}
    for record in results:
        by_task.setdefault(record["task"], {})[f"{record['language']}" + (
            "" if record["split"] == "test" else f" ({record['split']})")] = record["metrics"]
    table = Table(title="zero-shot scores", show_lines=False)
    table.add_column("task", style="bold")
    table.add_column("metric")
    table.add_column("mean", justify="right", style="bold")
    table.add_column("per language")
    from .report import metric_for

    for task, cells in by_task.items():
        metric, scale = metric_for(registry, task, next(iter(cells.values())))
        values = {lang: float(m[metric]) * scale for lang, m in cells.items() if isinstance(m.get(metric), (int, float))}
        mean = sum(values.values()) / len(values) if values else float("nan")
        table.add_row(task, metric, f"{mean:.1f}", "  ".join(f"{lang} {v:.1f}" for lang, v in values.items()))
    out.print(table)


@cli.command("tasks")
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
        shown = f"{len(langs)}: " + ",".join(langs[:6]) + ("..." if len(langs) > 6 else "")
        data = row["status"] if row["status"] != "ok" else (row["hub"] or "local only")
        table.add_row(row["name"], row["kind"], row["format"], row["metric"], shown, row["plugin"], data)
    out.print(table)


@cli.command("plugins")
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
    out.print(table)


@cli.command("score")
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

    from .xtreme import score_folder, write_report

    try:
        report = score_folder(predictions, labels, version=version)
    except (FileNotFoundError, ValueError, AssertionError) as exc:
        raise HarnessError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if output:
        write_report(report, output)
        out.print(f"report: {output}", highlight=False)
    click.echo(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=2))


@cli.command("export-xtreme")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--labels-dir", type=click.Path(file_okay=False), default=None,
              help="Also write the gold labels in the same layout (for `harness score`).")
@click.option("--config", default=None, help="Which configuration of the run (samples/<config>) to export.")
@click.option("--split", default="test", show_default=True)
@common_options
def export_command(env: Env, run_dir: str, out_dir: str, labels_dir: str | None, config: str | None,
                   split: str) -> None:
    """Write a run's predictions (logged with --log-samples) in the XTREME submission layout."""
    from .xtreme import export_predictions

    bucc_gold = None
    if labels_dir:
        bucc = env.registry().tasks.get("bucc")
        bucc_gold = str(bucc.spec.local) if bucc is not None and bucc.spec.local else None
    try:
        written = export_predictions(run_dir, out_dir, with_labels_dir=labels_dir, split=split,
                                     bucc_gold=bucc_gold, config=config)
    except (FileNotFoundError, ValueError) as exc:
        raise HarnessError(f"{exc} (was the run made with --log-samples?)") from None
    if not written:
        raise HarnessError(f"no per-example predictions under {run_dir}: rerun `harness eval` with --log-samples")
    for task, langs in written.items():
        out.print(f"{task}: {', '.join(langs)}", highlight=False)


for command in (grid_command, report_command, bench_command):
    cli.add_command(command)


def _load_plugin_commands(group: click.Group) -> None:
    """harness_register_commands, from installed plugins and $HARNESS_PLUGINS (the command line is not
    parsed yet). Only done when a name is not a built-in command, or for --help: plugins import torch."""
    if getattr(group, "_plugin_commands_loaded", False):
        return
    group._plugin_commands_loaded = True  # type: ignore[attr-defined]
    from .plugins import load_plugins
    logging.getLogger("harness").setLevel(logging.ERROR)
    plugins = load_plugins()
    plugins.call_each("harness_register_commands", cli=group)
    for info in plugins.failures:
        if info.error and info.error.startswith("harness_register_commands"):
            console.print(f"[yellow]warning:[/] plugin '{info.name}' failed and was skipped: {info.error}",
                          highlight=False, soft_wrap=True)


def main() -> None:
    logging.basicConfig(format="%(levelname)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cli(prog_name="harness")


if __name__ == "__main__":  # pragma: no cover
    main()
