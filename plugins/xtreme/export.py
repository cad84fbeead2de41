"""The XTREME / XTREME-R submission layout, written from a run's per-example logs
(``<run_dir>/samples/<config>/<task>/<split>-<lang>.jsonl``, written with ``--log-samples``):
``<out>/<xtreme task>/test-<lang>.<suffix>``, and optionally a labels folder in the same layout for
``harness score``.

The layout of each task's files is the leaderboard's (:data:`LAYOUTS`); the golds come from the logs'
``gold`` fields, except for tasks whose logs cannot carry them (bitext mining logs the predicted pairs
only): those ask the task itself (``Task.export_golds``, through ``gold_source``).
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from harness.results.samples import read_samples
from harness_plugins.xtreme.tables import HARNESS_TO_XTREME, UNSCORED_TASKS, VERSIONS

#: (harness task, language) -> gold values for the labels folder, or None (then: the logs' golds)
GoldSource = Callable[[str, str], "Iterable[Any] | None"]


# --------------------------------------------------------------------------------- writers
def _write_lines(values: list[Any], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for value in values:
            text = str(value)
            if "\n" in text:
                raise ValueError(f"{path}: a value spans lines: {text!r}")
            f.write(f"{text}\n")


def _write_tags(values: list[Any], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for tags in values:
            for tag in tags:
                f.write(f"{tag}\n")
            f.write("\n")


def _write_jsonl_labels(values: list[Any], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for value in values:
            f.write(json.dumps({"label": value}) + "\n")


def _write_json(obj: Any, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)


def _squad(rows: list[dict[str, Any]], key: str, path: Path) -> None:
    """QA: predictions as ``{id: answer}``, golds as a SQuAD-style ``data`` file."""
    if key == "prediction":
        _write_json({row["id"]: row["prediction"] for row in rows}, path)
        return
    qas = [{"id": row["id"], "answers": [{"text": a} for a in ([row["gold"]] if isinstance(row["gold"], str)
                                                              else row["gold"])]}
           for row in rows]
    _write_json({"data": [{"paragraphs": [{"qas": qas}]}], "version": "1.1"}, path)


def _ranking(rows: list[dict[str, Any]], key: str, path: Path) -> None:
    """Mewsli-X: ``{example id: [candidate ids]}`` (ranked predictions; relevant ids as golds)."""
    _write_json({row["id"]: [str(c) for c in row[key]] if isinstance(row[key], list) else [str(row[key])]
                 for row in rows}, path)


@dataclass(frozen=True)
class Layout:
    """How one XTREME task's files look: their suffix, how rows become a file, and whether the logs'
    ``gold`` fields are the golds (not for mined pairs: their logs flag each predicted pair)."""

    suffix: str
    write: Callable[[list[dict[str, Any]], str, Path], None]
    golds_in_logs: bool = True


def _values(writer: Callable[[list[Any], Path], None]) -> Callable[[list[dict[str, Any]], str, Path], None]:
    return lambda rows, key, path: writer([row[key] for row in rows], path)


LAYOUTS: dict[str, Layout] = {
    "pawsx": Layout("tsv", _values(_write_lines)),
    "xnli": Layout("tsv", _values(_write_lines)),
    "tatoeba": Layout("tsv", _values(_write_lines)),
    "bucc2018": Layout("tsv", _values(_write_lines), golds_in_logs=False),
    "udpos": Layout("tsv", _values(_write_tags)),
    "panx": Layout("tsv", _values(_write_tags)),
    "xquad": Layout("json", _squad), "mlqa": Layout("json", _squad), "tydiqa": Layout("json", _squad),
    "xcopa": Layout("jsonl", _values(_write_jsonl_labels)),
    "mewslix": Layout("json", _ranking),
}


def file_suffix(task: str) -> str:
    """Extension of a task's submission files: json for QA and Mewsli-X, jsonl for XCOPA, tsv otherwise."""
    return LAYOUTS[task].suffix


# --------------------------------------------------------------------------------- folders
def find_samples_dir(path: str | os.PathLike, config: str | None = None) -> Path:
    """The folder holding ``<task>/<split>-<lang>.jsonl`` logs, given that folder itself, a run folder
    (``<run>/samples/<config label>/<task>/...``, as the pipeline writes them) or its ``samples``
    folder. With several configuration labels under ``samples``, ``config`` picks one."""
    def has_tasks(folder: Path) -> bool:
        return any(p.is_dir() and p.name in HARNESS_TO_XTREME for p in folder.iterdir())

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    if config is not None:
        for candidate in (folder / config, folder / "samples" / config):
            if candidate.is_dir():
                return candidate
        raise FileNotFoundError(f"{folder}: no samples for configuration {config!r}")
    if has_tasks(folder):
        return folder
    if (folder / "samples").is_dir():
        folder = folder / "samples"
        if has_tasks(folder):
            return folder
    labels = sorted(p for p in folder.iterdir() if p.is_dir() and has_tasks(p))
    if len(labels) == 1:
        return labels[0]
    if not labels:
        raise FileNotFoundError(f"{Path(path)}: no per-example logs of XTREME tasks found "
                                "(was the run made with --log-samples?)")
    raise ValueError(f"{Path(path)}: samples of several configurations ("
                     + ", ".join(p.name for p in labels) + "); pick one with config=")


