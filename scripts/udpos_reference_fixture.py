"""Random CoNLL-U treebanks for the UD-POS conversion fixture (tests/data/udpos_xtreme/).

Each ``<lang>.conllu`` holds random dependency trees with multi-word tokens, ties between equally high
words, enhanced edges, empty nodes, forms with spaces and U+200C, and withheld (``_``) forms. The
matching ``<lang>.tsv`` is what XTREME's own tools make of it (google-research/xtreme, with
networkx 1.11, which lib/conll.py needs):

    python third_party/ud-conversion-tools/conllu_to_conll.py <lang>.conllu conll/<lang>/<lang>_x-ud-train.conll \
        --lang <lang> --replace_subtokens_with_fused_forms --print_fused_forms
    python utils_preprocess.py --task udpos --data_dir conll/ --output_dir out/   # out/train-<lang>.tsv

Usage: python scripts/udpos_reference_fixture.py OUT_DIR [SENTENCES]
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

from harness_plugins.udpos import POS_PRECEDENCE, UPOS_TAGS

LANGUAGES = {"de": 1, "es": 2, "fr": 3, "it": 4, "en": 5}
FUSED = ["zum", "del", "dámelo", "au", "della", "x y", "a\u200cb"]
FORMS = ["a", "bb", "c c", "d\u200ce", "ÄÖ", "x"]


def sentence(rng: random.Random, language: str, ident: str) -> str:
    n = rng.randint(1, 12)
    order = list(range(1, n + 1))
    rng.shuffle(order)
    head = {order[0]: 0}
    for i, word in enumerate(order[1:], 1):
        head[word] = rng.choice(order[:i])

    # the reference tool fails on a tie involving a tag its list lacks: draw from the list
    tags = POS_PRECEDENCE.get(language) or [t for t in UPOS_TAGS if t != "SYM"]
    withheld = rng.random() < 0.08
    spans, word = {}, 1
    while word <= n:
        if word < n and rng.random() < 0.4:
            spans[word] = min(n, word + rng.randint(1, 2))
            word = spans[word] + 1
        else:
            word += 1
    lines = [f"# sent_id = {ident}"]
    for word in range(1, n + 1):
        if word in spans:
            fused = "_" if withheld else rng.choice(FUSED)
            lines.append(f"{word}-{spans[word]}\t{fused}" + "\t_" * 8)
        form = "_" if withheld or rng.random() < 0.03 else rng.choice(FORMS)
        deps = {head[word]}
        earlier = order[:order.index(word)]           # enhanced edges follow the tree's order: no cycle
        if earlier and rng.random() < 0.4:
            deps.add(rng.choice(earlier))
        enhanced = "|".join(f"{d}:dep" for d in sorted(deps))
        tag = rng.choice(tags[:2] if rng.random() < 0.5 else tags)   # many ties of equal rank
        lines.append(f"{word}\t{form}\t_\t{tag}\t_\t_\t{head[word]}\tdep\t{enhanced}\t_")
        if rng.random() < 0.05:
            lines.append(f"{word}.1\tghost\t_\tVERB\t_\t_\t_\t_\t{head[word]}:dep\t_")
    return "\n".join(lines) + "\n"


def main() -> None:
    out = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    out.mkdir(parents=True, exist_ok=True)
    for language, seed in LANGUAGES.items():
        rng = random.Random(seed)
        text = "".join(sentence(rng, language, f"s{i}") + "\n" for i in range(count))
        (out / f"{language}.conllu").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
