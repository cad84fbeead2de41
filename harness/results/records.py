"""The results contract: record types and fields (defined once, here), durable JSONL appends, the lock.

A results file is JSONL; each line is one record with a ``type``:

- ``run``: one per invocation, with full provenance (versions, git state, plugins, model, data, device).
- ``result``: one per (run, task, language, split): metrics plus throughput, latency and memory.
- ``error``: a task/phase that failed; the run went on with the other tasks.
- ``run_end``: totals and wall time of a run that finished (absent when it was killed).
- ``bench``: one cell of ``harness bench`` (its own files; see bench_records.py).

Lines are appended whole, flushed and fsynced; a torn last line left by a kill is cut off on the
next open. Readers ignore unknown fields and accept older ``schema_version`` values.
"""
import contextlib
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypedDict

from typing_extensions import NotRequired

from harness.errors import LockedError
from harness.files import open_nofollow, share_like_umask
from harness.results.bench_records import BENCH_FIELDS
from harness.results.head import head_fields

SCHEMA_VERSION = 1

# record type -> field -> (type(s), required, description). The README's table is generated from this.
RECORD_FIELDS: dict[str, dict[str, tuple[Any, bool, str]]] = {
    "run": {
        **head_fields("run", "unique id of the invocation"),
        "started": (str, True, "UTC start time, ISO 8601"),
        "command": (str, True, "the command line"),
        "harness": (dict, True, "version, git commit and dirty flag of the harness install"),
        "versions": (dict, True, "python, torch, transformers, datasets, accelerate versions"),
        "plugins": (list, True, "each loaded plugin: name, source, distribution, version"),
        "model": (dict, True, "model spec, resolved source, revision, size"),
        "device": (dict, True, "device type and name, CPU threads"),
        "seed": (int, True, "random seed"),
        "config": (dict, True, "intermediate tasks, targets, languages, preset, data source and directory, limit, fraction, size, data seed, stratify, budget, model selection"),
        "datasets": (dict, True, "per task: hub source (path, config, revision, reader), local and samples directories"),
    },
    "result": {
        **head_fields("result", "the run that computed it"),
        "key": (str, True, "content key of (model, intermediate, target, task code and options, hparams, seed, data files or hub source, selection, language, split)"),
        "task": (str, True, "target task"),
        "language": (str, True, "language code"),
        "split": (str, True, "dev or test"),
        "metrics": (dict, True, "metric name -> value (accuracy/F1 as fractions, QA EM/F1 as 0-100)"),
        "main_score": (dict, False, "the task metric's primary value: name, value, scale (1 or 100), "
                                    "higher_is_better (older files lack it: readers ask the metric registry)"),
        "options": (dict, False, "the task's format options (tasks.yaml, preset, --task-option), e.g. BUCC's protocol"),
        "n_examples": (int, True, "examples evaluated"),
        "model": (str, True, "model spec"),
        "model_info": (dict, False, "the loaded base model: resolved source, revision/commit, size"),
        "intermediate": (list, True, "intermediate tasks (empty for the baseline)"),
        "checkpoints": (dict, True, "intermediate and target checkpoint keys, paths and whether reused"),
        "hparams": (dict, True, "target-training hyperparameters"),
        "intermediate_hparams": (dict, False, "intermediate-training hyperparameters"),
        "seed": (int, True, "random seed"),
        "data": (dict, True, "source, data directory, limit, intermediate fraction, model selection; the data-volume "
                             "axis: `data_seed`, `size` (task -> requested N or null), `intermediate_examples` "
                             "(task -> unique examples trained on; {} for the baseline, N = 0), `stratify`, `budget` "
                             "(mode epochs/steps, intermediate steps taken); read: each "
                             "file read (rows, size, mtime, sha256) or hub split (path, config, revision, resolved "
                             "commit, rows); what the format reports about the examples (QA `qa_alignment`: rows "
                             "re-aligned, answers not found; UD-POS `tokenization`)"),
        "examples_per_s": (float, True, "evaluation throughput"),
        "latency_p50_ms": (float, True, "median batch latency"),
        "latency_p95_ms": (float, True, "95th percentile batch latency"),
        "peak_host_mb": (float, True, "peak resident host memory during the evaluation"),
        "peak_gpu_mb": (float, False, "peak GPU memory during the evaluation (GPU runs only)"),
        "eval_seconds": (float, True, "wall time of the evaluation"),
        "train": (dict, False, "statistics of the training phases that produced the model (per phase "
                               "`steps`, `examples_seen`, `unique_examples`, and its cost: `wall_seconds`, "
                               "`seconds` of the loop, `examples_per_s`, `tokens_per_s_real` and "
                               "`tokens_per_s_padded`, `peak_host_mb`, on GPU `peak_gpu_mb`, "
                               "`trainable_parameters`, `optimizer_state_bytes`; "
                               "`data`: the format's report on the training rows, e.g. QA rows dropped; "
                               "`selection`: model selection); `data`: what each phase read"),
        "time": (str, True, "UTC time written"),
    },
    "error": {
        **head_fields("error", "the run"),
        "task": (str, True, "task that failed"),
        "language": ((str, type(None)), True, "language, or null when the whole task failed"),
        "split": ((str, type(None)), True, "split, or null"),
        "phase": (str, True, "data, intermediate-train, target-train or evaluate"),
        "error_type": (str, True, "exception class"),
        "message": (str, True, "one-line message"),
        "plugin": (str, False, "the plugin whose hook raised, when a hook did"),
        "model": (str, False, "model spec"),
        "intermediate": (list, False, "intermediate tasks of the failing configuration"),
        "seed": (int, False, "random seed"),
        "time": (str, True, "UTC time written"),
    },
    "run_end": {
        **head_fields("run_end", "the run"),
        "wall_seconds": (float, True, "wall time of the run"),
        "n_results": (int, True, "result records written by this run"),
        "n_skipped": (int, True, "cells reused from earlier runs"),
        "n_errors": (int, True, "error records written by this run"),
    },
    "bench": BENCH_FIELDS,  # harness bench (harness/results/bench_records.py)
}


