"""Sentence retrieval without training: pooled hidden states + nearest neighbours.

Two protocols; a task picks one with its ``retrieval`` class attribute (or ``options.mode``):

* ``search`` (parallel-sentence search): examples are aligned pairs ``{id, source, target}`` (source = the
  non-English side). As XTREME's ``similarity_search``, every English sentence queries the
  non-English sentences; ``accuracy`` = top-1 accuracy, ``accuracy_reverse`` the other direction.
  A prediction is the index of the retrieved sentence among the sources in their given order; the
  gold is the query's own index. Rows come out in the order of the query file, ``query_order``
  (task attribute or option): ``given``, or ``sorted`` by query text (code points, stable), the
  order of XTREME's test files for sentence search, whose hidden labels follow it.
* ``mine`` (bitext mining): examples are sentences ``{id, side: "source"|"target", text}`` (``text`` as the
  line holds it) and gold links ``{id, side: "gold", source_id, target_id}``. Bitexts are mined
  with the margin criterion (options ``k``, ``margin``, ``mining``; see ``_candidates`` for which
  lines are points and how mined sentences map back to ids), the pairs scoring at least a threshold
  are predicted. ``options.protocol`` picks where the threshold comes from:

  - ``xtreme`` (default, XTREME): tuned on the dev split (loaded through the
    ``load`` callable the pipeline passes) and applied to the evaluated split (``training`` for test).
  - ``jiant`` (jiant, the X-STILTs paper's code): tuned on the evaluated split's own gold (a task
    plugin may then read its dev data for both splits, as jiant does).

  Ties are broken the same way every time: k-NN neighbours of equal similarity by index, mined
  pairs of equal score in the order forward (by source line) then backward (by target line), the
  threshold sweep in that candidate order (the first best F1 wins), and every pair scoring exactly
  the threshold is extracted.

Options shared by both: ``layer`` (hidden_states index; default :func:`~harness.engine.encoding.default_layer`).
Metrics are fractions in [0, 1].
"""
from __future__ import annotations

import itertools
import time
from typing import Any, ClassVar

import numpy as np

from harness.engine.encoding import default_layer, encode
from harness.errors import DataError
from harness.engine.batches import latency_stats
from harness.engine.memory import peak_memory
from harness.engine.retrieval import knn, mine, optimize_threshold, pair_f1, top1_accuracy
from harness.formats.base import EvalOutput, Format

SIDES = ("source", "target", "gold")
PROTOCOLS = ("xtreme", "jiant")


def _choice(task, name: str, allowed: tuple[str, ...], default: str | None) -> str:
    """The task's ``options.<name>``, else ``default``; a DataError unless one of ``allowed``."""
    value = task.spec.options.get(name) or default
    if value not in allowed:
        raise DataError(f"task '{task.name}': options.{name} must be one of {', '.join(allowed)} "
                        f"(got {value!r})", field=f"options.{name}")
    return value


