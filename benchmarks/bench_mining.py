"""Margin-based mining of N x N random embeddings: the whole `mine` call against its bare k-NN searches.

    python benchmarks/bench_mining.py            # 100,000 x 100,000, 384-dim (minutes on 2 cores)
    python benchmarks/bench_mining.py --n 20000  # smaller run

Prints the wall time of ``mine(k=4, margin="ratio", mode="max")``, the time of the two k-NN searches
it contains (forward and backward, timed separately in the same run with the same settings),
their ratio (goal: at most 1.25) and the peak RSS of the process (goal: under 2 GB).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.engine.memory import peak_memory  # noqa: E402
from harness.engine.retrieval import knn, mine, normalize_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="sentences per side")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--backend", default="auto", choices=("auto", "faiss", "torch"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    rng = np.random.default_rng(args.seed)
    src = normalize_rows(rng.standard_normal((args.n, args.dim), dtype=np.float32))
    trg = normalize_rows(rng.standard_normal((args.n, args.dim), dtype=np.float32))
    warm = min(args.n, 2_000)  # one-time costs (thread pools, allocator) must not land in one timing
    mine(src[:warm], trg[:warm], k=args.k, margin="ratio", mode="max", backend=args.backend)
    with peak_memory(torch.device("cpu")) as memory:
        t0 = time.perf_counter()
        knn(src, trg, args.k, metric="ip", backend=args.backend)
        forward = time.perf_counter() - t0
        t0 = time.perf_counter()
        knn(trg, src, args.k, metric="ip", backend=args.backend)
        backward = time.perf_counter() - t0
        t0 = time.perf_counter()
        pairs = mine(src, trg, k=args.k, margin="ratio", mode="max", backend=args.backend)
        mining = time.perf_counter() - t0
    searches = forward + backward
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"n={args.n} dim={args.dim} k={args.k} backend={args.backend} pairs={len(pairs)}")
    print(f"knn forward {forward:.2f}s, backward {backward:.2f}s, together {searches:.2f}s")
    print(f"mine {mining:.2f}s; mine / knn = {mining / searches:.3f} (goal <= 1.25)")
    print(f"peak RSS {peak_rss:.0f} MB (sampled during the runs: {memory.stats()['peak_host_mb']:.0f} MB; goal < 2048)")


if __name__ == "__main__":
    main()
