"""The batched-execution engine vs the loops it replaced: eval-path throughput, same run, same outputs.

    python benchmarks/bench_engine.py                     # 1,000 sentences, batch 32, best of 3
    python benchmarks/bench_engine.py --n 400 --repeats 2 --predict-n 0

* encode   ``harness.engine.encoding.encode`` (now :meth:`Engine.run`: one device buffer, one host
           copy) vs the loop ``encode`` ran before the engine (kept below as ``encode_before``:
           the same tokenization, batches, autocast and pooling, outputs kept per batch and written
           into a host array one batch at a time);
* loop     the engine's loop alone vs the old loop alone, around a step that costs next to nothing
           (``--overhead-n`` items in many small batches): the per-batch overhead in microseconds;
* predict  ``harness.engine.inference.predict`` (an XNLI-style classification head on the same
           encoder, fresh seeded head) vs the loop ``predict`` ran before (``predict_before``).

Both pairs run the same model on the same inputs in the same process, taking turns chunk by chunk
(``_common.interleave``), so load changes hit both alike. The outputs must be equal bit for bit
(exit 1 otherwise). Reported: sentences (features) per second of the best repeat, and the ratio
engine / before by best wall time, as the median of per-chunk ratios (robust to load bursts on a
shared machine) and by process CPU time (goal: >= 1.0, not slower).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import chunk_ratio, interleave, machine, minilm_dir, multilingual_sentences, split, table  # noqa: E402


def encode_before(model, sentences, *, layer, batch_size, max_length, token_budget, mixed_precision):
    """``encode``'s loop before the engine (mean pooling of ``hidden_states[layer]``), verbatim but
    for the argument handling: outputs kept per batch, written into a host array batch by batch."""
    import torch

    from harness.engine.batches import BatchTimer, autocast_context, length_sorted_batches, to_device
    from harness.engine.encoding import _first_blocks, pool
    from harness.formats.base import pad_sequences

    encoder, tokenizer, device = model.encoder, model.tokenizer, model.device
    out = np.zeros((len(sentences), int(encoder.config.hidden_size)), dtype=np.float32)
    ids = tokenizer(list(sentences), truncation=True, max_length=max_length)["input_ids"]
    batches = length_sorted_batches([len(x) for x in ids], batch_size, token_budget)
    pad_id = tokenizer.pad_token_id or 0
    timer = BatchTimer(device)
    pending = []
    encoder.eval()
    with torch.inference_mode(), _first_blocks(encoder, layer) as truncated:
        for indices in batches:
            started = timer.start()
            batch = to_device({"input_ids": pad_sequences([ids[i] for i in indices], pad_id),
                               "attention_mask": pad_sequences([[1] * len(ids[i]) for i in indices], 0)}, device)
            with autocast_context(device, mixed_precision):
                output = encoder(**batch, output_hidden_states=not truncated)
            hidden = output.last_hidden_state if truncated else output.hidden_states[layer]
            pending.append((indices, pool(hidden, batch["attention_mask"])))
            timer.stop(started)
        timer.latencies()
        for indices, pooled in pending:
            out[indices] = pooled.cpu().numpy()
    return out


def predict_before(model, task_name, fmt, features, settings):
    """``predict`` before the engine, verbatim: per-batch numpy outputs (CPU), rows picked out one
    by one, the same timer and memory tracking."""
    import time

    import torch

    from harness.engine.batches import BatchTimer, autocast_context, latency_stats, length_sorted_batches, to_device
    from harness.engine.memory import peak_memory

    task_model = model.task_model(task_name)
    task_model.eval()
    device = model.device
    lengths = [fmt.length(f) for f in features]
    batches = length_sorted_batches(lengths, settings.eval_batch_size, settings.eval_token_budget)
    outputs: list = [None] * len(features)
    pending = []
    timer = BatchTimer(device)
    pad_id = model.tokenizer.pad_token_id or 0
    start = time.perf_counter()
    with torch.inference_mode(), peak_memory(device) as memory:
        for indices in batches:
            started = timer.start()
            batch = fmt.collate([features[i] for i in indices], pad_id)
            batch = to_device({k: v for k, v in batch.items() if k != "labels"}, device)
            with autocast_context(device, settings.mixed_precision):
                logits = task_model(batch, task_name)["logits"].float()
            pending.append((indices, logits if timer.events else logits.numpy()))
            timer.stop(started)
        latencies = timer.latencies()
        for indices, logits in pending:
            logits = logits.cpu().numpy() if isinstance(logits, torch.Tensor) else logits
            for row, index in enumerate(indices):
                value = logits[row]
                outputs[index] = value[: lengths[index]] if fmt.per_token else value
    seconds = time.perf_counter() - start
    stats = {"seconds": seconds, "batches": len(batches), **memory.stats(), **latency_stats(latencies)}
    return outputs, stats


def loop_before(step, batches, collate, n, width, device):
    """The bare loop of the old ``encode`` (timer, transfer, autocast, outputs kept per batch and
    written into a host array at the end) around any step: the engine's per-batch overhead."""
    import torch

    from harness.engine.batches import BatchTimer, autocast_context, to_device

    out = np.zeros((n, width), dtype=np.float32)
    timer, pending = BatchTimer(device), []
    with torch.inference_mode():
        for indices in batches:
            started = timer.start()
            batch = to_device(collate(indices), device)
            with autocast_context(device, "auto"):
                pending.append((indices, step(batch)))
            timer.stop(started)
        timer.latencies()
        for indices, rows in pending:
            out[indices] = rows.cpu().numpy()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="sentences to encode")
    parser.add_argument("--predict-n", type=int, default=300, help="sentence pairs to predict (0: skip)")
    parser.add_argument("--overhead-n", type=int, default=20000,
                        help="items for the loop-overhead measurement (a trivial step; 0: skip)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="passes over all chunks; the best counts")
    parser.add_argument("--chunks", type=int, default=4, help="calls per implementation and pass, taking turns")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mixed-precision", default="auto", help="the eval setting (auto: bf16 on a GPU, fp32 on CPU)")
    parser.add_argument("--model", default=None, help="model directory (default: the MiniLM package)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch

    from harness.engine.encoding import encode
    from harness.engine.inference import predict
    from harness.engine.modeling import load_pretrained
    from harness.formats import get_format
    from harness.spec.hparams import Hyperparams
    from harness.spec.registry import build_registry

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_pretrained(str(args.model or minilm_dir()), torch.device(args.device))
    layer = model.num_layers
    sentences = multilingual_sentences(args.n, seed=0)
    chunks = split(sentences, args.chunks)
    options = dict(layer=layer, batch_size=args.batch_size, max_length=args.max_length, token_budget=16384,
                   mixed_precision=args.mixed_precision)
    encode(model, sentences=sentences[:64], **options)    # warm-up
    info: dict = {}   # eval asks for batch timings (retrieval, dual_encoder): so does this run
    runs = {"engine": lambda c: encode(model, sentences=chunks[c], stats=info, **options),
            "before": lambda c: encode_before(model, chunks[c], **options)}
    measured = {"encode": (interleave(runs, len(chunks), args.repeats), len(sentences))}

    if args.predict_n:
        task = build_registry().task("xnli")
        fmt = get_format(task.format)
        torch.manual_seed(0)
        model.heads[task.name] = fmt.build_head(model.hidden_size, task).to(model.device)
        pairs = multilingual_sentences(2 * args.predict_n, seed=1)
        examples = [{"id": str(i), "text_a": pairs[2 * i], "text_b": pairs[2 * i + 1], "label": "neutral"}
                    for i in range(args.predict_n)]
        settings = Hyperparams(eval_batch_size=args.batch_size, mixed_precision=args.mixed_precision)
        features = fmt.featurize(examples, model.tokenizer, task, args.max_length, train=False)
        parts = split(features, args.chunks)
        predict(model, task.name, fmt, features[:32], settings)   # warm-up
        runs = {"engine": lambda c: predict(model, task.name, fmt, parts[c], settings)[0],
                "before": lambda c: predict_before(model, task.name, fmt, parts[c], settings)[0]}
        measured["predict"] = (interleave(runs, len(parts), args.repeats), len(features))

    if args.overhead_n:   # the loops alone: a step that costs next to nothing, many small batches
        from harness.engine.batches import Engine, length_sorted_batches

        rng = np.random.default_rng(0)
        lengths = rng.integers(8, 64, size=args.overhead_n).tolist()
        batches = length_sorted_batches(lengths, args.batch_size)
        parts = split(batches, args.chunks)
        width = 8

        def collate(indices):
            return {"input_ids": torch.ones((len(indices), lengths[indices[0]]), dtype=torch.long)}

        def step(batch):
            return batch["input_ids"][:, :width].float()

        engine = Engine(model.device)
        runs = {"engine": lambda c: engine.run(step, parts[c], collate, args.overhead_n, timing="stream").rows,
                "before": lambda c: loop_before(step, parts[c], collate, args.overhead_n, width, model.device)}
        results = interleave(runs, len(parts), args.repeats)
        measured["loop overhead"] = (results, len(batches))

    rows, figures, identical = [], {}, True
    for path, (results, count) in measured.items():
        ours = [np.asarray(x) for chunk in results["engine"]["results"] for x in chunk]
        theirs = [np.asarray(x) for chunk in results["before"]["results"] for x in chunk]
        same = len(ours) == len(theirs) and all(a.shape == b.shape and a.tobytes() == b.tobytes()
                                                for a, b in zip(ours, theirs))
        identical &= same
        rate = {k: count / results[k]["best"] for k in ("engine", "before")}
        ratio, per_chunk = rate["engine"] / rate["before"], chunk_ratio(results, "before", "engine")
        cpu_ratio = results["before"]["best_cpu"] / results["engine"]["best_cpu"]
        figures[path] = {"items": count, "items_per_s": rate, "best_s": {k: results[k]["best"] for k in rate},
                         "wall_s": {k: results[k]["wall"] for k in rate}, "ratio_best": ratio,
                         "ratio_chunk_median": per_chunk, "ratio_cpu": cpu_ratio,
                         "cpu_s": {k: results[k]["cpu"] for k in rate}, "identical": same}
        rows.append([path, count, rate["before"], rate["engine"], f"{ratio:.3f}x", f"{per_chunk:.3f}x",
                     f"{cpu_ratio:.3f}x",
                     "yes" if same else "NO"])
    print(f"machine: {machine()}; model {args.model or 'MiniLM-L6'} on {args.device}, batch {args.batch_size}, "
          f"max length {args.max_length}, {args.chunks} chunks, best of {args.repeats}")
    print(table(["path", "items", "before items/s", "engine items/s", "engine/before (best)",
                 "(median per chunk)", "(process CPU)", "bit-identical"], rows))
    if "loop overhead" in figures:
        us = {k: 1e6 / v for k, v in figures["loop overhead"]["items_per_s"].items()}
        figures["loop overhead"]["us_per_batch"] = us
        print(f"loop overhead per batch (trivial step, {figures['loop overhead']['items']} batches): "
              f"engine {us['engine']:.1f} us, before {us['before']:.1f} us")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "device": args.device, "paths": figures},
                                              indent=1))
    if not identical:
        print("outputs differ from the loops the engine replaced", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
