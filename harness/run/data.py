"""Reading examples: raw rows (local JSONL or hub) -> plugin mapping -> format validation.

Every bad row becomes a DataError that names the file, the row number and the field.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from harness.errors import DataError, HarnessError
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
        for where, number, row in rows:
            try:
                example = task.to_example(row, split, language)
                if example is None:  # the plugin skips this row (e.g. an answer outside the label set)
                    continue
                example.setdefault("id", f"{split}-{language}-{number}")
                example["id"] = str(example["id"])
                fmt.check(example, task)
            except DataError as exc:
                raise DataError(_message(exc), file=where, row=number, field=exc.field) from None
            except KeyError as exc:
                raise DataError("missing field", file=where, row=number, field=str(exc.args[0])) from None
            except (TypeError, ValueError) as exc:
                raise DataError(str(exc), file=where, row=number) from None
            except AttributeError as exc:  # a plugin calling str methods on a null/number/list value
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
