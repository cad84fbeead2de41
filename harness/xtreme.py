"""XTREME / XTREME-R leaderboard scoring and submission export.

``score_folder`` reproduces XTREME's ``evaluate.py`` (google-research/xtreme, the version with
``--xtreme_version``): same task and language tables, same file readers, same per-language metrics,
same averaging and the same JSON report (group scores first, then per-task details). Numbers agree
digit for digit because the same float operations run in the same order (tagging F1 as seqeval 0.0.12
chunks, Mewsli-X "map@20" as its MRR@20), with one deliberate difference: ``all_task`` is summed in
table order, where the official script sums over a set and its last digit follows the hash seed.
tests/data/xtreme_mock and tests/data/xtreme_generated hold the official reports this is tested on.

Report structure (``json.dump(report, f, indent=2)`` gives the official output file)::

    {"all_task": x,                      # only when every task of the version is scored
     "<group>": x, ...,                  # only groups whose tasks are all scored
     "<task>": {"<metric>": {"<lang>": x, ...}, ..., "avg_<metric>": x, ..., "avg_metric": x}, ...}

``avg_<metric>`` is the mean over the task's languages; ``avg_metric`` is (avg EM + avg F1) / 2 for
QA, else avg F1 when the task has an F1, else avg accuracy; a group (and ``all_task``) is the mean
of its tasks' ``avg_metric``. All values are percentages (0-100).

``export_predictions`` turns the per-example logs (``<run_dir>/samples/<task>/<split>-<lang>.jsonl``)
into the submission layout ``<out>/<xtreme task>/test-<lang>.{tsv,json}`` (and, optionally, a labels
folder in the same layout for ``score_folder``).
"""
from __future__ import annotations

import json
import os
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from harness.metrics import accuracy, bucc_scores, mewslix_mrr, mlqa_em_f1, seqeval_scores, squad_em_f1

# --------------------------------------------------------------------------------- tables
XTREME_GROUP2TASK: dict[str, list[str]] = {
    "classification": ["pawsx", "xnli"],
    "tagging": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["bucc2018", "tatoeba"],
}

XTREME_R_GROUP2TASK: dict[str, list[str]] = {
    "classification": ["xnli", "xcopa"],
    "tagging": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["tatoeba", "mewslix"],
    "multi_choice": ["xcopa"],
}


def _langs(spec: str) -> list[str]:
    return spec.split(",")


