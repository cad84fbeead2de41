"""Reading examples: raw rows (local JSONL or hub) -> plugin mapping -> format validation.

Every bad row becomes a DataError that names the file, the row number and the field.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from harness.errors import DataError, HarnessError, PluginError, shown
from harness.formats import get_format

if TYPE_CHECKING:  # pragma: no cover
    from harness.plugins import Plugins
    from harness.spec.tasks import Task



def training_task(task: "Task", registry_tasks: dict[str, "Task"]) -> "Task":
    """The task whose English training data ``task`` trains on (``train_task`` in tasks.yaml)."""
    if task.spec.train_task is None:
        return task
    if task.spec.train_task not in registry_tasks:
        raise HarnessError(f"task '{task.name}' trains on task '{task.spec.train_task}', which is not loaded")
    return registry_tasks[task.spec.train_task]


def load_examples(plugins: "Plugins", task: "Task", split: str, language: str, *, source: str = "auto",
                  limit: int | None = None, fraction: float = 1.0, seed: int = 0) -> list[dict[str, Any]]:
    """Validated examples of one (task, split, language); ``limit`` keeps the first N,
    ``fraction`` a deterministic subsample (seeded), both recorded in the results."""
    fmt = get_format(task.format)
    if not task.limit_rows:
        limit = None
    rows = plugins.load_rows(task=task, split=split, language=language, source=source)
    examples: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    where = f"{task.name}/{split}-{language}"
    try:
        for item in rows:
            where, number, row = _row_triple(item, plugins.last_result("harness_load_rows"))
            example: dict[str, Any] = {}
            try:
                example = task.to_example(row, split, language)
                if example is None:  # the plugin skips this row (e.g. an answer outside the label set)
                    continue
                example.setdefault("id", f"{split}-{language}-{number}")
                example["id"] = str(example["id"])
                fmt.check(example, task)
            except DataError as exc:
                raise DataError(_message(exc), file=where, row=number,
                                field=_file_key(row, example, exc.field)) from None
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
    if fraction < 1.0:
        keep = max(1, round(len(examples) * fraction))
        chosen = sorted(random.Random(seed).sample(range(len(examples)), keep))
        examples = [examples[i] for i in chosen]
        if limit is not None:
            examples = examples[:limit]
    return examples


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
