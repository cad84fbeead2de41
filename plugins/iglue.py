"""IGLUE targets (Bugliarello et al. 2022): XVNLI, xGQA, MaRVL, xFlickr&CO, zero-shot from English.

XVNLI's premise is a Flickr30k caption, so the same rows also run as text (``xvnli-text``:
caption + hypothesis) and with both (``xvnli-both``: image + caption + hypothesis): the three
conditions of the multimodal-vs-unimodal comparison. Images may come as base64 text, bytes, a
``{"bytes": ...}`` mapping (parquet) or a PIL image (``datasets``); ``id`` is the parallel id that
joins languages.
"""
from __future__ import annotations

import io

from harness import Option, Task, hookimpl


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


class XVNLI(Task):
    name, format, premise = "xvnli", "image_text_classification", "image"

    def to_example(self, row, split, language):
        example = {"id": row["id"], "label": row["label"]}
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


class XGQA(Task):
    options_schema = {"skip_unmatched": Option(bool, False, "drop rows whose answer is no label")}
    name, format = "xgqa", "image_text_classification"

    def to_example(self, row, split, language):
        answer = row["answer"].strip().lower()
        if answer not in (self.spec.labels or []) and self.spec.options.get("skip_unmatched"):
            return None  # outside the answer vocabulary
        return {"id": row["id"], "text_a": row["question"], "images": [image_value(row["image"])], "label": answer}


class MaRVL(Task):
    name, format = "marvl", "image_text_classification"

    def to_example(self, row, split, language):
        label = row["label"]
        label = str(label).lower() if isinstance(label, (bool, str)) else label
        return {"id": row["id"], "text_a": row["caption"], "label": label,
                "images": [image_value(row["left_img"]), image_value(row["right_img"])]}


class XFlickrCO(Task):
    name, format = "xflickrco", "image_text_retrieval"

    def to_example(self, row, split, language):
        return {"id": row["id"], "text_a": row["caption"], "images": [image_value(row["image"])]}


@hookimpl
def harness_register_tasks(register):
    for task in (XVNLI(), XVNLIText(), XVNLIBoth(), XGQA(), MaRVL(), XFlickrCO()):
        register(task)
