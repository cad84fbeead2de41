"""BUCC 2018 bitext mining (XTREME): find the translation pairs hidden in two monolingual corpora.

The hub's ``bucc18`` configs hold only the gold pairs, which is not enough to mine, so this task
reads the original BUCC 2018 files from the ``local`` directory (or --data-dir):
``<lang>-en.<split>.<lang>`` and ``<lang>-en.<split>.en`` (lines ``id<TAB>sentence``) and
``<lang>-en.<split>.gold`` (lines ``source id<TAB>English id``). As XTREME, the ``sample`` split is
dev (threshold tuning) and ``training`` is test (tasks.yaml ``splits``). With ``options.protocol:
jiant`` both splits read ``sample``: jiant (the X-STILTs paper's code) reports BUCC on it, with the
threshold tuned on its own gold (see harness/formats/retrieval.py).

Sentences keep their text as the line holds it (only the line break removed): under XTREME's
protocol, lines that differ only in surrounding whitespace are separate points of the k-NN.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.errors import DataError


class BUCC(Task):
    name = "bucc"
    format = "retrieval"
    retrieval = "mine"
    limit_rows = False  # sentences first, then gold pairs: a row limit would drop the gold

    def split_name(self, split):
        """The BUCC split a harness split reads: tasks.yaml ``splits``; under jiant's protocol the
        dev split's (``sample``) for both."""
        from harness.formats.retrieval import Retrieval   # imports torch: not at start-up

        if Retrieval.protocol(self) == "jiant":
            split = "dev"
        return self.spec.splits.get(split, split)

    def local_file(self, split, language):
        return self.spec.local / f"{language}-en.{self.split_name(split)}.gold"

    def local_files(self, split, language):
        gold = self.local_file(split, language)
        return [gold.with_suffix(f".{suffix}") for suffix in (language, "en", "gold")]

    def to_example(self, row, split, language):
        if row["side"] == "gold":
            return {"id": f"gold:{row['source_id']}:{row['target_id']}", "side": "gold",
                    "source_id": row["source_id"], "target_id": row["target_id"]}
        return {"id": row["sentence_id"], "side": row["side"], "text": row["text"]}

    def gold_pairs(self, split, language):
        """The gold pairs (``source id<TAB>English id`` lines) of a split, as the split reads them."""
        return [f"{row['source_id']}\t{row['target_id']}" for _, _, row in self.local_rows(split, language)
                if row["side"] == "gold"]

    def export_golds(self, split, language):
        """The labels of a submission: the gold pairs, which the logs (predicted pairs) lack."""
        return self.gold_pairs(split, language)

    def hub_rows(self, split, language):
        raise DataError("BUCC 2018 is not on the hub in a form that can be mined (google/xtreme's "
                        "bucc18 configs only hold the gold pairs): download the sample and training "
                        "data from https://comparable.limsi.fr/bucc2018/ and point the task's `local` "
                        "(or --data-dir) at the directory holding <lang>-en.<split>.{<lang>,en,gold}",
                        field="hub")

    def local_rows(self, split, language):
        if self.spec.local is None:
            raise DataError(f"task '{self.name}' declares no local directory", field="local")
        prefix = self.spec.local / f"{language}-en.{self.split_name(split)}"
        known: dict[str, set[str]] = {}
        for side, suffix in (("source", language), ("target", "en")):
            known[side] = set()
            for path, number, fields in _tsv(prefix.with_name(f"{prefix.name}.{suffix}"), 2):
                known[side].add(fields[0].strip())
                yield path, number, {"side": side, "sentence_id": fields[0].strip(), "text": fields[1]}
        for path, number, fields in _tsv(prefix.with_name(f"{prefix.name}.gold"), 2):
            source_id, target_id = (f.strip() for f in fields)
            for value, side, field in ((source_id, "source", "source_id"), (target_id, "target", "target_id")):
                if value not in known[side]:
                    raise DataError(f"unknown {side} sentence id {value!r}", file=path, row=number, field=field)
            yield path, number, {"side": "gold", "source_id": source_id, "target_id": target_id}


def _tsv(path, width):
    """(file, row number, fields) of a tab-separated file with ``width`` columns, each field as the
    line holds it (the line break removed; blank lines skipped)."""
    if not path.exists():
        raise DataError(f"missing BUCC 2018 file (expected {path})", file=str(path))
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            fields = line.split("\t", width - 1)
            if len(fields) != width or not all(f.strip() for f in fields):
                raise DataError(f"expected {width} tab-separated non-empty fields, got {len(fields)}",
                                file=str(path), row=number)
            yield str(path), number, fields


@hookimpl
def harness_register_tasks(register):
    register(BUCC())
