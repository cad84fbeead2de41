"""Write the bundled multimodal samples (M3IT and IGLUE schemas) from generated images.

Each image shows 1-3 shapes (square, circle or triangle) of one colour on a light background;
hypotheses, questions, captions and labels depend on that colour (and count), so that text alone
cannot solve the tasks. Test rows share their id and image across languages (parallel ids), and a
few IGLUE test images also appear in M3IT training data, as COCO/Flickr images do in the real
datasets (the contamination check finds them). Deterministic: ``python scripts/make_multimodal_samples.py``.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.engine.vision import encode_png  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "plugins" / "samples"
COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 205, 20)}
SHAPES = ("square", "circle", "triangle")
COUNTS = {1: "one", 2: "two", 3: "three"}
THERE_IS = {"en": "There is a {c} shape.", "ar": "يوجد شكل {c}.", "es": "Hay una forma {c}.",
            "fr": "Il y a une forme {c}.", "ru": "Есть {c} фигура.", "bn": "একটি {c} আকৃতি আছে।",
            "de": "Es gibt eine {c} Form.", "id": "Ada bentuk {c}.", "ko": "{c} 도형이 있습니다.",
            "pt": "Há uma forma {c}.", "zh": "有一个{c}的形状。", "sw": "Kuna umbo {c}.",
            "ta": "ஒரு {c} வடிவம் உள்ளது.", "tr": "Bir {c} şekil var.", "ja": "{c}形があります。"}
COLOUR_WORDS = {
    "en": ("red", "green", "blue", "yellow"), "ar": ("أحمر", "أخضر", "أزرق", "أصفر"),
    "es": ("roja", "verde", "azul", "amarilla"), "fr": ("rouge", "verte", "bleue", "jaune"),
    "ru": ("красная", "зелёная", "синяя", "жёлтая"), "bn": ("লাল", "সবুজ", "নীল", "হলুদ"),
    "de": ("rote", "grüne", "blaue", "gelbe"), "id": ("merah", "hijau", "biru", "kuning"),
    "ko": ("빨간", "초록", "파란", "노란"), "pt": ("vermelha", "verde", "azul", "amarela"),
    "zh": ("红色", "绿色", "蓝色", "黄色"), "sw": ("jekundu", "kijani", "buluu", "njano"),
    "ta": ("சிவப்பு", "பச்சை", "நீல", "மஞ்சள்"), "tr": ("kırmızı", "yeşil", "mavi", "sarı"),
    "ja": ("赤い", "緑の", "青い", "黄色い")}
WHAT_COLOUR = {"en": "What colour is the shape?", "bn": "আকৃতিটি কোন রঙের?", "de": "Welche Farbe hat die Form?",
               "id": "Apa warna bentuk itu?", "ko": "도형은 무슨 색입니까?", "pt": "De que cor é a forma?",
               "ru": "Какого цвета фигура?", "zh": "这个形状是什么颜色？", "fr": "De quelle couleur est la forme ?"}
HOW_MANY = "How many shapes are there?"


def draw(colour: str, shape: str, count: int, rng: random.Random, size: int = 32) -> str:
    pixels = np.full((size, size, 3), 245, np.uint8)
    cells = rng.sample(range(4), count)  # one shape per quadrant
    yy, xx = np.mgrid[0:12, 0:12]
    masks = {"square": np.ones((12, 12), bool), "circle": (yy - 5.5) ** 2 + (xx - 5.5) ** 2 <= 30,
             "triangle": xx >= np.abs(yy - 5.5) * 2 - 1}
    for cell in cells:
        top, left = 16 * (cell // 2) + rng.randint(1, 3), 16 * (cell % 2) + rng.randint(1, 3)
        pixels[top:top + 12, left:left + 12][masks[shape]] = COLOURS[colour]
    return encode_png(pixels)


def scene(rng: random.Random) -> dict:
    colour, shape, count = rng.choice(list(COLOURS)), rng.choice(SHAPES), rng.choice(list(COUNTS))
    return {"colour": colour, "shape": shape, "count": count, "image": draw(colour, shape, count, rng)}


def word(lang: str, colour: str) -> str:
    return COLOUR_WORDS[lang][list(COLOURS).index(colour)]


def other(colour: str, rng: random.Random) -> str:
    return rng.choice([c for c in COLOURS if c != colour])


def write(task: str, name: str, rows: list[dict]) -> None:
    path = OUT / task / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def m3it(instruction: str, inputs: str, images: list[str], outputs: str) -> dict:
    return {"instruction": instruction, "inputs": inputs, "image_base64_str": images, "outputs": outputs}


def main() -> None:
    rng = random.Random(12)
    # IGLUE test scenes, shared by every language (parallel ids); the first 3 leak into M3IT training
    tests = [scene(rng) for _ in range(24)]
    leaked = [s["image"] for s in tests[:3]]

    def entail(s: dict, i: int) -> tuple[str, str]:
        return (s["colour"], "entailment") if i % 2 == 0 else (other(s["colour"], rng), "contradiction")

    # ---- M3IT (English intermediate tasks)
    for split, n in (("train", 96), ("dev", 32)):
        rows = {"m3it-snli-ve": [], "m3it-coco-itm": [], "m3it-vqa-v2": [], "m3it-coco": []}
        for i in range(n):
            s = scene(rng)
            image = leaked[i % 3] if split == "train" and i < 3 else s["image"]
            if image is not s["image"]:
                s = {**tests[i % 3]}
            colour, label = entail(s, i)
            rows["m3it-snli-ve"].append(m3it("Does the image entail the hypothesis? Answer entailment, neutral "
                                              "or contradiction.", THERE_IS["en"].format(c=colour), [image], label))
            colour = s["colour"] if i % 2 else other(s["colour"], rng)
            rows["m3it-coco-itm"].append(m3it("Does the caption describe the image? Answer yes or no.",
                                               f"A picture of {colour} shapes.", [image],
                                               "Yes." if colour == s["colour"] else "No."))
            question, answer = (WHAT_COLOUR["en"], s["colour"]) if i % 3 else (HOW_MANY, COUNTS[s["count"]])
            rows["m3it-vqa-v2"].append(m3it("Answer the question about the image in one word.", question,
                                             [image], f"{answer.capitalize()}."))
            rows["m3it-coco"].append(m3it("Write a short caption for the image.", "", [image],
                                          f"{COUNTS[s['count']].capitalize()} {s['colour']} {s['shape']}"
                                          f"{'s' if s['count'] > 1 else ''}."))
        for task, task_rows in rows.items():
            write(task, f"{split}-en", task_rows)
    # ---- M3IT-80 (translated control): vqa colour questions in a few languages
    for lang in ("en", "de", "fr", "zh"):
        rows = []
        for _ in range(64):
            s = scene(rng)
            rows.append(m3it("Answer the question about the image in one word.", WHAT_COLOUR[lang], [s["image"]],
                             f"{s['colour'].capitalize()}."))
        write("m3it80-vqa-v2", f"train-{lang}", rows)

    # ---- IGLUE: English training and dev data, then parallel test sets
    def xvnli_row(s, i, lang, colour, label):
        return {"id": f"xvnli-{i}", "image": s["image"], "caption": THERE_IS[lang].format(c=word(lang, s["colour"])),
                "hypothesis": THERE_IS[lang].format(c=word(lang, colour)), "label": label}

    def xgqa_row(s, i, lang):
        return {"id": f"xgqa-{i}", "image": s["image"], "question": WHAT_COLOUR[lang], "answer": s["colour"]}

    def marvl_rows(pairs, lang, prefix):
        rows = []
        for i, (left, right, colour) in enumerate(pairs):
            rows.append({"id": f"{prefix}-{i}", "left_img": left["image"], "right_img": right["image"],
                         "hypothesis": THERE_IS[lang].format(c=word(lang, colour)),
                         "label": left["colour"] == colour == right["colour"]})
        return rows

    def pair(i):
        left = scene(rng)
        right = scene(rng) if i % 2 else {**scene(rng), "colour": left["colour"]}
        if not i % 2:
            right["image"] = draw(left["colour"], right["shape"], right["count"], rng)
        return left, right, left["colour"] if i % 4 < 2 else other(left["colour"], rng)

    def xflickr_row(s, i, lang):
        return {"id": f"xflickrco-{i}", "image": s["image"], "sentences": THERE_IS[lang].format(c=word(lang, s["colour"]))}

    for split, n in (("train", 96), ("dev", 24)):
        scenes = [scene(rng) for _ in range(n)]
        labels = [entail(s, i) for i, s in enumerate(scenes)]
        write("xvnli", f"{split}-en", [xvnli_row(s, f"{split}{i}", "en", *labels[i]) for i, s in enumerate(scenes)])
        write("xgqa", f"{split}-en", [xgqa_row(s, f"{split}{i}", "en") for i, s in enumerate(scenes)])
        write("marvl", f"{split}-en", marvl_rows([pair(i) for i in range(n)], "en", f"nlvr2-{split}"))
        write("xflickrco", f"{split}-en", [xflickr_row(s, f"{split}{i}", "en") for i, s in enumerate(scenes[:64])])
    labels = [entail(s, i) for i, s in enumerate(tests)]
    marvl_tests = [pair(i) for i in range(24)]
    for lang in ("en", "ar", "es", "fr", "ru"):
        write("xvnli", f"test-{lang}", [xvnli_row(s, f"t{i}", lang, *labels[i]) for i, s in enumerate(tests)])
    for lang in ("en", "bn", "de", "id", "ko", "pt", "ru", "zh"):
        write("xgqa", f"test-{lang}", [xgqa_row(s, f"t{i}", lang) for i, s in enumerate(tests)])
    for lang in ("en", "id", "sw", "ta", "tr", "zh"):
        write("marvl", f"test-{lang}", marvl_rows(marvl_tests, lang, "marvl-t"))
    for lang in ("en", "de", "es", "id", "ja", "ru", "tr", "zh"):
        write("xflickrco", f"test-{lang}", [xflickr_row(s, f"t{i}", lang) for i, s in enumerate(tests[:20])])


if __name__ == "__main__":
    main()
