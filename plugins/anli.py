"""Adversarial NLI (``facebook/anli``), rounds combined.

Hub columns: ``uid``, ``premise``, ``hypothesis``, ``label`` (0 entailment, 1 neutral,
2 contradiction), ``reason``. The hub has one split per round (``train_r1`` .. ``test_r3``); the
harness split ``train`` reads ``train_r{n}`` for every round ``n`` in ``options.rounds`` (default
1, 2, 3), ``dev`` reads ``dev_r{n}`` and ``test`` reads ``test_r{n}``. Local sample files
(``train-en.jsonl``, ``dev-en.jsonl``) already hold rows of several rounds and are read as they are.
"""
from __future__ import annotations

from harness import Task, hookimpl
from harness.formats.classification import class_label
from harness.errors import DataError
from harness.spec.tasks import read_hub

DEFAULT_ROUNDS = (1, 2, 3)


class ANLI(Task):
    name = "anli"
    format = "classification"

    def rounds(self) -> list[int]:
        rounds = self.spec.options.get("rounds", DEFAULT_ROUNDS)
        if isinstance(rounds, int) and not isinstance(rounds, bool):
            rounds = [rounds]
        if (not isinstance(rounds, (list, tuple)) or not rounds
                or any(isinstance(r, bool) or r not in (1, 2, 3) for r in rounds)):
            raise DataError(f"task '{self.name}': options.rounds must be a non-empty list of 1, 2, 3; "
                            f"got {rounds!r}", field="options.rounds")
        return list(dict.fromkeys(rounds))

    def to_example(self, row, split, language):
        label = class_label(row["label"], self.spec.labels or [])
        example = {"text_a": row["premise"], "text_b": row["hypothesis"], "label": label}
        if row.get("uid") is not None:
            example["id"] = str(row["uid"])
        return example

    def hub_splits(self, split: str) -> list[str]:
        """The hub splits that make up harness split ``split``: ``<prefix>_r<n>`` per round."""
        prefix = self.spec.splits.get(split, split)
        return [f"{prefix}_r{n}" for n in self.rounds()]

    def hub_rows(self, split, language):
        hub = self.spec.hub
        if hub is None:
            raise DataError(f"task '{self.name}' declares no hub source", field="hub")
        for hub_split in self.hub_splits(split):
            yield from read_hub(hub, hub.name, hub_split)


@hookimpl
def harness_register_tasks(register):
    register(ANLI())
