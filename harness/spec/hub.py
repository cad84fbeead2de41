"""What the local Hugging Face setup says about a model, without a torch import: whether the hub is
offline, whether a model is in the local cache, and what identifies a model's weights for the
content keys (a local model's files; a hub id and the revision asked for)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: the values of HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE that mean "offline" (as huggingface_hub reads them)
_TRUE = ("1", "on", "yes", "true")


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or the older ``TRANSFORMERS_OFFLINE``) is set: nothing is downloaded."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def in_hub_cache(repo_id: str, revision: str | None = None) -> bool:
    """The model ``repo_id`` (at ``revision``, default its main branch) has a ``config.json`` in the
    local Hugging Face cache; a malformed id is not in it."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an id the hub would reject (HFValidationError) is not cached
        return False
    return isinstance(found, str)


def model_identity(source: str, revision: str | None = None) -> dict[str, Any]:
    """What tells whether a resolved model (``TEXT+VISION`` for a model with a vision tower) is still
    the one a saved result came from; part of the content keys that decide reuse.

    A local path: each file's relative path, size and modification time (a stat, nothing read:
    weights saved again under the same path change it). A hub id: the id and the revision asked
    for, as given (no network call, so every process and every grid cell computes the same key; pin
    ``--revision`` to a commit for a fixed model: the commit loaded is recorded with each result)."""
    parts = [source] if Path(source).expanduser().exists() or "+" not in source else source.split("+", 1)
    return {"parts": [_part_identity(part, revision) for part in parts]}


def _part_identity(source: str, revision: str | None) -> dict[str, Any]:
    path = Path(source).expanduser()
    if path.is_file():
        stat = path.stat()
        return {"files": [[path.name, stat.st_size, stat.st_mtime_ns]]}
    if path.is_dir():
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))   # .git, .cache: not the model
            for name in sorted(names):
                stat = (Path(root) / name).stat()
                files.append([(Path(root) / name).relative_to(path).as_posix(), stat.st_size, stat.st_mtime_ns])
        return {"files": files}
    return {"hub": source, "revision": revision}
