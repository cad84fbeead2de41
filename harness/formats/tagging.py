"""Word-level sequence tagging (UD-POS, PAN-X/WikiANN NER, CCG supertagging).

Examples carry ``tokens`` (the words) and ``tags`` (one label of ``task.spec.labels`` per word).

Featurisation
    Words are tokenized with the fast tokenizer (``is_split_into_words=True``, ``word_ids()``). Only
    the FIRST sub-token of a word carries its label; the other sub-tokens and the special tokens get
    -100 (ignored by the loss) and are ignored when decoding.

    Nothing is truncated silently: a sentence longer than ``max_length`` sub-tokens is cut into
    word-aligned *windows* of at most ``max_length`` tokens (special tokens included). Consecutive
    windows overlap by about a quarter of a window (:data:`WINDOW_OVERLAP`) so that words near a cut
    still see context on both sides. Each word is *owned* by exactly one window, the one in which it
    is most central (largest distance, in sub-tokens, to the nearer window edge; ties go to the
    earlier window); decoding reads every word's prediction from its owner only, so every word gets
    exactly one prediction. In training every window labels all of its words (overlapping words are
    seen twice, which is harmless). A single word longer than a whole window keeps its first
    ``max_length - specials`` sub-tokens (its label sits on the first one).

    Words that tokenize to no sub-token at all (zero-width or control characters, empty strings, lone
    combining marks) are replaced by the tokenizer's unknown token so the model still predicts them;
    with a tokenizer that has no unknown token they get :func:`fallback_tag` ("O" where the label set
    has it, else "X", else the first label).

Label sets computed from data
    A task whose ``spec.labels`` is None (CCG: the supertag inventory comes from the training data)
    implements ``prepare_labels()``, which must set ``task.spec.labels``; the format calls it the
    first time it needs the labels (:func:`task_labels`). Nothing else in the core is involved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np
from torch import nn

from harness.errors import ConfigError, DataError
from harness.formats.base import Format, Head, encoder_batch, pad_sequences, register_format

if TYPE_CHECKING:  # pragma: no cover
    from harness.spec.tasks import Task

IGNORE_INDEX = -100
#: share of a window's sub-tokens that the next window repeats (context at the cuts)
WINDOW_OVERLAP = 0.25
#: task.spec.metric -> scorer in harness.metrics
METRICS = {"seqeval_f1": "seqeval_scores", "accuracy": "token_accuracy"}


def task_labels(task: "Task") -> list[str]:
    """The task's label list; asks the task to compute it (``prepare_labels()``) when the spec has none."""
    if task.spec.labels is None and hasattr(task, "prepare_labels"):
        task.prepare_labels()
    if not task.spec.labels:
        raise ConfigError(f"task '{task.name}' ({task.spec.source_file or 'tasks.yaml'}): the tagging "
                          f"format needs 'labels' (or a task that computes them with prepare_labels())")
    return list(task.spec.labels)


def fallback_tag(labels: list[str]) -> str:
    """The prediction for a word the model cannot see (no sub-token even as the unknown token)."""
    for tag in ("O", "X"):
        if tag in labels:
            return tag
    return labels[0]


def class_names(values, names: list[str], field: str) -> list[str]:
    """Map ClassLabel codes (ints, as the hub stores them) to names; tag names are accepted as-is.
    Anything else raises a DataError naming ``field``."""
    if not isinstance(values, list):
        raise DataError(f"expected a list of label codes, got {type(values).__name__}", field=field)
    out = []
    for i, value in enumerate(values):
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < len(names):
                raise DataError(f"label code {value} of word {i} is outside 0..{len(names) - 1}", field=field)
            out.append(names[value])
        elif isinstance(value, str) and value in names:
            out.append(value)
        else:
            raise DataError(f"label {value!r} of word {i} is neither a code in 0..{len(names) - 1} "
                            f"nor one of {names}", field=field)
    return out


@dataclass
class ConlluSentence:
    """One sentence of a CoNLL-U file: its syntactic words (``id``, ``form``, ``upos``, ``head``,
    ``parents``: the basic head plus the heads of the enhanced ``DEPS`` column) and its multi-word
    tokens (first word id, last word id, surface form). Empty nodes (``8.1``) are left out."""

    line: int
    words: list[dict[str, Any]] = field(default_factory=list)
    multiword: list[tuple[int, int, str]] = field(default_factory=list)


