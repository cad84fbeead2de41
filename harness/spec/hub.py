"""What the local Hugging Face setup says about a hub id, without a network call or a torch import:
whether the hub is offline, and whether a model is in the local cache."""
from __future__ import annotations

import os

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
