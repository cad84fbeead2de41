"""Target-training throughput: the harness loop (``harness.engine.training.train_model``) vs Hugging Face ``Trainer``.

    python benchmarks/bench_train.py                   # 384 examples, 1 epoch, batch 32, best of 2
    python benchmarks/bench_train.py --n 2000 --epochs 2 --repeats 3      # full size (slow on 2 cores)

Both fine-tune the same MiniLM-L6 (all-MiniLM-L6-v2 weights) on the same English NLI data: the MNLI
sample shipped with the harness (xnli's English training data) replicated to ``--n`` examples of
mixed lengths (each premise gets 0-6 extra context sentences from other premises, so pairs run
from ~15 to ~128 tokens), with the same batch size, learning rate, epochs, warmup ratio, weight
decay, gradient clipping, max_length and seed, on CPU with the same torch thread count.

* harness   ``train_model(model, [xnli task], ...)``: length-grouped batches, AdamW + linear schedule
            through accelerate, loss read back only every 10 steps;
* trainer   what a user writes by default: ``AutoModelForSequenceClassification`` +
            ``datasets.map(tokenize)`` + ``DataCollatorWithPadding`` + ``Trainer(...).train()``
            (random batches padded to their longest example, default optimizer).

Timed: featurization/tokenization + training (model loading excluded for both). Reported: examples/s
(examples x epochs / seconds) of the best of ``--repeats`` alternating runs (H T, T H, ...; wall time,
and process CPU time, steadier on a shared machine), and the dev accuracy each reached on the
(augmented) MNLI dev sample. Goal: harness >= 1.3x Trainer.
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, minilm_dir, table  # noqa: E402


def augmented(examples: list[dict], n: int, seed: int) -> list[dict]:
    """``n`` examples cycling through ``examples``; each premise gets 0-6 extra context sentences
    (premises of other examples) before or after it: mixed lengths, same label."""
    rng = random.Random(seed)
    premises = [e["text_a"] for e in examples]
    out = []
    for i in range(n):
        base = examples[i % len(examples)]
        extra = [rng.choice(premises) for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 4, 6]))]
        cut = rng.randint(0, len(extra))
        text_a = " ".join(extra[:cut] + [base["text_a"]] + extra[cut:])
        out.append({**base, "id": f"{base['id']}-{i}", "text_a": text_a})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=384, help="training examples")
    parser.add_argument("--dev-n", type=int, default=120, help="dev examples (augmented MNLI dev sample)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: the same for both (fp32)")
    parser.add_argument("--model", default=None, help="model directory (default: the MiniLM package)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from harness.run.data import load_examples
    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams
    from harness.engine.modeling import load_pretrained
    from harness.spec.registry import build_registry
    from harness.engine.training import train_model

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads or torch.get_num_threads())
    threads = torch.get_num_threads()
    model_dir = str(args.model or minilm_dir())
    registry = build_registry()
    task = registry.task("xnli")
    labels = list(task.spec.labels)
    train = augmented(load_examples(registry.plugins, registry.task("mnli"), "train", "en", source="samples"),
                      args.n, args.seed)
    dev = augmented(load_examples(registry.plugins, registry.task("mnli"), "dev", "en", source="samples"),
                    args.dev_n, args.seed + 1)
    hparams = Hyperparams().merged({"learning_rate": args.learning_rate, "epochs": args.epochs,
                                    "batch_size": args.batch_size, "warmup_ratio": args.warmup_ratio,
                                    "weight_decay": args.weight_decay, "max_length": args.max_length,
                                    "max_grad_norm": 1.0, "eval_batch_size": 64, "mixed_precision": "no"})
    fmt = get_format("classification")

    def run_harness(train: list[dict] = train) -> dict:
        model = load_pretrained(model_dir, torch.device(args.device))
        start, cpu = time.perf_counter(), time.process_time()
        stats = train_model(model, [task], {task.name: train}, hparams, seed=args.seed)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        result = fmt.evaluate(model, task, dev, "en", hparams)
        return {"seconds": seconds, "cpu": cpu, "accuracy": result.metrics["accuracy"], "steps": stats["steps"],
                "final_loss": stats["final_loss"]}

    def run_trainer(train: list[dict] = train) -> dict:
        import datasets
        from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                                  Trainer, TrainingArguments)

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(labels))
        index = {label: i for i, label in enumerate(labels)}

        def tokenize(batch):
            return tokenizer(batch["text_a"], batch["text_b"], truncation=True, max_length=args.max_length)

        def as_dataset(rows):
            return datasets.Dataset.from_dict({"text_a": [r["text_a"] for r in rows],
                                               "text_b": [r["text_b"] for r in rows],
                                               "label": [index[r["label"]] for r in rows]})

        with tempfile.TemporaryDirectory() as output_dir:
            start, cpu = time.perf_counter(), time.process_time()
            train_ds = as_dataset(train).map(tokenize, batched=True, remove_columns=["text_a", "text_b"])
            training_args = TrainingArguments(
                output_dir=output_dir, per_device_train_batch_size=args.batch_size,
                per_device_eval_batch_size=64, learning_rate=args.learning_rate,
                num_train_epochs=args.epochs, warmup_steps=args.warmup_ratio, weight_decay=args.weight_decay,
                max_grad_norm=1.0, seed=args.seed, use_cpu=args.device == "cpu", report_to="none", save_strategy="no",
                disable_tqdm=True)
            trainer = Trainer(model=model, args=training_args, train_dataset=train_ds,
                              data_collator=DataCollatorWithPadding(tokenizer))
            output = trainer.train()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            dev_ds = as_dataset(dev).map(tokenize, batched=True, remove_columns=["text_a", "text_b"])
            predictions = trainer.predict(dev_ds)
        accuracy = float((np.argmax(predictions.predictions, -1) == np.asarray(dev_ds["label"])).mean())
        return {"seconds": seconds, "cpu": cpu, "accuracy": accuracy, "steps": output.global_step,
                "final_loss": output.training_loss}

    runs = {"harness": run_harness, "HF Trainer": run_trainer}
    for run in runs.values():  # warm-up: first-use imports and allocations (accelerate, datasets ...)
        run(train[: 2 * args.batch_size])
    results: dict[str, list[dict]] = {name: [] for name in runs}
    names = list(runs)
    for round_ in range(args.repeats):
        for name in names[round_ % 2:] + names[:round_ % 2]:
            torch.manual_seed(args.seed)
            results[name].append(runs[name]())
            gc.collect()

    trained = args.n * args.epochs
    rows, figures = [], {}
    for name in names:
        times = [r["seconds"] for r in results[name]]
        best = min(times)
        accuracies = [r["accuracy"] for r in results[name]]
        cpu = [r["cpu"] for r in results[name]]
        figures[name] = {"best_s": best, "times_s": times, "cpu_s": cpu, "examples_per_s": trained / best,
                         "examples_per_cpu_s": trained / min(cpu),
                         "dev_accuracy": accuracies, "steps": results[name][-1]["steps"]}
        rows.append([name, results[name][-1]["steps"], best, float(np.median(times)), min(cpu), trained / best,
                     " ".join(f"{a:.3f}" for a in accuracies)])
    speedup = figures["harness"]["examples_per_s"] / figures["HF Trainer"]["examples_per_s"]
    cpu_speedup = figures["harness"]["examples_per_cpu_s"] / figures["HF Trainer"]["examples_per_cpu_s"]
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokens = [len(x) for x in tokenizer([e["text_a"] for e in train], [e["text_b"] for e in train],
                                        truncation=True, max_length=args.max_length)["input_ids"]]
    print(f"machine: {machine()}")
    print(f"model: {model_dir}; {args.n} training examples ({sum(tokens):,} tokens, {min(tokens)}-{max(tokens)} "
          f"per pair), {args.epochs:g} epoch(s), batch {args.batch_size}, lr {args.learning_rate:g}, warmup "
          f"{args.warmup_ratio:g}, weight decay {args.weight_decay:g}, max length {args.max_length}, "
          f"{threads} torch threads, best of {args.repeats}; dev: {len(dev)} examples (3 classes, chance ~0.33)\n")
    print(table(["implementation", "steps", "best s", "median s", "cpu s", "examples/s", "dev accuracy (per run)"],
                rows))
    print(f"\nharness / HF Trainer: {speedup:.2f}x by best wall time, {cpu_speedup:.2f}x by process CPU time "
          f"(goal >= 1.3) {'MET' if speedup >= 1.3 else 'MISSED'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "n": args.n, "epochs": args.epochs,
                                               "batch_size": args.batch_size, "threads": threads,
                                               "implementations": figures, "speedup": speedup,
                                               "cpu_speedup": cpu_speedup}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