# Typed views of the records, for code that builds or reads them (a test keeps them equal to
# RECORD_FIELDS, which stays the one description of the format). The module has no
# ``from __future__ import annotations``: with string annotations TypedDict cannot see NotRequired.
class MainScore(TypedDict):
    name: str
    value: float | None
    scale: int
    higher_is_better: bool


class RecordHead(TypedDict):
    """The fields every record starts with."""

    type: str
    schema_version: int
    run_id: str


class RunRecord(RecordHead):
    started: str
    command: str
    harness: dict[str, Any]
    versions: dict[str, Any]
    plugins: list[dict[str, Any]]
    model: dict[str, Any]
    device: dict[str, Any]
    seed: int
    config: dict[str, Any]
    datasets: dict[str, Any]


class ResultRecord(RecordHead):
    key: str
    task: str
    language: str
    split: str
    metrics: dict[str, float]
    main_score: NotRequired[MainScore]
    options: NotRequired[dict[str, Any]]
    n_examples: int
    model: str
    model_info: NotRequired[dict[str, Any]]
    intermediate: list[str]
    checkpoints: dict[str, Any]
    hparams: dict[str, Any]
    intermediate_hparams: NotRequired[dict[str, Any]]
    seed: int
    data: dict[str, Any]
    examples_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    peak_host_mb: float
    peak_gpu_mb: NotRequired[float]
    eval_seconds: float
    train: NotRequired[dict[str, Any]]
    time: str


class ErrorRecord(RecordHead):
    task: str
    language: str | None
    split: str | None
    phase: str
    error_type: str
    message: str
    plugin: NotRequired[str]
    model: NotRequired[str]
    intermediate: NotRequired[list[str]]
    seed: NotRequired[int]
    time: str


