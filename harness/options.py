"""Options shared by the commands that run the pipeline (``eval``, ``grid``)."""
from __future__ import annotations

from typing import Callable

import click

RUN_OPTIONS = [
    click.option("--preset", "-p", help="A preset from tasks.yaml (e.g. demo, paper); options given here win."),
    click.option("--languages", "-l", "languages", multiple=True, metavar="TASK=L1,L2",
                  help="Languages of a target (default: all of the task's languages)."),
    click.option("--splits", default=None, help="Evaluation splits, comma-separated (dev,test). Default: test."),
    click.option("--output-dir", "-o", type=click.Path(file_okay=False), default="runs", show_default=True),
    click.option("--limit", type=int, default=None, help="At most N examples per task, split and language."),
    click.option("--data", type=click.Choice(["local", "hub", "auto"]), default=None,
                  help="Read the hub, local directories, or local when present (default)."),
    click.option("--data-dir", type=click.Path(), default=None, help="Directory with one sub-directory per task."),
    click.option("--log-samples", is_flag=True, help="Write per-example predictions (id, input hash, prediction, gold)."),
    click.option("--hparam", "hparams", multiple=True, metavar="KEY=VALUE", help="Target-training hyperparameter."),
    click.option("--intermediate-hparam", "intermediate_hparams", multiple=True, metavar="KEY=VALUE"),
    click.option("--intermediate-fraction", "fractions", multiple=True, metavar="F|TASK=F",
                  help="Train on a deterministic fraction of the intermediate data."),
    click.option("--temperature", type=float, default=None, help="Multi-task sampling temperature (1 = proportional)."),
    click.option("--cap", type=int, default=None, help="Multi-task: cap each task's size for sampling."),
    click.option("--overwrite", type=click.Choice(["never", "only-missing", "always"]), default="only-missing",
                  show_default=True),
    click.option("--save-every", "save_every", type=float, default=10.0, show_default=True, metavar="MINUTES",
                 help="Save mid-phase training state this often, so a killed run resumes inside a phase."),
    click.option("--keep-head", is_flag=True, help="Start target heads from a compatible intermediate head."),
    click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)."),
    click.option("--revision", default=None, help="Hub revision of the model."),
]


def run_options(func: Callable) -> Callable:
    """Apply every option of RUN_OPTIONS, so ``eval`` and ``grid`` accept the same ones."""
    for option in reversed(RUN_OPTIONS):
        func = option(func)
    return func
