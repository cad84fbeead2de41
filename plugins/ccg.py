"""CCG supertagging on CCGbank (English intermediate task). CCGbank (LDC2005T13) is licensed by the
LDC and is not on the Hugging Face hub: the task reads local files in CCGbank's AUTO format.

Where the files go: the task's local directory (``local:`` in tasks.yaml, or ``<DIR>/ccg`` with
``--data-dir <DIR>``); the first layout found wins, per split:

1. ``<dir>/<split>-en.auto``                 one AUTO file per split (the bundled sample's layout)
2. ``<dir>/<split>/**/*.auto``               a folder of AUTO files per split
3. ``<dir>/data/AUTO/NN/wsj_NNNN.auto``      the CCGbank release itself (or ``<dir>/AUTO/NN/...``),
                                             standard sections: train 02-21, dev 00, test 23

AUTO format: each derivation is a header line ``ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1`` followed by
one tree line whose leaves read ``(<L N/N NNP NNP Pierre N_73/N_73>)``: the supertag is the 2nd
field, the word the 5th.

Label set (computed from data, as is standard for supertaggers): the categories seen at least
``options.min_tag_count`` times (default 10, as in Clark & Curran's 425-category set) in the
TRAINING split, most frequent first (ties by name), plus :data:`UNKNOWN` last. Every rarer or unseen
category, in any split, maps to :data:`UNKNOWN`, so dev accuracy counts a rare gold category as
correct only when the model predicts :data:`UNKNOWN`. A ``labels:`` list in tasks.yaml overrides the
computation (categories outside it map to :data:`UNKNOWN` when it is listed, else fail the check).
The computation happens in :meth:`CCG.prepare_labels`, called on the first row read (or by the
tagging format when it needs the labels first); it sets ``spec.labels``.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterator

from harness import Option, Task, hookimpl
from harness.errors import DataError

UNKNOWN = "<UNK>"
MIN_TAG_COUNT = 10
#: CCGbank's standard WSJ sections per split
SECTIONS = {"train": [f"{n:02d}" for n in range(2, 22)], "dev": ["00"], "test": ["23"]}
LEAF = re.compile(r"\(<L ([^>]*)>\)")

LICENSE_HELP = ("CCGbank (LDC2005T13) is licensed by the Linguistic Data Consortium and is not on the "
                "Hugging Face hub: obtain it from the LDC, put its AUTO files under <DIR>/ccg/ and run with "
                "--data-dir <DIR> (or set the ccg task's 'local:' in tasks.yaml). <DIR>/ccg/ may hold "
                "train-en.auto and dev-en.auto, train/ and dev/ folders of *.auto files, or the CCGbank "
                "release itself (data/AUTO/NN/*.auto; sections 02-21 train, 00 dev, 23 test)")


def parse_auto(lines: Iterator[str], where: str) -> Iterator[tuple[int, dict]]:
    """Yield (line number of the ID line, {"id", "tokens", "supertags"}) per derivation."""
    header: tuple[int, str] | None = None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("ID="):
            if header is not None:
                raise DataError("derivation header without a tree", file=where, row=header[0], field="tree")
            header = (number, line.split()[0][3:])
            continue
        if header is None:
            raise DataError("tree line without an 'ID=' header line", file=where, row=number, field="ID")
        tokens, supertags = [], []
        for leaf in LEAF.finditer(line):
            fields = leaf.group(1).split()
            if len(fields) != 5:
                raise DataError(f"leaf '(<L {leaf.group(1)}>)' has {len(fields)} fields, expected 5 "
                                f"(L category POS POS word predarg)", file=where, row=number, field="tree")
            supertags.append(fields[0])
            tokens.append(fields[3])
        if not line.startswith("(<") or not tokens:
            raise DataError("not a CCGbank AUTO derivation (no '(<L ...>)' leaves)", file=where,
                            row=number, field="tree")
        yield header[0], {"id": header[1], "tokens": tokens, "supertags": supertags}
        header = None
    if header is not None:
        raise DataError("derivation header without a tree", file=where, row=header[0], field="tree")


class CCG(Task):
    name = "ccg"
    format = "tagging"
    options_schema = {"min_tag_count": Option(int, MIN_TAG_COUNT, "supertags seen fewer times in training "
                                                                  "become the unknown tag")}

    # -- files --------------------------------------------------------------------------------
    def local_files(self, split: str, language: str) -> list[Path]:
        """The AUTO files of one split (see the module docstring for the layouts); [] when none."""
        if self.spec.local is None:
            return []
        root = Path(self.spec.local)
        single = root / f"{split}-{language}.auto"
        if single.is_file():
            return [single]
        folder = root / split
        if folder.is_dir():
            files = sorted(folder.rglob("*.auto"))
            if files:
                return files
        for auto in (root / "data" / "AUTO", root / "AUTO"):
            if auto.is_dir() and split in SECTIONS:
                return [f for section in SECTIONS[split] for f in sorted((auto / section).glob("*.auto"))]
        return []

    def local_file(self, split, language):
        files = self.local_files(split, language)
        if files:
            return files[0] if len(files) == 1 else files[0].parent
        if self.spec.local is None:
            raise DataError(f"task '{self.name}' declares no local directory. {LICENSE_HELP}", field="local")
        return Path(self.spec.local) / f"{split}-{language}.auto"

    def local_rows(self, split, language):
        files = self.local_files(split, language)
        if not files:
            where = self.spec.local if self.spec.local is not None else "(no local directory)"
            raise DataError(f"no CCGbank AUTO files for split '{split}' in {where}. {LICENSE_HELP}",
                            file=str(where))
        for path in files:
            try:
                with open(path, encoding="utf-8") as handle:
                    for number, row in parse_auto(handle, str(path)):
                        yield str(path), number, row
            except UnicodeDecodeError as exc:
                raise DataError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", file=str(path)) from exc
            except OSError as exc:
                raise DataError(str(exc), file=str(path)) from exc

    def hub_rows(self, split, language):
        raise DataError(LICENSE_HELP, field="hub")

    # -- labels -------------------------------------------------------------------------------
    def prepare_labels(self) -> list[str]:
        """Compute ``spec.labels`` from the training split when tasks.yaml gives none."""
        if self.spec.labels is None:
            cutoff = int(self.spec.options.get("min_tag_count", MIN_TAG_COUNT))
            counts: Counter[str] = Counter()
            for _, _, row in self.local_rows("train", self.spec.train_language):
                counts.update(row["supertags"])
            frequent = sorted((tag for tag, n in counts.items() if n >= cutoff), key=lambda t: (-counts[t], t))
            self.spec.labels = frequent + [UNKNOWN]
        return self.spec.labels

    def to_example(self, row, split, language):
        labels = set(self.prepare_labels())
        tags = [tag if tag in labels or UNKNOWN not in labels else UNKNOWN for tag in row["supertags"]]
        return {"id": str(row["id"]), "tokens": row["tokens"], "tags": tags}


@hookimpl
def harness_register_tasks(register):
    register(CCG())
