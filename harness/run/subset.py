"""Nested, reproducible subsets of training data (``--intermediate-size``/``--intermediate-fraction``).

Examples are ranked by the SHA-256 of (data seed, example id) and a subset of N is the first N of
that ranking. An example's rank depends only on its own id, so:

- subsets are nested: at one data seed, the N = 16 subset lies inside the N = 32 subset;
- the run seed (``--seed``) never changes the data, only the training order and initialisation;
- reordering the source file changes nothing, and appending rows only lets new rows in: an old row
  never enters a subset it was not in (the old N-subset lies inside the new (N + appended)-subset).

``stratify`` keeps the label proportions: the ranking of each class is interleaved by Tijdeman's
solution of the chairman assignment problem, so every prefix of length N holds each class within
one example of its proportional share N * n_c / n, and stratified subsets are still nested.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Hashable, Sequence

from harness.errors import HarnessError


def parse_count(text: str, what: str) -> int:
    """A positive example count: ``1000``, ``1k`` or ``1.5k`` (k = 1000); ``what`` names the value
    in the error."""
    raw = str(text).strip().lower()
    scale = 1000 if raw.endswith("k") else 1
    try:
        value = float(raw[:-1] if scale > 1 else raw) * scale
    except ValueError:
        raise HarnessError(f"{what}: expected a number of examples (e.g. 500 or 2k)") from None
    if not value.is_integer() or value < 1:
        raise HarnessError(f"{what}: expected a whole number of examples >= 1")
    return int(value)


def rank_key(data_seed: int, ident: str) -> bytes:
    """Where example ``ident`` stands in the ranking of data seed ``data_seed`` (smaller = earlier)."""
    return hashlib.sha256(f"subset:{data_seed}:{ident}".encode("utf-8")).digest()


def _stratum(example: dict[str, Any]) -> Hashable:
    label = example["label"]
    return label if isinstance(label, (str, int, float, bool)) else json.dumps(label, sort_keys=True, default=str)


def interleave(groups: Sequence[Sequence[int]], count: int) -> list[int]:
    """The first ``count`` items of an interleaving of ``groups`` (each already in its own order) in
    which every prefix of length j holds within one item of j * n_c / n of group c (Tijdeman 1980:
    the j-th item comes from a group c with w_c j - s_c >= 1 / (2k - 2), the one with the smallest
    (1 - 1 / (2k - 2) + s_c) / w_c; w_c = n_c / n, s_c = items taken so far, k groups). Exact
    integer arithmetic; ties go to the earlier group."""
    sizes = [len(group) for group in groups]
    total = sum(sizes)
    if len(groups) == 1:
        return list(groups[0][:count])
    spread = 2 * len(groups) - 2
    taken = [0] * len(groups)
    out: list[int] = []
    for j in range(1, min(count, total) + 1):
        best = None
        for c, size in enumerate(sizes):
            if taken[c] >= size or spread * (size * j - taken[c] * total) < total:
                continue
            if best is None or ((spread - 1) + spread * taken[c]) * sizes[best] < \
                    ((spread - 1) + spread * taken[best]) * size:
                best = c
        assert best is not None   # Tijdeman: an eligible group always exists
        out.append(groups[best][taken[best]])
        taken[best] += 1
    return out


def subset_indices(examples: Sequence[dict[str, Any]], count: int, data_seed: int,
                   stratify: bool = False, what: str = "") -> list[int]:
    """Indices (in source order) of the ``count`` examples the subset of ``data_seed`` keeps."""
    order = sorted(range(len(examples)), key=lambda i: rank_key(data_seed, str(examples[i]["id"])))
    if stratify:
        groups: dict[Hashable, list[int]] = {}
        for index in order:
            if "label" not in examples[index]:
                raise HarnessError(f"--stratify: {what or 'the task'} has no 'label' field to stratify by "
                                   f"(example {examples[index]['id']!r})")
            groups.setdefault(_stratum(examples[index]), []).append(index)
        by_name = sorted(groups, key=str)   # a fixed class order for ties, whatever the ranking
        order = interleave([groups[name] for name in by_name], count)
    return sorted(order[:count])
