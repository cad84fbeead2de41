"""Image-text classification over (images, text[, text pair]): SNLI-VE/XVNLI, VQA/GQA as
classification, NLVR2/MaRVL image pairs. Shared with image_text_retrieval: image checks and batching.

Examples carry ``images``: a list of encoded images (base64 text or bytes). They are decoded and
checked on read (errors name file, row, the field and the image's index); features carry
:class:`~harness.engine.vision.ImageRef` (pixel hash + data), and the fused encoder looks their
features up in the vision tower's cache. Text-only encoders are refused with a one-line error.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.engine.vision import image_ref
from harness.errors import DataError, HarnessError
from harness.formats.base import ENCODER_INPUTS
from harness.formats.classification import Classification, ClassificationHead

IMAGE_INPUTS = ("images", "image_modes")


def check_images(example: dict[str, Any], most: int, least: int = 0) -> None:
    images = example["images"]
    if not least <= len(images) <= most:
        raise DataError(f"expected {least}..{most} images, got {len(images)}", field="images")
    for i, data in enumerate(images):
        try:
            image_ref(data)
        except DataError as exc:
            raise DataError(f"image {i}: {exc}", field="images") from None


def fused_encode(encoder: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """Last hidden state of the text encoder with the batch's images as a prefix."""
    if not hasattr(encoder, "fusion"):
        raise HarnessError("an image-text task needs a model with a vision tower: use --model TEXT+VISION "
                           "(e.g. minilm+clip-tiny-random) or a checkpoint trained with one")
    return encoder(**{k: batch[k] for k in (*ENCODER_INPUTS, *IMAGE_INPUTS) if k in batch}).last_hidden_state


def add_images(features: list[dict[str, Any]], examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for feature in features:
        example = examples[feature["example_index"]]
        feature["images"] = [image_ref(data) for data in example["images"]]
        feature["image_mode"] = example.get("image_mode", "")
    return features


def image_batch(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"images": [f["images"] for f in features], "image_modes": [f["image_mode"] for f in features]}


class ImageTextClassificationHead(ClassificationHead):
    def encode(self, encoder, batch):
        return fused_encode(encoder, batch)


class ImageTextClassification(Classification):
    """Classification with one or two images (``options.max_images``, default 2) before the text."""

    name = "image_text_classification"
    fields = {"text_a": str, "label": str, "images": list}

    def check(self, example, task):
        super().check(example, task)
        check_images(example, int(task.spec.options.get("max_images", 2)))

    def build_head(self, hidden_size, task):
        return ImageTextClassificationHead(hidden_size, len(task.spec.labels or []))

    def featurize(self, examples, tokenizer, task, max_length, train):
        return add_images(super().featurize(examples, tokenizer, task, max_length, train), examples)

    def collate(self, features, pad_id):
        return {**super().collate(features, pad_id), **image_batch(features)}

    def evaluate(self, model, task, examples, language, settings, **context):
        """Also scores the same examples with their images removed (``text_only_accuracy``): the
        model's reliance on the image. ``options.text_only_score: false`` skips it."""
        output = super().evaluate(model, task, examples, language, settings, **context)
        if task.spec.options.get("text_only_score", True):
            blind = super().evaluate(model, task, [{**e, "images": []} for e in examples], language, settings)
            output.metrics.update({f"text_only_{k}": v for k, v in blind.metrics.items()})
        return output
