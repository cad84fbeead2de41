"""Vision towers (CLIP / SigLIP vision models through transformers), image decoding and
preprocessing with PIL + numpy, and a feature cache keyed by the SHA-256 of the decoded pixels.

Images travel through examples and batches as :class:`ImageRef` (pixel hash + the encoded bytes),
so a frozen tower encodes each distinct image once per process, however many examples, epochs,
targets or grid cells use it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from harness.errors import DataError, HarnessError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

#: vision configs transformers ships, by ``model_type`` of the checkpoint (full or vision-only)
_TOWERS = {"clip": "CLIPVisionModel", "clip_vision_model": "CLIPVisionModel",
           "siglip": "SiglipVisionModel", "siglip_vision_model": "SiglipVisionModel"}
_RESAMPLE = {0: "NEAREST", 1: "LANCZOS", 2: "BILINEAR", 3: "BICUBIC", 4: "BOX", 5: "HAMMING"}


@dataclass(frozen=True)
class ImageRef:
    """One image: ``key`` is the SHA-256 of its decoded RGB pixels (and shape), ``data`` the encoded
    image (base64 text or raw bytes) it is decoded from when its features are not cached."""

    key: str
    data: str | bytes


def image_bytes(data: str | bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    if not isinstance(data, str):
        raise DataError(f"expected a base64 string, got {type(data).__name__}")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataError(f"invalid base64 ({exc})") from None


def decode_image(data: str | bytes) -> np.ndarray:
    """Base64 text or encoded bytes -> RGB uint8 array [H, W, 3]; a DataError when unreadable."""
    from PIL import Image, UnidentifiedImageError

    raw = image_bytes(data)
    try:
        with Image.open(io.BytesIO(raw)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"unreadable image ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})") from None


def pixel_key(pixels: np.ndarray) -> str:
    digest = hashlib.sha256(str(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


_PIXEL_KEYS: dict[bytes, str] = {}   # digest of the encoded image -> pixel hash (small: no image data kept)


def image_ref(data: str | bytes) -> ImageRef:
    """The reference of an encoded image. Checking, featurizing and the contamination check all
    need the pixel hash of the same images: each encoded image is decoded for it once per process."""
    encoded = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    digest = hashlib.blake2b(encoded, digest_size=16).digest() if isinstance(encoded, bytes) else None
    key = _PIXEL_KEYS.get(digest) if digest else None
    if key is None:
        key = pixel_key(decode_image(data))
        if digest:
            _PIXEL_KEYS[digest] = key
    return ImageRef(key, data)


def encode_png(pixels: np.ndarray) -> str:
    """RGB uint8 array -> base64 PNG (how samples and tests write images)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Preprocessing:
    """The vision model's processor config (``preprocessor_config.json``), applied with PIL + numpy."""

    height: int
    width: int
    shortest_edge: int | None = None      # CLIP: resize the short side, then centre-crop
    crop: bool = False
    resample: int = 3
    rescale: float = 1 / 255
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Preprocessing":
        size = config.get("size") or {}
        size = {"height": size, "width": size} if isinstance(size, int) else size
        crop = config.get("crop_size") or {}
        crop = {"height": crop, "width": crop} if isinstance(crop, int) else crop
        do_crop = bool(config.get("do_center_crop", False)) and bool(crop)
        target = crop if do_crop else size
        if "height" not in target and "shortest_edge" not in size:
            raise HarnessError(f"preprocessor config has no usable size: {config.get('size')!r}")
        height = int(target.get("height", size.get("shortest_edge", 0)))
        width = int(target.get("width", size.get("shortest_edge", 0)))
        return cls(height=height, width=width, shortest_edge=size.get("shortest_edge"), crop=do_crop,
                   resample=int(config.get("resample", 3)),
                   rescale=float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0,
                   mean=tuple(config.get("image_mean", cls.mean)) if config.get("do_normalize", True) else (0.0,) * 3,
                   std=tuple(config.get("image_std", cls.std)) if config.get("do_normalize", True) else (1.0,) * 3)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """RGB uint8 [H, W, 3] -> float32 [3, height, width]."""
        from PIL import Image

        image = Image.fromarray(pixels, "RGB")
        resample = getattr(Image.Resampling, _RESAMPLE.get(self.resample, "BICUBIC"))
        if self.shortest_edge:
            edge, long = self.shortest_edge, int(self.shortest_edge * max(image.size) / min(image.size))
            image = image.resize((edge, long) if image.width <= image.height else (long, edge), resample)
        else:
            image = image.resize((self.width, self.height), resample)
        if self.crop or image.size != (self.width, self.height):
            left = max(0, (image.width - self.width) // 2)
            top = max(0, (image.height - self.height) // 2)
            image = image.crop((left, top, left + self.width, top + self.height))
        scaled = np.asarray(image, dtype=np.float32) * np.float32(self.rescale)
        normalised = (scaled - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return normalised.transpose(2, 0, 1).copy()


def _read_json(source: str, name: str, revision: str | None) -> dict[str, Any] | None:
    local = Path(source).expanduser()
    if local.is_dir():
        path = local / name
        return json.loads(path.read_text()) if path.exists() else None
    from huggingface_hub import hf_hub_download
    try:
        return json.loads(Path(hf_hub_download(source, name, revision=revision)).read_text())
    except Exception:  # noqa: BLE001 - a missing processor config is reported by the caller
        return None


class VisionTower(nn.Module):
    """A CLIP or SigLIP vision model, frozen by default. With a frozen tower, ``features`` caches
    the last hidden state of every image by its pixel hash (on the host), so it is computed once."""

    def __init__(self, model: PreTrainedModel, preprocessing: Preprocessing, source: str,
                 revision: str | None = None, frozen: bool = True):
        super().__init__()
        self.model: PreTrainedModel = model
        self.preprocessing = preprocessing
        self.source, self.revision, self.frozen = source, revision, frozen
        self.cache: dict[str, torch.Tensor] = {}
        self.hits = self.misses = 0
        if frozen:
            self.model.requires_grad_(False)
            self.model.eval()

    @classmethod
    def load(cls, source: str, revision: str | None = None, frozen: bool = True,
             device: torch.device | None = None) -> "VisionTower":
        import transformers

        config = _read_json(source, "config.json", revision)
        if config is None:
            raise HarnessError(f"cannot load vision model '{source}': no config.json")
        kind = config.get("model_type")
        if kind not in _TOWERS:
            raise HarnessError(f"vision model '{source}' is a '{kind}' model; expected one of "
                               f"{', '.join(sorted(_TOWERS))}")
        processor = _read_json(source, "preprocessor_config.json", revision)
        if processor is None:
            raise HarnessError(f"vision model '{source}' has no preprocessor_config.json")
        try:
            model = getattr(transformers, _TOWERS[kind]).from_pretrained(source, revision=revision)
        except OSError as exc:
            raise HarnessError(f"cannot load vision model '{source}': {str(exc).splitlines()[0]}") from exc
        tower = cls(model, Preprocessing.from_config(processor), source, revision, frozen)
        return tower.to(device) if device is not None else tower

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def train(self, mode: bool = True) -> "VisionTower":
        super().train(mode and not self.frozen)  # a frozen tower stays in eval mode (no dropout)
        return self

    def pixel_values(self, refs: list[ImageRef]) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.preprocessing(decode_image(r.data)) for r in refs]))

    def _run(self, refs: list[ImageRef]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        return self.model(pixel_values=self.pixel_values(refs).to(device)).last_hidden_state

    def features(self, refs: list[ImageRef], cache: bool = True) -> torch.Tensor:
        """[len(refs), tokens, hidden] on the tower's device; cached per pixel hash when frozen."""
        if not self.frozen:
            return self._run(refs)
        missing = list({r.key: r for r in refs if not (cache and r.key in self.cache)}.values())
        self.misses += len(missing)
        self.hits += len(refs) - len(missing)
        fresh: dict[str, torch.Tensor] = {}
        if missing:
            with torch.no_grad():
                out = self._run(missing)
            fresh = {r.key: row for r, row in zip(missing, out)}
            if cache:
                self.cache.update({key: row.cpu() for key, row in fresh.items()})
        device = next(self.model.parameters()).device
        return torch.stack([fresh[r.key] if r.key in fresh else self.cache[r.key].to(device) for r in refs])

    def settings(self) -> dict[str, Any]:
        return {"source": self.source, "revision": self.revision, "frozen": self.frozen,
                "model_type": self.model.config.model_type, "hidden_size": self.hidden_size,
                "image_size": [self.preprocessing.height, self.preprocessing.width]}
