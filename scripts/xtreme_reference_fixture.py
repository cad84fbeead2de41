"""Regenerate tests/data/xtreme_generated: submissions derived from XTREME's mock labels, with the
official scorer's numbers for them.

    python scripts/xtreme_reference_fixture.py OFFICIAL_SCORER

OFFICIAL_SCORER is a command taking ``PRED_DIR LABEL_DIR VERSION OUT_JSON`` that runs the unmodified
``evaluate.py`` of google-research/xtreme (from its repository root, with seqeval==0.0.12 installed,
the version XTREME's 2020 setup installed). For every submission under tests/data/xtreme_generated
and for XTREME's own mock predictions (tests/data/xtreme_mock) it writes ``official-xtreme.json`` (all nine XTREME tasks) and ``official-xtreme-r.json`` (the
XTREME-R tasks the mock data covers fully: xnli, mewslix, mlqa, tydiqa).

Submissions (seeded, so a rerun writes the same files): ``perturbed`` changes about a fifth of the
gold (tags, labels, indices, pairs, answer words, entity ranks); ``random`` draws every prediction
at random from the gold's own vocabulary. Tagging predictions keep each sentence's length.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "xtreme_mock" / "labels"
MOCK_PREDICTIONS = LABELS.parent / "predictions"
OUT = ROOT / "tests" / "data" / "xtreme_generated"
SUBMISSIONS = {"perturbed": 0.2, "random": 1.0}
XTREME_R_COVERED = ("xnli", "mewslix", "mlqa", "tydiqa")
WORDS = ["the", "a", "an", "der", "la", ",", ".", "!", "de", "el"]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _tags(rng: random.Random, lines: list[str], vocabulary: list[str], p: float) -> list[str]:
    return [line if not line.strip() or rng.random() >= p else rng.choice(vocabulary) for line in lines]


def _answer(rng: random.Random, text: str, p: float) -> str | None:
    """A perturbed answer; None drops the question from the predictions."""
    if rng.random() >= p:
        return text
    words = text.split()
    edit = rng.randrange(5)
    if edit == 0:
        return None
    if edit == 1 and len(words) > 1:
        return " ".join(words[:-1])
    if edit == 2:
        return f"{rng.choice(WORDS)} {text}"
    if edit == 3:
        return text + rng.choice(WORDS)
    return " ".join(rng.sample(words, len(words)))


def _qa_golds(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return {qa["id"]: qa["answers"][0]["text"] for article in data for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]}


def generate(name: str, p: float) -> Path:
    rng = random.Random(f"xtreme-{name}")
    out = OUT / name / "predictions"
    shutil.rmtree(out, ignore_errors=True)
    for task_dir in sorted(LABELS.iterdir()):
        task = task_dir.name
        files = sorted(task_dir.iterdir())
        (out / task).mkdir(parents=True)
        if task in ("udpos", "panx", "pawsx", "xnli"):
            vocabulary = sorted({t for f in files for t in _lines(f) if t.strip()})
        for path in files:
            target = out / task / path.name
            if task in ("udpos", "panx", "pawsx", "xnli"):
                target.write_text("\n".join(_tags(rng, _lines(path), vocabulary, p)) + "\n", encoding="utf-8")
            elif task == "tatoeba":
                gold = _lines(path)
                target.write_text("".join(f"{g if rng.random() >= p else rng.randrange(len(gold) * 2)}\n"
                                          for g in gold), encoding="utf-8")
            elif task == "bucc2018":
                pairs = [line.split("\t") for line in _lines(path)]
                sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
                kept = [f"{s}\t{t}" for s, t in pairs if rng.random() >= p]
                extra = [f"{rng.choice(sources)}\t{rng.choice(targets)}" for _ in range(round(len(pairs) * p))]
                target.write_text("".join(f"{line}\n" for line in kept + extra), encoding="utf-8")
            elif task == "mewslix":
                gold = json.loads(path.read_text(encoding="utf-8"))
                mock = json.loads((MOCK_PREDICTIONS / task / path.name).read_text(encoding="utf-8"))
                pool = sorted({e for ranked in mock.values() for e in ranked})
                predictions = {}
                for example_id, labels in gold.items():
                    ranked = [e for e in rng.sample(pool, len(pool)) if e != labels[0]][:20]
                    if rng.random() >= p:
                        ranked.insert(rng.randrange(25), labels[0])
                    predictions[example_id] = ranked
                target.write_text(json.dumps(predictions, ensure_ascii=False, indent=1), encoding="utf-8")
            else:   # SQuAD-style QA
                golds = _qa_golds(path)
                pool = sorted({w for text in golds.values() for w in text.split()})
                predictions = {}
                for qid, text in golds.items():
                    answer = _answer(rng, text, p) if p < 1 else " ".join(rng.sample(pool, min(3, len(pool))))
                    if answer is not None:
                        predictions[qid] = answer
                target.write_text(json.dumps(predictions, ensure_ascii=False, indent=1), encoding="utf-8")
    return out


def official(scorer: list[str], predictions: Path) -> None:
    subprocess.run([*scorer, str(predictions), str(LABELS), "xtreme",
                    str(predictions.parent / "official-xtreme.json")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:   # the mock data lacks XTREME-R's other tasks' languages
        for task in XTREME_R_COVERED:
            shutil.copytree(LABELS / task, Path(tmp) / task)
        subprocess.run([*scorer, str(predictions), tmp, "xtreme-r",
                        str(predictions.parent / "official-xtreme-r.json")], check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    official(argv, MOCK_PREDICTIONS)
    for name, p in SUBMISSIONS.items():
        official(argv, generate(name, p))
        print(f"{name}: {OUT / name}")


if __name__ == "__main__":
    main(sys.argv[1:])
