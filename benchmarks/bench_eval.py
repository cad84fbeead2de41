"""Evaluation throughput: the harness (length-sorted, token-budget batches) vs a straightforward
per-batch loop, for token tagging (udpos) and extractive QA (xquad).

    python benchmarks/bench_eval.py                           # 400 tagging + 120 QA examples, best of 2
    python benchmarks/bench_eval.py --n-tagging 1000 --n-qa 1000 --repeats 3   # full size (slow on 2 cores)

Both implementations use the same model (MiniLM-L6 by default) with the same randomly initialised
task head (seeded: a speed comparison needs no trained head, and the predictions of the two are
compared with each other), the same featurization (``fmt.featurize``), the same batch size, the
same decoding (``fmt.decode``) and scoring:

* harness    ``fmt.evaluate(model, task, examples, language, settings)``: features sorted by length,
             batches of at most ``--batch-size`` features and ``eval_token_budget`` padded tokens;
* per-batch  the Hugging Face pipelines way: features in input order, fixed batches of
             ``--batch-size``, each padded to its longest feature, forward, collect, decode.

Examples are the shipped udpos / xquad+squad samples (en, de, ru, zh) recombined into ``--n``
examples of mixed lengths: 1-12 sentences of one language per tagging example; 1-8 paragraphs of
one language per QA context (long contexts give several doc_stride windows), with one of their
questions (answer offsets shifted). Predictions must be IDENTICAL (asserted). The examples are cut
into ``--chunks`` parts and the two implementations take turns chunk by chunk (order rotating), so
load changes on a shared machine hit both alike; examples/s is the best of ``--repeats`` passes
(featurize + inference + decode + score, both).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import chunk_ratio, interleave, machine, minilm_dir, split, table  # noqa: E402

LANGUAGES = ("en", "de", "ru", "zh")


def tagging_examples(registry, n: int, seed: int) -> list[dict]:
    from harness.run.data import load_examples

    task = registry.task("udpos")
    pools = {lang: load_examples(registry.plugins, task, "test", lang, source="samples") for lang in LANGUAGES}
    pools["en"] += load_examples(registry.plugins, task, "train", "en", source="samples")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lang = LANGUAGES[i % len(LANGUAGES)]
        parts = [rng.choice(pools[lang]) for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 8, 12]))]
        out.append({"id": f"tag-{i}", "tokens": [t for p in parts for t in p["tokens"]],
                    "tags": [t for p in parts for t in p["tags"]]})
    return out


def qa_examples(registry, n: int, seed: int) -> list[dict]:
    from harness.run.data import load_examples

    pools = {lang: load_examples(registry.plugins, registry.task("xquad"), "test", lang, source="samples")
             for lang in LANGUAGES}
    for squad_split in ("train", "dev"):
        pools["en"] += load_examples(registry.plugins, registry.task("squad"), squad_split, "en", source="samples")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lang = LANGUAGES[i % len(LANGUAGES)]
        parts = [rng.choice(pools[lang]) for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 8]))]
        asked = rng.randrange(len(parts))
        sep = "" if lang == "zh" else " "
        offset = sum(len(p["context"]) + len(sep) for p in parts[:asked])
        example = parts[asked]
        answers = example["answers"]
        out.append({"id": f"qa-{i}", "question": example["question"],
                    "context": sep.join(p["context"] for p in parts),
                    "answers": {"text": list(answers["text"]),
                                "answer_start": [s + offset for s in answers["answer_start"]]}})
    return out


def per_batch_evaluate(model, task, fmt, examples, settings) -> tuple[list, dict]:
    """The straightforward loop: input order, fixed-size batches padded to their longest feature."""
    import torch

    from harness.engine.batches import autocast_context

    features = fmt.featurize(examples, model.tokenizer, task, settings.max_length, train=False)
    task_model = model.task_model(task.name)
    task_model.eval()
    pad_id = model.tokenizer.pad_token_id or 0
    logits: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(features), settings.eval_batch_size):
            chunk = features[start:start + settings.eval_batch_size]
            batch = {k: v.to(model.device) for k, v in fmt.collate(chunk, pad_id).items() if k != "labels"}
            with autocast_context(model.device, settings.mixed_precision):
                output = task_model(batch, task.name)["logits"].float().cpu().numpy()
            for row, feature in zip(output, chunk):
                logits.append(row[: len(feature["input_ids"])] if fmt.per_token else row)
    predictions = fmt.decode(examples, features, logits, task)
    return predictions, fmt.score(examples, predictions, task, "en")


def padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-tagging", type=int, default=400, help="udpos-style examples (0: skip)")
    parser.add_argument("--n-qa", type=int, default=120, help="xquad-style examples (0: skip)")
    parser.add_argument("--batch-size", type=int, default=32, help="the same for both implementations")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each over all chunks; the best counts")
    parser.add_argument("--chunks", type=int, default=4,
                        help="the examples are evaluated in this many calls per implementation, taking turns")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda ...: the same for both")
    parser.add_argument("--model", default=None, help="model directory (default: the MiniLM package)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams
    from harness.engine.batches import length_sorted_batches
    from harness.engine.modeling import load_pretrained
    from harness.spec.registry import build_registry

    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = str(args.model or minilm_dir())
    registry = build_registry()
    model = load_pretrained(model_dir, torch.device(args.device))
    cases = []
    if args.n_tagging:
        cases.append(("udpos", tagging_examples(registry, args.n_tagging, args.seed)))
    if args.n_qa:
        cases.append(("xquad", qa_examples(registry, args.n_qa, args.seed)))

    rows, figures, failures = [], {}, []
    for task_name, examples in cases:
        task = registry.task(task_name)
        fmt = get_format(task.format)
        torch.manual_seed(args.seed)
        model.heads[task.name] = fmt.build_head(model.hidden_size, task)
        settings = Hyperparams().merged({**(task.spec.hparams or {}), "eval_batch_size": args.batch_size})
        parts = split(examples, max(1, min(args.chunks, len(examples))))
        runs = {
            "harness": lambda chunk: fmt.evaluate(model, task, parts[chunk], "en", settings).predictions,
            "per-batch": lambda chunk: per_batch_evaluate(model, task, fmt, parts[chunk], settings)[0],
        }
        # warm-up on a few examples
        fmt.evaluate(model, task, examples[:8], "en", settings)
        per_batch_evaluate(model, task, fmt, examples[:8], settings)
        results = interleave(runs, len(parts), args.repeats)
        times = {name: results[name]["wall"] for name in runs}
        ours = [p for chunk in results["harness"]["results"] for p in chunk]
        theirs = [p for chunk in results["per-batch"]["results"] for p in chunk]
        mismatches = sum(a != b for a, b in zip(ours, theirs))
        if mismatches or len(ours) != len(theirs):
            failures.append(f"{task_name}: {mismatches} of {len(ours)} predictions differ")
        lengths, ours_padded, theirs_padded = [], 0, 0
        for part in parts:
            part_lengths = [fmt.length(f) for f in fmt.featurize(part, model.tokenizer, task, settings.max_length,
                                                                 train=False)]
            ours_padded += padded_tokens(part_lengths, length_sorted_batches(
                part_lengths, settings.eval_batch_size, settings.eval_token_budget))
            order = list(range(len(part_lengths)))
            theirs_padded += padded_tokens(part_lengths, [order[i:i + args.batch_size]
                                                          for i in range(0, len(order), args.batch_size)])
            lengths += part_lengths
        figures[task_name] = {"examples": len(examples), "features": len(lengths), "tokens": sum(lengths),
                              "max_length": settings.max_length, "identical_predictions": not mismatches,
                              "metrics": fmt.score(examples, ours, task, "en")}
        for name, padded in (("harness", ours_padded), ("per-batch", theirs_padded)):
            best = min(times[name])
            figures[task_name][name] = {"best_s": best, "times_s": times[name], "cpu_s": results[name]["cpu"],
                                        "examples_per_s": len(examples) / best,
                                        "real_over_padded_tokens": sum(lengths) / padded}
            rows.append([task_name, name, len(examples), len(lengths), best, float(np.median(times[name])),
                         results[name]["best_cpu"], len(examples) / best, f"{100 * sum(lengths) / padded:.0f}%"])
        figures[task_name]["speedup"] = (figures[task_name]["harness"]["examples_per_s"]
                                         / figures[task_name]["per-batch"]["examples_per_s"])
        figures[task_name]["cpu_speedup"] = results["per-batch"]["best_cpu"] / results["harness"]["best_cpu"]
        figures[task_name]["chunk_speedup"] = chunk_ratio(results, "per-batch", "harness")

    print(f"machine: {machine()}")
    print(f"model: {model_dir} with random task heads (seed {args.seed}); batch size {args.batch_size}, "
          f"{args.chunks} interleaved chunks, best of {args.repeats}\n")
    print(table(["task", "implementation", "examples", "features", "best s", "median s", "cpu s", "examples/s",
                 "real/padded tokens"], rows))
    print()
    for task_name, figure in figures.items():
        print(f"{task_name}: harness / per-batch = {figure['speedup']:.2f}x by best wall time, "
              f"{figure['cpu_speedup']:.2f}x by process CPU time, {figure['chunk_speedup']:.2f}x median per chunk; "
              f"predictions identical: "
              f"{figure['identical_predictions']} ({figure['features']} features, {figure['tokens']:,} tokens, "
              f"max length {figure['max_length']})")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "batch_size": args.batch_size,
                                               "tasks": figures}, indent=1, default=str))
    if failures:
        print("PREDICTIONS DIFFER: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
