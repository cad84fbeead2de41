"""The per-example samples of ``--log-samples`` as scored test sets: where a result's samples are,
how to read them, and :class:`ItemScores`, which recomputes a registered metric on any subset or
resample of the items (for ``harness rescore`` and the bootstrap of ``harness.results.stats``).

A samples file holds one JSON line per evaluated item: ``id``, ``input_hash`` (sha256 of the
example's inputs), ``prediction`` and ``gold``. A metric's scorer takes either two lists (golds,
predictions) or two mappings keyed by item (the QA and ranking scorers); :func:`scorer_shape` tells
which. Metrics over sets rather than items (BUCC's mined pairs, image-text recall from a similarity
matrix) cannot be rebuilt from these rows: :meth:`ItemScores.check` finds that out by comparing the
recomputed value with the one the result logged.
"""
from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.errors import DataError, HarnessError
from harness.metrics.metric import Metric

SAMPLE_FIELDS = ("id", "prediction", "gold")
LISTS, KEYED = "lists", "keyed"
#: the configuration without intermediate training
BASELINE = "baseline"


# --------------------------------------------------------------------------------- files
def config_names(record: dict[str, Any]) -> str:
    """A record's configuration by its intermediate tasks: ``'+'.join(intermediate)`` or ``baseline``."""
    return "+".join(record.get("intermediate") or []) or BASELINE


def samples_files(record: dict[str, Any], language: str | None = None) -> list[Path]:
    """Candidate ``--log-samples`` files of a result record (in ``language``, default the record's
    own), best first: the record's ``samples`` field when it has one, else the pipeline's layout
    ``OUT/samples/<configuration>-<key>/<task>/<split>-<language>.jsonl`` next to the results, the
    folder of the record's own intermediate checkpoint key first."""
    language = language or str(record.get("language"))
    source = Path(record.get("_source", "results.jsonl"))
    found: list[Path] = []
    named = record.get("samples")
    if isinstance(named, str) and language == record.get("language"):
        found += [base / named for base in (source.parent, source.parent.parent) if (base / named).is_file()]
    names = config_names(record)
    key = ((record.get("checkpoints") or {}).get("intermediate") or {}).get("key")
    for root in (source.parent / "samples", source.parent.parent / "samples"):
        matches = sorted(root.glob(f"{names}-*/{record.get('task')}/{record.get('split')}-{language}.jsonl"))
        found += sorted(matches, key=lambda m: m.parent.parent.name != f"{names}-{key}"[:80])
    return list(dict.fromkeys(found))