def read_conllu(lines: Iterable[str], where: str) -> Iterator[ConlluSentence]:
    """The sentences of a CoNLL-U file (comments skipped; a blank line ends a sentence). A malformed
    line is a DataError naming the file, the line and the column."""
    sentence = None
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            if sentence is not None and (sentence.words or sentence.multiword):
                yield sentence
            sentence = None
            continue
        if line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 10:
            raise DataError(f"expected 10 tab-separated columns, got {len(columns)}", file=where, row=number)
        if sentence is None:
            sentence = ConlluSentence(line=number)
        ident = columns[0]
        try:
            if "." in ident:
                continue
            if "-" in ident:
                first, last = (int(part) for part in ident.split("-"))
                sentence.multiword.append((first, last, columns[1]))
                continue
            word = {"id": int(ident), "form": columns[1], "upos": columns[3],
                    "head": None if columns[6] == "_" else int(columns[6])}
        except ValueError:
            raise DataError(f"{ident!r} (ID) or {columns[6]!r} (HEAD) is not a word id", file=where,
                            row=number, field="ID") from None
        enhanced = [dep.split(":", 1)[0] for dep in columns[8].split("|")] if columns[8] != "_" else []
        word["parents"] = {word["head"]} - {None} | {int(head) for head in enhanced if head.isdigit()}
        sentence.words.append(word)
    if sentence is not None and (sentence.words or sentence.multiword):
        yield sentence


class TaggingHead(Head):
    """dropout + linear over every position of the last hidden state; cross entropy ignoring -100."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, encoder, batch):
        logits = self.out(self.dropout(self.encode(encoder, batch)))
        out = {"logits": logits}
        if "labels" in batch:
            labels = batch["labels"]
            if bool((labels != IGNORE_INDEX).any()):
                out["loss"] = nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                          labels.reshape(-1), ignore_index=IGNORE_INDEX)
            else:  # nothing to learn in this batch: a zero that still has a graph
                out["loss"] = logits.float().sum() * 0.0
        return out


def _special_tokens(tokenizer: Any) -> tuple[list[int], list[int], list[int], list[int]]:
    """(prefix ids, suffix ids, prefix type ids, suffix type ids) the tokenizer adds around one sequence,
    read off a probe encoding (works for every fast tokenizer, whatever its post-processor)."""
    probe = tokenizer([tokenizer.unk_token or "a"], is_split_into_words=True, add_special_tokens=True)
    ids, words = probe["input_ids"], probe.word_ids()
    content = [i for i, w in enumerate(words) if w is not None]
    first, last = (content[0], content[-1]) if content else (len(ids), len(ids) - 1)
    types = probe.get("token_type_ids") or [0] * len(ids)
    return ids[:first], ids[last + 1:], types[:first], types[last + 1:]


def plan_windows(counts: list[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Word-aligned windows ``(first word, end word)`` covering every word with a sub-token, each
    holding at most ``budget`` sub-tokens (a longer single word gets a window of its own), consecutive
    windows sharing up to ``overlap`` sub-tokens. Words with zero sub-tokens need no window."""
    n = len(counts)
    last = max((w for w in range(n) if counts[w]), default=-1)
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        while start < n and counts[start] == 0:  # a window starts at a word it can show
            start += 1
        if start >= n:
            break
        end, used = start, 0
        while end < n and used + counts[end] <= budget:
            used += counts[end]
            end += 1
        if end == start:  # one word longer than the budget
            end = start + 1
        windows.append((start, end))
        if end > last:
            break
        back, shared = end, 0
        while back - 1 > start and shared + counts[back - 1] <= overlap:
            shared += counts[back - 1]
            back -= 1
        start = max(back, start + 1)
    return windows


