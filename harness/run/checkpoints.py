"""Checkpoint storage of a run: content keys, where each checkpoint lives, reuse (meta file,
damage check), saving, mid-phase training state, head-only references and removal.

Checkpoints are keyed by the content of their configuration, so a rerun (or another target, or
another grid cell) reuses what exists. Deciding to reuse one reads its ``meta.json`` and checks
its files; it does not load the model.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from harness.engine import distributed
from harness.engine.modeling import LoadedModel, checkpoint_problem, encoder_files, reference_problem
from harness.files import inside
from harness.formats import get_format
from harness.run.data import data_fingerprint
from harness.run.leftovers import DAMAGED, PARTIAL
from harness.run.plan import RunPlan
from harness.run.provenance import content_key


def read_meta(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "meta.json").read_text())


class Checkpoints:
    """The checkpoints of one plan: their keys (computed once, then fixed) and their storage.

    ``excluded_images`` gives the pixel hashes of the target test images that image-text
    intermediate training must not see (read on demand: only multimodal runs read them)."""

    def __init__(self, plan: RunPlan, excluded_images: Callable[[], set[str]],
                 log: Callable[[str], None] = lambda message: None):
        self.plan, self.request, self.excluded_images, self.log = plan, plan.request, excluded_images, log
        self.out = plan.output_dir
        self.main = True   # the process that writes checkpoints (the pipeline asks the launcher)
        self._keys: dict[str, Any] = {}

    # -- keys ------------------------------------------------------------------------------------
    def _data(self, task, split: str, language: str) -> dict[str, Any]:
        return data_fingerprint(task, split, language, self.plan.data_source)

    def intermediate_key(self) -> str | None:
        """Key of the intermediate checkpoint: model, tasks (code, options, training data), hyperparameters,
        seed, limit, fraction, sampling."""
        plan = self.plan
        if not plan.intermediate:
            return None
        if "intermediate" not in self._keys:
            r = self.request
            self._keys["intermediate"] = content_key({
                "model": r.model, "revision": r.revision, "weights": plan.model_identity,
                "tasks": sorted(t.name for t in plan.intermediate),
                "hparams": plan.intermediate_hparams.as_dict(), "seed": r.seed, "limit": r.limit,
                "data": r.data, "sampling": r.sampling if len(plan.intermediate) > 1 else {},
                "fraction": {t.name: r.fraction.get(t.name, 1.0) for t in plan.intermediate},
                "inputs": {t.name: {**plan.task_inputs[t.name], "train": self._data(t, "train", t.spec.train_language)}
                           for t in plan.intermediate},
                **self._subset_key(), **self._multimodal_key()})
        return self._keys["intermediate"]

    def _subset_key(self) -> dict[str, Any]:
        """Content-key entries of the data-volume settings, present only when a subset is drawn or a
        step budget is fixed (full-data keys stay those of earlier versions, and of every data seed)."""
        r, extra = self.request, {}
        subset = {t.name: {"size": r.size.get(t.name), "fraction": r.fraction.get(t.name, 1.0)}
                  for t in self.plan.intermediate if t.name in r.size or r.fraction.get(t.name, 1.0) < 1.0}
        if subset:   # the ranking of run/subset.py (the run seed drew fractions before it)
            extra["subset"] = {"tasks": subset, "data_seed": r.data_seed, "stratify": r.stratify, "method": "rank-v1"}
        if r.budget == "steps" and (subset or r.budget_steps is not None):
            extra["budget"] = {"mode": "steps", "steps": r.budget_steps}
        return extra

    def _multimodal_key(self) -> dict[str, Any]:
        """Content-key entries of the multimodal settings, present only when they apply (older keys stay valid)."""
        extra: dict[str, Any] = {}
        if self.plan.dropout.active and any(t.spec.modality == "image_text" for t in self.plan.intermediate):
            extra["modality_dropout"] = self.plan.dropout.as_dict()   # it only touches image-text examples
        excluded = self.excluded_images()
        if excluded:
            extra["excluded_images"] = content_key(sorted(excluded))
        return extra

    def target_key(self, task) -> str:
        """Key of a target checkpoint: where it starts, the target (code, options), its training data
        and hyperparameters, seed, limit, head carry-over and model selection."""
        if task.name not in self._keys:
            r, plan = self.request, self.plan
            trained = get_format(task.format).trainable
            source = plan.trains_on[task.name]
            inputs: dict[str, Any] = {"task": plan.task_inputs[task.name]}
            if trained:
                inputs.update(train_task=plan.task_inputs[source.name],
                              train=self._data(source, "train", source.spec.train_language))
                dev = self.selection_read(task)
                if dev is not None:
                    inputs["select"] = {"on": r.select_on, "every": r.select_every, "dev": self._data(*dev),
                                        "metric": plan.scoring[dev[0].name]}
            self._keys[task.name] = content_key({
                "start": self.intermediate_key() or {"model": r.model, "revision": r.revision,
                                                     "weights": plan.model_identity},
                "target": task.name, "hparams": plan.target_hparams[task.name].as_dict(),
                "seed": r.seed, "limit": r.limit, "data": r.data, "keep_head": r.keep_head,
                "trained": trained, "inputs": inputs})
        return self._keys[task.name]

    def cell_key(self, task, language: str, split: str) -> str:
        """Key of one result: the target checkpoint, language, split, the evaluation data of that
        language (every evaluation split: BUCC tunes on dev what it reports on test) and the metric
        (name and scorer code)."""
        data = {s: self._data(task, s, language) for s in ("dev", "test") if s in task.spec.splits}
        return content_key({"target": self.target_key(task), "language": language, "split": split, "data": data,
                            "metric": self.plan.scoring[task.name]})

    def selection_read(self, task) -> tuple[Any, str, str] | None:
        """--select-on en-dev: the target's English dev split, else that of the task it trains on;
        None without model selection, or when neither has one (TyDiQA: it trains without)."""
        if self.request.select_on == "none":
            return None
        for candidate in (task, self.plan.trains_on[task.name]):
            if "dev" in candidate.spec.splits and "en" in candidate.spec.languages:
                return candidate, "dev", "en"
        return None

    # -- where they live -------------------------------------------------------------------------
    def directory(self, task) -> Path:
        """Where the intermediate checkpoint (``task`` None) or a target's checkpoint lives."""
        if task is None:
            return self.out / "checkpoints" / f"intermediate-{self.intermediate_key()}"
        return self.out / "checkpoints" / f"target-{task.name}-{self.target_key(task)}"

    def train_state(self, checkpoint: Path) -> dict[str, Any]:
        """Where the training phase that produces ``checkpoint`` keeps its mid-phase state."""
        return {"state_dir": checkpoint.with_name(checkpoint.name + PARTIAL),
                "save_every_s": self.request.save_every_s}

    # -- reuse -------------------------------------------------------------------------------------
    def reusable(self, directory: Path, phase: str) -> dict[str, Any] | None:
        """The meta of a saved checkpoint that can be reused; None when there is none, or when its
        files or its encoder reference are damaged: then it is set aside (the phase retrains).
        Reads the meta file and checks the files; loads no model. Several processes decide together
        (each checks, all see every answer), so none reuses what another moves aside."""
        problem = None
        if LoadedModel.is_checkpoint(directory):
            problem = checkpoint_problem(directory) or reference_problem(directory) or ""
        found = distributed.gather(problem)
        if all(p is None for p in found):
            return None
        problem = next((p for p in found if p), None) or (None if None not in found else "missing on some process")
        if problem is not None:
            self.set_aside(directory, phase, problem)
            distributed.barrier()   # moved before any process goes on to train it again
            return None
        return read_meta(directory)

    def set_aside(self, directory: Path, phase: str, problem: str) -> None:
        """Move a damaged checkpoint out of the way (kept for inspection; the phase trains it again).
        The main process moves it; the others only learn it is gone."""
        if not self.main or not directory.exists():
            return
        aside = directory.with_name(f"{directory.name}{DAMAGED}{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        directory.rename(aside)
        self.log(f"[warning] {phase} checkpoint {directory} is damaged ({problem}); moved to {aside} "
                 f"and training it again")

    # -- save and remove ---------------------------------------------------------------------------
    def save(self, model: LoadedModel, directory: Path, heads: tuple[str, ...], meta: dict[str, Any],
             encoder: dict[str, Any] | None = None) -> None:
        """Write the phase's checkpoint (the main process; the others wait for it, then read it):
        heads plus the ``encoder`` reference, when given, instead of the encoder; its mid-phase
        training state is no longer needed."""
        if self.main:
            model.save(directory, heads=heads, meta={**meta, "provenance": model.provenance}, encoder_ref=encoder)
            shutil.rmtree(self.train_state(directory)["state_dir"], ignore_errors=True)
        distributed.barrier()

    def head_only_reference(self, task, model: LoadedModel, start_dir: str | None) -> dict[str, Any] | None:
        """Where a target's unchanged encoder is, when its checkpoint is saved as its head only: the
        encoder was frozen (``freeze_encoder``), the model has no vision tower, and
        ``--whole-target-checkpoints`` was not given. None: save it whole."""
        if not self.plan.target_hparams[task.name].freeze_encoder or self.request.whole_targets \
                or model.fusion is not None:
            return None
        if start_dir:
            return {"checkpoint": Path(start_dir).name, "key": self.intermediate_key(),
                    "files": encoder_files(Path(start_dir))}
        return {"model": self.plan.model_source, "revision": self.request.revision}

    def discard(self, path: str | None, phase: str) -> None:
        """Remove a checkpoint that --keep-checkpoints does not keep (results are keyed by content, so
        a rerun still skips the finished cells; it retrains only for new ones)."""
        if not path or not self.main:   # the main process removes it (the others never write checkpoints)
            return
        directory = inside(self.out, Path(path))
        if LoadedModel.is_checkpoint(directory):
            shutil.rmtree(directory)
            self.log(f"removed {phase} checkpoint {directory} (--keep-checkpoints {self.request.keep_checkpoints})")
