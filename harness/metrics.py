"""Metrics, each matching its official scorer (XTREME's scripts/evaluate.py and the scorers it uses)."""
from __future__ import annotations

from typing import Any, Sequence


def accuracy(golds: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """Share of exact matches, as XTREME's ``accuracy`` (empty input scores 0, not an error)."""
    if len(golds) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold labels")
    if not golds:
        return {"accuracy": 0.0}
    correct = sum(int(p == g) for p, g in zip(predictions, golds))
    return {"accuracy": correct / len(golds)}
