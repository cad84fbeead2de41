"""The fields every record starts with, shared by every record type's field table (``records.RECORD_FIELDS``,
``bench_records.BENCH_FIELDS``); ``records.RecordHead`` is their typed view."""
from __future__ import annotations

from typing import Any


def head_fields(kind: str, run_id: str) -> dict[str, tuple[Any, bool, str]]:
    """``type``, ``schema_version`` and ``run_id`` of a ``kind`` record; ``run_id`` says which run it names."""
    return {
        "type": (str, True, f"'{kind}'"),
        "schema_version": (int, True, "format version of this record"),
        "run_id": (str, True, run_id),
    }