class Tagging(Format):
    name = "tagging"
    fields = {"tokens": list, "tags": list}
    per_token = True

    # -- validation ---------------------------------------------------------------------------
    def check(self, example, task):
        super().check(example, task)
        tokens, tags = example["tokens"], example["tags"]
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise DataError(f"word {i}: expected str, got {type(token).__name__}", field="tokens")
        if len(tokens) != len(tags):
            raise DataError(f"{len(tags)} tags for {len(tokens)} tokens", field="tags")
        labels = set(task_labels(task))
        for i, tag in enumerate(tags):
            if tag not in labels:
                raise DataError(f"tag {tag!r} of word {i} is not in the label set "
                                f"{sorted(labels) if len(labels) <= 40 else f'({len(labels)} labels)'}",
                                field="tags")

    # -- model side ---------------------------------------------------------------------------
    def build_head(self, hidden_size, task):
        return TaggingHead(hidden_size, len(task_labels(task)))

    def featurize(self, examples, tokenizer, task, max_length, train):
        labels = task_labels(task)
        index = {label: i for i, label in enumerate(labels)}
        prefix, suffix, prefix_types, suffix_types = _special_tokens(tokenizer)
        budget = max_length - len(prefix) - len(suffix)
        if budget < 1:
            raise ConfigError(f"max_length {max_length} leaves no room for words next to the "
                              f"{len(prefix) + len(suffix)} special tokens")
        overlap = int(budget * WINDOW_OVERLAP)
        with_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        words = [list(e["tokens"]) for e in examples]
        encoded = _encode(tokenizer, words)

        features: list[dict[str, Any]] = []
        for example_index, (example, (ids, word_ids)) in enumerate(zip(examples, encoded)):
            n = len(example["tokens"])
            starts, counts = [0] * n, [0] * n       # first sub-token position and count per word
            for position, word in enumerate(word_ids):
                if counts[word] == 0:
                    starts[word] = position
                counts[word] += 1
            windows = plan_windows(counts, budget, overlap)
            owner = _owners(windows, starts, counts, budget)
            tags = example.get("tags")
            for window_index, (first, end) in enumerate(windows):
                present = [w for w in range(first, end) if counts[w]]
                lo = starts[present[0]]
                hi = min(starts[present[-1]] + counts[present[-1]], lo + budget)
                content = ids[lo:hi]
                feature: dict[str, Any] = {"example_index": example_index,
                                           "input_ids": prefix + content + suffix,
                                           "window": window_index}
                if with_types:
                    feature["token_type_ids"] = prefix_types + [0] * len(content) + suffix_types
                offset = len(prefix) - lo
                feature["words"] = [[w, starts[w] + offset] for w in present if owner[w] == window_index]
                if tags is not None:
                    row = [IGNORE_INDEX] * len(feature["input_ids"])
                    for w in present:
                        row[starts[w] + offset] = index.get(tags[w], IGNORE_INDEX)
                    feature["labels"] = row
                features.append(feature)
        return features

    def collate(self, features, pad_id):
        batch = encoder_batch(features, pad_id)
        if "labels" in features[0]:
            batch["labels"] = pad_sequences([f["labels"] for f in features], IGNORE_INDEX)
        return batch

    # -- evaluation side ----------------------------------------------------------------------
    def decode(self, examples, features, logits, task):
        labels = task_labels(task)
        predictions: list[list[Any]] = [[None] * len(e["tokens"]) for e in examples]
        for feature, scores in zip(features, logits):
            scores = np.asarray(scores)
            tags = predictions[feature["example_index"]]
            for word, position in feature["words"]:
                tags[word] = labels[int(np.argmax(scores[position]))]
        fallback = fallback_tag(labels)
        return [[tag if tag is not None else fallback for tag in tags] for tags in predictions]

    def gold(self, example):
        return example["tags"]

    def describe_data(self, examples, task, train=False):
        """The ``tokenization`` the examples declare (UD-POS: fused forms or syntactic words)."""
        values = sorted({e["tokenization"] for e in examples if "tokenization" in e})
        return {"tokenization": "+".join(values)} if values else {}

    def score(self, examples, predictions, task, language):
        from harness.metrics import scorers as metrics

        metric = task.spec.metric
        if metric not in METRICS:
            raise ConfigError(f"task '{task.name}': metric '{metric}' is not a tagging metric "
                              f"(known: {', '.join(sorted(METRICS))})")
        return getattr(metrics, METRICS[metric])([e["tags"] for e in examples], predictions)


def _encode(tokenizer: Any, sentences: list[list[str]]) -> list[tuple[list[int], list[int]]]:
    """(content sub-token ids, word index per sub-token) per sentence, no special tokens. Words that
    produce no sub-token are retried as the unknown token."""
    if not sentences:
        return []
    encoding = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    out = []
    for i, words in enumerate(sentences):
        ids, word_ids = encoding["input_ids"][i], encoding.word_ids(i)
        seen = {w for w in word_ids if w is not None}
        if len(seen) < len(words) and tokenizer.unk_token is not None:
            words = [w if j in seen else tokenizer.unk_token for j, w in enumerate(words)]
            retry = tokenizer([words], is_split_into_words=True, add_special_tokens=False)
            ids, word_ids = retry["input_ids"][0], retry.word_ids(0)
        pairs = [(t, w) for t, w in zip(ids, word_ids) if w is not None]
        out.append(([t for t, _ in pairs], [w for _, w in pairs]))
    return out


def _owners(windows: list[tuple[int, int]], starts: list[int], counts: list[int],
            budget: int) -> dict[int, int]:
    """word -> index of the window in which its first sub-token is most central."""
    owner: dict[int, int] = {}
    best: dict[int, int] = {}
    for index, (first, end) in enumerate(windows):
        present = [w for w in range(first, end) if counts[w]]
        lo = starts[present[0]]
        hi = min(starts[present[-1]] + counts[present[-1]], lo + budget)
        for w in present:
            centrality = min(starts[w] - lo, hi - 1 - starts[w])
            if w not in best or centrality > best[w]:
                best[w], owner[w] = centrality, index
    return owner


TAGGING = register_format(Tagging())