class Retrieval(Format):
    name = "retrieval"
    trainable = False
    fields: ClassVar[dict[str, Any]] = {}

    @staticmethod
    def mode(task) -> str:
        return _choice(task, "mode", ("search", "mine"), getattr(task, "retrieval", None))

    @staticmethod
    def query_order(task) -> str:
        return _choice(task, "query_order", ("given", "sorted"), getattr(task, "query_order", "given"))

    @staticmethod
    def protocol(task) -> str:
        """Mining protocol: ``xtreme`` (default) or ``jiant``; see the module docstring."""
        return _choice(task, "protocol", PROTOCOLS, "xtreme")

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
                output = self._mine(embed, examples, task, context)
        seconds = time.perf_counter() - start
        output.stats = {**output.stats, "seconds": seconds, "examples_per_s": len(examples) / max(seconds, 1e-9),
                        "sentences_encoded": counted[0], "sentences_per_s": counted[0] / max(seconds, 1e-9),
                        "layer": layer,
                        **latency_stats(batch_stats), **memory.stats()}
        return output

    @staticmethod
    def _search(embed, examples, query_order: str = "given") -> EvalOutput:
        source = embed([e["source"] for e in examples])
        target = embed([e["target"] for e in examples])
        gold = list(range(len(examples)))
        predicted = knn(target, source, 1)[1][:, 0].tolist()   # English queries the other language
        reverse = knn(source, target, 1)[1][:, 0].tolist()
        metrics = {"accuracy": top1_accuracy(predicted, gold),
                   "accuracy_reverse": top1_accuracy(reverse, gold)}
        rows = sorted(gold, key=lambda i: examples[i]["target"]) if query_order == "sorted" else gold
        return EvalOutput(metrics=metrics, ids=[examples[i]["id"] for i in rows],
                          predictions=[predicted[i] for i in rows], golds=rows)

    def _mine(self, embed, examples, task, context) -> EvalOutput:
        options = task.spec.options
        settings = {"k": int(options.get("k", 4)), "margin": options.get("margin", "ratio"),
                    "mode": options.get("mining", "max")}
        protocol = self.protocol(task)
        candidates, gold = _candidates(embed, examples, settings, protocol)
        load = context.get("load")
        from_dev = protocol == "xtreme" and context.get("split") != "dev" and load is not None
        if from_dev:
            threshold, *_ = optimize_threshold(*_candidates(embed, load("dev"), settings, protocol))
        else:
            threshold, *_ = optimize_threshold(candidates, gold)
        predicted = sorted({(s, t) for s, t, score in candidates if score >= threshold})
        metrics = {**pair_f1(predicted, gold), "threshold": float(threshold)}
        strings = [f"{s}\t{t}" for s, t in predicted]
        return EvalOutput(metrics=metrics, ids=strings, predictions=strings,
                          golds=[f"{s}\t{t}" for s, t in sorted(gold)],
                          stats={"threshold_from_dev": float(from_dev)})


def _candidates(embed, examples, settings, protocol: str = "xtreme"
                ) -> tuple[list[tuple[str, str, float]], set[tuple[str, str]]]:
    """Mined (source id, target id, margin score) candidates, in mining order, and the gold pairs.

    ``xtreme`` (XTREME's mining script, LASER's ``text_load_unify``, ``read_sent2id``): every line is a
    point of the k-NN, except that an exact repeat of a line is the same point; lines that differ
    only in surrounding whitespace are two points (embedded from the same stripped text). A mined
    pair maps back to ids through the stripped texts, and a stripped text found on more than one
    line of its side gives no candidate. ``jiant`` (its bitext-mining task): one point per distinct
    stripped text, and a mined pair gives every (source id, target id) pair of its two texts.
    A pair reached twice keeps its best score.
    """
    gold = {(e["source_id"], e["target_id"]) for e in examples if e["side"] == "gold"}
    sides = []
    for side in ("source", "target"):
        lines = [e["text"] for e in examples if e["side"] == side]
        points = list(dict.fromkeys(lines if protocol == "xtreme" else (t.strip() for t in lines)))
        ids_of: dict[str, list[str]] = {}
        for e in examples:
            if e["side"] == side:
                ids_of.setdefault(e["text"].strip(), []).append(e["id"])
        sides.append(([p.strip() for p in points], ids_of))
    (src_texts, src_ids), (trg_texts, trg_ids) = sides
    if not src_texts or not trg_texts:
        return [], gold
    best: dict[tuple[str, str], float] = {}
    for i, j, score in mine(embed(src_texts), embed(trg_texts), **settings):
        src, trg = src_ids[src_texts[i]], trg_ids[trg_texts[j]]
        if protocol == "xtreme" and (len(src) > 1 or len(trg) > 1):
            continue
        for pair in itertools.product(src, trg):
            best[pair] = max(score, best.get(pair, score))
    return [(s, t, score) for (s, t), score in best.items()], gold
