"""Benchmark suites: the task groups a leaderboard averages, declared by plugins through
``harness_register_suites`` (the core names no suite and no task of one).

``harness report --suite NAME`` adds a table of the suite's group averages to each model's report;
:func:`group_scores` computes it from the per-target means the report already has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from harness.errors import UnknownNameError


@dataclass(frozen=True)
class Suite:
    """A named set of tasks in column groups (group name -> task names, display order)."""

    name: str
    groups: Mapping[str, tuple[str, ...]]
    description: str = ""
    #: the name the overall average gets in tables
    overall: str = "avg"

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise TypeError("Suite.name must be a non-empty string")
        groups = {str(g): tuple(str(t) for t in tasks) for g, tasks in dict(self.groups).items()}
        if not groups or not all(groups.values()):
            raise ValueError(f"suite '{self.name}': every group needs at least one task")
        object.__setattr__(self, "groups", groups)

    @property
    def tasks(self) -> list[str]:
        """Every task of the suite once, in group order."""
        return list(dict.fromkeys(t for tasks in self.groups.values() for t in tasks))


def collect_suites(plugins: Any) -> dict[str, Suite]:
    """The suites every loaded plugin registers (``plugins``: a :class:`harness.plugins.Plugins`)."""
    suites: dict[str, Suite] = {}

    def register(suite: Suite) -> None:
        if not isinstance(suite, Suite):
            raise TypeError(f"register() expects a harness.spec.suites.Suite, got {type(suite).__name__}")
        if suite.name in suites:
            raise ValueError(f"suite '{suite.name}' is already registered")
        suites[suite.name] = suite

    plugins.call_each("harness_register_suites", register=register)
    return suites


def get_suite(suites: Mapping[str, Suite], name: str) -> Suite:
    if name not in suites:
        raise UnknownNameError("suite", name, list(suites))
    return suites[name]


def pick_suite(suites: Mapping[str, Suite], targets: list[str]) -> Suite | None:
    """The suite covering most of ``targets`` (ties: the first registered); None when none covers any."""
    best, covered = None, 0
    for suite in suites.values():
        n = len(set(targets) & set(suite.tasks))
        if n > covered:
            best, covered = suite, n
    return best


@dataclass
class GroupRow:
    """One configuration's group averages: group -> mean of its present tasks (None: none present)."""

    config: str
    groups: dict[str, float | None]
    overall: float | None
    present: list[str]
    missing: dict[str, list[str]] = field(default_factory=dict)   # group -> its tasks without a score

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config, "groups": self.groups, "overall": self.overall,
                "tasks_averaged": len(self.present), "missing": self.missing}


def group_scores(suite: Suite, config: str, task_means: Mapping[str, float]) -> GroupRow:
    """Group averages of one configuration: each group is the mean of its tasks present in
    ``task_means`` (target -> mean score, 0-100); the overall score is the mean over the suite's tasks
    present (as the official leaderboards average tasks). Missing tasks are listed per group."""
    groups: dict[str, float | None] = {}
    missing: dict[str, list[str]] = {}
    for group, tasks in suite.groups.items():
        values = [task_means[t] for t in tasks if t in task_means]
        groups[group] = sum(values) / len(values) if values else None
        absent = [t for t in tasks if t not in task_means]
        if absent:
            missing[group] = absent
    present = [t for t in suite.tasks if t in task_means]
    overall = sum(task_means[t] for t in present) / len(present) if present else None
    return GroupRow(config=config, groups=groups, overall=overall, present=present, missing=missing)


def partial_note(suite: Suite, row: GroupRow) -> str | None:
    """``tasks averaged: n/N`` with what is missing, or None when every task is present."""
    if not row.missing:
        return None
    absent = ", ".join(f"{group}: {'/'.join(tasks)}" for group, tasks in row.missing.items())
    return f"{row.config}: tasks averaged: {len(row.present)}/{len(suite.tasks)} (missing {absent})"
