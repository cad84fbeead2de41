"""The task model: a declarative :class:`TaskSpec` (from tasks.yaml) bound to plugin code (:class:`Task`).

A plugin subclasses :class:`Task`, sets ``name`` and ``format`` and implements :meth:`Task.to_example`
(raw hub/local row -> the format's fields). Everything else (reading local JSONL, reading the hub,
validation, featurisation, heads, decoding, scoring) is shared and lives in the core and the formats.
"""
from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Iterator

from harness.errors import DataError
from harness.spec.options import Option

#: the branch where the hub keeps its parquet conversion of a dataset repo
PARQUET_REVISION = "refs/convert/parquet"


@dataclass(frozen=True)
class HubSource:
    """Where the task lives on the Hugging Face hub. ``name`` may contain ``{lang}``.

    Repos that still ship a loading script cannot be read by ``datasets.load_dataset``; for them
    ``parquet: true`` reads the hub's parquet conversion (``<config>/<split>/*.parquet`` on
    ``refs/convert/parquet``, or on the pinned ``revision`` of that branch), and ``files`` (hub split ->
    file names in the repo) reads named raw files (parquet, JSON lines) at ``revision``."""

    path: str
    name: str | None = None
    revision: str | None = None
    parquet: bool = False
    files: dict[str, list[str]] | None = None

    @property
    def reader(self) -> str:
        return "files" if self.files else "parquet" if self.parquet else "datasets"

    @property
    def ref(self) -> str | None:
        """The revision read (``None``: the default branch)."""
        return self.revision or (PARQUET_REVISION if self.parquet else None)


@dataclass(frozen=True)
class HubOrigin:
    """What a hub reader read: repo, config, split, the revision asked for and the commit it
    resolved to. ``str()`` is the short form used in error messages."""

    path: str
    name: str | None
    split: str
    revision: str | None
    resolved: str | None = None
    reader: str = "datasets"

    def __str__(self) -> str:
        return f"hub:{self.path}/{self.name or ''}[{self.split}]"

    def describe(self) -> dict[str, Any]:
        return {"hub": self.path, "config": self.name, "split": self.split, "revision": self.revision,
                "resolved_revision": self.resolved, "reader": self.reader}


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
    hub_overrides: dict[str, HubSource] = field(default_factory=dict)   # language -> its own source
    local: Path | None = None      # the user's directory holding <split>-<lang>.jsonl files
    samples: Path | None = None    # the bundled sample, in the same layout (read only when asked)
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation",
                                                             "test": "test"})
    split_languages: dict[str, list[str]] = field(default_factory=dict)  # split -> languages having it
    train_task: str | None = None  # read English training data from this task instead
    labels: list[str] | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    modality: str = "text"         # "text" | "image_text" (needs a model with a vision tower)
    source_file: str = ""          # the YAML file (or plugin) that declared it, for error messages

    def hub_for(self, language: str) -> HubSource | None:
        """The hub source of one language: its ``hub_overrides`` entry, else the task's ``hub``."""
        return self.hub_overrides.get(language, self.hub)

    def has_split(self, split: str, language: str) -> bool:
        """Whether ``split`` exists for ``language`` (``split_languages``; default: every language)."""
        return language in self.split_languages.get(split, [language])


