"""``harness rescore``: a registered metric recomputed from the logged samples, no model involved.

Each result whose samples are on disk is first checked: its own task metric, recomputed from the
samples, must give the value the result logged (else the samples belong to another run, or the
metric is over sets rather than items, and the result is skipped with the reason). Then the asked
metric (default: the task's own) scores the same samples.

The originals are never touched: new records go to ``RUN/rescored/<metric>.jsonl`` (outside the
results the run reads and resumes from), each a copy of its original with the new ``metrics`` and
``main_score``, its own ``key`` and a ``rescored`` field naming the original key, the metric and the
samples file with its sha256. ``harness report RUN/rescored/<metric>.jsonl`` reads them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.metrics.metric import Metric
from harness.results.report import config_label, latest_results
from harness.results.samples import ItemScores, load_item_scores


@dataclass
class Rescored:
    record: dict[str, Any]
    metric: Metric
    logged: float | None                  # the original's value of the metric's primary (0-100), if it has one
    metrics: dict[str, float]             # the new values, as the scorer returns them
    samples: Path
    n_items: int

    @property
    def value(self) -> float:
        return float(self.metrics[self.metric.primary]) * 100.0 / self.metric.scale


def rescore(records: list[dict[str, Any]], own_metric: Callable[[dict[str, Any]], Metric | None],
            metric: Metric | None = None, split: str | None = None,
            warn: Callable[[str], None] | None = None) -> list[Rescored]:
    """Rescore every latest result (of ``split``, when given) that has samples; ``own_metric(record)``
    is the registered metric of its task, ``metric`` the one to compute (default: that one)."""
    warn = warn or (lambda message: None)
    results, _ = latest_results(records)
    done = []
    for record in results:
        if split is not None and record.get("split") != split:
            continue
        where = f"{record.get('task')} {record.get('language')} {record.get('split')} ({config_label(record)}, seed {record.get('seed')})"
        own = own_metric(record)
        if own is None:
            warn(f"{where}: the task's metric is not registered; skipped")
            continue
        loaded = load_item_scores(record, own, warn=lambda m: warn(f"{where}: {m}; skipped"))
        if loaded is None:
            continue
        scores, rows = loaded
        target = metric or own
        try:
            rescored = target.score(*_inputs(ItemScores.from_rows(rows, target, scores.language, scores.where)))
        except HarnessError as exc:
            warn(f"{where}: {exc}; skipped")
            continue
        logged = (record.get("metrics") or {}).get(target.primary)
        done.append(Rescored(record, target, float(logged) * 100.0 / target.scale
                             if isinstance(logged, (int, float)) and target is own else None,
                             {k: float(v) for k, v in rescored.items() if isinstance(v, (int, float))},
                             Path(scores.where), scores.n))
    return done


def _inputs(scores: ItemScores) -> tuple[Any, Any, str | None]:
    """The scorer's arguments in the shape it takes (see ``harness.results.samples.scorer_shape``)."""
    if scores.shape == "keyed":
        keys = [str(i) for i in range(scores.n)]
        return dict(zip(keys, scores.golds)), dict(zip(keys, scores.predictions)), scores.language
    return scores.golds, scores.predictions, scores.language


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_record(item: Rescored, run_id: str, now: str) -> dict[str, Any]:
    """A result record for the rescored values: the original's fields, new metrics and identity."""
    original = {k: v for k, v in item.record.items() if not k.startswith("_")}
    payload = {"rescored_from": original.get("key"), "metric": item.metric.name}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return {**original, "run_id": run_id, "key": key, "metrics": item.metrics,
            "main_score": item.metric.main_score(item.metrics), "time": now,
            "rescored": {"from_key": original.get("key"), "from_run_id": original.get("run_id"),
                         "metric": item.metric.name, "samples": str(item.samples),
                         "samples_sha256": _sha256(item.samples), "n_items": item.n_items}}


def write_rescored(items: list[Rescored], run_dir: Path, metric_name: str) -> Path:
    """Append the new records to ``RUN/rescored/<metric>.jsonl`` (whole lines, fsynced)."""
    from harness.results.records import ResultsWriter

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run_id = f"rescore-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    path = run_dir / "rescored" / f"{metric_name}.jsonl"
    writer = ResultsWriter(path)
    try:
        for item in items:
            writer.write(new_record(item, run_id, now))
    finally:
        writer.close()
    return path


def rescore_rows(items: list[Rescored]) -> list[dict[str, Any]]:
    return [{"task": i.record.get("task"), "language": i.record.get("language"), "split": i.record.get("split"),
             "configuration": config_label(i.record), "seed": i.record.get("seed"), "metric": i.metric.name,
             "primary": i.metric.primary, "logged": i.logged, "rescored": i.value, "n_items": i.n_items,
             "metrics": i.metrics, "samples": str(i.samples)} for i in items]
