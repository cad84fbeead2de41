"""The ``harness`` command line (click + rich)."""
from __future__ import annotations

import logging
import os
from typing import Any

import click

from harness.commands import bench, clean, eval, grid, plugins, report, rescore, tasks
from harness.commands.options import _DEBUG, say, warn_failed_plugins
from harness.errors import HarnessError


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
            say(f"[bold red]{getattr(exc, 'label', 'error')}:[/] ", str(exc))
            ctx.exit(exc.exit_code)


@click.group(cls=HarnessGroup)
@click.version_option(package_name="xstilts-harness")
def cli() -> None:
    """English intermediate-task training and zero-shot cross-lingual transfer (X-STILTs)."""


for command in (eval.eval_command, tasks.tasks_command, plugins.plugins_command, grid.grid_command,
                report.report_command, rescore.rescore_command, bench.bench_command, clean.clean_command):
    cli.add_command(command)


def _load_plugin_commands(group: click.Group) -> None:
    """harness_register_commands, from installed plugins and $HARNESS_PLUGINS (the command line is not
    parsed yet). Only done when a name is not a built-in command, or for --help: plugins import torch."""
    if getattr(group, "_plugin_commands_loaded", False):
        return
    group._plugin_commands_loaded = True  # type: ignore[attr-defined]
    from harness.plugins import load_plugins
    logging.getLogger("harness").setLevel(logging.ERROR)
    plugins = load_plugins()
    plugins.call_each("harness_register_commands", cli=group)
    warn_failed_plugins([info for info in plugins.failures
                         if info.error and info.error.startswith("harness_register_commands")])


def main() -> None:
    logging.basicConfig(format="%(levelname)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cli(prog_name="harness")


if __name__ == "__main__":  # pragma: no cover
    main()
