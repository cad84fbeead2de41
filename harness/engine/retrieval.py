"""Nearest-neighbour search, margin-based bitext mining and the retrieval metrics (no model knowledge).

Everything follows the official scripts: LASER's ``source/mine_bitexts.py`` (k-NN in both directions,
ratio/distance margin, the fwd/bwd/intersect/max candidate strategies) and XTREME's
``third_party/utils_retrieve.py`` (threshold optimisation and pair extraction of its bitext-mining
task) and ``evaluate.py`` (pair F1, accuracy). Metrics are fractions in [0, 1] like
:mod:`harness.metrics` (XTREME prints them x100). Old names of the metrics resolve with a
DeprecationWarning (:mod:`harness.aliases`).

Tie rule of :func:`knn` (both backends): neighbours by descending score, equal scores by ascending key
index; the reported scores are the float64 dot products of the float32 inputs, rounded to float32,
so the faiss and torch backends return identical indices and scores.
"""
from __future__ import annotations

from typing import Any, Hashable, Iterable

import numpy as np
import torch

from harness.metrics.scorers import pair_scores

MARGINS = ("ratio", "distance", "absolute")
MODES = ("max", "forward", "backward", "intersect")


# ---------------------------------------------------------------------------------------------
# k-NN search
# ---------------------------------------------------------------------------------------------

