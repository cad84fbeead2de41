"""Deprecated: leaderboard scoring and export moved into the built-in suite plugin that registers them
(see PLUGINS.md); every name still resolves from here, with a DeprecationWarning naming its new home."""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from harness.aliases import resolve_moved
    return resolve_moved(__name__, name)