class Task:
    """Plugin code for one task. Subclass per task; one plugin may register many."""

    name: ClassVar[str]
    format: ClassVar[str]
    #: Optional default spec (tasks.yaml schema, as a dict) for third-party tasks that ship no YAML.
    default_spec: ClassVar[dict[str, Any] | None] = None
    #: False when rows are not independent examples (bitext mining: sentences then gold pairs), so that
    #: ``--limit`` must not cut them
    limit_rows: ClassVar[bool] = True
    #: options the task itself reads from tasks.yaml ``options`` (besides its format's): name ->
    #: ``Option(type, default, doc)``; any other key is an error
    options_schema: ClassVar[dict[str, Option]] = {}

    spec: TaskSpec  # bound by the registry

    @classmethod
    def variant(cls, name: str, **attributes: Any) -> "Task":
        """An instance of a subclass named ``name`` with the given class attributes, so that one class
        serves a family of tasks: ``register(SquadTask.variant("my-qa-task"))``. The subclass belongs to
        the calling module (a ``default_spec``'s ``local`` directory is relative to it)."""
        module = sys._getframe(1).f_globals.get("__name__", cls.__module__)
        return type(cls.__name__, (cls,), {"name": name, "__module__": module, **attributes})()

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

    def local_files(self, split: str, language: str) -> list[Path]:
        """Every file :meth:`local_rows` reads for (split, language): their sizes and modification
        times are part of the content keys. Override together with :meth:`local_rows`."""
        return [self.local_file(split, language)]

    def has_local(self, split: str, language: str) -> bool:
        """Whether the local directory holds this (split, language); ``--data auto`` reads the hub
        for the others."""
        return self.spec.local is not None and self.local_file(split, language).exists()

    def with_local(self, directory: Path | None) -> "Task":
        """This task reading ``directory`` as its local directory (how the bundled samples are read)."""
        view = copy.copy(self)
        view.spec = replace(self.spec, local=directory)
        return view

    def source_for(self, split: str, language: str, source: str) -> str:
        """Where ``--data SOURCE`` reads one (split, language) from: ``samples``, ``local`` or ``hub``.
        ``auto`` is the user's local file when present, else the hub; a task with no hub source reads
        its local directory whatever the source (except ``samples``)."""
        if source in ("samples", "local"):
            return source
        if self.spec.hub is None and self.spec.local is not None:
            return "local"
        if source == "auto" and self.has_local(split, language):
            return "local"
        return "hub"

    def local_rows(self, split: str, language: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Yield (file, row number starting at 1, row) from ``<local>/<split>-<lang>.jsonl``."""
        path = self.local_file(split, language)
        if not path.exists():
            raise DataError(f"missing local data for task '{self.name}', split '{split}', "
                            f"language '{language}' (expected {path})", file=str(path))
        return read_jsonl(path)

    def hub_refusal(self, split: str, language: str) -> str | None:
        """Why the hub source cannot serve this split and language, known without a network call
        (e.g. a repo that holds only test sets); None when it may. Checked before any work, so a run
        does not train for hours and then fail on a read it could never make."""
        return None

    def hub_rows(self, split: str, language: str) -> Iterator[tuple[Any, int, dict[str, Any]]]:
        """Yield rows from the hub (see :func:`read_hub`) of the language's source (``hub_overrides``,
        else ``hub``); ``name`` is formatted with ``lang``. Override when the hub layout differs
        (e.g. one config holding every language)."""
        hub = self.spec.hub_for(language)
        if hub is None:
            raise DataError(f"task '{self.name}' declares no hub source", field="hub")
        name = hub.name.format(lang=language) if hub.name else None
        yield from read_hub(hub, name, self.spec.splits.get(split, split))

    def export_golds(self, split: str, language: str) -> list[Any] | None:
        """The golds of one (split, language) for an exported labels folder, when the per-example
        logs cannot carry them (a bitext-mining log holds the predicted pairs, not the gold ones);
        None (the default): the logs' ``gold`` fields are the golds. Read from the local directory,
        which the exporter sets to the one the run read."""
        return None

    # -- helpers for plugins ------------------------------------------------------------------
    def languages(self) -> list[str]:
        return list(self.spec.languages)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<{type(self).__name__} {self.name} ({self.format})>"


def read_jsonl(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (file, row number starting at 1, row) of a JSONL file (through ``jsonlines``); bad lines
    are DataErrors."""
    import jsonlines

    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise DataError(str(exc), file=str(path)) from exc
    rows = number = 0

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
            raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", file=str(path)) from exc
    if not rows:
        raise DataError("empty file: expected one JSON object per line", file=str(path))


def read_hub(hub: HubSource, name: str | None, split: str) -> Iterator[tuple[HubOrigin, int, dict[str, Any]]]:
    """(origin, row number, row) of one split of a hub dataset: through ``datasets`` (its builder
    resolves the revision to a commit), or, for ``parquet``/``files`` sources, through files fetched
    with ``huggingface_hub`` (the commit is the name of the cached snapshot folder)."""
    if hub.reader == "datasets":
        import datasets

        builder = datasets.load_dataset_builder(hub.path, name, revision=hub.revision)
        builder.download_and_prepare()
        rows: Iterator[dict[str, Any]] = iter(builder.as_dataset(split=split))
        origin = HubOrigin(hub.path, name, split, hub.revision, getattr(builder, "hash", None))
    else:
        files, resolved = hub_files(hub, name, split)
        rows = (row for path in files for row in read_data_file(path))
        origin = HubOrigin(hub.path, name, split, hub.ref, resolved, hub.reader)
    for number, row in enumerate(rows, start=1):
        yield origin, number, row


def hub_files(hub: HubSource, name: str | None, split: str, local_only: bool = False) -> tuple[list[Path], str]:
    """The files of one split of a ``parquet`` or ``files`` hub source, downloaded (or found in the
    cache) with ``huggingface_hub.snapshot_download``, and the commit they come from."""
    from huggingface_hub import snapshot_download

    if hub.files:
        if split not in hub.files:
            raise DataError(f"hub source '{hub.path}' lists no files for split '{split}' "
                            f"(it has {', '.join(hub.files)})", field="hub.files")
        patterns = [file.format(config=name or "default") for file in hub.files[split]]
    else:
        patterns = [f"{name or 'default'}/{split}/*.parquet"]
    folder = Path(snapshot_download(hub.path, repo_type="dataset", revision=hub.ref, allow_patterns=patterns,
                                    local_files_only=local_only))
    files = sorted(path for pattern in patterns for path in folder.glob(pattern) if path.is_file())
    if not files:
        raise DataError(f"no file matching {', '.join(patterns)} in hub dataset '{hub.path}' at revision "
                        f"'{hub.ref or 'main'}'", field="hub")
    return files, folder.name


def read_data_file(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a parquet or JSON-lines file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
    elif path.suffix in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"invalid JSON ({exc.msg})", file=str(path), row=number) from None
    else:
        raise DataError("unsupported hub file type (expected .parquet or .jsonl)", file=str(path))
