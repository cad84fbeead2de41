"""Vision towers for image-text models: aliases of CLIP/SigLIP vision models, and loading
``TEXT+VISION`` model specs (``minilm+clip-b32``) and checkpoints that carry a ``vision/`` folder.

``clip-tiny-random`` is a small random-init CLIP vision tower built locally from a config (seeded),
so the multimodal demo and tests run offline; its features are random projections of the pixels.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from harness import hookimpl

TINY_CLIP = {"image_size": 32, "patch_size": 8, "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4}
CLIP_PROCESSOR = {"do_resize": True, "size": {"shortest_edge": 32}, "do_center_crop": True,
                  "crop_size": {"height": 32, "width": 32}, "do_rescale": True, "rescale_factor": 1 / 255,
                  "do_normalize": True, "resample": 3, "image_processor_type": "CLIPImageProcessor",
                  "image_mean": [0.48145466, 0.4578275, 0.40821073],
                  "image_std": [0.26862954, 0.26130258, 0.27577711]}


def build_tiny_clip(directory: Path, seed: int = 0) -> Path:
    """Write a random-init CLIP vision model (TINY_CLIP, seeded) and its processor config, atomically."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    directory = Path(directory)
    if (directory / "preprocessor_config.json").exists():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP)).save_pretrained(tmp)
        (tmp / "preprocessor_config.json").write_text(json.dumps(CLIP_PROCESSOR, indent=1))
        try:
            os.replace(tmp, directory)
        except OSError:  # built meanwhile by another process
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _tiny_clip() -> str:
    cache = Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))
    return str(build_tiny_clip(cache / "vision" / "clip-tiny-random-v1"))


@hookimpl
def harness_register_models(register):
    register("clip-b32", lambda: "openai/clip-vit-base-patch32", "CLIP ViT-B/32 vision tower")
    register("clip-l14", lambda: "openai/clip-vit-large-patch14", "CLIP ViT-L/14 vision tower")
    register("siglip-b16", lambda: "google/siglip-base-patch16-224", "SigLIP base/16 (224px) vision tower")
    register("clip-tiny-random", _tiny_clip, "random-init 2-layer CLIP vision tower built locally (offline demo)")


@hookimpl
def harness_load_model(model, device, revision):
    """``TEXT+VISION``: the text encoder plus a fresh fusion; a checkpoint's ``encoder/`` with a
    ``vision/`` folder beside it: the text encoder plus the saved fusion. Else leave it to the core."""
    from harness.engine.fusion import Fusion
    from harness.engine.modeling import load_pretrained
    from harness.engine.vision import VisionTower

    saved = Path(model).expanduser().parent / "vision"
    if "+" in model and not Path(model).expanduser().exists():
        text, vision = model.split("+", 1)
        loaded = load_pretrained(text, device, revision)
        loaded.fusion = Fusion(VisionTower.load(vision), loaded.hidden_size).to(device)
    elif Path(model).expanduser().is_dir() and Fusion.saved(saved):
        loaded = load_pretrained(model, device, revision)
        loaded.fusion = Fusion.load(saved, device)
    else:
        return None
    loaded.provenance["vision"] = loaded.fusion.settings()
    return loaded
