"""The English/non-English gap (``harness report --gap``).

Per (configuration, target): the transfer gap (English score minus the mean over the other
languages, absolute and relative to English), the paired weakness rate per language on parallel test
sets (P(English right and language l wrong), from the per-example predictions of ``--log-samples``
joined by the parallel id), and on image-text targets the modality reliance (image+text score minus
the text-only score of the same examples). A configuration's label names its modality dropout, so
a sweep over P reads top to bottom.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.results.report import config_label, latest_results
from harness.results.samples import samples_file
from harness.results.stats import Spread, seed_spread
from harness.results.tables import print_table

SOURCE_LANGUAGE = "en"


@dataclass
class GapRow:
    config: str
    target: str
    metric: str
    english: float
    others: float
    weakness: dict[str, float] = field(default_factory=dict)
    reliance: float | None = None
    dropout: float | None = None
    per_seed: dict[int, float] = field(default_factory=dict)     # seed -> gap of that seed

    @property
    def spread(self) -> Spread | None:
        return seed_spread(list(self.per_seed.values())) if self.per_seed else None

    @property
    def gap(self) -> float:
        return self.english - self.others

    @property
    def relative(self) -> float | None:
        return self.gap / self.english if self.english else None


def dropout_of(record: dict[str, Any]) -> float | None:
    setting = (((record.get("train") or {}).get("intermediate") or {}).get("modality_dropout") or {})
    return float(setting["image"]) if "image" in setting else None


def _predictions(path: Path) -> dict[str, bool]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {str(r["id"]): r["prediction"] == r["gold"] for r in rows}


def weakness_rate(english: dict[str, bool], other: dict[str, bool], where: str) -> float:
    """P(English right and the other language wrong) over the parallel examples."""
    missing = [ident for ident in other if ident not in english]
    if missing:
        raise HarnessError(f"{where}: {len(missing)} example id(s) have no English counterpart "
                           f"(e.g. {missing[0]!r}); the paired weakness rate needs a parallel id")
    if not other:
        return 0.0
    return sum(english[i] and not right for i, right in other.items()) / len(other)


def build_gap(records: list[dict[str, Any]], metric_for_task: Callable[[dict], tuple[str, float]],
              split: str = "test") -> list[GapRow]:
    results, _ = latest_results(records)
    cells: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for record in results:
        if record.get("split") == split:
            cells.setdefault((config_label(record), record["task"]), {}).setdefault(record["language"], []).append(record)
    rows = []
    for (label, target), by_language in sorted(cells.items()):
        if SOURCE_LANGUAGE not in by_language or len(by_language) < 2:
            continue
        first = by_language[SOURCE_LANGUAGE][0]
        metric, scale = metric_for_task(first)

        def score(lang: str, name: str = metric) -> float:
            values = [r["metrics"][name] * scale for r in by_language[lang] if name in r["metrics"]]
            return statistics.fmean(values) if values else float("nan")

        others = [lang for lang in by_language if lang != SOURCE_LANGUAGE]
        row = GapRow(label, target, metric, score(SOURCE_LANGUAGE), statistics.fmean(score(l) for l in others),
                     dropout=dropout_of(first))
        for seed in sorted({int(r.get("seed", 1)) for r in by_language[SOURCE_LANGUAGE]}):
            def at(lang: str, seed: int = seed) -> list[float]:
                return [r["metrics"][metric] * scale for r in by_language[lang]
                        if int(r.get("seed", 1)) == seed and metric in r["metrics"]]
            seen = [statistics.fmean(at(lang)) for lang in others if at(lang)]
            if at(SOURCE_LANGUAGE) and seen:
                row.per_seed[seed] = statistics.fmean(at(SOURCE_LANGUAGE)) - statistics.fmean(seen)
        blind = f"text_only_{metric}"
        if all(blind in r["metrics"] for rs in by_language.values() for r in rs):
            row.reliance = statistics.fmean(score(l) - score(l, blind) for l in by_language)
        english_file = samples_file(first, SOURCE_LANGUAGE)
        if english_file is not None:
            english = _predictions(english_file)
            for lang in others:
                path = samples_file(by_language[lang][0], lang)
                if path is not None:
                    row.weakness[lang] = 100.0 * weakness_rate(english, _predictions(path), f"{target} {lang}")
        rows.append(row)
    return rows


def render_gap(rows: list[GapRow], console) -> None:
    from rich.table import Table

    if not rows:
        console.print("no target has English and other-language results for the gap")
        return
    table = Table(title="English / non-English gap (primary metric, 0-100)")
    for name in ("configuration", "target", "en", "others", "gap", "gap %", "reliance", "weakness"):
        table.add_column(name, justify="left" if name in ("configuration", "target", "weakness") else "right",
                         overflow="fold")
    for row in rows:
        relative = "" if row.relative is None else f"{100 * row.relative:.1f}"
        weakness = " ".join(f"{lang}={value:.1f}" for lang, value in row.weakness.items()) or "(no --log-samples)"
        spread = row.spread
        gap = f"{row.gap:+.1f}" + (f" ±{spread.std:.1f} sd" if spread is not None and spread.std is not None
                                   else ", 1 seed")
        table.add_row(row.config, row.target, f"{row.english:.1f}", f"{row.others:.1f}", gap, relative,
                      "" if row.reliance is None else f"{row.reliance:+.1f}", weakness)
    print_table(table, console)
    console.print("method: gap = en - mean(other languages), ± the standard deviation over seeds of the per-seed "
                  "gap ('1 seed': no spread); reliance = score - text-only score (mean over seeds and languages); "
                  "weakness = % of parallel examples right in en, wrong in l", markup=False, highlight=False,
                  soft_wrap=True)


def plot_gap(rows: list[GapRow], path: str | Path) -> Path:
    """Transfer gap against the image dropout rate, one line per target."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for target in sorted({r.target for r in rows}):
        points = sorted((r.dropout or 0.0, r.gap) for r in rows if r.target == target)
        axis.plot([p for p, _ in points], [g for _, g in points], marker="o", label=target)
    axis.set_xlabel("image dropout P (intermediate training)")
    axis.set_ylabel("English - mean other languages")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)
