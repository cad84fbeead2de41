"""Prefix fusion: vision tokens projected into the text encoder's embedding space and inserted after
the first token through ``inputs_embeds``, the attention mask extended to cover them.

The text encoder is not changed: a checkpoint's ``encoder/`` is a plain text model that every text
target fine-tunes as usual, and the fusion (projection, no-image token, vision settings) is saved
beside it in ``vision/``. A batch without images runs the text encoder directly, so its output is the
plain text encoder's, bit for bit.

Per-example image modes (set by modality dropout, see :mod:`harness.run.modality`):
``""`` the example's images, ``"token"`` one learned no-image token, ``"zeros"`` zero vectors in
place of the image tokens. A removed image (the default dropout) is simply an example without images.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from harness.engine.vision import ImageRef, VisionTower

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel

IMAGE_MODES = ("", "token", "zeros")


def tower_tokens(config: Any) -> int:
    """Tokens per image of a CLIP (patches + class token) or SigLIP (patches) vision model."""
    patches = (int(config.image_size) // int(config.patch_size)) ** 2
    return patches + (1 if config.model_type.startswith("clip") else 0)


class Fusion(nn.Module):
    """The vision tower (frozen by default) plus the trained projection and no-image token."""

    def __init__(self, tower: VisionTower, text_hidden: int):
        super().__init__()
        self.tower = tower
        with torch.random.fork_rng(devices=[]):  # the same initial projection in every run
            torch.manual_seed(0)
            self.projection = nn.Sequential(nn.Linear(tower.hidden_size, text_hidden), nn.GELU(),
                                            nn.Linear(text_hidden, text_hidden))
            self.no_image = nn.Parameter(torch.randn(1, text_hidden) * 0.02)
        self.tokens_per_image = tower_tokens(tower.model.config)

    def bind(self, text: PreTrainedModel) -> "FusedEncoder":
        return FusedEncoder(text, self)

    def prefixes(self, images: list[list[ImageRef]], modes: list[str] | None) -> list[torch.Tensor]:
        """The tokens inserted after the first token of each row, in the text embedding space."""
        modes = modes or [""] * len(images)
        wanted = [ref for refs, mode in zip(images, modes) if mode == "" for ref in refs]
        projected = self.projection(self.tower.features(wanted)) if wanted else None
        device, width = self.no_image.device, self.no_image.shape[1]
        out, used = [], 0
        for refs, mode in zip(images, modes):
            if mode == "token":
                out.append(self.no_image.to(device))
            elif mode == "zeros":
                out.append(torch.zeros(len(refs) * self.tokens_per_image, width, device=device))
            elif refs:
                assert projected is not None
                out.append(projected[used:used + len(refs)].reshape(-1, width))
                used += len(refs)
            else:
                out.append(self.no_image.new_zeros(0, width))
        return out

    # -- persistence ------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {"fusion": "prefix", "tower": self.tower.settings(), "text_hidden": int(self.no_image.shape[1]),
                "tokens_per_image": self.tokens_per_image}

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        (directory / "fusion.json").write_text(json.dumps(self.settings(), indent=1, sort_keys=True))
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()
                 if not k.startswith("tower.")}
        save_file(state, str(directory / "fusion.safetensors"))

    @staticmethod
    def saved(directory: Path) -> bool:
        return (Path(directory) / "fusion.json").exists()

    @classmethod
    def load(cls, directory: Path, device: torch.device | None = None) -> "Fusion":
        from safetensors.torch import load_file

        settings = json.loads((Path(directory) / "fusion.json").read_text())
        tower_settings = settings["tower"]
        tower = VisionTower.load(tower_settings["source"], tower_settings.get("revision"),
                                 frozen=tower_settings.get("frozen", True))
        fusion = cls(tower, int(settings["text_hidden"]))
        fusion.load_state_dict(load_file(str(Path(directory) / "fusion.safetensors")), strict=False)
        return fusion.to(device) if device is not None else fusion


class FusedEncoder(nn.Module):
    """The text encoder with a vision prefix. Called like a transformers encoder, plus ``images``
    (per row, a list of :class:`ImageRef`) and ``image_modes`` (per row, one of IMAGE_MODES)."""

    def __init__(self, text: PreTrainedModel, fusion: Fusion):
        super().__init__()
        self.text: PreTrainedModel = text
        self.fusion = fusion

    @property
    def config(self) -> Any:
        return self.text.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, images: list[list[ImageRef]] | None = None,
                image_modes: list[str] | None = None, **kwargs: Any) -> Any:
        text_inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            text_inputs["token_type_ids"] = token_type_ids
        if not images or not (any(images) or any(image_modes or ())):
            return self.text(**text_inputs, **kwargs)  # no image in the batch: the plain text encoder
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embeds = self.text.get_input_embeddings()(input_ids)
        prefixes = self.fusion.prefixes(images, image_modes)
        lengths = attention_mask.sum(dim=1).tolist()
        width = max(int(n) + len(p) for n, p in zip(lengths, prefixes))
        rows, masks, types = [], [], []
        for i, (length, prefix) in enumerate(zip(lengths, prefixes)):
            length = int(length)
            row = torch.cat([embeds[i, :1], prefix.to(embeds.dtype), embeds[i, 1:length]])
            pad = width - row.shape[0]
            rows.append(nn.functional.pad(row, (0, 0, 0, pad)))
            masks.append(torch.cat([attention_mask.new_ones(row.shape[0]), attention_mask.new_zeros(pad)]))
            if token_type_ids is not None:
                kind = token_type_ids[i]
                types.append(torch.cat([kind[:1], kind.new_zeros(len(prefix)), kind[1:length], kind.new_zeros(pad)]))
        fused = {"inputs_embeds": torch.stack(rows), "attention_mask": torch.stack(masks)}
        if types:
            fused["token_type_ids"] = torch.stack(types)
        return self.text(**fused, **kwargs)
