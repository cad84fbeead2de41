"""Tables for people and for pipes: a rich table on a terminal, whose cells fold onto more lines
rather than lose characters; plain text when stdout is a pipe or a file (title, then the header and
one line per row, columns padded with spaces), so that ``harness tasks | grep NAME`` finds every
name and id whole."""
from __future__ import annotations

from typing import Any


def _plain(cell: Any) -> str:
    from rich.text import Text

    text = cell.plain if isinstance(cell, Text) else Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)
    return " ".join(text.split("\n"))


def print_table(table, console) -> None:
    """Print a :class:`rich.table.Table` on ``console`` without ever truncating a cell."""
    if console.is_terminal:
        for column in table.columns:
            column.overflow = "fold"
        console.print(table)
        return
    rows = [[_plain(column.header) for column in table.columns]]
    rows += [list(row) for row in zip(*([_plain(cell) for cell in column._cells] for column in table.columns))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [_plain(table.title)] if table.title else []
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
