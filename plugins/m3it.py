"""M3IT (Li et al. 2023) intermediate tasks recast for an encoder, and the M3IT-80 translated control.

M3IT rows are generative: ``instruction, inputs, image_base64_str (list), outputs``. A label adapter
turns ``outputs`` into a class (``options.answers`` maps normalised outputs to labels, else a label
named in the output is taken); ``options.skip_unmatched`` drops rows whose output is no label (VQA
answers outside the frequent-answer vocabulary). Captioning becomes caption<->image contrastive
training. The hub repos ship a loading script: the raw ``options.file`` is read with
``hf_hub_download`` (pinned by ``hub.revision`` when one is set); the records carry the revision and
the commit it resolved to. Per the cards (DATA_SOURCES.md) vqa-v2 has no test split in M3IT or
M3IT-80, and M3IT-80 has no English: its English arm reads M3IT's own file (a ``hub_overrides``
entry with ``files``), 30,000 training rows against 500 per translated language, so compare arms at
one size (``harness grid --sizes 500``). The raw file paths themselves are not yet evidenced.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness import Option, Task, hookimpl
from harness.errors import DataError
from harness.spec.tasks import HubOrigin, read_data_file


def normalise(text: str) -> str:
    return re.sub(r"[^\w\s-]", "", text.lower()).strip()


class M3IT(Task):
    options_schema = {
        "file": Option(str, None, "the raw JSONL file in the hub repo ({split}, {lang} filled in)"),
        "answers": Option(dict, None, "normalised output -> label"),
        "skip_unmatched": Option(bool, False, "drop rows whose output is no label"),
    }
    format = "image_text_classification"

    def __init__(self, name: str, fmt: str | None = None):
        self.name = name
        self.format = fmt or self.format

    def images(self, row) -> list[str]:
        images = row["image_base64_str"]
        if not isinstance(images, list):
            raise DataError(f"expected a list of base64 images, got {type(images).__name__}", field="image_base64_str")
        return images

    def label(self, outputs: str) -> str | None:
        text, labels = normalise(outputs), self.spec.labels or []
        answers = self.spec.options.get("answers") or {}
        if text in answers or text in labels:
            return answers.get(text, text)
        named = [label for label in labels if re.search(rf"\b{re.escape(label)}\b", text)]
        if len(named) == 1:
            return named[0]
        if self.spec.options.get("skip_unmatched"):
            return None
        raise DataError(f"output {outputs[:60]!r} names no label of {labels}", field="outputs")

    def to_example(self, row, split, language):
        if self.format == "image_text_retrieval":
            return {"text_a": row["outputs"], "images": self.images(row)[:1]}
        label = self.label(row["outputs"])
        if label is None:
            return None
        return {"text_a": row["inputs"] or row["instruction"], "images": self.images(row), "label": label}

    def hub_rows(self, split, language):
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

        hub = self.spec.hub_for(language)
        if hub is None or "file" not in self.spec.options:
            raise DataError(f"task '{self.name}' declares no hub file", field="options.file")
        hub_split = self.spec.splits.get(split, split)
        # a language's own source may name its files (M3IT-80's English arm is M3IT's own file)
        names = (hub.files or {}).get(hub_split) or [self.spec.options["file"].format(split=hub_split, lang=language)]
        for name in names:
            try:
                path = Path(hf_hub_download(hub.path, name, repo_type="dataset", revision=hub.revision))
            except (EntryNotFoundError, RevisionNotFoundError) as exc:
                # the raw paths are not evidenced (DATA_SOURCES.md): say which file, and how to point elsewhere
                raise DataError(f"{hub.path} has no file {name} at {hub.revision or 'its main branch'} "
                                f"({type(exc).__name__}); set the task's options.file (or a hub_overrides "
                                f"entry's files) in a --tasks-file", field="options.file") from None
            # the cached file lies in snapshots/<commit>/<name>: the commit the revision resolved to
            origin = HubOrigin(hub.path, name, hub_split, hub.revision,
                               path.parents[len(Path(name).parts) - 1].name, "files")
            for number, row in enumerate(read_data_file(path), start=1):
                yield origin, number, row


@hookimpl
def harness_register_tasks(register):
    register(M3IT("m3it-snli-ve"))
    register(M3IT("m3it-coco-itm"))
    register(M3IT("m3it-vqa-v2"))
    register(M3IT("m3it-coco", "image_text_retrieval"))
    register(M3IT("m3it80-vqa-v2"))
