"""Embeddings of a large candidate set, streamed to disk in shards, and k-NN over the shards.

Memory is bounded by the shard size (chosen from a budget), not by the number of candidates: texts
are read lazily, one shard at a time is encoded and written (``shard-00000.npy`` + ``.ids``, each
written to a temporary file, fsynced and renamed), and ``manifest.json`` records the shards that
are complete. A killed encoding resumes at the first missing shard; a manifest whose fingerprint
differs (other model, candidates or settings) is discarded.

:func:`knn_shards` searches the shards one by one with :func:`~harness.engine.retrieval.knn` and
merges the per-shard top k under the same rule (score descending, then global index ascending).
"""
from __future__ import annotations

import json
import os
import shutil
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from harness.engine.retrieval import knn

MANIFEST = "manifest.json"


def shard_rows(budget_mb: float, dim: int) -> int:
    """Rows per shard so that one shard of float32 embeddings fits ``budget_mb``."""
    return max(1, int(budget_mb * 2**20 // (4 * max(1, dim))))


def _write_atomic(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Shards:
    """A directory of embedding shards (read side)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.manifest = json.loads((self.directory / MANIFEST).read_text())

    @property
    def sizes(self) -> list[int]:
        return [entry["rows"] for entry in self.manifest["shards"]]

    def __len__(self) -> int:
        return sum(self.sizes)

    def embeddings(self, index: int) -> np.ndarray:
        return np.load(self.directory / self.manifest["shards"][index]["file"], mmap_mode="r")

    def ids(self, index: int) -> list[str]:
        name = self.manifest["shards"][index]["file"].replace(".npy", ".ids")
        return json.loads((self.directory / name).read_text(encoding="utf-8"))

    def ids_at(self, positions: np.ndarray) -> np.ndarray:
        """Candidate ids at global row positions (any shape); reads only the shards involved."""
        flat = np.asarray(positions).ravel()
        bounds = np.cumsum([0, *self.sizes])
        shard_of = np.searchsorted(bounds, flat, side="right") - 1
        out = np.empty(len(flat), dtype=object)
        for shard in np.unique(shard_of):
            ids = self.ids(int(shard))
            mask = shard_of == shard
            out[mask] = [ids[p - bounds[shard]] for p in flat[mask].tolist()]
        return out.reshape(np.shape(positions))


def encode_to_shards(items: Iterable[tuple[str, str]], embed: Callable[[list[str]], np.ndarray],
                     directory: Path, *, rows_per_shard: int, fingerprint: dict[str, Any],
                     log: Callable[[str], None] | None = None) -> Shards:
    """Encode ``(id, text)`` items into ``directory`` shard by shard; resume what a kill left."""
    directory = Path(directory)
    log = log or (lambda message: None)
    path = directory / MANIFEST
    manifest = json.loads(path.read_text()) if path.exists() else None
    if manifest is not None and manifest.get("fingerprint") != fingerprint:
        shutil.rmtree(directory)
        manifest = None
    if manifest is not None and manifest.get("complete"):
        return Shards(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = manifest or {"fingerprint": fingerprint, "rows_per_shard": rows_per_shard, "shards": [],
                            "complete": False}
    rows_per_shard = manifest["rows_per_shard"]
    done = len(manifest["shards"])
    if done:
        log(f"resuming candidate encoding at shard {done} ({done * rows_per_shard} candidates done)")
    iterator: Iterator[tuple[str, str]] = iter(items)
    index = 0
    while True:
        chunk = list(islice(iterator, rows_per_shard))
        if not chunk:
            break
        if index >= done:
            name = f"shard-{index:05d}.npy"
            vectors = np.ascontiguousarray(embed([text for _, text in chunk]), dtype=np.float32)
            _write_atomic(directory / name, lambda handle: np.save(handle, vectors))
            ids = [ident for ident, _ in chunk]
            _write_atomic(directory / name.replace(".npy", ".ids"),
                          lambda handle: handle.write(json.dumps(ids, ensure_ascii=False)), mode="w")
            manifest["shards"].append({"file": name, "rows": len(chunk)})
            _write_atomic(path, lambda handle: handle.write(json.dumps(manifest)), mode="w")
        index += 1
    manifest["complete"] = True
    _write_atomic(path, lambda handle: handle.write(json.dumps(manifest)), mode="w")
    return Shards(directory)


def knn_shards(queries: np.ndarray, shards: Shards, k: int, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows over all shards: ``(scores [N, k], global indices [N, k])``, as :func:`knn`
    over the concatenated shards would give (ties on the float32 score: lower index first)."""
    total = len(shards)
    if not 1 <= k <= total:
        raise ValueError(f"k={k} but there are {total} candidates (need 1 <= k <= {total})")
    best_s = np.empty((len(queries), 0), dtype=np.float32)
    best_i = np.empty((len(queries), 0), dtype=np.int64)
    offset = 0
    for index, rows in enumerate(shards.sizes):
        scores, indices = knn(queries, np.asarray(shards.embeddings(index)), min(k, rows), **options)
        best_s = np.concatenate([best_s, scores], 1)
        best_i = np.concatenate([best_i, indices + offset], 1)
        order = np.lexsort((best_i, -best_s), axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1)
        offset += rows
    return best_s, best_i
