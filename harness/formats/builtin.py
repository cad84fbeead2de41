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
    "mode": Option(str, None, "'search' (aligned pairs, Tatoeba) or 'mine' (bitext mining, BUCC); "
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
    }
