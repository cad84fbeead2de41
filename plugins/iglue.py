"""IGLUE targets (Bugliarello et al. 2022): XVNLI, xGQA, MaRVL, xFlickr&CO, zero-shot from English.

XVNLI's premise is a Flickr30k caption, so the same rows also run as text (``xvnli-text``:
caption + hypothesis) and with both (``xvnli-both``: image + caption + hypothesis): the three
conditions of the multimodal-vs-unimodal comparison. Images may come as base64 text, bytes, a
``{"bytes": ...}`` mapping (parquet) or a PIL image (``datasets``); ``id`` is the parallel id that
joins languages.

Hub layout (``floschne/{xvnli,xgqa,marvl,xflickrco}``, see DATA_SOURCES.md): each repo holds the IGLUE
*test* sets only, one split per language (``split="de"``), with no train/validation splits; the
English training and dev data (SNLI-VE, GQA, NLVR2, Flickr30k/COCO) are read from the local
directory. Columns as evidenced: MaRVL's statement is ``hypothesis`` (images ``left_img``,
``right_img``); xFlickr&CO's caption is ``sentences`` (with ``id``, ``image``); XVNLI has
``caption``, ``hypothesis``, ``label`` (a string) and ``image``; xGQA ``question``, ``answer``,
``image``. Local sample rows use the same column names.
"""
from __future__ import annotations

import io

from harness import Option, Task, hookimpl
from harness.errors import DataError
from harness.spec import tasks as spec_tasks


def image_value(value):
    """An image cell as base64 text or encoded bytes."""
    if isinstance(value, dict):
        value = value.get("bytes")
    if hasattr(value, "save"):  # a PIL image (datasets' Image feature)
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    if not isinstance(value, (str, bytes)):
        raise TypeError(f"expected an encoded image, got {type(value).__name__}")
    return value


def _id(row) -> dict:
    """The row's ``id``, when it has one (otherwise the harness numbers the rows of each file)."""
    return {"id": row["id"]} if "id" in row else {}


class IGLUETask(Task):
    """An IGLUE task whose hub repo keeps one test split per language.

    ``parallel_key``: the image column of a test set whose languages are translations of the same
    rows. No ``id`` column is evidenced for those hub rows, so a row without one gets
    ``<image>#<position>``: rows at the same position of two languages join (the paired weakness
    rate) when they show the same image, and a misaligned split makes the ids differ, which the gap
    report names as missing parallel ids instead of pairing the wrong rows."""
    parallel_key: str | None = None

    def hub_refusal(self, split, language):
        hub = self.spec.hub_for(language)
        if hub is not None and split != "test":
            return (f"hub dataset '{hub.path}' holds only the IGLUE test sets (one split per language), "
                    f"not the {split} split: read {split}-{language} from --data-dir")
        return None

    def hub_rows(self, split, language):
        hub = self.spec.hub_for(language)
        if hub is None:
            raise DataError(f"task '{self.name}' declares no hub source", field="hub")
        refusal = self.hub_refusal(split, language)
        if refusal:
            raise DataError(refusal, field="hub")
        rows = spec_tasks.read_hub(hub, hub.name.format(lang=language) if hub.name else None, language)
        for origin, number, row in rows:
            if "id" not in row and self.parallel_key and self.parallel_key in row:
                row = {**row, "id": f"{row[self.parallel_key]}#{number}"}
            yield origin, number, row


class XVNLI(IGLUETask):
    name, format, premise = "xvnli", "image_text_classification", "image"
    parallel_key = "flikr30k_id"

    def to_example(self, row, split, language):
        example = {"label": row["label"], **_id(row)}
        if self.premise == "caption":
            return {**example, "text_a": row["caption"], "text_b": row["hypothesis"]}
        example["images"] = [image_value(row["image"])]
        if self.premise == "both":
            return {**example, "text_a": row["caption"], "text_b": row["hypothesis"]}
        return {**example, "text_a": row["hypothesis"]}


class XVNLIText(XVNLI):
    name, format, premise = "xvnli-text", "classification", "caption"


class XVNLIBoth(XVNLI):
    name, premise = "xvnli-both", "both"


class XGQA(IGLUETask):
    options_schema = {"skip_unmatched": Option(bool, False, "drop rows whose answer is no label")}
    name, format = "xgqa", "image_text_classification"
    parallel_key = "image_id"

    def to_example(self, row, split, language):
        answer = row["answer"].strip().lower()
        if answer not in (self.spec.labels or []) and self.spec.options.get("skip_unmatched"):
            return None  # outside the answer vocabulary
        return {**_id(row), "text_a": row["question"], "images": [image_value(row["image"])], "label": answer}


class MaRVL(IGLUETask):
    name, format = "marvl", "image_text_classification"

    def to_example(self, row, split, language):
        label = row["label"]
        label = str(label).lower() if isinstance(label, (bool, str)) else label
        return {"id": row["id"], "text_a": row["hypothesis"], "label": label,
                "images": [image_value(row["left_img"]), image_value(row["right_img"])]}


class XFlickrCO(IGLUETask):
    name, format = "xflickrco", "image_text_retrieval"

    def to_example(self, row, split, language):
        caption = row["sentences"]
        if not isinstance(caption, str):
            raise DataError(f"expected one caption string, got {type(caption).__name__}", field="sentences")
        return {"id": row["id"], "text_a": caption, "images": [image_value(row["image"])]}


@hookimpl
def harness_register_tasks(register):
    for task in (XVNLI(), XVNLIText(), XVNLIBoth(), XGQA(), MaRVL(), XFlickrCO()):
        register(task)
