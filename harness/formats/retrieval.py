"""Sentence retrieval without training (Tatoeba, BUCC): pooled hidden states + nearest neighbours.

Two protocols; a task picks one with its ``retrieval`` class attribute (or ``options.mode``):

* ``search`` (Tatoeba): examples are aligned pairs ``{id, source, target}`` (source = the
  non-English side). As XTREME's ``similarity_search``, every English sentence queries the
  non-English sentences; ``accuracy`` = top-1 accuracy, ``accuracy_reverse`` the other direction.
  A prediction is the index of the retrieved sentence among the sources in their given order; the
  gold is the query's own index. Rows come out in the order of the query file, ``query_order``
  (task attribute or option): ``given``, or ``sorted`` by query text (code points, stable), the
  order of XTREME's Tatoeba test files, whose hidden labels follow it.
* ``mine`` (BUCC): examples are sentences ``{id, side: "source"|"target", text}`` and gold links
  ``{id, side: "gold", source_id, target_id}``. Bitexts are mined with the margin criterion
  (options ``k``, ``margin``, ``mining``), the score threshold is tuned on the dev split (loaded
  through the ``load`` callable the pipeline passes) and applied to the evaluated split.

Options shared by both: ``layer`` (hidden_states index; default :func:`~harness.engine.encoding.default_layer`).
Metrics are fractions in [0, 1].
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from harness.engine.encoding import default_layer, encode
from harness.errors import DataError
from harness.engine.inference import latency_stats
from harness.engine.memory import peak_memory
from harness.engine.retrieval import bucc_f1, knn, mine, optimize_threshold, tatoeba_accuracy
from harness.formats.base import EvalOutput, Format, register_format

SIDES = ("source", "target", "gold")


class Retrieval(Format):
    name = "retrieval"
    trainable = False
    fields: dict[str, Any] = {}

    @staticmethod
    def mode(task) -> str:
        mode = task.spec.options.get("mode") or getattr(task, "retrieval", None)
        if mode not in ("search", "mine"):
            raise DataError(f"task '{task.name}' must choose retrieval mode 'search' or 'mine' "
                            f"(got {mode!r})", field="options.mode")
        return mode

    def check(self, example, task):
        super().check(example, task)
        if self.mode(task) == "search":
            required = {"source": str, "target": str}
        else:
            if example.get("side") not in SIDES:
                raise DataError(f"expected one of {', '.join(SIDES)}, got {example.get('side')!r}", field="side")
            required = {"source_id": str, "target_id": str} if example["side"] == "gold" else {"text": str}
        for name, kind in required.items():
            if not isinstance(example.get(name), kind):
                raise DataError("missing value" if example.get(name) is None else
                                f"expected {kind.__name__}, got {type(example[name]).__name__}", field=name)

    def gold(self, example):
        return example.get("target")

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, model, task, examples, language, settings, **context):
        options = task.spec.options
        layer = options.get("layer")
        layer = default_layer(model.num_layers) if layer is None else int(layer)
        batch_stats: list[float] = []
        counted = [0]

        def embed(sentences: list[str]) -> np.ndarray:
            info: dict[str, Any] = {}
            emb = encode(model, model.tokenizer, sentences, layer=layer, batch_size=settings.eval_batch_size,
                         max_length=settings.max_length, token_budget=settings.eval_token_budget,
                         device=model.device, normalize=True, mixed_precision=settings.mixed_precision, stats=info)
            batch_stats.extend(info["batch_seconds"])
            counted[0] += len(sentences)
            return emb

        start = time.perf_counter()
        with peak_memory(model.device) as memory:
            if self.mode(task) == "search":
                output = self._search(embed, examples, self.query_order(task))
            else:
                output = self._mine(embed, examples, options, context)
        seconds = time.perf_counter() - start
        output.stats = {**output.stats, "seconds": seconds, "examples_per_s": len(examples) / max(seconds, 1e-9),
                        "sentences_encoded": counted[0], "sentences_per_s": counted[0] / max(seconds, 1e-9),
                        "layer": layer,
                        **latency_stats(batch_stats), **memory.stats()}
        return output

    @staticmethod
    def query_order(task) -> str:
        order = task.spec.options.get("query_order") or getattr(task, "query_order", "given")
        if order not in ("given", "sorted"):
            raise DataError(f"task '{task.name}': query_order must be 'given' or 'sorted' (got {order!r})",
                            field="options.query_order")
        return order

    @staticmethod
    def _search(embed, examples, query_order: str = "given") -> EvalOutput:
        source = embed([e["source"] for e in examples])
        target = embed([e["target"] for e in examples])
        gold = list(range(len(examples)))
        predicted = knn(target, source, 1)[1][:, 0].tolist()   # English queries the other language
        reverse = knn(source, target, 1)[1][:, 0].tolist()
        metrics = {"accuracy": tatoeba_accuracy(predicted, gold),
                   "accuracy_reverse": tatoeba_accuracy(reverse, gold)}
        rows = sorted(gold, key=lambda i: examples[i]["target"]) if query_order == "sorted" else gold
        return EvalOutput(metrics=metrics, ids=[examples[i]["id"] for i in rows],
                          predictions=[predicted[i] for i in rows], golds=rows)

    def _mine(self, embed, examples, options, context) -> EvalOutput:
        settings = {"k": int(options.get("k", 4)), "margin": options.get("margin", "ratio"),
                    "mode": options.get("mining", "max")}
        candidates, gold = _candidates(embed, examples, settings)
        load = context.get("load")
        if context.get("split") == "dev" or load is None:
            tuned_on = "evaluated split"
            threshold, *_ = optimize_threshold(candidates, gold)
        else:
            tuned_on = "dev"
            dev_candidates, dev_gold = _candidates(embed, load("dev"), settings)
            threshold, *_ = optimize_threshold(dev_candidates, dev_gold)
        predicted = sorted({(s, t) for s, t, score in candidates if score >= threshold})
        metrics = {**bucc_f1(predicted, gold), "threshold": float(threshold)}
        strings = [f"{s}\t{t}" for s, t in predicted]
        return EvalOutput(metrics=metrics, ids=strings, predictions=strings,
                          golds=[f"{s}\t{t}" for s, t in sorted(gold)],
                          stats={"threshold_from_dev": float(tuned_on == "dev")})


def _candidates(embed, examples, settings) -> tuple[list[tuple[str, str, float]], set[tuple[str, str]]]:
    """Mined (source id, target id, margin score) candidates and the gold pairs of one split.

    As XTREME (LASER ``--unify`` plus ``read_sent2id``), each side is mined over its distinct
    sentences, and a sentence text that occurs under several ids yields no candidate.
    """
    gold = {(e["source_id"], e["target_id"]) for e in examples if e["side"] == "gold"}
    sides = []
    for side in ("source", "target"):
        ids_of: dict[str, list[str]] = {}
        for e in examples:
            if e["side"] == side:
                ids_of.setdefault(e["text"].strip(), []).append(e["id"])
        sides.append((list(ids_of), ids_of))
    (src_texts, src_ids), (trg_texts, trg_ids) = sides
    if not src_texts or not trg_texts:
        return [], gold
    pairs = mine(embed(src_texts), embed(trg_texts), **settings)
    out = []
    for i, j, score in pairs:
        src, trg = src_ids[src_texts[i]], trg_ids[trg_texts[j]]
        if len(src) == 1 and len(trg) == 1:
            out.append((src[0], trg[0], score))
    return out, gold


register_format(Retrieval())
