"""Reading examples: raw rows (local JSONL or hub) -> plugin mapping -> format validation.

Every bad row becomes a DataError that names the file, the row number and the field.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from harness.errors import DataError, HarnessError, PluginError, shown
from harness.formats import get_format
from harness.run.subset import subset_indices
from harness.spec.tasks import HubOrigin

if TYPE_CHECKING:  # pragma: no cover
    from harness.plugins import Plugins
    from harness.spec.tasks import Task


class Examples(list):
    """Validated examples, and ``reads``: what was read to make them (one dict per file, with its
    row count and fingerprint, or per hub split, with the revision it resolved to)."""

    def __init__(self, items: Iterable[dict[str, Any]] = (), reads: list[dict[str, Any]] | None = None,
                 available: int | None = None):
        super().__init__(items)
        self.reads = reads or []
        #: how many examples the source held before a subset or ``limit`` was taken
        self.available = len(self) if available is None else available


def file_fingerprint(path: Path, digest: bool = False) -> dict[str, Any]:
    """Size and modification time (cheap: what content keys use), plus the SHA-256 with ``digest``."""
    stat = path.stat()
    fingerprint: dict[str, Any] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if digest:
        sha = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        fingerprint["sha256"] = sha.hexdigest()
    return fingerprint


def describe_read(where: Any, rows: int) -> dict[str, Any]:
    """What one ``where`` of :meth:`Task.local_rows`/:meth:`Task.hub_rows` stands for, with its row count."""
    if isinstance(where, HubOrigin):
        return {**where.describe(), "rows": rows}
    path = Path(str(where))
    if path.is_file():
        return {"file": str(path), "rows": rows, **file_fingerprint(path, digest=True)}
    return {"where": str(where), "rows": rows}


def reader_view(task: "Task", kind: str) -> "Task":
    """The task as it reads source ``kind`` (the samples are read as a local directory)."""
    return task.with_local(task.spec.samples) if kind == "samples" else task


def data_fingerprint(task: "Task", split: str, language: str, source: str) -> dict[str, Any]:
    """What decides the data of one (task, split, language) before it is read, for content keys:
    the language's hub source as declared (its ``hub_overrides`` entry, revision included), or the path,
    size and modification time of every local file."""
    kind = task.source_for(split, language, source)
    if kind == "hub":
        hub = task.spec.hub_for(language)
        return {"hub": asdict(hub) if hub else None}
    try:
        files = reader_view(task, kind).local_files(split, language)
    except DataError:
        files = []
    return {kind: [{"file": str(f), **file_fingerprint(f)} for f in files if f.is_file()]}


def hub_offline() -> bool:
    return any(os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE")
               for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _first_row(rows: Iterable[Any]) -> None:
    """Open a reader and read one row: its DataError (missing file or folder, instructions) surfaces now."""
    iterator = iter(rows)
    try:
        next(iterator, None)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _no_hub(task: "Task", split: str, language: str) -> str:
    """The task's own explanation of why it cannot be read from the hub (download instructions)."""
    try:
        _first_row(task.hub_rows(split, language))
    except DataError as exc:
        return str(exc)
    return "it declares no hub source"


def check_sources(plugins: "Plugins", reads: Iterable[tuple["Task", str, str]], source: str,
                  data_dir: Path | None = None) -> None:
    """Fail before any work, in one line, when a (task, split, language) the run needs cannot be
    read: no samples, a --data-dir without the task's folder, a missing local file, a task that is
    not on the hub, or hub data while offline and not in the cache. Bad rows in files that exist are
    left to the reading, so that they fail their own cell only. A plugin implementing
    ``harness_load_rows`` may serve any read, so with one installed nothing is checked here."""
    if any(impl.plugin_name != "core.defaults" for impl in plugins.pm.hook.harness_load_rows.get_hookimpls()):
        return
    missing_hub: dict[str, list[str]] = {}
    unique = {(task.name, split, language): (task, split, language) for task, split, language in reads}
    for task, split, language in unique.values():
        kind = task.source_for(split, language, source)
        if kind == "samples" and task.spec.samples is None:
            raise HarnessError(f"task '{task.name}' ships no samples (--data samples); pass --data-dir or --data hub")
        if data_dir is not None and (kind == "local" or source in ("local", "auto")) \
                and task.spec.local is not None and not task.spec.local.is_dir():
            help_ = f": {_no_hub(task, split, language)}" if task.spec.hub is None else ""
            raise HarnessError(f"--data-dir {data_dir} has no folder '{task.name}' for task '{task.name}' "
                               f"(expected {task.spec.local}/){help_}")
        if kind == "local" and task.spec.local is None:
            raise HarnessError(f"task '{task.name}' has no local directory: pass --data-dir D with "
                               f"D/{task.name}/, --data hub, or --data samples for the bundled samples")
        if kind == "hub" and task.spec.hub is None:
            raise HarnessError(f"task '{task.name}' cannot be read: {_no_hub(task, split, language)}")
        if kind == "hub":
            refusal = task.hub_refusal(split, language)
            if refusal:
                raise HarnessError(f"task '{task.name}' cannot be read: {refusal}")
            if hub_offline():
                try:
                    _first_row(task.hub_rows(split, language))
                except Exception:  # noqa: BLE001 - any failure means: not readable offline
                    hub = task.spec.hub
                    assert hub is not None   # checked above
                    where = f"{task.name} {split}-{language} from the hub ({hub.path}" + \
                        (f", {hub.name}" if hub.name else "") + ")"
                    missing_hub.setdefault(task.name, []).append(where)
            continue
        view = reader_view(task, kind)
        files = view.local_files(split, language)
        if not files or not all(f.exists() for f in files):
            _first_row(view.local_rows(split, language))  # the task's own message (what goes where)
            raise DataError(f"missing local data for task '{task.name}', split '{split}', language "
                            f"'{language}' (expected {', '.join(map(str, files))})")
    if missing_hub:
        shown = "; ".join(items[0] + (f" and {len(items) - 1} more" if len(items) > 1 else "")
                          for items in missing_hub.values())
        raise HarnessError(f"offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE) and not in the cache: {shown}; "
                           f"pass --data-dir D with D/<task>/<split>-<lang>.jsonl, or --data samples "
                           f"for the bundled samples")



