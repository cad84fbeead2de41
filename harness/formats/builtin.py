"""The built-in formats: name -> (factory, options schema, description), registered by
``harness.defaults`` through ``harness_register_formats``. The factories import the format modules
(and torch) on first use only."""
from __future__ import annotations

import importlib
from typing import Any, Callable

from harness.spec.options import Option


def _lazy(module: str, cls: str) -> Callable[[], Any]:
    return lambda: getattr(importlib.import_module(f"harness.formats.{module}"), cls)()


QA_OPTIONS = {
    "doc_stride": Option(int, 128, "sub-tokens shared by consecutive windows of a long context"),
    "max_query_length": Option(int, 64, "question sub-tokens kept"),
    "max_answer_length": Option(int, 30, "longest answer span, in sub-tokens"),
    "n_best": Option(int, 20, "start and end candidates considered per window"),
    "windows": Option(str, "xtreme", "'xtreme' (window k starts at k * doc_stride, as run_squad.py) or 'hf' "
                                     "(run_qa.py's overlap)"),
}
RETRIEVAL_OPTIONS = {
    "mode": Option(str, None, "'search' (aligned pairs) or 'mine' (bitext mining); "
                              "default: the task class's 'retrieval' attribute"),
    "layer": Option(int, None, "hidden layer pooled into sentence embeddings (default: 14 of 24, scaled)"),
    "k": Option(int, 4, "neighbours of the margin score (mine)"),
    "margin": Option(str, "ratio", "'ratio' or 'distance' (mine)"),
    "mining": Option(str, "max", "'max', 'forward', 'backward' or 'intersect' (mine)"),
    "protocol": Option(str, "xtreme", "where the mining threshold is tuned: 'xtreme' (on dev) or 'jiant' "
                                      "(on the evaluated split's own gold)"),
    "query_order": Option(str, "given", "order of the search rows: 'given', or 'sorted' by query text "
                                        "(default: the task class's 'query_order' attribute)"),
}


DUAL_ENCODER_OPTIONS = {
    "candidates": Option(str, None, "candidate file in the task's directory ({split} is filled in)"),
    "pooling": Option(str, "cls", "'cls' (first token, as XTREME-R) or 'mean'"),
    "scale": Option(float, 100.0, "initial value of the learnable logit scale"),
    "k": Option(int, 20, "candidates retrieved per query (MRR@k, MAP@k)"),
    "query_max_length": Option(int, None, "query sub-tokens (default: the max_length hyperparameter)"),
    "candidate_max_length": Option(int, None, "candidate sub-tokens (default: the max_length hyperparameter)"),
    "shard_mb": Option(float, 256.0, "memory budget of one shard of candidate embeddings"),
}
IMAGE_TEXT_CLASSIFICATION_OPTIONS = {
    "max_images": Option(int, 2, "images an example may carry"),
    "text_only_score": Option(bool, True, "also score the examples with their images removed"),
}
IMAGE_TEXT_RETRIEVAL_OPTIONS = {
    "embedding_dim": Option(int, 256, "size of the shared image-text embedding"),
}


def builtin_formats() -> dict[str, tuple[Callable[[], Any], dict[str, Option], str]]:
    return {
        "classification": (_lazy("classification", "Classification"), {},
                           "(pair) classification on the first token"),
        "multiple_choice": (_lazy("multiple_choice", "MultipleChoice"), {},
                            "one score per (context, choice), softmax over choices"),
        "tagging": (_lazy("tagging", "Tagging"), {}, "one tag per word, scored on its first sub-token"),
        "qa": (_lazy("qa", "ExtractiveQA"), QA_OPTIONS, "extractive QA over sliding windows"),
        "retrieval": (_lazy("retrieval", "Retrieval"), RETRIEVAL_OPTIONS,
                      "sentence-embedding search and bitext mining, no training"),
        "dual_encoder": (_lazy("dual_encoder", "DualEncoder"), DUAL_ENCODER_OPTIONS,
                         "queries and candidates embedded by one encoder, k-NN over a candidate set"),
        "image_text_classification": (_lazy("image_text_classification", "ImageTextClassification"),
                                      IMAGE_TEXT_CLASSIFICATION_OPTIONS, "classification with images before the text"),
        "image_text_retrieval": (_lazy("image_text_retrieval", "ImageTextRetrieval"), IMAGE_TEXT_RETRIEVAL_OPTIONS,
                                 "contrastive image-caption retrieval"),
    }