class RunEndRecord(RecordHead):
    wall_seconds: float
    n_results: int
    n_skipped: int
    n_errors: int


class BenchRecord(RecordHead):
    role: str
    model: str
    model_info: dict[str, Any]
    variant: str
    backend: dict[str, Any]
    workload: str
    task: str
    language: str | None
    split: str
    length: int | None
    batch_size: int
    iterations: int
    warmup: int
    chunk: int
    latency_ms: dict[str, Any]
    latency_ci95_ms: dict[str, Any]
    example_latency_ms: dict[str, Any]
    examples_per_s: float
    tokens_per_s: float
    inputs: dict[str, Any]
    memory: dict[str, Any]
    size: dict[str, Any]
    ab: NotRequired[dict[str, Any]]
    vs_fp32: NotRequired[dict[str, Any]]
    accuracy: NotRequired[dict[str, Any]]
    device: dict[str, Any]
    versions: dict[str, Any]
    time: str


TYPED_RECORDS: dict[str, type] = {"run": RunRecord, "result": ResultRecord, "error": ErrorRecord,
                                  "run_end": RunEndRecord, "bench": BenchRecord}


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


#: the results file of an output directory, and the directory of its shards (one file per grid cell)
RESULTS_FILE = "results.jsonl"
SHARDS_DIR = "shards"
LOCKS_DIR = "locks"


def shard_files(directory: Path) -> list[Path]:
    """The shards of an output directory, in name order (``<dir>/shards/*.jsonl``)."""
    shards = Path(directory) / SHARDS_DIR
    if not shards.is_dir():
        return []
    return sorted(p for p in shards.glob("*.jsonl") if p.is_file() and not p.name.startswith("."))


def results_files(path: Path) -> list[Path]:
    """What a results path stands for: a directory (or its ``results.jsonl``) is the results file
    plus every shard next to it; any other file is itself."""
    path = Path(path)
    if path.is_dir():
        directory = path
    elif path.name == RESULTS_FILE:
        directory = path.parent
    else:
        return [path]
    return [directory / RESULTS_FILE, *shard_files(directory)]