def training_task(task: "Task", registry_tasks: dict[str, "Task"]) -> "Task":
    """The task whose English training data ``task`` trains on (``train_task`` in tasks.yaml)."""
    if task.spec.train_task is None:
        return task
    if task.spec.train_task not in registry_tasks:
        raise HarnessError(f"task '{task.name}' trains on task '{task.spec.train_task}', which is not loaded")
    return registry_tasks[task.spec.train_task]


def load_examples(plugins: "Plugins", task: "Task", split: str, language: str, *, source: str = "auto",
                  limit: int | None = None, fraction: float = 1.0, size: int | None = None,
                  data_seed: int = 0, stratify: bool = False) -> Examples:
    """Validated examples of one (task, split, language); ``limit`` keeps the first N rows;
    ``size`` (N examples) or ``fraction`` keeps the nested subset of ``data_seed``, optionally
    stratified by label (see :mod:`harness.run.subset`). ``size`` takes precedence over ``limit``
    (an explicit count of training examples); a ``fraction`` subset is cut to ``limit`` after it is
    drawn. A ``size`` above the number of examples is a one-line error."""
    fmt = get_format(task.format)
    if not task.limit_rows or size is not None:
        limit = None
    rows = plugins.load_rows(task=task, split=split, language=language, source=source)
    examples: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    counts: dict[Any, int] = {}
    where: Any = f"{task.name}/{split}-{language}"
    try:
        for item in rows:
            where, number, row = _row_triple(item, plugins.last_result("harness_load_rows"))
            counts[where] = counts.get(where, 0) + 1
            example: dict[str, Any] | None = {}
            try:
                example = task.to_example(row, split, language)
                if example is None:  # the plugin skips this row (e.g. an answer outside the label set)
                    continue
                example.setdefault("id", f"{split}-{language}-{number}")
                example["id"] = str(example["id"])
                fmt.check(example, task)
            except DataError as exc:
                raise DataError(_message(exc), file=where, row=number,
                                field=_file_key(row, example or {}, exc.field)) from None
            except KeyError as exc:
                raise DataError("missing field", file=where, row=number, field=str(exc.args[0])) from None
            except (TypeError, ValueError) as exc:
                raise DataError(str(exc), file=where, row=number) from None
            except AttributeError as exc:  # a plugin calling str methods on a null/number/list value
                nulls = [key for key, value in row.items() if value is None]
                if len(nulls) == 1:
                    raise DataError("missing value (null)", file=where, row=number, field=nulls[0]) from None
                raise DataError(f"unexpected value type ({exc})", file=where, row=number) from None
            if example["id"] in seen:
                raise DataError(f"duplicate example id {example['id']!r} (first seen in row "
                                f"{seen[example['id']]})", file=where, row=number, field="id")
            seen[example["id"]] = number
            examples.append(example)
            if limit is not None and fraction >= 1.0 and len(examples) >= limit:
                break
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", file=where) from None
    if not examples:
        raise DataError(f"no examples for task '{task.name}', split '{split}', language '{language}'",
                        file=where)
    available = len(examples)
    what = f"task '{task.name}' ({split}-{language})"
    if size is not None:
        if size > available:
            raise HarnessError(f"--intermediate-size {size} for task '{task.name}': its {split}-{language} data "
                               f"holds only {available} examples; pass at most {available} (or 'full')")
        examples = [examples[i] for i in subset_indices(examples, size, data_seed, stratify, what)]
    elif fraction < 1.0:
        keep = max(1, round(available * fraction))
        examples = [examples[i] for i in subset_indices(examples, keep, data_seed, stratify, what)]
        if limit is not None:
            examples = examples[:limit]
    return Examples(examples, [describe_read(where, n) for where, n in counts.items()], available=available)


def _message(exc: DataError) -> str:
    """The bare message of a DataError raised without location (plugins raise those)."""
    text = str(exc)
    if exc.field is not None and text.startswith(f"field '{exc.field}': "):
        return text[len(f"field '{exc.field}': "):]
    return text


def _row_triple(item: Any, plugin: str | None) -> tuple[str, int, dict[str, Any]]:
    """One item of ``harness_load_rows``; the wrong shape is the plugin's fault, not the data's."""
    if isinstance(item, tuple) and len(item) == 3 and isinstance(item[1], int) and isinstance(item[2], dict):
        return item
    raise PluginError(f"harness_load_rows of plugin '{plugin or '?'}' yielded {type(item).__name__} "
                      f"{shown(item)}; expected (where, row_number, row_dict) tuples")


def _file_key(row: dict[str, Any], example: dict[str, Any], field: str | None) -> str | None:
    """The key of the raw row that a format field came from (``sentence1`` rather than ``text_a``),
    when exactly one key holds that very value; else the format field."""
    if field is None or field in row or field not in example:
        return field
    value = example[field]
    keys = [key for key, raw in row.items() if raw is value]
    return keys[0] if len(keys) == 1 else field