def export_predictions(samples_dir: str | os.PathLike, out_dir: str | os.PathLike,
                       with_labels_dir: str | os.PathLike | None = None, split: str = "test",
                       gold_source: GoldSource | None = None, config: str | None = None,
                       version: str | None = None,
                       bucc_gold: Callable[[str], Iterable[str]] | str | os.PathLike | None = None,
                       ) -> dict[str, list[str]]:
    """Write the submission layout ``<out_dir>/<xtreme task>/test-<lang>.<suffix>`` from the
    per-example logs ``<samples_dir>/<task>/<split>-<lang>.jsonl``; ``samples_dir`` may also be the run
    folder or its ``samples/`` folder, with one level of configuration labels (``config`` picks one
    when there are several, see ``find_samples_dir``). ``version`` (``xtreme`` or ``xtreme-r``) keeps
    that version's tasks only; None exports every task either version has a layout for.

    Per-line fields: ``id``, ``prediction``, ``gold``. Classification: label strings; tagging: tag
    lists (written one tag a line, a blank line after each sentence); QA: answer text (gold: list of
    texts), written as ``{id: answer}`` JSON; Tatoeba: predicted index; XCOPA: ``{"label": ...}``
    lines; Mewsli-X: ranked candidate ids (gold: relevant ids) as ``{id: [ids]}`` JSON; bitext mining
    (BUCC): one predicted pair a line, ``id``/``prediction`` = ``"src_id\\ttrg_id"``.

    ``with_labels_dir``: also write the golds in the same layout (QA golds as a SQuAD-style ``data``
    file). ``gold_source(task, language)`` gives a task's golds when the logs cannot (mined pairs are
    not in the logs, only the predicted ones): without it, or when it returns None, such a task's
    labels are not written. ``bucc_gold`` (deprecated: use ``gold_source``) is a callable language ->
    gold pair lines, or a folder holding ``test-<lang>.tsv`` or BUCC's ``<lang>-en.<split>.gold``.
    Returns {xtreme task: [languages]}.
    """
    if bucc_gold is not None:
        warnings.warn("export_predictions(bucc_gold=...) is deprecated: use gold_source=(task, language) -> golds",
                      DeprecationWarning, stacklevel=2)
        gold_source = _pairs_source(bucc_gold)
    wanted = set(VERSIONS[version][1]) if version is not None else None
    if version is not None and version not in VERSIONS:
        raise ValueError(f"unknown XTREME version {version!r}; expected one of {sorted(VERSIONS)}")
    samples = find_samples_dir(samples_dir, config)
    out = Path(out_dir)
    labels_out = Path(with_labels_dir) if with_labels_dir is not None else None
    written: dict[str, list[str]] = {}
    prefix = f"{split}-"
    for task_dir in sorted(p for p in samples.iterdir() if p.is_dir()):
        task = HARNESS_TO_XTREME.get(task_dir.name)
        if task is None or task in UNSCORED_TASKS or task not in LAYOUTS or (wanted is not None and task not in wanted):
            continue
        layout = LAYOUTS[task]
        for log in sorted(task_dir.glob(f"{prefix}*.jsonl")):
            language = log.name[len(prefix):-len(".jsonl")]
            rows = read_samples(log)   # a bad row: one line naming the file, row and field
            target = f"test-{language}.{layout.suffix}"
            (out / task).mkdir(parents=True, exist_ok=True)
            layout.write(rows, "prediction", out / task / target)
            if labels_out is not None:
                golds = gold_source(task_dir.name, language) if gold_source is not None else None
                if golds is not None:
                    rows = [{"id": None, "gold": g} for g in golds]
                if golds is not None or layout.golds_in_logs:
                    (labels_out / task).mkdir(parents=True, exist_ok=True)
                    layout.write(rows, "gold", labels_out / task / target)
            written.setdefault(task, []).append(language)
    return written


def _pairs_source(source: Callable[[str], Iterable[str]] | str | os.PathLike) -> GoldSource:
    """The deprecated ``bucc_gold`` argument as a gold source of the bitext-mining task."""
    def golds(task: str, language: str) -> list[str] | None:
        if HARNESS_TO_XTREME.get(task) != "bucc2018":
            return None
        if callable(source):
            return ["\t".join(p) if not isinstance(p, str) else p for p in source(language)]
        folder = Path(source)
        for candidate in [folder / f"test-{language}.tsv"] + sorted(folder.glob(f"{language}-en.*gold")):
            if candidate.is_file():
                return [line.strip() for line in candidate.read_text(encoding="utf-8").splitlines() if line.strip()]
        return None
    return golds