def normalize_rows(x: np.ndarray) -> np.ndarray:
    """float32 copy with unit L2 rows (zero rows stay zero)."""
    x = np.array(x, dtype=np.float32, copy=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def _have_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def knn(queries: np.ndarray, keys: np.ndarray, k: int, *, metric: str = "cosine", block_size: int = 8192,
        memory_budget_mb: float = 256.0, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best keys of every query: ``(scores [N, k] float32, indices [N, k] int64)``.

    ``metric``: "cosine" (rows are L2-normalised first) or "ip" (raw inner product).
    Queries are searched ``block_size`` at a time and, for the torch backend, against key blocks
    sized so one block of similarities fits ``memory_budget_mb``: the N x M matrix is never built.
    ``backend``: "faiss" (IndexFlatIP), "torch" (blocked matmul + topk) or "auto" (faiss if installed).
    Raises ValueError when ``k`` exceeds the number of keys (callers clip, as LASER does).
    """
    if metric not in ("cosine", "ip"):
        raise ValueError(f"unknown metric {metric!r} (use 'cosine' or 'ip')")
    if backend == "auto":
        backend = "faiss" if _have_faiss() else "torch"
    if backend not in ("faiss", "torch"):
        raise ValueError(f"unknown backend {backend!r} (use 'auto', 'faiss' or 'torch')")
    queries, keys = np.asarray(queries), np.asarray(keys)
    if queries.ndim != 2 or keys.ndim != 2 or queries.shape[1] != keys.shape[1]:
        raise ValueError(f"expected 2-d arrays of equal width, got {queries.shape} and {keys.shape}")
    n, m = len(queries), len(keys)
    if not 1 <= k <= m:
        raise ValueError(f"k={k} but there are {m} keys (need 1 <= k <= {m})")
    if metric == "cosine":
        queries, keys = normalize_rows(queries), normalize_rows(keys)
    else:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        keys = np.ascontiguousarray(keys, dtype=np.float32)
    width = min(k + 1, m)  # one spare neighbour to detect ties at the k-th place
    block_size = max(1, int(block_size))
    scores = np.empty((n, k), dtype=np.float32)
    indices = np.empty((n, k), dtype=np.int64)
    search = _faiss_search(keys) if backend == "faiss" else _torch_search(keys, memory_budget_mb, block_size)
    for start in range(0, n, block_size):
        block = queries[start:start + block_size]
        candidates = search(block, width)
        scores[start:start + len(block)], indices[start:start + len(block)] = _finish(block, keys, candidates, k)
    return scores, indices


def _faiss_search(keys: np.ndarray):
    import faiss

    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)

    def search(block: np.ndarray, width: int) -> np.ndarray:
        return index.search(block, width)[1]
    return search


def _torch_search(keys: np.ndarray, memory_budget_mb: float, block_size: int):
    key_tensor = torch.from_numpy(keys)

    def search(block: np.ndarray, width: int) -> np.ndarray:
        rows = len(block)
        # one [rows, key_block] float32 similarity block within the budget (at least `width` wide)
        key_block = max(width, int(memory_budget_mb * 2**20 // (4 * rows)))
        query = torch.from_numpy(block)
        best_s = torch.full((rows, 0), float("-inf"))
        best_i = torch.zeros((rows, 0), dtype=torch.long)
        for start in range(0, len(keys), key_block):
            sims = query @ key_tensor[start:start + key_block].T
            s, i = sims.topk(min(width, sims.shape[1]), dim=1)
            best_s, best_i = torch.cat([best_s, s], 1), torch.cat([best_i, i + start], 1)
            best_s, pick = best_s.topk(min(width, best_s.shape[1]), dim=1)
            best_i = best_i.gather(1, pick)
        return best_i.numpy()
    return search


def _exact(queries: np.ndarray, keys: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """float64 dot products of each query with its candidate keys: [rows, width]."""
    return np.einsum("nd,nkd->nk", queries.astype(np.float64), keys[candidates].astype(np.float64))


def _finish(queries: np.ndarray, keys: np.ndarray, candidates: np.ndarray, k: int):
    """Rescore the candidates exactly, order them by (-score, index), and redo rows whose k-th and
    (k+1)-th candidates tie (more tied keys may exist than the backend returned) over all keys."""
    sims = _exact(queries, keys, candidates)
    order = np.lexsort((candidates, -sims), axis=1)
    sims, candidates = np.take_along_axis(sims, order, 1), np.take_along_axis(candidates, order, 1)
    if candidates.shape[1] > k:
        for row in np.flatnonzero(sims[:, k - 1] == sims[:, k]):
            full = keys.astype(np.float64) @ queries[row].astype(np.float64)
            best = np.lexsort((np.arange(len(keys)), -full))[:k]
            sims[row, :k], candidates[row, :k] = full[best], best
    return sims[:, :k].astype(np.float32), candidates[:, :k]


# ---------------------------------------------------------------------------------------------
# Margin scoring and mining
# ---------------------------------------------------------------------------------------------

def _margin(a: np.ndarray, b: np.ndarray, margin: str) -> np.ndarray:
    if margin == "ratio":
        return a / b
    if margin == "distance":
        return a - b
    if margin == "absolute":
        return a
    raise ValueError(f"unknown margin {margin!r} (use one of {', '.join(MARGINS)})")


def margin_scores(sims: np.ndarray, indices: np.ndarray, query_mean: np.ndarray, key_mean: np.ndarray,
                  margin: str = "ratio") -> np.ndarray:
    """Margin score of every k-NN candidate, vectorised (Artetxe & Schwenk 2019, as LASER scores):

        score(x, y) = margin(cos(x, y), (mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2)

    ``sims``/``indices`` [N, k]: the query->key k-NN; ``query_mean`` [N]: mean of each query's k-NN
    similarities; ``key_mean`` [M]: the same for each key in the other direction. "ratio" is
    cos / ((sum_x + sum_y) / 2k), "distance" cos minus that denominator, "absolute" cos itself.
    Returns float64 [N, k].
    """
    sims = np.asarray(sims, dtype=np.float64)
    denominator = (np.asarray(query_mean, np.float64)[:, None]
                   + np.asarray(key_mean, np.float64)[np.asarray(indices)]) / 2
    return _margin(sims, denominator, margin)


def mine(src_emb: np.ndarray, trg_emb: np.ndarray, k: int = 4, margin: str = "ratio", mode: str = "max", *,
         threshold: float | None = None, backend: str = "auto", memory_budget_mb: float = 256.0,
         block_size: int = 8192) -> list[tuple[int, int, float]]:
    """Margin-based bitext mining over cosine similarity, as LASER's ``mine_bitexts.py --mode mine``.

    One k-NN search per direction (k clipped to the other side's size); candidates scored by
    :func:`margin_scores`; each sentence keeps its best-scoring candidate. ``mode``:
    "forward" (each source's best), "backward" (each target's best), "intersect" (forward pairs
    that are also the backward best of their target) or "max" (both directions concatenated, sorted
    by score descending — stable, so ties keep forward-before-backward order — and each source and
    target used at most once). ``threshold``: keep scores strictly above it; None = LASER's
    behaviour (0 in "max" mode, no filter otherwise).
    Returns ``(src_index, trg_index, score)`` triples: in "max" mode by descending score,
    otherwise in source (forward, intersect) or target (backward) order.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mining mode {mode!r} (use one of {', '.join(MODES)})")
    _margin(np.zeros(1), np.ones(1), margin)  # validate the margin name before the expensive part
    x, y = normalize_rows(src_emb), normalize_rows(trg_emb)
    if len(x) == 0 or len(y) == 0:
        return []
    opts: dict[str, Any] = {"metric": "ip", "backend": backend, "memory_budget_mb": memory_budget_mb, "block_size": block_size}
    fwd_sim, fwd_ind = knn(x, y, min(k, len(y)), **opts)
    bwd_sim, bwd_ind = knn(y, x, min(k, len(x)), **opts)
    fwd_mean, bwd_mean = fwd_sim.mean(axis=1), bwd_sim.mean(axis=1)
    fwd_scores = margin_scores(fwd_sim, fwd_ind, fwd_mean, bwd_mean, margin)
    bwd_scores = margin_scores(bwd_sim, bwd_ind, bwd_mean, fwd_mean, margin)
    # argmax keeps the first maximum, i.e. the most similar neighbour among equal margins (as LASER)
    fwd_pick, bwd_pick = fwd_scores.argmax(axis=1), bwd_scores.argmax(axis=1)
    fwd_best = fwd_ind[np.arange(len(x)), fwd_pick]
    bwd_best = bwd_ind[np.arange(len(y)), bwd_pick]
    fwd_score = fwd_scores[np.arange(len(x)), fwd_pick]
    bwd_score = bwd_scores[np.arange(len(y)), bwd_pick]
    if threshold is None:
        threshold = 0.0 if mode == "max" else -np.inf

    if mode == "forward":
        src, trg, score = np.arange(len(x)), fwd_best, fwd_score
    elif mode == "backward":
        src, trg, score = bwd_best, np.arange(len(y)), bwd_score
    elif mode == "intersect":
        keep = bwd_best[fwd_best] == np.arange(len(x))
        src, trg, score = np.arange(len(x))[keep], fwd_best[keep], fwd_score[keep]
    else:
        src = np.concatenate([np.arange(len(x)), bwd_best])
        trg = np.concatenate([fwd_best, np.arange(len(y))])
        score = np.concatenate([fwd_score, bwd_score])
        order = np.argsort(-score, kind="stable")
        src, trg, score = src[order], trg[order], score[order]
        used_src = np.zeros(len(x), dtype=bool)
        used_trg = np.zeros(len(y), dtype=bool)
        keep = np.zeros(len(score), dtype=bool)
        for n, (i, j) in enumerate(zip(src.tolist(), trg.tolist())):
            if not used_src[i] and not used_trg[j]:
                used_src[i] = used_trg[j] = keep[n] = True
        src, trg, score = src[keep], trg[keep], score[keep]
    above = score > threshold
    return list(zip(src[above].tolist(), trg[above].tolist(), score[above].tolist()))


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

Pair = tuple[Hashable, Hashable]


def pair_f1(predicted_pairs: Iterable[Pair], gold_pairs: Iterable[Pair]) -> dict[str, float]:
    """Precision, recall and F1 of the predicted pairs against the gold pairs, both taken as sets
    (:func:`harness.metrics.scorers.pair_scores`; all three are 0 when nothing is correct)."""
    scores = pair_scores(list(gold_pairs), list(predicted_pairs))  # type: ignore[arg-type]
    return {name: float(scores[name]) for name in ("precision", "recall", "f1")}


def optimize_threshold(candidates: Iterable[tuple[Hashable, Hashable, float]],
                       gold_pairs: Iterable[Pair]) -> tuple[float, float, float, float]:
    """The score threshold maximising F1 on gold pairs: ``(threshold, precision, recall, f1)``.

    As XTREME's threshold optimisation of mined pairs (``utils_retrieve.py``): candidates sorted by score descending (stable), swept one at a
    time; whenever F1 strictly improves, the threshold becomes the midpoint between this candidate's
    score and the next one's. (XTREME indexes past the end when the best F1 is at the last
    candidate; here the threshold is then that candidate's score.) Threshold 0 when no candidate is
    correct. Precision/recall/F1 are those of the pairs scoring ``>= threshold``, as its evaluation
    reports them (ties at the threshold are all extracted). A pair listed twice keeps its best score.
    """
    best: dict[Pair, float] = {}
    for src, trg, score in candidates:
        best[(src, trg)] = max(float(score), best.get((src, trg), float(score)))
    gold = set(map(tuple, gold_pairs))
    items = sorted(best.items(), key=lambda item: -item[1])
    threshold, best_f1, correct = 0.0, 0.0, 0
    for n, (pair, score) in enumerate(items, start=1):
        correct += pair in gold
        if correct == 0:
            continue
        precision, recall = correct / n, correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            threshold = (score + items[n][1]) / 2 if n < len(items) else score
    scores = pair_f1([pair for pair, score in items if score >= threshold], gold)  # type: ignore[arg-type]
    return threshold, scores["precision"], scores["recall"], scores["f1"]


def top1_accuracy(predicted_indices: Iterable[int], gold_indices: Iterable[int]) -> float:
    """Share of queries whose top-1 neighbour is the gold one (a fraction)."""
    predicted, gold = list(predicted_indices), list(gold_indices)
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold indices")
    if not gold:
        return 0.0
    return sum(int(p) == int(g) for p, g in zip(predicted, gold)) / len(gold)


def __getattr__(name: str) -> Any:
    from harness.aliases import resolve_moved
    return resolve_moved(__name__, name)
