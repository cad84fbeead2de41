"""The task model: a declarative :class:`TaskSpec` (from tasks.yaml) bound to plugin code (:class:`Task`).

A plugin subclasses :class:`Task`, sets ``name`` and ``format`` and implements :meth:`Task.to_example`
(raw hub/local row -> the format's fields). Everything else (reading local JSONL, reading the hub,
validation, featurisation, heads, decoding, scoring) is shared and lives in the core and the formats.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from harness.errors import DataError
from harness.spec.options import Option


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
    plugin: str                    # "" until bound: the registering plugin
    format: str                    # "" until bound: the task's format
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
    #: options the task itself reads from tasks.yaml ``options`` (besides its format's): name ->
    #: ``Option(type, default, doc)``; any other key is an error
    options_schema: ClassVar[dict[str, Option]] = {}

    spec: TaskSpec  # bound by the registry

    @classmethod
    def variant(cls, name: str, **attributes: Any) -> "Task":
        """An instance of a subclass named ``name`` with the given class attributes, so that one class
        serves a family of tasks: ``register(SquadTask.variant("xquad"))``. The subclass belongs to
        the calling module (a ``default_spec``'s ``local`` directory is relative to it)."""
        module = sys._getframe(1).f_globals.get("__name__", cls.__module__)
        return type(cls.__name__, (cls,), {"name": name, "__module__": module, **attributes})()

    # -- mapping raw rows --------------------------------------------------------------------
    def to_example(self, row: dict[str, Any], split: str, language: str) -> dict[str, Any]:
        """Map one raw row (hub schema) to the format's fields. Raise KeyError/ValueError/TypeError
        on bad rows: the loader turns them into a DataError naming file, row and field."""
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
        import jsonlines

        path = self.local_file(split, language)
        if not path.exists():
            raise DataError(f"missing local data for task '{self.name}', split '{split}', "
                            f"language '{language}' (expected {path})", file=str(path))
        try:
            handle = open(path, encoding="utf-8")
        except OSError as exc:
            raise DataError(str(exc), file=str(path)) from exc
        rows = 0
        number = 0

        def lines() -> Iterator[str]:   # jsonlines numbers bad lines; this numbers the good ones
            nonlocal number
            for number, line in enumerate(handle, start=1):  # noqa: B007 - read by the loop below
                yield line

        with handle:
            try:
                for row in jsonlines.Reader(lines()).iter(type=dict, skip_empty=True):
                    rows += 1
                    yield str(path), number, row
            except jsonlines.InvalidLineError as exc:
                cause = exc.__cause__
                problem = f"invalid JSON ({cause.msg})" if isinstance(cause, json.JSONDecodeError) else \
                    "expected a JSON object"
                raise DataError(problem, file=str(path), row=exc.lineno) from None
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
