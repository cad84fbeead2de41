"""``harness clean RUN_DIR``: list, and with ``--delete`` remove, what no later run needs."""
from __future__ import annotations

from pathlib import Path

import click

from harness.commands.options import common_options, out


@click.command("clean")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--delete", is_flag=True, help="Remove what is listed (default: only list it).")
@common_options
def clean_command(env, run_dir: str, delete: bool) -> None:
    """List the leftovers of a run directory: temp files of interrupted writes, the training state of
    finished phases and of unfinished ones (a rerun of their command would resume from it), damaged
    checkpoints set aside. Nothing is removed without --delete; the output lock is held meanwhile."""
    from harness.results.records import output_lock
    from harness.run.leftovers import find_leftovers, remove

    with output_lock(Path(run_dir)):
        leftovers = find_leftovers(Path(run_dir))
        total = 0
        for item in leftovers:
            size = item.size
            total += size
            out.print(f"{'removed' if delete else 'would remove'} {item.path} ({_mb(size)}): {item.reason}",
                      highlight=False, soft_wrap=True, markup=False)
            if delete:
                remove(item)
    verb = "removed" if delete else "can be removed (pass --delete)"
    out.print(f"{len(leftovers)} item(s), {_mb(total)} {verb}" if leftovers else "nothing to clean",
              highlight=False, soft_wrap=True)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
