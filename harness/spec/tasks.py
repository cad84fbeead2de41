"""The task model: a declarative :class:`TaskSpec` (from tasks.yaml) bound to plugin code (:class:`Task`).

A plugin subclasses :class:`Task`, sets ``name`` and ``format`` and implements :meth:`Task.to_example`
(raw hub/local row -> the format's fields). Everything else (reading local JSONL, reading the hub,
validation, featurisation, heads, decoding, scoring) is shared and lives in the core and the formats.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from harness.errors import DataError


@dataclass(frozen=True)
class HubSource:
    """Where the task lives on the Hugging Face hub. ``name`` may contain ``{lang}``."""

    path: str
    name: str | None = None
    revision: str | None = None


@dataclass
class TaskSpec:
    """One validated entry of tasks.yaml (see harness/config.py for the schema)."""

    name: str
    kind: str                      # "intermediate" | "target"
    plugin: str
    format: str
    metric: str
    languages: list[str]
    train_language: str = "en"
    hub: HubSource | None = None
    local: Path | None = None      # directory holding <split>-<lang>.jsonl files
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation",
                                                             "test": "test"})
    train_task: str | None = None  # read English training data from this task instead
    labels: list[str] | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    modality: str = "text"         # "text" | "image_text" (needs a model with a vision tower)
    source_file: str = ""          # the YAML file (or plugin) that declared it, for error messages


class Task:
    """Plugin code for one task. Subclass per task; one plugin may register many."""

    name: ClassVar[str]
    format: ClassVar[str]
    #: Optional default spec (tasks.yaml schema, as a dict) for third-party tasks that ship no YAML.
    default_spec: ClassVar[dict[str, Any] | None] = None
    #: False when rows are not independent examples (BUCC: sentences then gold pairs), so that
    #: ``--limit`` must not cut them
    limit_rows: ClassVar[bool] = True

    spec: TaskSpec  # bound by the registry

    # -- mapping raw rows --------------------------------------------------------------------
    def to_example(self, row: dict[str, Any], split: str, language: str) -> dict[str, Any] | None:
        """Map one raw row (hub schema) to the format's fields, or None to skip the row. Raise
        KeyError/ValueError/TypeError on bad rows: the loader turns them into a DataError naming
        file, row and field."""
        raise NotImplementedError

    # -- reading ------------------------------------------------------------------------------
    def local_file(self, split: str, language: str) -> Path:
        if self.spec.local is None:
            raise DataError(f"task '{self.name}' declares no local directory", field="local")
        return self.spec.local / f"{split}-{language}.jsonl"

    def has_local(self, split: str, language: str) -> bool:
        """Whether the local directory holds this (split, language); ``--data auto`` reads the hub
        for the others."""
        return self.spec.local is not None and self.local_file(split, language).exists()

    def local_rows(self, split: str, language: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Yield (file, row number starting at 1, row) from ``<local>/<split>-<lang>.jsonl``."""
        path = self.local_file(split, language)
        if not path.exists():
            raise DataError(f"missing local data for task '{self.name}', split '{split}', "
                            f"language '{language}' (expected {path})", file=str(path))
        try:
            handle = open(path, encoding="utf-8")
        except OSError as exc:
            raise DataError(str(exc), file=str(path)) from exc
        rows = 0
        with handle:
            try:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"invalid JSON ({exc.msg})", file=str(path), row=number) from exc
                    if not isinstance(row, dict):
                        raise DataError("expected a JSON object", file=str(path), row=number)
                    rows += 1
                    yield str(path), number, row
            except UnicodeDecodeError as exc:
                raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})",
                                file=str(path)) from exc
        if not rows:
            raise DataError("empty file: expected one JSON object per line", file=str(path))

    def hub_rows(self, split: str, language: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Yield rows from the hub. Default: ``load_dataset(path, name.format(lang=...), split=...)``.
        Override when the hub layout differs (e.g. one config holding every language)."""
        import datasets

        hub = self.spec.hub
        if hub is None:
            raise DataError(f"task '{self.name}' declares no hub source", field="hub")
        name = hub.name.format(lang=language) if hub.name else None
        hub_split = self.spec.splits.get(split, split)
        dataset = datasets.load_dataset(hub.path, name, split=hub_split, revision=hub.revision)
        where = f"hub:{hub.path}/{name or ''}[{hub_split}]"
        for number, row in enumerate(dataset, start=1):
            yield where, number, row

    # -- helpers for plugins ------------------------------------------------------------------
    def languages(self) -> list[str]:
        return list(self.spec.languages)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<{type(self).__name__} {self.name} ({self.format})>"