XTREME_TASK2LANGS: dict[str, list[str]] = {
    "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
    "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
    "panx": _langs("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                   "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu"),
    "udpos": _langs("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                    "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh"),
    "bucc2018": _langs("de,fr,ru,zh"),
    "tatoeba": _langs("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                      "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu"),
    "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi"),
    "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
    "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
}

# XTREME-R drops PAWS-X and BUCC, adds XCOPA, LAReQA and Mewsli-X, and adds languages to UD-POS,
# PAN-X, Tatoeba and XQuAD. LAReQA has no language list in the official script.
XTREME_R_TASK2LANGS: dict[str, list[str]] = {
    "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
    "panx": _langs("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                   "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,"
                   "lt,pa,gu,ro"),
    "udpos": _langs("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                    "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,lt,pl,uk,wo,ro"),
    "tatoeba": _langs("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                      "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu,az,lt,pl,uk,ro"),
    "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
    "lareqa": [],
    "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
    "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro"),
    "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
    "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
}

VERSIONS: dict[str, tuple[dict[str, list[str]], dict[str, list[str]]]] = {
    "xtreme": (XTREME_GROUP2TASK, XTREME_TASK2LANGS),
    "xtreme-r": (XTREME_R_GROUP2TASK, XTREME_R_TASK2LANGS),
}

#: harness task name -> XTREME task name
HARNESS_TO_XTREME: dict[str, str] = {
    "xnli": "xnli", "pawsx": "pawsx", "udpos": "udpos", "panx": "panx", "xquad": "xquad",
    "mlqa": "mlqa", "tydiqa": "tydiqa", "bucc": "bucc2018", "tatoeba": "tatoeba", "xcopa": "xcopa",
}
XTREME_TO_HARNESS: dict[str, str] = {v: k for k, v in HARNESS_TO_XTREME.items()}

QA_TASKS = frozenset({"xquad", "mlqa", "tydiqa"})
TAGGING_TASKS = frozenset({"udpos", "panx"})
LABEL_TASKS = frozenset({"pawsx", "xnli", "tatoeba", "bucc2018"})
#: tasks the official script lists but cannot score (LAReQA: no languages, no reader, no metric);
#: a present folder is skipped with a warning
UNSCORED_TASKS = frozenset({"lareqa"})


def xtreme_task_name(task: str) -> str:
    """XTREME's name for a harness (or XTREME) task name."""
    return HARNESS_TO_XTREME.get(task, task)


# --------------------------------------------------------------------------------- readers
def read_label(path: str | os.PathLike) -> list[str]:
    """One example per line, each line stripped (pawsx, xnli, tatoeba, bucc2018)."""
    with open(path, "r", encoding="utf-8") as f:
        return [line.strip() for line in f]


def read_tag(path: str | os.PathLike) -> list[list[str]]:
    """One tag per line, sentences ended by blank lines (udpos, panx). As the official reader, every
    blank line closes a sentence (two blank lines in a row make an empty sentence) and a last
    sentence without a trailing blank line still counts."""
    sentences: list[list[str]] = []
    current: list[str] = []
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                current.append(line)
            else:
                sentences.append(current)
                current = []
    if current:
        sentences.append(current)
    return sentences


def read_squad(path: str | os.PathLike) -> Any:
    """A SQuAD-style file: the ``data`` list when the JSON has one (gold files), else the object
    itself (prediction files: ``{question id: answer text}``)."""
    with open(path, "r", encoding="utf-8") as f:
        obj = json.load(f)
    if "data" in obj:
        return obj["data"]
    return obj


def read_xcopa(path: str | os.PathLike) -> list[Any]:
    """JSON lines, one ``{"label": ...}`` object per example (XTREME-R XCOPA)."""
    labels = []
    with open(path, "r", encoding="utf-8") as f:
        for row in f:
            labels.append(json.loads(row)["label"])
    return labels


READERS: dict[str, Callable[[str | os.PathLike], Any]] = {
    "pawsx": read_label, "xnli": read_label, "tatoeba": read_label, "bucc2018": read_label,
    "panx": read_tag, "udpos": read_tag,
    "xquad": read_squad, "mlqa": read_squad, "tydiqa": read_squad, "mewslix": read_squad,
    "xcopa": read_xcopa,
}


def squad_golds(dataset: Any) -> list[tuple[str, list[str]]]:
    """(question id, gold answer texts) in file order from a SQuAD-style ``data`` list (or an
    already flat ``{id: [answers]}`` mapping). Repeated ids are kept, as the official loop counts them."""
    if isinstance(dataset, Mapping):
        return [(qid, [a] if isinstance(a, str) else list(a)) for qid, a in dataset.items()]
    golds = []
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                golds.append((qa["id"], [answer["text"] for answer in qa["answers"]]))
    return golds


# --------------------------------------------------------------------------------- per-file scores
def _percent(scores: Mapping[str, float]) -> dict[str, float]:
    return {k: v * 100 for k, v in scores.items()}


def score_task_language(task: str, labels: Any, predictions: Any, language: str) -> dict[str, float]:
    """One (task, language) score in percent, from already-read label and prediction contents."""
    if task not in ("bucc2018", "mlqa", "tydiqa", "xquad", "mewslix") and len(predictions) != len(labels):
        raise ValueError(f"Number of examples in predictions ({len(predictions)}) and labels "
                         f"({len(labels)}) not matched in {task} task ({language})")
    if task in ("pawsx", "xnli", "tatoeba", "xcopa"):
        if not predictions:
            raise ValueError(f"no predictions for {task} ({language})")
        return _percent(accuracy(labels, predictions))
    if task in TAGGING_TASKS:
        return _percent(seqeval_scores(labels, predictions))
    if task == "bucc2018":
        return _percent(bucc_scores(labels, predictions))
    if task == "mewslix":
        return {"map@20": mewslix_mrr(labels, predictions, k=20) * 100}
    if task == "mlqa":
        return _qa(squad_golds(labels), predictions, language, mlqa=True)
    if task in QA_TASKS:
        return _qa(squad_golds(labels), predictions, language, mlqa=False)
    raise ValueError(f"no XTREME metric for task {task!r}")


def _qa(golds: list[tuple[str, list[str]]], predictions: Mapping[str, str], language: str,
        mlqa: bool) -> dict[str, float]:
    if not golds:
        raise ValueError("no gold questions")
    if mlqa:
        return mlqa_em_f1(golds, predictions, language)
    return squad_em_f1(golds, predictions)


def file_suffix(task: str, version: str = "xtreme") -> str:
    """Extension of a task's submission files: json for QA (and Mewsli-X), jsonl for XTREME-R's
    multiple-choice tasks, tsv otherwise."""
    groups = VERSIONS[version][0]
    if task in groups["qa"] or task == "mewslix":
        return "json"
    if task in groups.get("multi_choice", ()):
        return "jsonl"
    return "tsv"


def score_file(prediction_file: str | os.PathLike, label_file: str | os.PathLike, task: str,
               language: str) -> dict[str, float]:
    """Score one prediction file against its label file (official ``evaluate_one_task``); a
    ValueError names the prediction file."""
    task = xtreme_task_name(task)
    reader = READERS[task]
    try:
        return score_task_language(task, reader(label_file), reader(prediction_file), language)
    except ValueError as exc:
        raise ValueError(f"{prediction_file}: {exc}") from None


# --------------------------------------------------------------------------------- aggregation
def _task_summary(task: str, per_language: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """{metric: {lang: x}} plus avg_<metric> and avg_metric, in the official key order."""
    score: dict[str, Any] = defaultdict(dict)
    for language, metrics in per_language.items():
        for metric, value in metrics.items():
            score[metric][language] = value
    averages = {f"avg_{m}": sum(score[m].values()) / len(score[m]) for m in score}
    score.update(averages)
    if task in QA_TASKS:
        score["avg_metric"] = (score["avg_exact_match"] + score["avg_f1"]) / 2
    elif "avg_f1" in score:
        score["avg_metric"] = score["avg_f1"]
    elif "avg_accuracy" in score:
        score["avg_metric"] = score["avg_accuracy"]
    elif "avg_map@20" in score:
        score["avg_metric"] = score["avg_map@20"]
    return dict(score)


def _aggregate(details: dict[str, dict[str, Any]], version: str) -> dict[str, Any]:
    groups, task2langs = VERSIONS[version]
    report: dict[str, Any] = {}
    available = {t for t, s in details.items() if "avg_metric" in s}
    # The official rule compares against every task of the version; tasks this module cannot score
    # (Mewsli-X, LAReQA: the official script itself crashes on them) are left out of that set.
    # The official script sums over a set of task names, so its last digit follows the string-hash
    # seed (mock data: 62.17319850507246 or ...248); the sum here runs in table order, every time.
    all_tasks = [t for t in task2langs if t not in UNSCORED_TASKS]
    if set(all_tasks) == available:
        report["all_task"] = sum(details[t]["avg_metric"] for t in all_tasks) / len(all_tasks)
    for group, group_tasks in groups.items():
        if not set(group_tasks) - available:
            report[group] = sum(details[t]["avg_metric"] for t in group_tasks) / len(group_tasks)
    report.update(details)
    return report


def score_folder(predictions_dir: str | os.PathLike, labels_dir: str | os.PathLike,
                 version: str = "xtreme") -> dict[str, Any]:
    """Score a submission folder against a labels folder, as XTREME's evaluate.py.

    A task is scored when it has a sub-folder in both ``predictions_dir`` and ``labels_dir``; then
    every language of the version's table must have both files (``test-<lang>.<suffix>``), else
    ``FileNotFoundError`` names the missing files (the official script stops on the first one).
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown XTREME version {version!r}; expected one of {sorted(VERSIONS)}")
    _, task2langs = VERSIONS[version]
    predictions_dir, labels_dir = Path(predictions_dir), Path(labels_dir)
    prediction_tasks = {p.name for p in predictions_dir.iterdir() if p.is_dir()}
    label_tasks = {p.name for p in labels_dir.iterdir() if p.is_dir()}

    details: dict[str, dict[str, Any]] = {}
    for task, langs in task2langs.items():
        if task not in prediction_tasks or task not in label_tasks:
            continue
        if task in UNSCORED_TASKS:
            warnings.warn(f"{task}: not scored (no scorer for it in this harness)", stacklevel=2)
            continue
        suffix = file_suffix(task, version)
        missing = [str(path) for lg in langs
                   for path in (predictions_dir / task / f"test-{lg}.{suffix}",
                                labels_dir / task / f"test-{lg}.{suffix}")
                   if not path.exists()]
        if missing:
            raise FileNotFoundError(f"{task}: not available: " + ", ".join(missing))
        per_language = {lg: score_file(predictions_dir / task / f"test-{lg}.{suffix}",
                                       labels_dir / task / f"test-{lg}.{suffix}", task, lg)
                        for lg in langs}
        details[task] = _task_summary(task, per_language)
    return _aggregate(details, version)


def write_report(report: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a report as the official script does (``json.dump(..., indent=2)``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)


#: metrics kept per XTREME task when aggregating the harness's own results
_TASK_METRICS = {
    "pawsx": ("accuracy",), "xnli": ("accuracy",), "tatoeba": ("accuracy",), "xcopa": ("accuracy",),
    "panx": ("f1", "precision", "recall"), "udpos": ("f1", "precision", "recall"),
    "bucc2018": ("f1", "precision", "recall"),
    "xquad": ("exact_match", "f1"), "mlqa": ("exact_match", "f1"), "tydiqa": ("exact_match", "f1"),
}


def xtreme_score(scores: Mapping[str, Mapping[str, Mapping[str, float]]], version: str = "xtreme",
                 fractions: bool = True) -> dict[str, Any]:
    """Aggregate the harness's own results the way the leaderboard does.

    ``scores``: task (harness or XTREME name) -> language -> metrics. With ``fractions`` (the
    harness's convention) accuracy / tagging / BUCC metrics are fractions and are multiplied by 100;
    QA metrics are always taken as percentages (the official QA scorers return 0-100). Other metric
    keys are ignored. Per task: mean over the languages given (in the version's language order, then
    any others), ``avg_metric`` as in ``score_folder``; groups and ``all_task`` over tasks present,
    by the official rule. Tasks unknown to the version are ignored.
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown XTREME version {version!r}; expected one of {sorted(VERSIONS)}")
    _, task2langs = VERSIONS[version]
    by_task = {xtreme_task_name(t): v for t, v in scores.items()}
    details: dict[str, dict[str, Any]] = {}
    for task, table_langs in task2langs.items():
        if task not in by_task or task not in _TASK_METRICS or not by_task[task]:
            continue
        given = by_task[task]
        order = [lg for lg in table_langs if lg in given] + [lg for lg in given if lg not in table_langs]
        scale = 1.0 if task in QA_TASKS or not fractions else 100.0
        per_language = {}
        for lg in order:
            metrics = {m: given[lg][m] * scale if scale != 1.0 else given[lg][m]
                       for m in _TASK_METRICS[task] if m in given[lg]}
            if task in QA_TASKS and ("exact_match" not in metrics or "f1" not in metrics):
                raise ValueError(f"{task} ({lg}): QA scores need exact_match and f1")
            if metrics:
                per_language[lg] = metrics
        if per_language:
            details[task] = _task_summary(task, per_language)
    return _aggregate(details, version)


# --------------------------------------------------------------------------------- export
def _read_samples(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, "r", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number}: not JSON ({err})") from err
    return rows


def _write_task_file(task: str, rows: list[dict[str, Any]], key: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    values = [row[key] for row in rows]
    if task in QA_TASKS:
        if key == "prediction":
            obj: Any = {row["id"]: row["prediction"] for row in rows}
        else:
            qas = [{"id": row["id"],
                    "answers": [{"text": a} for a in ([row["gold"]] if isinstance(row["gold"], str)
                                                      else row["gold"])]}
                   for row in rows]
            obj = {"data": [{"paragraphs": [{"qas": qas}]}], "version": "1.1"}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        return
    with open(path, "w", encoding="utf-8") as f:
        if task in TAGGING_TASKS:
            for tags in values:
                for tag in tags:
                    f.write(f"{tag}\n")
                f.write("\n")
        elif task == "xcopa":
            for value in values:
                f.write(json.dumps({"label": value}) + "\n")
        else:
            for value in values:
                text = str(value)
                if "\n" in text:
                    raise ValueError(f"{task}: a value spans lines: {text!r}")
                f.write(f"{text}\n")


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
                       bucc_gold: Callable[[str], Iterable[str]] | str | os.PathLike | None = None,
                       config: str | None = None) -> dict[str, list[str]]:
    """Write the submission layout ``<out_dir>/<xtreme task>/test-<lang>.<suffix>`` from the
    per-example logs ``<samples_dir>/<task>/<split>-<lang>.jsonl``; ``samples_dir`` may also be the run
    folder or its ``samples/`` folder, with one level of configuration labels (``config`` picks one
    when there are several, see ``find_samples_dir``).

    Per-line fields: ``id``, ``prediction``, ``gold``. Classification: label strings; tagging: tag
    lists (written one tag a line, a blank line after each sentence); QA: answer text (gold: list of
    texts), written as ``{id: answer}`` JSON; Tatoeba: predicted index; BUCC: one predicted pair a
    line, ``id``/``prediction`` = ``"src_id\\ttrg_id"``.

    ``with_labels_dir``: also write the golds in the same layout (QA golds as a SQuAD-style
    ``data`` file). BUCC golds are not in the logs (only predicted pairs are): they come from
    ``bucc_gold`` (a callable language -> gold pair lines, or a folder holding, per language, a gold
    file of tab-separated pairs: ``test-<lang>.tsv`` or BUCC's ``<lang>-en.<split>.gold``); without it BUCC labels are
    not written. Tasks without an XTREME name are skipped. Returns {xtreme task: [languages]}.
    """
    samples = find_samples_dir(samples_dir, config)
    out = Path(out_dir)
    labels_out = Path(with_labels_dir) if with_labels_dir is not None else None
    written: dict[str, list[str]] = {}
    prefix = f"{split}-"
    for task_dir in sorted(p for p in samples.iterdir() if p.is_dir()):
        if task_dir.name not in HARNESS_TO_XTREME:
            continue
        task = HARNESS_TO_XTREME[task_dir.name]
        suffix = file_suffix(task, "xtreme-r" if task == "xcopa" else "xtreme")
        for log in sorted(task_dir.glob(f"{prefix}*.jsonl")):
            language = log.name[len(prefix):-len(".jsonl")]
            rows = _read_samples(log)
            target = f"test-{language}.{suffix}"
            _write_task_file(task, rows, "prediction", out / task / target)
            if labels_out is not None:
                if task == "bucc2018":
                    gold_pairs = _bucc_gold_pairs(bucc_gold, language)
                    if gold_pairs is not None:
                        _write_task_file(task, [{"gold": p} for p in gold_pairs], "gold",
                                         labels_out / task / target)
                else:
                    _write_task_file(task, rows, "gold", labels_out / task / target)
            written.setdefault(task, []).append(language)
    return written


def _bucc_gold_pairs(source: Callable[[str], Iterable[str]] | str | os.PathLike | None,
                     language: str) -> list[str] | None:
    if source is None:
        return None
    if callable(source):
        return ["\t".join(p) if not isinstance(p, str) else p for p in source(language)]
    folder = Path(source)
    candidates = [folder / f"test-{language}.tsv"] + sorted(folder.glob(f"{language}-en.*gold"))
    for candidate in candidates:
        if candidate.is_file():
            return [line for line in read_label(candidate) if line]
    return None
