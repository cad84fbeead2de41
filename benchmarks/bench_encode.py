"""Sentence encoding throughput: ``harness.engine.encoding.encode`` vs sentence-transformers vs a naive loop.

    python benchmarks/bench_encode.py                 # 1,000 sentences, batch 32, best of 2
    python benchmarks/bench_encode.py --n 5000 --naive-n 0 --repeats 3   # full size (slow on 2 cores)
    python benchmarks/bench_encode.py --n 500 --repeats 1

All three embed the same deterministic, mixed-length (3-120 words) multilingual sentences with the
same model (the real English MiniLM-L6 of all-MiniLM-L6-v2) on CPU, truncated to the same
``--max-length`` (the model's sentence-transformers setting, 256), with the same batch size (``--device``, CPU by default; fp32 everywhere):

* harness      ``encode(model, sentences=..., layer=<last>, normalize=True)``: tokenized once,
               batched longest-first under a token budget (little padding), rows in input order;
* st           ``SentenceTransformer(<dir>).encode(sentences, batch_size=...)``: the model's own
               Transformer -> mean Pooling -> Normalize pipeline (sorts by character length);
* naive        one sentence at a time: ``tokenizer(s, return_tensors="pt")``, forward, mean, L2
               normalise (what the original XTREME/LASER-style retrieval scripts do per sentence).

The harness and sentence-transformers embeddings must agree (max |diff| <= ``--atol``); the naive
embeddings too. The sentences are cut into ``--chunks`` parts and the three implementations take
turns chunk by chunk (the order rotating), so load changes on a shared machine hit all alike;
throughput is sentences/s of the best of ``--repeats`` such passes (wall time; process CPU time
and the median of per-chunk ratios are printed too).

Achieved FLOP rate: useful encoder FLOPs from the real (unpadded) token counts T of each sentence,
for L layers of width H and feed-forward width I:

    FLOPs = sum over sentences of  L * ( 2 * T * (4*H*H + 2*H*I)   # Q,K,V,O projections + FFN
                                        + 4 * T*T * H )            # Q.K^T and attention.V

(multiply-add = 2 FLOPs; embeddings, layer norms, softmax, GELU and pooling are left out). The rate
is divided by the dense fp32 ``torch.mm`` rate of two 2048x2048 matrices measured in the same run.
Goals: harness >= 1.0x sentence-transformers, >= 3x the naive loop.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (interleave, machine, matmul_flops, minilm_dir,  # noqa: E402
                     multilingual_sentences, split, table)


def encoder_flops(token_counts: list[int], layers: int, hidden: int, intermediate: int) -> float:
    t = np.asarray(token_counts, dtype=np.float64)
    per_layer = 2.0 * t * (4 * hidden * hidden + 2 * hidden * intermediate) + 4.0 * t * t * hidden
    return float(layers * per_layer.sum())


def padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="sentences (5000 for the full-size run)")
    parser.add_argument("--batch-size", type=int, default=32, help="the same for harness and sentence-transformers")
    parser.add_argument("--max-length", type=int, default=256, help="truncation (tokens), the same for all")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each over all chunks; the best counts")
    parser.add_argument("--chunks", type=int, default=4,
                        help="the sentences are encoded in this many calls per implementation, interleaved "
                             "(harness, st, naive on chunk 1; st, naive, harness on chunk 2 ...)")
    parser.add_argument("--naive-n", type=int, default=200,
                        help="run the naive loop on N of the sentences only (the same share of each chunk; "
                             "0: all); sentences/s stays comparable since the sentence order is random")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda ...: the same for all three")
    parser.add_argument("--model", default=None, help="model directory (default: the MiniLM package)")
    parser.add_argument("--atol", type=float, default=1e-4, help="max |embedding difference| allowed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch
    from sentence_transformers import SentenceTransformer

    from harness.engine.encoding import encode
    from harness.engine.batches import length_sorted_batches
    from harness.engine.modeling import load_pretrained

    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = str(args.model or minilm_dir())
    sentences = multilingual_sentences(args.n, seed=args.seed)
    chunks = split(sentences, max(1, min(args.chunks, len(sentences))))
    share = min(1.0, (args.naive_n or args.n) / args.n)
    naive_chunks = [chunk[: max(1, round(len(chunk) * share))] for chunk in chunks]
    naive_sentences = [s for chunk in naive_chunks for s in chunk]

    device = torch.device(args.device)
    loaded = load_pretrained(model_dir, device)
    config = loaded.encoder.config
    st = SentenceTransformer(model_dir, device=str(device))
    st.max_seq_length = args.max_length
    # all-MiniLM-L6-v2's pipeline ends in a Normalize module; a plain model directory gets none
    st_normalizes = any(type(module).__name__ == "Normalize" for module in st)
    naive_tokenizer, naive_model = loaded.tokenizer, load_pretrained(model_dir, device).encoder
    naive_model.eval()

    def run_harness(chunk: int):
        return encode(loaded, sentences=chunks[chunk], layer=config.num_hidden_layers, batch_size=args.batch_size,
                      max_length=args.max_length, normalize=True, mixed_precision="no")  # fp32, as the others

    def run_st(chunk: int):
        return st.encode(chunks[chunk], batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False,
                         normalize_embeddings=not st_normalizes)

    def run_naive(chunk: int):
        rows = []
        with torch.no_grad():
            for sentence in naive_chunks[chunk]:
                inputs = naive_tokenizer(sentence, return_tensors="pt", truncation=True, max_length=args.max_length)
                hidden = naive_model(**inputs.to(device)).last_hidden_state[0]
                vector = hidden.mean(0)
                rows.append((vector / vector.norm()).cpu().numpy())
        return np.stack(rows)

    # warm-up (first-call allocations, lazy init) on a few sentences of each
    encode(loaded, sentences=sentences[:64], layer=config.num_hidden_layers, batch_size=args.batch_size,
           max_length=args.max_length, normalize=True)
    st.encode(sentences[:64], batch_size=args.batch_size, show_progress_bar=False)
    run_naive(0)
    matmul_rate = matmul_flops()

    results = interleave({"harness": run_harness, "sentence-transformers": run_st, "naive loop": run_naive},
                         len(chunks), args.repeats)
    matmul_rate = max(matmul_rate, matmul_flops())  # measured before and after; the better one

    ours, theirs, naive = (np.concatenate(results[k]["results"])
                           for k in ("harness", "sentence-transformers", "naive loop"))
    diff_st = float(np.abs(ours - theirs).max())
    naive_rows = np.concatenate([np.arange(len(c))[: len(nc)] + sum(len(x) for x in chunks[:i])
                                 for i, (c, nc) in enumerate(zip(chunks, naive_chunks))])
    diff_naive = float(np.abs(ours[naive_rows] - naive).max())

    ids = loaded.tokenizer(sentences, truncation=True, max_length=args.max_length)["input_ids"]
    lengths = [len(x) for x in ids]
    flops_all = encoder_flops(lengths, config.num_hidden_layers, config.hidden_size, config.intermediate_size)
    flops_naive = encoder_flops([lengths[i] for i in naive_rows], config.num_hidden_layers, config.hidden_size,
                                config.intermediate_size)
    harness_padded = st_padded = 0
    offset = 0
    for chunk in chunks:
        part = lengths[offset:offset + len(chunk)]
        harness_padded += padded_tokens(part, length_sorted_batches(part, args.batch_size, 16384))
        by_chars = sorted(range(len(chunk)), key=lambda i: -len(chunk[i]))   # sentence-transformers' order
        st_padded += padded_tokens(part, [by_chars[i:i + args.batch_size]
                                          for i in range(0, len(by_chars), args.batch_size)])
        offset += len(chunk)
    real = sum(lengths)
    padding = {"harness": real / harness_padded, "sentence-transformers": real / st_padded, "naive loop": 1.0}

    def chunk_speedup(other: str) -> float:
        """Median over (repeat, chunk) of the per-chunk rate ratio harness / other."""
        counts = {"harness": [len(c) for c in chunks], "sentence-transformers": [len(c) for c in chunks],
                  "naive loop": [len(c) for c in naive_chunks]}
        ratios = [(counts["harness"][c] / th) / (counts[other][c] / to)
                  for rh, ro in zip(results["harness"]["chunk_wall"], results[other]["chunk_wall"])
                  for c, (th, to) in enumerate(zip(rh, ro))]
        return float(np.median(ratios))

    rows, figures = [], {}
    for name, count, flops in (("harness", len(sentences), flops_all),
                               ("sentence-transformers", len(sentences), flops_all),
                               ("naive loop", len(naive_sentences), flops_naive)):
        best = results[name]["best"]
        rate = count / best
        figures[name] = {"sentences": count, "best_s": best, "median_s": results[name]["median"],
                         "times_s": results[name]["wall"], "cpu_s": results[name]["cpu"],
                         "sentences_per_s": rate, "sentences_per_cpu_s": count / results[name]["best_cpu"],
                         "gflops_per_s": flops / best / 1e9, "share_of_matmul": flops / best / matmul_rate,
                         "real_over_padded_tokens": padding[name]}
        rows.append([name, count, best, results[name]["median"], results[name]["best_cpu"], rate,
                     flops / best / 1e9, f"{100 * flops / best / matmul_rate:.1f}%", f"{100 * padding[name]:.0f}%"])
    speedup_st = figures["harness"]["sentences_per_s"] / figures["sentence-transformers"]["sentences_per_s"]
    speedup_naive = figures["harness"]["sentences_per_s"] / figures["naive loop"]["sentences_per_s"]
    cpu_st = figures["harness"]["sentences_per_cpu_s"] / figures["sentence-transformers"]["sentences_per_cpu_s"]
    cpu_naive = figures["harness"]["sentences_per_cpu_s"] / figures["naive loop"]["sentences_per_cpu_s"]
    chunk_st, chunk_naive = chunk_speedup("sentence-transformers"), chunk_speedup("naive loop")

    print(f"machine: {machine()}")
    print(f"model: {model_dir} ({config.num_hidden_layers} layers, hidden {config.hidden_size}); "
          f"{len(sentences)} sentences, {real:,} tokens (mean {real / len(sentences):.1f}, max {max(lengths)}), "
          f"batch size {args.batch_size}, max length {args.max_length}, {len(chunks)} interleaved chunks, "
          f"best of {args.repeats}")
    print(f"dense fp32 matmul (torch.mm 2048x2048): {matmul_rate / 1e9:.1f} GFLOP/s\n")
    print(table(["implementation", "sentences", "best s", "median s", "cpu s", "sentences/s", "GFLOP/s",
                 "of matmul", "real/padded tokens"], rows))
    print("\nspeed-up of harness (sentences/s; by best wall time | by process CPU time | median of per-chunk ratios):")
    print(f"  vs sentence-transformers: {speedup_st:.2f}x | {cpu_st:.2f}x | {chunk_st:.2f}x  (goal >= 1.0) "
          f"{'MET' if speedup_st >= 1.0 else 'MISSED'}")
    print(f"  vs naive loop:            {speedup_naive:.2f}x | {cpu_naive:.2f}x | {chunk_naive:.2f}x  (goal >= 3.0) "
          f"{'MET' if speedup_naive >= 3.0 else 'MISSED'}")
    print(f"max |harness - sentence-transformers| = {diff_st:.2e}; max |harness - naive| = {diff_naive:.2e} "
          f"(allowed {args.atol:g})")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "n": len(sentences), "tokens": real,
                                               "batch_size": args.batch_size, "matmul_gflops": matmul_rate / 1e9,
                                               "implementations": figures, "speedup_vs_st": speedup_st,
                                               "speedup_vs_naive": speedup_naive, "cpu_speedup_vs_st": cpu_st,
                                               "cpu_speedup_vs_naive": cpu_naive, "chunk_speedup_vs_st": chunk_st,
                                               "chunk_speedup_vs_naive": chunk_naive, "max_diff_st": diff_st,
                                               "max_diff_naive": diff_naive}, indent=1))
    if diff_st > args.atol or diff_naive > args.atol:
        print("embeddings differ by more than --atol", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
