"""What the subcommands share: the consoles, the options every subcommand takes (with the lazily
built registry, :class:`Env`), and the options of the commands that run the pipeline (``eval``,
``grid``). It imports nothing of the CLI, so command modules (grid, report, bench) use it directly."""
from __future__ import annotations

import functools
import logging
import os
from typing import Any, Callable

import click
from rich.console import Console
from rich.markup import escape

from harness.spec.config import KEEP_CHECKPOINTS

console = Console(stderr=True)
out = Console()
#: set per invocation by --debug / $HARNESS_DEBUG; read by the CLI's error handler
_DEBUG = {"on": bool(os.environ.get("HARNESS_DEBUG"))}


def say(prefix: str, message: str) -> None:
    """One line on stderr: ``prefix`` in rich markup (``"[red]failed:[/] "``), then ``message`` as
    given. An exception's or a plugin's text may hold ``[...]``, which rich would otherwise read as
    markup: dropped from the line, or a MarkupError in place of the error being reported."""
    console.print(prefix + escape(message), highlight=False, soft_wrap=True)


def warn_failed_plugins(failures) -> None:
    for info in failures:
        say("[yellow]warning:[/] ", f"plugin '{info.name}' failed and was skipped: {info.error}")


class Env:
    """What every subcommand shares: plugin and tasks-file options, and the lazily built registry."""

    def __init__(self, plugins: tuple[str, ...], tasks_files: tuple[str, ...], disabled: tuple[str, ...],
                 strict: bool):
        self.plugins, self.tasks_files, self.disabled, self.strict = plugins, tasks_files, disabled, strict
        self._registry: Any = None

    def registry(self, data_dir: str | None = None):
        if self._registry is None:
            from harness.spec.registry import build_registry
            self._registry = build_registry(plugins=self.plugins, tasks_files=self.tasks_files,
                                            disabled=self.disabled, strict=self.strict, data_dir=data_dir)
            warn_failed_plugins(self._registry.plugins.failures)
        return self._registry


def common_options(func: Callable) -> Callable:
    """--plugins, --tasks-file, --disable-plugin, --strict-plugins and --debug on every subcommand."""

    @click.option("--plugins", "plugin_args", multiple=True, metavar="A.B,PATH.py",
                  help="Extra plugin modules or .py files, comma-separated (also $HARNESS_PLUGINS).")
    @click.option("--tasks-file", "tasks_files", multiple=True, type=click.Path(dir_okay=False),
                  help="YAML file adding or overriding tasks and presets.")
    @click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME",
                  help="Do not load this plugin (also $HARNESS_DISABLE_PLUGINS).")
    @click.option("--strict-plugins", is_flag=True, help="A plugin that fails to load is fatal.")
    @click.option("--debug", is_flag=True, help="Show tracebacks.")
    @functools.wraps(func)
    def wrapper(plugin_args, tasks_files, disabled, strict_plugins, debug, **kwargs):
        _DEBUG["on"] = bool(os.environ.get("HARNESS_DEBUG")) or debug  # per invocation (in-process runs)
        logging.getLogger("harness").setLevel(logging.ERROR)  # the CLI prints plugin failures itself
        return func(Env(plugin_args, tasks_files, disabled, strict_plugins), **kwargs)

    return wrapper



