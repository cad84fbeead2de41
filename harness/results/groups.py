"""``harness report --suite``: a benchmark's column groups (a plugin's :class:`harness.spec.suites.Suite`)
averaged per configuration, from the per-target means of the report (0-100, mean over languages then
seeds). A group is the mean of its tasks that have a result; the overall column is the mean over the
suite's tasks that have one; whenever a task is missing, a note says ``tasks averaged: n/N``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.results.report import BASELINE, ModelReport, Report
from harness.spec.suites import GroupRow, Suite, group_scores, partial_note


@dataclass
class SuiteTable:
    model: str
    suite: Suite
    rows: list[GroupRow]
    deltas: dict[str, dict[str, float | None]]   # config -> group (and overall) -> difference to the baseline
    notes: list[str]

    def header(self) -> list[str]:
        return ["intermediate", *self.suite.groups, self.suite.overall]

    def cells(self) -> list[list[str]]:
        def fmt(value: float | None, delta: float | None) -> str:
            if value is None:
                return "—"
            return f"{value:.1f}" + (f" ({delta:+.1f})" if delta is not None else "")

        out = []
        for row in self.rows:
            deltas = self.deltas.get(row.config, {})
            out.append([row.config, *(fmt(row.groups[g], deltas.get(g)) for g in self.suite.groups),
                        fmt(row.overall, deltas.get(self.suite.overall))])
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "suite": self.suite.name, "tasks": len(self.suite.tasks),
                "rows": [{**row.as_dict(), "deltas": self.deltas.get(row.config, {})} for row in self.rows],
                "notes": self.notes}


def suite_table(model: ModelReport, suite: Suite) -> SuiteTable:
    rows = [group_scores(suite, config, {t: s.mean for t, s in model.scores.get(config, {}).items()})
            for config in model.configs]
    base = next((row for row in rows if row.config == BASELINE), None)
    deltas: dict[str, dict[str, float | None]] = {}
    if base is not None:
        for row in rows:
            if row.config == BASELINE:
                continue
            if row.present != base.present:   # averages over other tasks: no honest difference
                continue
            values = {**row.groups, suite.overall: row.overall}
            reference = {**base.groups, suite.overall: base.overall}
            deltas[row.config] = {k: _difference(v, reference[k]) for k, v in values.items()}
    notes = [note for row in rows if (note := partial_note(suite, row))]
    return SuiteTable(model=model.model, suite=suite, rows=rows, deltas=deltas, notes=notes)


def _difference(value: float | None, reference: float | None) -> float | None:
    return value - reference if value is not None and reference is not None else None


def suite_tables(report: Report, suite: Suite) -> list[SuiteTable]:
    return [suite_table(model, suite) for model in report.models]


def render_suite_table(tables: list[SuiteTable], console) -> None:
    from rich.table import Table

    from harness.results.tables import print_table

    for entry in tables:
        console.print(f"{entry.model} — {entry.suite.name} groups (0-100, mean of the group's tasks; "
                      f"{entry.suite.overall}: mean over the suite's tasks)", style="bold", markup=False,
                      highlight=False, soft_wrap=True)
        table = Table()
        for index, column in enumerate(entry.header()):
            table.add_column(column, justify="left" if index == 0 else "right")
        for row in entry.cells():
            table.add_row(*row)
        print_table(table, console)
        for note in entry.notes:
            console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)


def render_suite_markdown(tables: list[SuiteTable]) -> str:
    lines: list[str] = []
    for entry in tables:
        header = entry.header()
        lines += [f"### {entry.model} — {entry.suite.name} groups", "",
                  "| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
                  *("| " + " | ".join(row) + " |" for row in entry.cells()), ""]
        lines += [f"- note: {note}" for note in entry.notes]
        if entry.notes:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else ""
