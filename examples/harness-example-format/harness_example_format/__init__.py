"""An external harness plugin that adds a new *format*, its *metric* and a task using both.

* format ``sentence_pair_regression``: a score for a sentence pair (STS-style, gold 0-5), with a
  regression head on the first token (``format.py``; imported on first use, so ``harness tasks``
  stays fast);
* metric ``pearson_spearman``: Pearson and Spearman correlation, Spearman primary (as in STS-B/MTEB);
* task ``xsts``: English training pairs and zero-shot test pairs in English, German and Spanish,
  bundled in ``data/``.
"""
from __future__ import annotations

from typing import Any, Sequence

from harness import Metric, Task, hookimpl

__version__ = "0.1.0"

FORMAT = "sentence_pair_regression"


def correlations(golds: Sequence[float], predictions: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman (Pearson of average ranks) correlation; 0 when either side is constant."""
    import numpy as np

    gold, pred = np.asarray(golds, dtype=float), np.asarray(predictions, dtype=float)
    if gold.shape != pred.shape:
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold scores")
    return {"pearson": _pearson(gold, pred), "spearman": _pearson(_ranks(gold), _ranks(pred))}


def _pearson(x: Any, y: Any) -> float:
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return 0.0
    return float(((x - x.mean()) * (y - y.mean())).mean() / (x.std() * y.std()))


def _ranks(values: Any) -> Any:
    import numpy as np

    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values), dtype=float)
    for value in np.unique(values):   # ties share their average rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


class XSTS(Task):
    """Semantic textual similarity. Raw rows: ``{"id", "sentence1", "sentence2", "score": 0..5}``."""

    name = "xsts"
    format = FORMAT
    default_spec = {
        "kind": "target",
        "metric": "pearson_spearman",
        "description": "Multilingual semantic textual similarity (example format plugin).",
        "languages": ["en", "de", "es"],
        "local": "data",  # relative to this module's directory
        "splits": {"train": "train", "test": "test"},
        "hparams": {"learning_rate": 5.0e-5, "epochs": 3, "batch_size": 8, "max_length": 64},
    }

    def to_example(self, row: dict[str, Any], split: str, language: str) -> dict[str, Any]:
        return {"id": str(row["id"]), "text_a": row["sentence1"], "text_b": row["sentence2"],
                "score": row["score"]}


def _load_format():
    from harness_example_format.format import SentencePairRegression
    return SentencePairRegression()


@hookimpl
def harness_register_formats(register):
    register(FORMAT, _load_format, options={"max_score": (float, 5.0, "gold scores lie in 0..max_score")},
             description="a score for a sentence pair (regression on the first token)")


@hookimpl
def harness_register_metrics(register):
    register(Metric("pearson_spearman", correlations, primary="spearman", scale=1,
                    description="Pearson and Spearman correlation of predicted and gold scores"))


@hookimpl
def harness_register_tasks(register):
    register(XSTS())