def read_records(path: Path, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """All complete records of a results file, or of an output directory: its ``results.jsonl`` and
    its shards (``shards/*.jsonl``, one per grid cell), read as one; passing the directory's
    ``results.jsonl`` reads the shards too. A record found in two files (a shard already merged
    into ``results.jsonl``) is returned once. A torn last line (a kill) is skipped silently; a
    damaged line elsewhere (not JSON, not an object, not UTF-8, a result without a key) is skipped
    with a warning naming the file and the line, so the cells it held are computed again."""
    files = results_files(path)
    if len(files) == 1:
        return _read_file(files[0], warn)
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for file in files:
        for record in _read_file(file, warn):
            identity = json.dumps(record, sort_keys=True, ensure_ascii=False)
            if identity not in seen:
                seen.add(identity)
                records.append(record)
    return records


def _read_file(path: Path, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    if not path.is_file():   # not there (yet): or an output directory another process made since
        return []
    warn = warn or _warn_stderr
    records = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break  # torn by a kill: never acknowledged, will be recomputed
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
                problem = None if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
                if problem is None and record.get("type") == "result" and not isinstance(record.get("key"), str):
                    problem = "a result without a key"
            except UnicodeDecodeError:
                problem = "not valid UTF-8"
            except ValueError:
                problem = "not valid JSON"
            if problem:
                warn(f"{path}, line {number}: damaged record skipped ({problem}); its cell is computed again")
                continue
            records.append(record)
    return records


def _warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class ResultsWriter:
    """Appends whole lines with one write + fsync; repairs a torn tail left by a kill on open. The file
    is never opened through a symlink, and a failed write (full disk) is cut back off, so the file
    keeps only whole lines."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        self._repair()

    def _repair(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        tail = os.pread(self._fd, min(size, 1 << 20), max(0, size - (1 << 20)))
        if tail.endswith(b"\n"):
            return
        with open(self.path, "rb") as handle:  # the whole file only when the tail is torn
            data = handle.read()
        os.ftruncate(self._fd, data.rfind(b"\n") + 1)

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, sort_keys=False, default=_json_default) + "\n").encode("utf-8")
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:
            os.ftruncate(self._fd, size)
            exc.filename = exc.filename or str(self.path)
            raise

    def close(self) -> None:
        os.close(self._fd)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write a whole JSONL file via a temp file (unpredictable name, never a symlink) + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for row in rows:
                stream.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        share_like_umask(Path(name))
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


@contextmanager
def output_lock(directory: Path) -> Iterator[None]:
    """Exclusive lock on an output directory; a second run is refused, never interleaved. The lock
    file is never opened through a symlink (one planted there cannot be truncated)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _flock(directory / ".lock", f"output directory '{directory}'",
                "wait for it to finish or choose another --output-dir"):
        yield


@contextmanager
def cell_lock(directory: Path, name: str, wait: Callable[[str], None] | None = None,
              poll_s: float = 1.0) -> Iterator[None]:
    """Exclusive lock on one grid cell of an output directory (``locks/<name>.lock``), in place of
    the directory's lock: runners on other cells go on. A cell locked by another runner is refused
    (``wait`` None) or waited for, calling ``wait`` once with the holder (then the waiting runner
    finds the cell's results written and skips them). ``flock`` works on local disks and on NFS
    (through the lock manager); on a file system without locks, give each runner its own cells."""
    directory = Path(directory)
    (directory / LOCKS_DIR).mkdir(parents=True, exist_ok=True)
    with _flock(directory / LOCKS_DIR / f"{name}.lock", f"grid cell '{name}' of '{directory}'",
                "wait for it to finish", wait, poll_s):
        yield


@contextmanager
def _flock(lock_path: Path, what: str, advice: str, wait: Callable[[str], None] | None = None,
           poll_s: float = 1.0) -> Iterator[None]:
    import fcntl
    import time

    handle = os.fdopen(open_nofollow(lock_path, os.O_RDWR | os.O_CREAT), "r+")
    told = False
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            if wait is None:
                handle.close()
                raise LockedError(f"{what} is in use by {holder}; {advice}") from None
            if not told:
                wait(f"{what} is in use by {holder}: waiting for it")
                told = True
            time.sleep(poll_s)
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {_host()}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def _host() -> str:
    import socket

    return socket.gethostname()


#: the order of record types in a merged file: each run's header, results, errors, then the run ends
_MERGE_ORDER = {"run": 0, "result": 1, "error": 2, "run_end": 3}


def merge_sort_key(record: dict[str, Any]) -> tuple:
    """Sort key of a merged results file: by type, then content key (results), then the cell."""
    return (_MERGE_ORDER.get(str(record.get("type")), 4), str(record.get("key") or ""),
            str(record.get("task") or ""), str(record.get("language") or ""), str(record.get("split") or ""),
            str(record.get("run_id") or ""), str(record.get("time") or record.get("started") or ""))


def merge_shards(directory: Path, warn: Callable[[str], None] | None = None) -> tuple[Path, int, int]:
    """Write ``results.jsonl`` of an output directory as one sorted file holding it and every
    shard (each record once), then remove the merged shards. It holds the directory's lock and
    refuses while a runner holds a cell's lock. Returns (file, records, shards merged)."""
    directory = Path(directory)
    shards = shard_files(directory)
    target = directory / RESULTS_FILE
    with output_lock(directory), contextlib.ExitStack() as stack:
        for shard in shards:
            stack.enter_context(cell_lock(directory, shard.stem))
        records = sorted(read_records(directory, warn), key=merge_sort_key)
        write_jsonl_atomic(target, records)
        for shard in shards:
            shard.unlink()
    return target, len(records), len(shards)


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
