"""Recall@K of cross-modal retrieval, both directions, from a text x image similarity matrix."""
from __future__ import annotations

from typing import Sequence

import numpy as np

RECALL_KS = (1, 5, 10)


def retrieval_recall(similarity: np.ndarray, gold_image: Sequence[int], ks: Sequence[int] = RECALL_KS
                     ) -> dict[str, float]:
    """``similarity[t, i]`` scores text t against image i; ``gold_image[t]`` is the image text t
    describes. Text->image: the gold image among the top K; image->text: any of the image's texts
    among its top K (an image may have several captions). ``mean_recall`` averages all six."""
    sims = np.asarray(similarity, dtype=np.float64)
    gold = np.asarray(gold_image)
    n_texts, n_images = sims.shape
    if len(gold) != n_texts:
        raise ValueError(f"{len(gold)} gold images for {n_texts} texts")
    # rank of the gold image for each text (ties broken in favour of the lower index, as argsort is stable)
    t2i_order = np.argsort(-sims, axis=1, kind="stable")
    t2i_rank = np.argmax(t2i_order == gold[:, None], axis=1)
    i2t_order = np.argsort(-sims.T, axis=1, kind="stable")
    i2t_rank = np.min(np.where(gold[i2t_order] == np.arange(n_images)[:, None], np.arange(n_texts), n_texts), axis=1)
    described = np.isin(np.arange(n_images), gold)
    out = {}
    for k in ks:
        out[f"t2i_r{k}"] = float(np.mean(t2i_rank < k)) if n_texts else 0.0
        out[f"i2t_r{k}"] = float(np.mean(i2t_rank[described] < k)) if described.any() else 0.0
    out["mean_recall"] = float(np.mean([out[f"{d}_r{k}"] for d in ("t2i", "i2t") for k in ks]))
    return out
