"""The GPU check (run by ``benchmarks/gpu_check.sh``): on an XLM-R-base-sized encoder with random
weights (nothing is downloaded), in bf16,

1. the bf16 matmul rate the device reaches (``torch.mm``, 8192 x 8192) next to its nominal dense
   bf16 peak (a table by device name, or ``--peak-tflops``);
2. encoding (``harness.encode``, bf16 autocast): sentences/s, useful TFLOP/s and the share of the peak;
3. training (``harness.engine.training.train_model``, bf16 autocast): examples/s, useful TFLOP/s
   (3x the forward FLOPs) and the share of the peak;
4. ``harness bench`` fp32 vs bf16 weights and vs bf16 autocast (evaluation's precision on a GPU) over
   batch sizes and lengths (percentiles, CIs, verdicts, GPU memory);

with peak GPU memory for each, all written to one JSON file. Useful FLOPs count real (unpadded)
tokens only, as in ``bench_encode.py``. On a CPU (``--device cpu``, for a smoke test) the peak is the
measured fp32 matmul rate.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, multilingual_sentences  # noqa: E402
from bench_encode import encoder_flops  # noqa: E402

#: nominal dense bf16 tensor-core peaks (TFLOP/s, no sparsity), by a substring of the device name
NOMINAL_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "GH200": 989.0, "B200": 2250.0,
                       "A100": 312.0, "A800": 312.0, "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10G": 70.0,
                       "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0}
#: XLM-R base: 12 layers x 768, 12 heads, FFN 3072, 250,002-token vocabulary, 514 positions
BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
        "vocab_size": 250002, "max_position_embeddings": 514}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
        "vocab_size": 1000, "max_position_embeddings": 514}


def nominal_peak(name: str) -> float | None:
    for key, tflops in NOMINAL_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def build_model(directory: Path, dims: dict[str, int]) -> Path:
    """A random-init encoder of the given size (BERT blocks: the same FLOPs as XLM-R's) and a
    WordPiece tokenizer trained on the benchmark's multilingual sentences."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(multilingual_sentences(2000, seed=1),
                            trainers.WordPieceTrainer(vocab_size=min(8000, dims["vocab_size"]),
                                                      special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]", model_max_length=512).save_pretrained(directory)
    torch.manual_seed(0)
    BertModel(BertConfig(**dims), add_pooling_layer=False).save_pretrained(directory)
    return directory


def matmul_rate(device, dtype, size: int, repeats: int = 10) -> float:
    import torch

    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    torch.mm(a, b)
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gpu_mb(device) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def encode_check(model, sentences: list[str], peak: float, batch_size: int) -> dict:
    from harness import encode

    config = model.encoder.config
    encode(model, sentences=sentences[:64], layer=config.num_hidden_layers, mixed_precision="bf16")  # warm-up
    reset_peak(model.device)
    stats: dict = {}
    encode(model, sentences=sentences, layer=config.num_hidden_layers, batch_size=batch_size, token_budget=batch_size * 256,
           max_length=256, mixed_precision="bf16", stats=stats)
    lengths = [len(ids) for ids in model.tokenizer(sentences, truncation=True, max_length=256)["input_ids"]]
    flops = encoder_flops(lengths, config.num_hidden_layers, config.hidden_size, config.intermediate_size)
    rate = flops / stats["seconds"]
    return {"sentences": len(sentences), "tokens": sum(lengths), "seconds": stats["seconds"],
            "sentences_per_s": stats["sentences_per_s"], "useful_tflops": rate / 1e12, "share_of_peak": rate / peak,
            "peak_gpu_mb": peak_gpu_mb(model.device)}


def train_check(model, n: int, peak: float, batch_size: int) -> dict:
    from harness.engine.training import train_model
    from harness.spec.hparams import Hyperparams
    from harness.spec.registry import build_registry

    task = build_registry().task("xnli")
    labels = list(task.spec.labels)
    sentences = multilingual_sentences(2 * n, seed=2, max_words=60)
    examples = [{"id": str(i), "text_a": sentences[2 * i], "text_b": sentences[2 * i + 1],
                 "label": labels[i % len(labels)]} for i in range(n)]
    hparams = Hyperparams().merged({"epochs": 1, "batch_size": batch_size, "max_length": 128, "learning_rate": 2e-5,
                                    "mixed_precision": "bf16"})
    encoded = model.tokenizer([e["text_a"] for e in examples], [e["text_b"] for e in examples], truncation=True,
                              max_length=128)["input_ids"]
    config = model.encoder.config
    reset_peak(model.device)
    start = time.perf_counter()
    train_model(model, [task], {task.name: examples}, hparams, seed=0)
    sync(model.device)
    seconds = time.perf_counter() - start
    flops = 3 * encoder_flops([len(x) for x in encoded], config.num_hidden_layers, config.hidden_size,
                              config.intermediate_size)  # forward + backward (2x forward)
    return {"examples": n, "tokens": sum(len(x) for x in encoded), "seconds": seconds, "examples_per_s": n / seconds,
            "useful_tflops": flops / seconds / 1e12, "share_of_peak": flops / seconds / peak,
            "peak_gpu_mb": peak_gpu_mb(model.device)}


def bench_sweep(model_dir: Path, device: str, batch_sizes: str, lengths: str, iterations: int, out: Path) -> dict:
    command = [sys.executable, "-m", "harness", "bench", "--model", str(model_dir), "--batch-sizes", batch_sizes,
               "--lengths", lengths, "--data", "samples", "--iterations", str(iterations), "--device", device,
               # bf16 weights, and fp32 weights under bf16 autocast (what evaluation runs on a GPU)
               "--variants", "bf16,autocast-bf16" if device.startswith("cuda") else "bf16",
               "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    records = json.loads(out.read_text())["records"]
    for r in records:
        ratio = r.get("vs_fp32") or {}
        print(f"bench {r['variant']:>4} batch {r['batch_size']:>3} x {r['length']:>3} tokens: p50 "
              f"{r['latency_ms']['p50']:.2f} ms, p95 {r['latency_ms']['p95']:.2f} ms, {r['tokens_per_s']:,.0f} tokens/s, "
              f"GPU max allocated {r['memory'].get('gpu_max_allocated_mb', '-')} MB"
              + (f"; vs fp32 {ratio['ratio']:.3f} [{ratio['ci95'][0]:.3f}, {ratio['ci95'][1]:.3f}] {ratio['verdict']}"
                 if ratio else ""))
    return {"command": " ".join(command[1:]), "cells": [
        {"variant": r["variant"], "batch_size": r["batch_size"], "length": r["length"],
         "p50_ms": r["latency_ms"]["p50"], "p95_ms": r["latency_ms"]["p95"], "tokens_per_s": r["tokens_per_s"],
         "vs_fp32": r.get("vs_fp32"), "memory": r["memory"]} for r in records]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_check"))
    parser.add_argument("--sentences", type=int, default=8192)
    parser.add_argument("--train-examples", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bench-batch-sizes", default="1,32")
    parser.add_argument("--bench-lengths", default="128,512")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--matmul-size", type=int, default=8192)
    parser.add_argument("--peak-tflops", type=float, default=None, help="Nominal bf16 peak (default: by device name).")
    parser.add_argument("--tiny", action="store_true", help="A 2-layer x 64 model (smoke test of this script).")
    args = parser.parse_args()

    import torch

    from harness.engine.modeling import load_pretrained

    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    report: dict = {"device": name, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "model": "tiny" if args.tiny else "XLM-R-base-sized (random init)"}
    if device.type == "cuda":
        measured = matmul_rate(device, torch.bfloat16, args.matmul_size)
        nominal = args.peak_tflops * 1e12 if args.peak_tflops else nominal_peak(name)
        peak, kind = (nominal, "nominal bf16 dense") if nominal else (measured, "measured bf16 matmul")
    else:
        measured = matmul_rate(device, torch.float32, min(args.matmul_size, 1024), repeats=3)
        peak, kind = measured, "measured fp32 matmul (CPU)"
    report["matmul"] = {"measured_tflops": measured / 1e12, "peak_tflops": peak / 1e12, "peak_kind": kind,
                        "matmul_share_of_peak": measured / peak}
    print(f"device: {name}; matmul {measured / 1e12:.1f} TFLOP/s = {measured / peak:.1%} of {kind} "
          f"{peak / 1e12:.0f} TFLOP/s")

    model_dir = build_model(args.out / "model", TINY if args.tiny else BASE)
    model = load_pretrained(str(model_dir), device)
    report["parameters_m"] = sum(p.numel() for p in model.encoder.parameters()) / 1e6
    sentences = multilingual_sentences(args.sentences, seed=0, max_words=120)
    report["encode"] = encode_check(model, sentences, peak, args.batch_size)
    e = report["encode"]
    print(f"encode (bf16): {e['sentences_per_s']:,.0f} sentences/s, {e['useful_tflops']:.1f} useful TFLOP/s = "
          f"{e['share_of_peak']:.1%} of peak; peak GPU memory {e['peak_gpu_mb']} MB")
    try:
        report["train"] = train_check(model, args.train_examples, peak, args.batch_size)
        t = report["train"]
        print(f"train (bf16): {t['examples_per_s']:,.0f} examples/s, {t['useful_tflops']:.1f} useful TFLOP/s = "
              f"{t['share_of_peak']:.1%} of peak; peak GPU memory {t['peak_gpu_mb']} MB")
    except Exception as exc:  # noqa: BLE001 - report it and go on to the sweep
        report["train"] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"train failed: {report['train']['error']}", file=sys.stderr)
    del model
    report["bench"] = bench_sweep(model_dir, args.device, args.bench_batch_sizes, args.bench_lengths,
                                  args.iterations, args.out / "bench.json")
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(f"written: {args.out / 'gpu_check.json'}")


if __name__ == "__main__":
    main()