RUN_OPTIONS = [
    click.option("--preset", "-p", help="A preset from tasks.yaml (e.g. demo, paper); options given here win."),
    click.option("--languages", "-l", "languages", multiple=True, metavar="TASK=L1,L2",
                  help="Languages of a target (default: all of the task's languages)."),
    click.option("--splits", default=None, help="Evaluation splits, comma-separated (dev,test). Default: test."),
    click.option("--output-dir", "-o", type=click.Path(file_okay=False), default="runs", show_default=True),
    click.option("--limit", type=int, default=None, help="At most N examples per task, split and language."),
    click.option("--data", type=click.Choice(["samples", "local", "hub", "auto"]), default=None,
                  help="samples: the bundled samples; local: --data-dir (or tasks.yaml `local`); hub; "
                       "auto (default): the local file when present, else the hub."),
    click.option("--data-dir", type=click.Path(), default=None,
                  help="Directory with one sub-directory per task (D/<task>/test-de.jsonl, ...)."),
    click.option("--select-on", "select_on", type=click.Choice(["none", "en-dev"]), default=None,
                  help="Model selection: score English dev during target training and keep the best "
                       "weights (default: none, or the preset's)."),
    click.option("--select-every", "select_every", type=int, default=None, metavar="STEPS",
                  help="With --select-on: steps between evaluations (default 0: once per epoch)."),
    click.option("--log-samples", is_flag=True, help="Write per-example predictions (id, input hash, prediction, gold)."),
    click.option("--hparam", "hparams", multiple=True, metavar="KEY=VALUE", help="Target-training hyperparameter."),
    click.option("--intermediate-hparam", "intermediate_hparams", multiple=True, metavar="KEY=VALUE"),
    click.option("--task-option", "task_options", multiple=True, metavar="TASK.KEY=VALUE",
                 help="Override a target's format option from tasks.yaml (TASK.KEY=VALUE, e.g. a retrieval task's protocol=jiant)."),
    click.option("--intermediate-fraction", "fractions", multiple=True, metavar="F|TASK=F",
                  help="Train on a nested subset of this fraction of the intermediate data (see --data-seed)."),
    click.option("--intermediate-size", "sizes", multiple=True, metavar="N|TASK=N",
                 help="Train on a nested subset of N intermediate examples (1k = 1000; wins over --limit)."),
    click.option("--data-seed", "data_seed", type=int, default=None,
                 help="Seed of the subset ranking (default 0); --seed never changes the data."),
    click.option("--stratify", is_flag=True, help="Subsets keep the label proportions (each class within one example)."),
    click.option("--budget", type=click.Choice(["epochs", "steps"]), default=None,
                 help="Intermediate training of a subset: equal epochs (default) or the full-data run's steps."),
    click.option("--budget-steps", "budget_steps", type=int, default=None, metavar="S",
                 help="Equal-steps budget of S steps (implies --budget steps)."),
    click.option("--temperature", type=float, default=None, help="Multi-task sampling temperature (1 = proportional)."),
    click.option("--cap", type=int, default=None, help="Multi-task: cap each task's size for sampling."),
    click.option("--overwrite", type=click.Choice(["never", "only-missing", "always"]), default="only-missing",
                  show_default=True),
    click.option("--save-every", "save_every", type=float, default=10.0, show_default=True, metavar="MINUTES",
                 help="Save mid-phase training state this often, so a killed run resumes inside a phase."),
    click.option("--modality-dropout", default=None, metavar="image=P[,text=Q][,mode=remove|token|zeros]",
                 help="Intermediate training: drop each example's image (text) with probability P (Q)."),
    click.option("--contamination", type=click.Choice(["drop", "keep"]), default=None,
                 help="Intermediate-training images seen in image-text target tests: drop (default) or keep."),
    click.option("--hook-timeout", "hook_timeout", type=float, default=None, metavar="SECONDS",
                 help="A plugin hook that runs longer becomes an error record for its task (off by default)."),
    click.option("--keep-head", is_flag=True, help="Start target heads from a compatible intermediate head."),
    click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)."),
    click.option("--revision", default=None, help="Hub revision of the model."),
    click.option("--json", "as_json", is_flag=True, help="Print the result records as JSON instead of a table."),
]


#: checkpoint retention (eval, grid): what is kept on disk; no result depends on it
CHECKPOINT_OPTIONS = [
    click.option("--keep-checkpoints", "keep_checkpoints", type=click.Choice(KEEP_CHECKPOINTS),
                 default=None, help="Checkpoints kept after a run: all (default); intermediate (each target "
                                    "checkpoint is removed once its cells are evaluated); none. A rerun still "
                                    "skips finished cells; only new cells retrain."),
    click.option("--whole-target-checkpoints", "whole_target_checkpoints", is_flag=True,
                 help="Save a target trained with a frozen encoder (--hparam freeze_encoder=true) whole, "
                      "not as its head plus a reference to the encoder it started from."),
]


def run_options(func: Callable) -> Callable:
    """Apply every option of RUN_OPTIONS and CHECKPOINT_OPTIONS, so ``eval`` and ``grid`` accept the same ones."""
    for option in reversed(RUN_OPTIONS + CHECKPOINT_OPTIONS):
        func = option(func)
    return func


def rich_reporter():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from harness.engine.training import Reporter

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
