"""Modality dropout for intermediate training, and the contamination check between intermediate
training images and target test images.

Dropout decisions come from a generator of their own, seeded by (seed, task, example id): the same
examples are dropped whatever the order, subset or resume point, so a killed run resumes
bit-identically and the decisions never touch the training RNG. A dropped image is removed by default
(the example becomes exactly the text-only input text targets see); ``token`` puts one learned
no-image token in its place, ``zeros`` zero vectors. Text is only dropped from examples that keep
their image: never both modalities of one example.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from harness.errors import HarnessError

DROPOUT_MODES = ("remove", "token", "zeros")


@dataclass(frozen=True)
class ModalityDropout:
    image: float = 0.0
    text: float = 0.0
    mode: str = "remove"

    @classmethod
    def parse(cls, value: str | dict[str, Any] | None) -> "ModalityDropout":
        """``image=P[,text=Q][,mode=remove|token|zeros]`` (or the same as a mapping, from a preset)."""
        if not value:
            return cls()
        items = value.items() if isinstance(value, dict) else (
            part.partition("=")[::2] for part in str(value).split(",") if part.strip())
        fields: dict[str, Any] = {}
        for key, raw in items:
            key = key.strip()
            if key == "mode":
                if raw not in DROPOUT_MODES:
                    raise HarnessError(f"--modality-dropout mode must be one of {', '.join(DROPOUT_MODES)}; got {raw!r}")
                fields["mode"] = raw
                continue
            if key not in ("image", "text"):
                raise HarnessError(f"--modality-dropout: unknown modality {key!r} (expected image, text or mode)")
            try:
                fields[key] = float(raw)
            except (TypeError, ValueError):
                raise HarnessError(f"--modality-dropout {key}={raw!r}: expected a probability") from None
            if not 0.0 <= fields[key] <= 1.0:
                raise HarnessError(f"--modality-dropout {key}={raw}: expected a probability in [0, 1]")
        return cls(**fields)

    @property
    def active(self) -> bool:
        return self.image > 0 or self.text > 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _uniforms(seed: int, task: str, ident: str) -> tuple[float, float]:
    digest = hashlib.sha256(f"modality-dropout:{seed}:{task}:{ident}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return rng.random(), rng.random()


def drop_modalities(examples: list[dict[str, Any]], dropout: ModalityDropout, seed: int, task: str
                    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Copies of ``examples`` with modalities dropped, and how many of each were dropped."""
    counts = {"images_dropped": 0, "texts_dropped": 0}
    if not dropout.active:
        return examples, counts
    out = []
    for example in examples:
        if not example.get("images"):
            out.append(example)
            continue
        u_image, u_text = _uniforms(seed, task, example["id"])
        if u_image < dropout.image:
            counts["images_dropped"] += 1
            kept = example["images"] if dropout.mode == "zeros" else []
            mode = "" if dropout.mode == "remove" else dropout.mode
            example = {**example, "images": kept, **({"image_mode": mode} if mode else {})}
        elif u_text < dropout.text:
            counts["texts_dropped"] += 1
            example = {**example, "text_a": "", **({"text_b": None} if "text_b" in example else {})}
        out.append(example)
    return out, counts


def image_keys(examples: Iterable[dict[str, Any]]) -> set[str]:
    """Pixel hashes of every image of ``examples``."""
    from harness.engine.vision import image_ref
    return {image_ref(data).key for example in examples for data in example.get("images") or ()}


def drop_contaminated(examples: list[dict[str, Any]], banned: set[str]) -> tuple[list[dict[str, Any]], int]:
    """``examples`` without those showing an image in ``banned`` (target test images)."""
    if not banned:
        return examples, 0
    kept = [e for e in examples if not image_keys([e]) & banned]
    return kept, len(examples) - len(kept)
