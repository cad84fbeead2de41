"""Image-text retrieval: contrastive caption-image training (InfoNCE), scored by Recall@1/5/10 in both
directions over the distinct images (by pixel hash) of a split (xFlickr&CO, M3IT COCO captions)."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.engine.vision import image_ref
from harness.formats.base import ENCODER_INPUTS, EvalOutput, Format, Head, encoder_batch
from harness.formats.image_text_classification import add_images, check_images, fused_encode, image_batch
from harness.metrics.recall import retrieval_recall


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class ContrastiveHead(Head):
    """Caption and image embeddings (mean-pooled fused encoder output, one projection each) trained
    with a symmetric InfoNCE loss; captions of the same image in a batch are all positives."""

    def __init__(self, hidden_size: int, dim: int = 256):
        super().__init__()
        self.text_proj = nn.Linear(hidden_size, dim)
        self.image_proj = nn.Linear(hidden_size, dim)
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(20.0))))

    def embed_texts(self, encoder, batch):
        hidden = encoder(**{k: batch[k] for k in ENCODER_INPUTS if k in batch}).last_hidden_state
        return nn.functional.normalize(self.text_proj(_mean_pool(hidden, batch["attention_mask"])), dim=-1)

    def embed_images(self, encoder, batch):
        inputs = {"input_ids": batch["image_input_ids"], "attention_mask": torch.ones_like(batch["image_input_ids"]),
                  "images": batch["images"], "image_modes": batch["image_modes"]}
        hidden = fused_encode(encoder, inputs)
        return nn.functional.normalize(self.image_proj(hidden.mean(1)), dim=-1)

    def forward(self, encoder, batch):
        texts, images = self.embed_texts(encoder, batch), self.embed_images(encoder, batch)
        logits = self.log_scale.exp() * texts @ images.T
        out = {"logits": logits}
        keys = [refs[0].key if refs else str(i) for i, refs in enumerate(batch["images"])]
        same = torch.tensor([[a == b for b in keys] for a in keys], dtype=logits.dtype, device=logits.device)
        targets = same / same.sum(1, keepdim=True)
        out["loss"] = -0.5 * ((targets * logits.log_softmax(1)).sum(1).mean()
                              + (targets * logits.T.log_softmax(1)).sum(1).mean())
        return out


class ImageTextRetrieval(Format):
    """Caption <-> image retrieval; each example is one (caption, image) pair. Scored by Recall@1/5/10
    in both directions over the distinct images (by pixel hash) of the split."""

    name = "image_text_retrieval"
    fields = {"text_a": str, "images": list}

    def check(self, example, task):
        super().check(example, task)
        check_images(example, 1, 1)

    def build_head(self, hidden_size, task):
        return ContrastiveHead(hidden_size, int(task.spec.options.get("embedding_dim", 256)))

    def featurize(self, examples, tokenizer, task, max_length, train):
        encoded = tokenizer([e["text_a"] for e in examples], truncation=True, max_length=max_length)
        empty = tokenizer("")["input_ids"]
        features = [{"example_index": i, "input_ids": ids, "image_input_ids": empty}
                    for i, ids in enumerate(encoded["input_ids"])]
        return add_images(features, examples)

    def collate(self, features, pad_id):
        batch = encoder_batch(features, pad_id)
        batch["image_input_ids"] = torch.tensor([f["image_input_ids"] for f in features], dtype=torch.long)
        return {**batch, **image_batch(features)}

    def gold(self, example):
        return image_ref(example["images"][0]).key[:16]

    def evaluate(self, model, task, examples, language, settings, **context):
        from harness.engine.batches import Engine, latency_stats, length_sorted_batches
        from harness.engine.memory import peak_memory

        features = self.featurize(examples, model.tokenizer, task, settings.max_length, train=False)
        keys = list(dict.fromkeys(f["images"][0].key for f in features))
        first = {}
        for f in features:
            first.setdefault(f["images"][0].key, f)
        task_model = model.task_model(task.name).eval()
        head, encoder = task_model.heads[task.name], task_model.encoder
        pad_id = model.tokenizer.pad_token_id or 0
        engine = Engine(model.device, settings.mixed_precision)
        latencies: list[float] = []
        start = time.perf_counter()

        def embed(items: list[dict[str, Any]], fn) -> np.ndarray:
            run = engine.run(lambda batch: fn(encoder, batch).float(),
                             length_sorted_batches([len(f["input_ids"]) for f in items], settings.eval_batch_size),
                             lambda indices: self.collate([items[i] for i in indices], pad_id), len(items),
                             timing="stream")
            latencies.extend(run.batch_seconds or [])
            if run.rows is None:
                return np.zeros((0, head.text_proj.out_features), dtype=np.float32)
            return run.rows

        with torch.inference_mode(), peak_memory(model.device) as memory:
            texts = embed(features, head.embed_texts)
            images = embed([first[k] for k in keys], head.embed_images)
        seconds = time.perf_counter() - start
        similarity = texts @ images.T
        index = {k: i for i, k in enumerate(keys)}
        gold = [index[f["images"][0].key] for f in features]
        metrics = retrieval_recall(similarity, gold)
        predictions = [keys[int(i)][:16] for i in similarity.argmax(1)]
        stats = {"seconds": seconds, "examples_per_s": len(examples) / max(seconds, 1e-9),
                 **memory.stats(), **latency_stats(latencies)}
        return EvalOutput(metrics=metrics, ids=[e["id"] for e in examples], predictions=predictions,
                          golds=[keys[g][:16] for g in gold], stats=stats)
