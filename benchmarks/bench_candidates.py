"""Candidate-set encoding (Mewsli-X scale: ~1M entities): sharded, streamed encoding to disk vs
sentence-transformers' ``encode`` on the same model, in the same run.

    python benchmarks/bench_candidates.py                   # 4,000 candidates, 2 repeats
    python benchmarks/bench_candidates.py --n 50000 --shard-mb 8

Each implementation runs in its own child process (so peak memory is its own), alternating over
``--repeats``, on the same deterministic multilingual candidate texts and the same model (the real
MiniLM-L6 of all-MiniLM-L6-v2), CPU, fp32, the same batch size and truncation:

* harness  ``encode_to_shards``: texts read lazily from a generator, one shard of at most
           ``--shard-mb`` MB of embeddings encoded (``encode``, mean pooling, normalised) and written
           to disk at a time; memory does not grow with the number of candidates;
* st       ``SentenceTransformer.encode(texts)``: the whole list in, the whole matrix out.

Printed: candidates/s (best repeat) and the peak resident memory above the process's footprint after
loading the model (sampled every 10 ms), plus the embedding matrix size for scale. The two must
agree (max |diff| <= ``--atol``, checked on the first 256 candidates).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, minilm_dir, multilingual_sentences, table  # noqa: E402


def child(args) -> dict:
    import numpy as np
    import torch

    from harness.engine.memory import current_rss_mb, peak_memory

    if args.threads:
        torch.set_num_threads(args.threads)
    texts = lambda: iter(multilingual_sentences(args.n, seed=args.seed, max_words=60))  # noqa: E731
    device = torch.device("cpu")
    if args.impl == "harness":
        from harness.engine.encoding import encode
        from harness.engine.modeling import load_pretrained
        from harness.engine.shards import encode_to_shards, shard_rows

        model = load_pretrained(str(args.model or minilm_dir()), device)

        def embed(batch):
            return encode(model, sentences=batch, layer=model.num_layers, batch_size=args.batch_size,
                          max_length=args.max_length, normalize=True, mixed_precision="no")

        embed(multilingual_sentences(32, seed=99))  # warm-up
        directory = Path(tempfile.mkdtemp(prefix="bench-shards-"))
        baseline = current_rss_mb()
        start = time.perf_counter()
        with peak_memory(device) as memory:
            shards = encode_to_shards(((str(i), t) for i, t in enumerate(texts())), embed, directory / "s",
                                      rows_per_shard=shard_rows(args.shard_mb, model.hidden_size),
                                      fingerprint={"bench": args.n})
        seconds = time.perf_counter() - start
        parts, rows = [], 0
        for index in range(len(shards.sizes)):   # the first 256 rows, across shards
            if rows >= 256:
                break
            parts.append(np.asarray(shards.embeddings(index)))
            rows += len(parts[-1])
        head = np.concatenate(parts)[:256].tolist()
        extra = {"shards": len(shards.sizes)}
    else:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(args.model or minilm_dir()), device="cpu")
        # all-MiniLM-L6-v2's pipeline ends in a Normalize module; a plain model directory gets none
        normalize = not any(type(module).__name__ == "Normalize" for module in st)
        st.max_seq_length = args.max_length
        st.encode(multilingual_sentences(32, seed=99), batch_size=args.batch_size, show_progress_bar=False)
        all_texts = list(texts())
        baseline = current_rss_mb()
        start = time.perf_counter()
        with peak_memory(device) as memory:
            matrix = st.encode(all_texts, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False,
                               normalize_embeddings=normalize)
        seconds = time.perf_counter() - start
        head = matrix[:256].tolist()
        extra = {}
    return {"seconds": seconds, "candidates_per_s": args.n / seconds,
            "peak_above_model_mb": memory.stats()["peak_host_mb"] - baseline, "head": head, **extra}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="candidates")
    parser.add_argument("--shard-mb", type=float, default=2.0, help="harness: embeddings per shard (MB)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=64, help="Mewsli-X's candidate length")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", default=None, help="model directory (default: the MiniLM package)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--impl", choices=("harness", "st"), help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.impl:
        print(json.dumps(child(args)))
        return 0
    import numpy as np

    runs: dict[str, list[dict]] = {"harness": [], "st": []}
    passthrough = ["--n", str(args.n), "--shard-mb", str(args.shard_mb), "--batch-size", str(args.batch_size),
                   "--max-length", str(args.max_length), "--seed", str(args.seed)]
    if args.threads:
        passthrough += ["--threads", str(args.threads)]
    if args.model:
        passthrough += ["--model", str(args.model)]
    for repeat in range(args.repeats):
        for impl in (("harness", "st") if repeat % 2 == 0 else ("st", "harness")):
            out = subprocess.run([sys.executable, __file__, *passthrough, "--impl", impl], check=True,
                                 capture_output=True, text=True)
            runs[impl].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"repeat {repeat + 1} {impl}: {runs[impl][-1]['candidates_per_s']:.1f} candidates/s", file=sys.stderr)
    diff = float(np.abs(np.asarray(runs["harness"][0]["head"]) - np.asarray(runs["st"][0]["head"])).max())
    best = {impl: max(r["candidates_per_s"] for r in rs) for impl, rs in runs.items()}
    peak = {impl: max(r["peak_above_model_mb"] for r in rs) for impl, rs in runs.items()}
    matrix_mb = args.n * len(runs["harness"][0]["head"][0]) * 4 / 2**20
    print(f"{args.n} candidates, batch {args.batch_size}, max length {args.max_length}, shards of "
          f"{args.shard_mb} MB ({runs['harness'][0]['shards']} shards); {machine()}")
    print(table(["implementation", "candidates/s", "peak MB above model", "embedding matrix MB"],
                [["harness (sharded)", best["harness"], peak["harness"], matrix_mb],
                 ["sentence-transformers", best["st"], peak["st"], matrix_mb]]))
    print(f"speed ratio harness / sentence-transformers: {best['harness'] / best['st']:.2f}x; "
          f"max |embedding diff| {diff:.2e} (atol {args.atol})")
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "candidates_per_s": best, "peak_above_model_mb": peak,
                                               "max_abs_diff": diff}, indent=1))
    return 0 if diff <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())
