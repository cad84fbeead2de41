"""The results contract: record types and fields (defined once, here), durable JSONL appends, the lock.

A results file is JSONL; each line is one record with a ``type``:

- ``run``: one per invocation, with full provenance (versions, git state, plugins, model, data, device).
- ``result``: one per (run, task, language, split): metrics plus throughput, latency and memory.
- ``error``: a task/phase that failed; the run went on with the other tasks.
- ``run_end``: totals and wall time of a run that finished (absent when it was killed).

Lines are appended whole, flushed and fsynced; a torn last line left by a kill is cut off on the
next open. Readers ignore unknown fields and accept older ``schema_version`` values.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from harness.errors import LockedError

SCHEMA_VERSION = 1

# record type -> field -> (type(s), required, description). The README's table is generated from this.
RECORD_FIELDS: dict[str, dict[str, tuple[Any, bool, str]]] = {
    "run": {
        "type": (str, True, "'run'"),
        "schema_version": (int, True, "format version of this record"),
        "run_id": (str, True, "unique id of the invocation"),
        "started": (str, True, "UTC start time, ISO 8601"),
        "command": (str, True, "the command line"),
        "harness": (dict, True, "version, git commit and dirty flag of the harness install"),
        "versions": (dict, True, "python, torch, transformers, datasets, accelerate versions"),
        "plugins": (list, True, "each loaded plugin: name, source, distribution, version"),
        "model": (dict, True, "model spec, resolved source, revision, size"),
        "device": (dict, True, "device type and name, CPU threads"),
        "seed": (int, True, "random seed"),
        "config": (dict, True, "intermediate tasks, targets, languages, preset, data source, limit, fraction"),
        "datasets": (dict, True, "per task: hub path, config, revision, local directory"),
    },
    "result": {
        "type": (str, True, "'result'"),
        "schema_version": (int, True, "format version of this record"),
        "run_id": (str, True, "the run that computed it"),
        "key": (str, True, "content key of (model, intermediate, target, hparams, seed, data, language, split)"),
        "task": (str, True, "target task"),
        "language": (str, True, "language code"),
        "split": (str, True, "dev or test"),
        "metrics": (dict, True, "metric name -> value (accuracy/F1 as fractions, QA EM/F1 as 0-100)"),
        "options": (dict, False, "the task's format options (tasks.yaml, preset, --task-option), e.g. BUCC's protocol"),
        "n_examples": (int, True, "examples evaluated"),
        "model": (str, True, "model spec"),
        "model_info": (dict, False, "the loaded base model: resolved source, revision/commit, size"),
        "intermediate": (list, True, "intermediate tasks (empty for the baseline)"),
        "checkpoints": (dict, True, "intermediate and target checkpoint keys, paths and whether reused"),
        "hparams": (dict, True, "target-training hyperparameters"),
        "intermediate_hparams": (dict, False, "intermediate-training hyperparameters"),
        "seed": (int, True, "random seed"),
        "data": (dict, True, "source, limit and intermediate fraction"),
        "examples_per_s": (float, True, "evaluation throughput"),
        "latency_p50_ms": (float, True, "median batch latency"),
        "latency_p95_ms": (float, True, "95th percentile batch latency"),
        "peak_host_mb": (float, True, "peak resident host memory during the evaluation"),
        "peak_gpu_mb": (float, False, "peak GPU memory during the evaluation (GPU runs only)"),
        "eval_seconds": (float, True, "wall time of the evaluation"),
        "train": (dict, False, "statistics of the training phases that produced the model"),
        "time": (str, True, "UTC time written"),
    },
    "error": {
        "type": (str, True, "'error'"),
        "schema_version": (int, True, "format version of this record"),
        "run_id": (str, True, "the run"),
        "task": (str, True, "task that failed"),
        "language": ((str, type(None)), True, "language, or null when the whole task failed"),
        "split": ((str, type(None)), True, "split, or null"),
        "phase": (str, True, "data, intermediate-train, target-train or evaluate"),
        "error_type": (str, True, "exception class"),
        "message": (str, True, "one-line message"),
        "model": (str, False, "model spec"),
        "intermediate": (list, False, "intermediate tasks of the failing configuration"),
        "seed": (int, False, "random seed"),
        "time": (str, True, "UTC time written"),
    },
    "run_end": {
        "type": (str, True, "'run_end'"),
        "schema_version": (int, True, "format version of this record"),
        "run_id": (str, True, "the run"),
        "wall_seconds": (float, True, "wall time of the run"),
        "n_results": (int, True, "result records written by this run"),
        "n_skipped": (int, True, "cells reused from earlier runs"),
        "n_errors": (int, True, "error records written by this run"),
    },
}


def validate_record(record: dict[str, Any]) -> list[str]:
    """Problems of one record against RECORD_FIELDS (empty list = valid). Extra fields are allowed."""
    kind = record.get("type")
    if kind not in RECORD_FIELDS:
        return [f"unknown record type {kind!r}"]
    problems = []
    for name, (types, required, _) in RECORD_FIELDS[kind].items():
        if name not in record:
            if required:
                problems.append(f"{kind}.{name}: missing")
            continue
        value = record[name]
        accepted = types if isinstance(types, tuple) else (types,)
        if float in accepted and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, accepted):
            problems.append(f"{kind}.{name}: expected {'/'.join(t.__name__ for t in accepted)}, "
                            f"got {type(value).__name__}")
    return problems


def read_records(path: Path) -> list[dict[str, Any]]:
    """All complete records of a results file (a torn last line is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn by a kill: never acknowledged, will be recomputed
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


class ResultsWriter:
    """Appends whole lines with flush + fsync; repairs a torn tail left by a kill on open."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._handle = open(self.path, "a", encoding="utf-8")

    def _repair(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as handle:
            data = handle.read()
            if not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, sort_keys=False, default=_json_default)
        self._handle.write(line + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write a whole JSONL file via a temp file + rename (per-sample logs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextmanager
def output_lock(directory: Path) -> Iterator[None]:
    """Exclusive lock on an output directory; a second run is refused, never interleaved."""
    import fcntl

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / ".lock"
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise LockedError(f"output directory '{directory}' is in use by {holder}; wait for it to finish "
                          f"or choose another --output-dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def schema_markdown() -> str:
    """The record format as a markdown table (the README embeds this text verbatim; a test checks)."""
    lines = ["| record | field | type | required | meaning |", "|---|---|---|---|---|"]
    for kind, fields_ in RECORD_FIELDS.items():
        for name, (types, required, meaning) in fields_.items():
            accepted = types if isinstance(types, tuple) else (types,)
            shown = "/".join("null" if t is type(None) else t.__name__ for t in accepted)
            lines.append(f"| {kind} | `{name}` | {shown} | {'yes' if required else 'no'} | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(schema_markdown())
