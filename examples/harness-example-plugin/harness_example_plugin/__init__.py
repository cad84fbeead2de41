"""An external harness plugin, installed on its own and found through the ``harness`` entry point group.

It adds one target task, ``xsent`` (multilingual sentence polarity, classification format, a tiny
bundled dataset in ``data/``), and observes every results record: when ``$HARNESS_EXAMPLE_LOG`` is
set, each record written to a results file appends one summary line to that file.
"""
from __future__ import annotations

import os
from typing import Any

from harness import Task, hookimpl
from harness.errors import DataError

__version__ = "0.1.0"

POLARITIES = ("negative", "positive")
LOG_ENV = "HARNESS_EXAMPLE_LOG"


class XSent(Task):
    """Sentence polarity: English training data, zero-shot test sets in German, Russian and Chinese.

    Raw rows (``data/<split>-<lang>.jsonl``): ``{"id": ..., "sentence": ..., "polarity": "positive"}``.
    """

    name = "xsent"
    format = "classification"
    # tasks.yaml schema; used because the built-in tasks.yaml has no ``xsent`` entry. A --tasks-file
    # entry named ``xsent`` takes precedence (and may override any of these keys).
    default_spec = {
        "kind": "target",
        "plugin": "example",
        "format": "classification",
        "metric": "accuracy",
        "description": "Multilingual sentence polarity (example plugin); English training data.",
        "languages": ["en", "de", "ru", "zh"],
        "labels": list(POLARITIES),
        "local": "data",  # relative to this module's directory
        "splits": {"train": "train", "test": "test"},
        "hparams": {"learning_rate": 5.0e-5, "epochs": 3, "batch_size": 8, "max_length": 64},
    }

    def to_example(self, row: dict[str, Any], split: str, language: str) -> dict[str, Any]:
        polarity = row["polarity"]  # a missing key becomes "missing field 'polarity'"
        if polarity not in POLARITIES:
            raise DataError(f"expected one of {', '.join(POLARITIES)}, got {polarity!r}", field="polarity")
        example = {"text_a": row["sentence"], "label": polarity}
        if "id" in row:
            example["id"] = str(row["id"])
        return example


@hookimpl
def harness_register_tasks(register):
    register(XSent())


def summary_line(record: dict[str, Any]) -> str:
    """One line describing a results record."""
    kind = record.get("type")
    if kind == "result":
        metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted(record.get("metrics", {}).items())
                           if isinstance(v, (int, float)))
        return (f"result {record['task']} {record['language']} {record['split']} {metrics} "
                f"n={record['n_examples']} run={record['run_id']}")
    if kind == "error":
        return (f"error {record['task']} {record.get('language') or '-'} {record['phase']}: "
                f"{record['error_type']}: {record['message']}")
    if kind == "run_end":
        return f"run_end run={record['run_id']} results={record['n_results']} errors={record['n_errors']}"
    return f"{kind} run={record.get('run_id')}"


@hookimpl
def harness_result_written(record):
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(summary_line(record) + "\n")
