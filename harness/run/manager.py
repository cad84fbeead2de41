"""The grid manager: submits cells to an executor, at most ``max_concurrent`` at a time, and keeps
``grid_state.json`` (each cell queued, running, done, failed or cancelled, with its attempts, job
ids and log paths) so a rerun skips the cells already done and a person can see where the grid is.

A cell whose job fails is resubmitted up to ``retries`` more times; one that keeps failing becomes
an error record in its shard and the grid goes on. Ctrl-C (or SIGTERM) cancels every running job,
marks those cells cancelled and stops; rerunning the same command resumes (finished result cells
are skipped by content key, training resumes from its saved state).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import Interrupted
from harness.run.cells import CellSpec
from harness.run.executors import Executor, Job

STATE_FILE = "grid_state.json"
STATES = ("queued", "running", "done", "failed", "cancelled")


@dataclass
class CellOutcome:
    cell: CellSpec
    state: str = "queued"
    outcome: dict[str, Any] | None = None   # what run_cell returned (done cells)
    error: BaseException | None = None       # the last failure (failed cells)
    skipped: bool = False                    # done in an earlier run of the manager


@dataclass
class GridState:
    """``grid_state.json``: one entry per cell (by shard name), written atomically on every change."""

    path: Path
    executor: str = ""
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, executor: str) -> "GridState":
        state = cls(Path(path), executor)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("cells"), dict):
                state.cells = {k: v for k, v in data["cells"].items() if isinstance(v, dict)}
        except (OSError, ValueError):
            pass   # none yet, or damaged: the results decide what is done anyway
        return state

    def entry(self, cell: CellSpec) -> dict[str, Any]:
        return self.cells.setdefault(cell.shard, {"label": cell.label, "state": "queued", "attempts": 0,
                                                  "jobs": [], "logs": []})

    def set(self, cell: CellSpec, state: str, **fields: Any) -> None:
        entry = self.entry(cell)
        entry.update(state=state, updated=_now(), **fields)
        self.save()

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for entry in self.cells.values():
            counts[entry.get("state", "queued")] = counts.get(entry.get("state", "queued"), 0) + 1
        return counts

    def save(self) -> None:
        from harness.files import share_like_umask
        import os
        import tempfile

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump({"executor": self.executor, "updated": _now(), "counts": self.counts(),
                           "cells": self.cells}, stream, indent=1, ensure_ascii=False)
            share_like_umask(Path(name))
            os.replace(name, self.path)
        finally:
            Path(name).unlink(missing_ok=True)


def _now() -> str:
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class GridManager:
    """Runs cells through an executor; see the module docstring."""

    def __init__(self, executor: Executor, state: GridState, *, max_concurrent: int = 0, retries: int = 1,
                 poll_s: float = 1.0, progress: Callable[[str], None] | None = None,
                 on_give_up: Callable[[CellSpec, BaseException], dict[str, Any]] | None = None,
                 still_done: Callable[[dict[str, Any]], bool] | None = None,
                 on_done: Callable[[CellSpec, dict[str, Any]], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        limits = [n for n in (max_concurrent, executor.slots) if n and n > 0]
        self.executor, self.state = executor, state
        self.max_concurrent = min(limits) if limits else 0
        self.retries, self.poll_s = max(0, retries), poll_s
        self.progress = progress or (lambda message: None)
        self.on_give_up = on_give_up
        #: whether a cell the state file says is done still is (its results are there); None: never skip
        self.still_done, self.sleep = still_done, sleep
        self.on_done = on_done or (lambda cell, result: None)   # called as each cell finishes
        self.peak_running = 0

    def run(self, cells: list[CellSpec]) -> list[CellOutcome]:
        outcomes = {cell.shard: CellOutcome(cell) for cell in cells}
        queue: list[CellSpec] = []
        for cell in cells:
            entry = self.state.entry(cell)
            if self.still_done is not None and entry.get("state") == "done" and self.still_done(entry):
                outcomes[cell.shard].state, outcomes[cell.shard].skipped = "done", True
                outcomes[cell.shard].outcome = entry.get("outcome")
                continue
            entry.update(state="queued", attempts=0)
            queue.append(cell)
        self.state.save()
        total, finished = len(cells), len(cells) - len(queue)
        if finished:
            self.progress(f"{finished}/{total} cell(s) done in an earlier run ({self.state.path}): skipped")
        running: dict[str, tuple[CellSpec, Job]] = {}
        try:
            while queue or running:
                while queue and (not self.max_concurrent or len(running) < self.max_concurrent):
                    cell = queue.pop(0)
                    entry = self.state.entry(cell)
                    attempt = int(entry.get("attempts", 0)) + 1
                    self.progress(f"[{finished + len(running) + 1}/{total}] {cell.label}: submitting"
                                  + (f" (attempt {attempt})" if attempt > 1 else ""))
                    job = self.executor.submit(cell, attempt)
                    running[cell.shard] = (cell, job)
                    self.peak_running = max(self.peak_running, len(running))
                    self.state.set(cell, "running", attempts=attempt, jobs=[*entry.get("jobs", []), job.id],
                                   logs=[*entry.get("logs", []), job.log_path] if job.log_path else entry.get("logs", []))
                changed = False
                for shard, (cell, job) in list(running.items()):
                    if not job.done():
                        continue
                    changed = True
                    del running[shard]
                    outcome = outcomes[shard]
                    try:
                        result = job.result()
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as exc:  # noqa: BLE001 - retried, then recorded
                        attempts = int(self.state.entry(cell).get("attempts", 1))
                        message = _one_line(exc)
                        if attempts <= self.retries:
                            self.progress(f"  {cell.label}: failed ({message}); retrying "
                                          f"({attempts}/{self.retries + 1} attempts so far)")
                            self.state.set(cell, "queued", error=message)
                            queue.append(cell)
                            continue
                        finished += 1
                        self.progress(f"  [{finished}/{total}] {cell.label}: failed after {attempts} attempt(s): "
                                      f"{message}")
                        outcome.state, outcome.error = "failed", exc
                        if self.on_give_up is not None:
                            outcome.outcome = self.on_give_up(cell, exc)
                        self.state.set(cell, "failed", error=message)
                        continue
                    finished += 1
                    outcome.state, outcome.outcome = "done", result
                    self.progress(f"  [{finished}/{total}] {cell.label}: done ({result.get('computed', 0)} computed, "
                                  f"{result.get('skipped', 0)} reused, {len(result.get('errors') or [])} failed; "
                                  f"{float(result.get('wall_seconds') or 0):.1f}s)")
                    self.state.set(cell, "done", error=None, outcome=_brief(result))
                    self.on_done(cell, result)
                if running and not changed:
                    self.sleep(self.poll_s)
        except (KeyboardInterrupt, Interrupted):
            for shard, (cell, job) in running.items():
                job.cancel()
                outcomes[shard].state = "cancelled"
                self.state.set(cell, "cancelled")
            self.progress(f"interrupted: cancelled {len(running)} running job(s); the state is in {self.state.path}")
            raise
        finally:
            self.executor.close()
        return [outcomes[cell.shard] for cell in cells]


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    """What grid_state.json keeps of a done cell: counts and the keys of its results."""
    return {"run_id": result.get("run_id"), "computed": result.get("computed"), "skipped": result.get("skipped"),
            "errors": len(result.get("errors") or []), "results_file": result.get("results_file"),
            "result_keys": [r.get("key") for r in result.get("results") or []]}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
