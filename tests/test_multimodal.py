"""The multimodal track: vision tower, prefix fusion, image-text formats, samples, modality dropout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.engine.vision import Preprocessing, decode_image, encode_png, image_ref
from harness.errors import DataError, HarnessError


def solid(rgb, size=(24, 30)) -> str:
    pixels = np.zeros((*size, 3), np.uint8)
    pixels[:, :] = rgb
    return encode_png(pixels)


@pytest.fixture(scope="session")
def tiny_clip_path(tmp_path_factory) -> Path:
    from harness_plugins.vision_models import build_tiny_clip
    return build_tiny_clip(tmp_path_factory.mktemp("vision") / "tiny-clip")


@pytest.fixture
def fused(tiny_model_path, tiny_clip_path):
    from harness_plugins.vision_models import harness_load_model
    return harness_load_model(model=f"{tiny_model_path}+{tiny_clip_path}", device=torch.device("cpu"), revision=None)


# -- model -------------------------------------------------------------------------------------

def test_text_only_batch_is_bit_identical_to_the_text_encoder(fused):
    batch = fused.tokenizer(["the cat sat on the mat", "a man"], padding=True, return_tensors="pt")
    plain = fused.encoder(**batch).last_hidden_state
    through_fusion = fused.task_model().encoder(**batch, images=[[], []], image_modes=["", ""]).last_hidden_state
    assert torch.equal(plain, through_fusion)


def test_image_tokens_are_inserted_after_the_first_token(fused):
    batch = fused.tokenizer(["the cat", "a man is playing"], padding=True, return_tensors="pt")
    encoder = fused.task_model().encoder
    ref = image_ref(solid((255, 0, 0)))
    tokens = fused.fusion.tokens_per_image
    out = encoder(**batch, images=[[ref], []]).last_hidden_state
    lengths = batch["attention_mask"].sum(1).tolist()
    assert out.shape[1] == max(lengths[0] + tokens, lengths[1])
    # two images, and the learned no-image token (one token)
    out = encoder(**batch, images=[[ref, ref], []], image_modes=["", "token"]).last_hidden_state
    assert out.shape[1] == max(lengths[0] + 2 * tokens, lengths[1] + 1)


def test_features_are_cached_by_pixel_hash(fused):
    tower = fused.fusion.tower
    red, also_red = image_ref(solid((255, 0, 0))), image_ref(solid((255, 0, 0)))
    blue = image_ref(solid((0, 0, 255)))
    assert red.key == also_red.key != blue.key
    first = tower.features([red, blue])
    again = tower.features([also_red, blue, red])
    assert (tower.misses, tower.hits) == (2, 3)
    assert torch.equal(again[0], first[0]) and torch.equal(again[1], first[1])
    assert not any(p.requires_grad for p in tower.parameters())  # frozen by default


def test_preprocessing_matches_transformers_pil_processor():
    from transformers import CLIPImageProcessor
    from harness_plugins.vision_models import CLIP_PROCESSOR

    pixels = (np.random.RandomState(0).rand(40, 50, 3) * 255).astype(np.uint8)
    processor = CLIPImageProcessor(**{k: v for k, v in CLIP_PROCESSOR.items() if k != "image_processor_type"})
    expected = processor(images=pixels, return_tensors="np")["pixel_values"][0]
    assert np.abs(Preprocessing.from_config(CLIP_PROCESSOR)(pixels) - expected).max() < 1e-5


def test_checkpoint_keeps_a_plain_text_encoder_and_the_fusion_beside_it(fused, tmp_path):
    from transformers import AutoModel
    from harness_plugins.vision_models import harness_load_model

    with torch.no_grad():
        fused.fusion.projection[0].weight.add_(1.0)
    fused.save(tmp_path / "ckpt")
    assert AutoModel.from_pretrained(tmp_path / "ckpt" / "encoder").config.model_type == "bert"
    again = harness_load_model(model=str(tmp_path / "ckpt" / "encoder"), device=torch.device("cpu"), revision=None)
    assert torch.equal(again.fusion.projection[0].weight, fused.fusion.projection[0].weight)
    assert again.provenance["vision"]["tower"]["source"] == fused.fusion.tower.source
    assert harness_load_model(model=str(fused.provenance["source"]), device=torch.device("cpu"),
                              revision=None) is None  # a text model is left to the core


def test_text_model_refuses_image_text_task(tiny_model):
    from harness.formats.image_text import fused_encode
    with pytest.raises(HarnessError, match="vision tower"):
        fused_encode(tiny_model.encoder, {"input_ids": torch.ones(1, 3, dtype=torch.long)})


@pytest.mark.parametrize("data, message", [("not base64!!", "invalid base64"),
                                           ("aGVsbG8gd29ybGQ=", "unreadable image")])
def test_bad_images_are_data_errors(data, message):
    with pytest.raises(DataError, match=message):
        decode_image(data)