def samples_file(record: dict[str, Any], language: str | None = None) -> Path | None:
    """The best candidate of :func:`samples_files`, or None."""
    return next(iter(samples_files(record, language)), None)


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a samples file; a bad line is an error naming the file, the row and the field."""
    path = Path(path)
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read samples file '{path}': {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise DataError("not valid JSON", file=str(path), row=number) from None
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", file=str(path), row=number)
        for name in SAMPLE_FIELDS:
            if name not in row:
                raise DataError("missing value", file=str(path), row=number, field=name)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------- scoring
def scorer_shape(metric: Metric) -> str:
    """``keyed`` when the scorer's ``predictions`` are annotated as a mapping (the QA scorers), else
    ``lists``; :class:`ItemScores` falls back to ``keyed`` when a scorer rejects lists."""
    try:
        parameters = list(inspect.signature(metric.scorer).parameters.values())
    except (TypeError, ValueError):
        return LISTS
    annotation = str(parameters[1].annotation) if len(parameters) > 1 else ""
    return KEYED if "Mapping" in annotation or "QAGolds" in str(parameters[0].annotation) else LISTS


class ItemScores:
    """A test set's golds and predictions under a registered metric, on a 0-100 scale.

    ``value(positions)`` recomputes the metric on those items (with repeats, as a bootstrap
    resample has them). When the metric is a mean over items (checked on the data: the mean of the
    single-item values equals the metric on the whole set and on random resamples), the single-item
    values are kept and resamples are vectorised row means; otherwise (F1 over entities, token
    accuracy over sentences of different lengths) every resample is rescored by the metric itself.
    """

    def __init__(self, golds: list[Any], predictions: list[Any], metric: Metric, language: str | None = None,
                 ids: list[str] | None = None, where: str = "samples"):
        if len(golds) != len(predictions):
            raise HarnessError(f"{where}: {len(predictions)} predictions for {len(golds)} golds")
        self.golds, self.predictions, self.metric, self.language = golds, predictions, metric, language
        self.ids = ids if ids is not None else [str(i) for i in range(len(golds))]
        self.where = where
        self.n = len(golds)
        self.factor = 100.0 / metric.scale
        self.shape = scorer_shape(metric)
        self.point = self._score_with_fallback()
        self.item_values = self._item_values()

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], metric: Metric, language: str | None = None,
                  where: str = "samples") -> "ItemScores":
        return cls([r["gold"] for r in rows], [r["prediction"] for r in rows], metric, language,
                   [str(r["id"]) for r in rows], where)

    # -- exact recomputation ---------------------------------------------------------------------
    def _primary(self, golds: list[Any], predictions: list[Any], metric: Metric | None = None) -> float:
        metric = metric or self.metric
        if self.shape == KEYED:
            keys = [str(i) for i in range(len(golds))]
            result = metric.score(dict(zip(keys, golds)), dict(zip(keys, predictions)), self.language)
        else:
            result = metric.score(golds, predictions, self.language)
        value = result.get(metric.primary) if isinstance(result, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise HarnessError(f"{self.where}: metric '{metric.name}' gave no number for '{metric.primary}'")
        return float(value) * self.factor

    def _score_with_fallback(self) -> float:
        try:
            return self._primary(self.golds, self.predictions)
        except (TypeError, AttributeError, KeyError, ValueError) as first:
            if self.shape == KEYED:
                raise HarnessError(f"{self.where}: metric '{self.metric.name}' cannot score these samples "
                                   f"({type(first).__name__}: {first})") from None
            self.shape = KEYED
            try:
                return self._primary(self.golds, self.predictions)
            except (TypeError, AttributeError, KeyError, ValueError) as exc:
                raise HarnessError(f"{self.where}: metric '{self.metric.name}' cannot score these samples "
                                   f"({type(exc).__name__}: {exc})") from None

    def value(self, positions: np.ndarray | list[int] | None = None, predictions: list[Any] | None = None) -> float:
        predictions = self.predictions if predictions is None else predictions
        if positions is None:
            return self._primary(self.golds, predictions)
        return self._primary([self.golds[i] for i in positions], [predictions[i] for i in positions])

    def _item_values(self) -> np.ndarray | None:
        """Single-item values when the metric is a mean over items on this data, else None."""
        if self.n == 0:
            return None
        try:
            values = np.array([self._primary([g], [p]) for g, p in zip(self.golds, self.predictions)])
        except (HarnessError, TypeError, AttributeError, KeyError, ValueError, ZeroDivisionError):
            return None
        tolerance = 1e-7 * max(1.0, abs(self.point))
        if abs(float(values.mean()) - self.point) > tolerance:
            return None
        probe = np.random.default_rng(12345)
        for _ in range(2):
            positions = probe.integers(0, self.n, size=max(2, min(self.n, 64)))
            if abs(float(values[positions].mean()) - self.value(positions)) > tolerance:
                return None
        return values

    @property
    def exact_method(self) -> str:
        return "item mean" if self.item_values is not None else "metric recomputed per resample"

    # -- stats.Resamplable ------------------------------------------------------------------------
    def replicates(self, indices: np.ndarray) -> np.ndarray:
        if self.item_values is not None:
            return self.item_values[indices].mean(axis=1) if self.n else np.zeros(len(indices))
        return np.array([self.value(row) for row in indices])

    def swapped_difference(self, other: "ItemScores", swap: np.ndarray) -> np.ndarray:
        if self.item_values is not None and other.item_values is not None:
            delta = self.item_values - other.item_values
            return np.where(swap, -delta, delta).mean(axis=1)
        out = np.empty(len(swap))
        for r, row in enumerate(swap):
            mine = [o if s else m for m, o, s in zip(self.predictions, other.predictions, row)]
            theirs = [m if s else o for m, o, s in zip(self.predictions, other.predictions, row)]
            out[r] = self.value(None, mine) - other.value(None, theirs)
        return out

    # -- consistency -----------------------------------------------------------------------------
    def check(self, logged: Any, scale_factor: float) -> str | None:
        """None when the recomputed value equals the value the result logged (0-100 after
        ``scale_factor``), else why not (samples of another run, a set-level metric)."""
        if not isinstance(logged, (int, float)) or isinstance(logged, bool) or not math.isfinite(logged):
            return None
        expected = float(logged) * scale_factor
        if abs(expected - self.point) > 1e-6 * max(1.0, abs(expected)):
            return (f"{self.where}: the samples give {self.metric.primary} {self.point:.4f}, the result logged "
                    f"{expected:.4f} (samples of another run, or a metric over sets rather than items)")
        return None


def align(reference: list[dict[str, Any]], other: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """``other``'s rows in ``reference``'s item order, for a paired comparison; the items must be the
    same (same ids, and the same input hashes where both have them)."""
    by_id = {str(r["id"]): r for r in other}
    if len(by_id) != len(other) or len(other) != len(reference) or any(str(r["id"]) not in by_id for r in reference):
        raise HarnessError(f"{where}: the two configurations were evaluated on different items")
    ordered = [by_id[str(r["id"])] for r in reference]
    for mine, theirs in zip(reference, ordered):
        if mine.get("input_hash") and theirs.get("input_hash") and mine["input_hash"] != theirs["input_hash"]:
            raise HarnessError(f"{where}: item '{mine['id']}' has different inputs in the two configurations")
    return ordered


def load_item_scores(record: dict[str, Any], metric: Metric, scale_factor: float | None = None,
                     warn: Callable[[str], None] | None = None) -> tuple[ItemScores, list[dict[str, Any]]] | None:
    """The record's samples scored by ``metric``, or None (no samples, or none that reproduce the
    logged value: then ``warn`` says why). Of several candidate files (runs of other seeds share a
    folder name) the first that reproduces the logged value is taken. ``scale_factor`` maps the
    logged value of ``metric.primary`` to 0-100 (default: from the metric's scale)."""
    problems = []
    logged = (record.get("metrics") or {}).get(metric.primary)
    factor = 100.0 / metric.scale if scale_factor is None else scale_factor
    for path in samples_files(record):
        rows = read_samples(path)
        try:
            scores = ItemScores.from_rows(rows, metric, str(record.get("language")), str(path))
        except HarnessError as exc:
            problems.append(str(exc))
            continue
        problem = scores.check(logged, factor)
        if problem is None:
            return scores, rows
        problems.append(problem)
    if problems and warn:
        warn(problems[0] + (f" (and {len(problems) - 1} other candidate file(s))" if len(problems) > 1 else ""))
    return None
