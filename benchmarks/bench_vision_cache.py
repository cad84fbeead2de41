"""Image feature caching: images/s and peak memory of a frozen vision tower over several passes
(epochs, targets, grid cells) over the same images, cached vs uncached, in the same run.

    python benchmarks/bench_vision_cache.py                   # 96 images, 3 passes, CLIP ViT-B/32 shape
    python benchmarks/bench_vision_cache.py --n 32 --passes 2 --tiny   # smoke run

Three implementations see the same generated PNG images (base64, as in M3IT rows), batch size and
thread count, and must produce the same features (max |diff| <= --atol):

* transformers  what a user writes without the harness: decode with PIL, ``CLIPImageProcessor``
                (its PIL backend; torchvision is not installed), ``CLIPVisionModel`` every pass;
* uncached      the harness tower with its cache off: PIL + numpy preprocessing, model every pass;
* cached        the harness tower (``VisionTower.features``): the first pass runs the model, the
                others read the features cached by pixel hash.

The tower is a random-init CLIP vision model of the ViT-B/32 shape (224 px, 12 x 768), since hub
weights cannot be downloaded here; speed does not depend on the weights. The implementations take
turns pass by pass (order rotating); images/s counts every image of every pass.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.engine.memory import peak_memory  # noqa: E402
from harness.engine.vision import VisionTower, decode_image, encode_png, image_ref  # noqa: E402

B32 = {"image_size": 224, "patch_size": 32, "hidden_size": 768, "intermediate_size": 3072,
       "num_hidden_layers": 12, "num_attention_heads": 12}
TINY = {"image_size": 32, "patch_size": 8, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4}


def images(n: int, seed: int = 0) -> list[str]:
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        pixels = np.full((96 + rng.randint(0, 64), 128, 3), 240, np.uint8)
        for _ in range(rng.randint(1, 5)):
            top, left = rng.randint(0, pixels.shape[0] - 20), rng.randint(0, 108)
            pixels[top:top + 20, left:left + 20] = rng.randint(0, 255, 3)
        out.append(encode_png(pixels))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tiny", action="store_true", help="a 2-layer 32 px tower (smoke run)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    config = TINY if args.tiny else B32
    model = CLIPVisionModel(CLIPVisionConfig(**config)).eval()
    size = config["image_size"]
    processor_config = {"size": {"shortest_edge": size}, "crop_size": {"height": size, "width": size},
                        "do_center_crop": True, "resample": 3}
    processor = CLIPImageProcessor(**processor_config)
    from harness.engine.vision import Preprocessing
    tower = VisionTower(model, Preprocessing.from_config({**processor_config, **processor.to_dict()}), "random-b32")
    data = images(args.n)
    refs = [image_ref(d) for d in data]
    batches = [list(range(i, min(i + args.batch_size, args.n))) for i in range(0, args.n, args.batch_size)]

    def transformers_pass() -> torch.Tensor:
        out = []
        with torch.no_grad():
            for batch in batches:
                pixels = processor(images=[decode_image(data[i]) for i in batch], return_tensors="pt")["pixel_values"]
                out.append(model(pixel_values=pixels).last_hidden_state)
        return torch.cat(out)

    def harness_pass(cache: bool) -> torch.Tensor:
        return torch.cat([tower.features([refs[i] for i in batch], cache=cache) for batch in batches])

    methods = {"transformers": transformers_pass, "uncached": lambda: harness_pass(False),
               "cached": lambda: harness_pass(True)}
    seconds = {name: 0.0 for name in methods}
    peak = {name: 0.0 for name in methods}
    outputs = {}
    harness_pass(False)  # warm-up (not timed)
    names = list(methods)
    for p in range(args.passes):
        order = names[p % 3:] + names[:p % 3]
        for name in order:
            start = time.perf_counter()
            with peak_memory(torch.device("cpu")) as memory:
                outputs[name] = methods[name]()
            seconds[name] += time.perf_counter() - start
            peak[name] = max(peak[name], memory.stats()["peak_host_mb"])
    worst = max(float((outputs[n] - outputs["transformers"]).abs().max()) for n in names)
    total = args.n * args.passes
    rows = {n: {"images_per_s": round(total / seconds[n], 2), "seconds": round(seconds[n], 3),
                "peak_host_mb": peak[n]} for n in names}
    print(f"{args.n} images x {args.passes} passes, batch {args.batch_size}, tower {'tiny' if args.tiny else 'ViT-B/32 shape'}, "
          f"threads {torch.get_num_threads()}; cache: {tower.misses} misses, {tower.hits} hits; max |diff| {worst:.2e}")
    print(f"{'implementation':<14} {'images/s':>10} {'seconds':>9} {'peak host MB':>13} {'vs transformers':>16}")
    for name, row in rows.items():
        ratio = row["images_per_s"] / rows["transformers"]["images_per_s"]
        print(f"{name:<14} {row['images_per_s']:>10.1f} {row['seconds']:>9.2f} {row['peak_host_mb']:>13.1f} {ratio:>15.2f}x")
    cache_mb = sum(t.numel() * t.element_size() for t in tower.cache.values()) / 2**20
    print(f"feature cache: {len(tower.cache)} images, {cache_mb:.1f} MB")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cache_mb": cache_mb, "max_diff": worst}, indent=1))
    if worst > args.atol:
        print(f"features differ by {worst:.2e} > {args.atol}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
