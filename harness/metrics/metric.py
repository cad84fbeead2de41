"""What a metric is: a scorer with its primary value, scale and direction (see registry.py)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

SCALES = (1, 100)


@dataclass(frozen=True)
class Metric:
    """``scorer(golds, predictions[, language=...])`` returns a dict of named values; ``primary``
    names the one shown in tables and averaged; ``scale`` is 1 (fractions) or 100 (percentages)."""

    name: str
    scorer: Callable[..., dict[str, float]]
    primary: str
    scale: int = 1
    higher_is_better: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"metric '{self.name}': scale must be 1 or 100, got {self.scale!r}")

    def score(self, golds: Any, predictions: Any, language: str | None = None) -> dict[str, float]:
        """Call the scorer; it gets ``language`` only when it takes one (a language-aware normalisation)."""
        if "language" in inspect.signature(self.scorer).parameters:
            return self.scorer(golds, predictions, language=language)
        return self.scorer(golds, predictions)

    def main_score(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The ``main_score`` field of a result record."""
        value = metrics.get(self.primary)
        return {"name": self.primary, "value": value, "scale": self.scale,
                "higher_is_better": self.higher_is_better}
