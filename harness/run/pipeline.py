"""The three-phase pipeline: load model -> intermediate training -> target training -> evaluation.

Checkpoints are keyed by the content of their configuration, so a rerun (or another target, or
another grid cell) reuses what exists; results are keyed the same way, so a rerun after a kill
computes only the missing (task, language, split) cells. ``--overwrite`` is about results only:
``always`` re-evaluates every cell (appending new records) but still reuses saved checkpoints.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import math
import shlex
import shutil
import signal
import sys
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from harness.run.data import Examples, check_sources, data_fingerprint, load_examples, training_task
from harness.run.request import RunRequest
from harness.run.modality import ModalityDropout, drop_contaminated, drop_modalities, image_keys
from harness.errors import HarnessError, Interrupted, PluginError
from harness.files import inside, safe_name, storage_error
from harness.formats import get_format
from harness.metrics.registry import get_metric
from harness.spec.config import KEEP_CHECKPOINTS, SELECT_ON
from harness.spec.hparams import Hyperparams
from harness.engine.modeling import LoadedModel, checkpoint_problem, encoder_ref, load_head_state
from harness.run.provenance import content_key, device_info, harness_info, library_versions
from harness.spec.registry import Registry
from harness.results.records import (LOCKS_DIR, RESULTS_FILE, SCHEMA_VERSION, SHARDS_DIR, ResultsWriter, cell_lock,
                                     output_lock, read_records, write_jsonl_atomic)
from harness.engine import distributed
from harness.engine.training import Reporter, Stop, budget_steps, stop_on_signals
from harness.run.leftovers import DAMAGED, PARTIAL, find_leftovers, remove

OVERWRITE_MODES = ("never", "only-missing", "always")


@dataclass
class RunSummary:
    run_id: str
    results: list[dict[str, Any]] = field(default_factory=list)   # this run's and reused ones
    errors: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    skipped: int = 0
    reused_checkpoints: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    results_file: Path | None = None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def pick_device(name: str | None) -> torch.device:
    """``name``, else cuda when available; under a multi-process launcher, each process's own GPU."""
    device = torch.device(name) if name else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and device.index is None and distributed.world_size() > 1:
        device = torch.device("cuda", distributed.local_rank())
    return device


def check_eval_output(output: Any, plugin: str | None) -> None:
    """A result a plugin returns must be writable: metrics a mapping of names to finite numbers."""
    blame = f"harness_evaluate of plugin '{plugin}'" if plugin else "harness_evaluate"
    metrics = getattr(output, "metrics", None)
    if not isinstance(metrics, dict):
        raise PluginError(f"{blame} returned {type(output).__name__}, not an EvalOutput with a metrics dict")
    for name, value in metrics.items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise PluginError(f"{blame} returned metric {str(name)[:80]!r} = {str(value)[:80]!r}: "
                              f"expected a finite number")


def task_inputs(task, plugins) -> dict[str, Any]:
    """What of a task, besides its data, can change a number: its plugin's version and code (a hash
    of the module's source), metric, options, labels and splits."""
    info = plugins.infos.get(task.spec.plugin)
    path = Path(getattr(sys.modules.get(type(task).__module__), "__file__", None) or "")
    spec = task.spec
    return {"plugin": spec.plugin, "version": info.version if info else None,
            "code": hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None,
            "metric": spec.metric, "options": spec.options, "labels": spec.labels, "splits": spec.splits,
            "train_language": spec.train_language}


def _note_reads(train_stats: dict[str, Any], phase: str, reads: Any) -> None:
    """``train.data.<phase>``: what a training phase read (a copy: targets share the intermediate's)."""
    train_stats["data"] = {**train_stats.get("data", {}), phase: reads}


def _encoder_files(checkpoint: Path) -> dict[str, Any] | None:
    """Sizes and SHA-256 sums of a checkpoint's encoder files, from its meta.json (what a head-only
    target checkpoint was trained against)."""
    try:
        files = json.loads((checkpoint / "meta.json").read_text(encoding="utf-8")).get("files") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return {name: value for name, value in files.items() if name.startswith("encoder/")}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _with_options(task, options: dict[str, Any] | None):
    """The task with a copy of its spec whose format options are updated (the registry's stays)."""
    if not options:
        return task
    task = copy.copy(task)
    task.spec = replace(task.spec, options={**task.spec.options, **options})
    return task


class _NoWriter:
    """What a process other than the main one writes records to: nothing."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class Pipeline:
    """``shard``: write the results to ``<output dir>/shards/<shard>.jsonl`` under that cell's lock
    (``locks/<shard>.lock``, waited for when another runner holds it) instead of ``results.jsonl``
    under the directory's lock, so runners of other cells (other jobs, other nodes) go on."""

    def __init__(self, registry: Registry, request: RunRequest, reporter: Reporter | None = None,
                 log: Callable[[str], None] | None = None, shard: str | None = None):
        if request.overwrite not in OVERWRITE_MODES:
            raise HarnessError(f"--overwrite must be one of {', '.join(OVERWRITE_MODES)}")
        self.registry, self.request = registry, request
        self.plugins = registry.plugins
        self.reporter = reporter or Reporter()
        self.log = log or (lambda message: None)
        self.reporter.log = self.log
        self.device = pick_device(request.device)
        self.out = Path(request.output_dir)
        self.shard = safe_name(shard, "results shard") if shard is not None else None
        self.main = True   # the process that locks and writes (run() asks the launcher)
        # resolve every name before any work: unknown names fail fast, nothing half-done
        self.targets = [_with_options(registry.task(name), request.task_options.get(name))
                        for name in request.targets]
        self.intermediate = [registry.task(name) for name in request.intermediate]
        for task in self.intermediate:
            if task.spec.kind != "intermediate":
                raise HarnessError(f"task '{task.name}' is a {task.spec.kind} task, not an intermediate task")
            if not get_format(task.format).trainable:
                raise HarnessError(f"task '{task.name}' has no training data and cannot be an intermediate task")
        for task in self.targets:
            if task.spec.kind != "target":
                raise HarnessError(f"task '{task.name}' is an intermediate task; use it with --intermediate")
        for name in request.languages:
            if name not in request.targets:
                raise HarnessError(f"languages given for '{name}', which is not among the targets")
        for name in request.task_options:
            if name not in request.targets:
                raise HarnessError(f"options given for '{name}', which is not among the targets")
        self.languages = {t.name: registry.check_languages(t, request.languages.get(t.name) or t.languages())
                          for t in self.targets}
        for task in [*self.targets, *self.intermediate]:  # these names become file names
            safe_name(task.name, "task name")
            for language in self.languages.get(task.name, []):
                safe_name(language, f"language of task '{task.name}'")
        self.plugins.timeout_s = request.hook_timeout_s
        for split in request.splits:
            if split not in ("dev", "test"):
                raise HarnessError(f"unknown split '{split}' (expected dev or test)")
        for task in self.targets:  # a split may exist for some languages only (split_languages)
            if not any(task.spec.has_split(s, lang) for s in request.splits for lang in self.languages[task.name]):
                raise HarnessError(f"task '{task.name}' has no {'/'.join(request.splits)} split for "
                                   f"{', '.join(self.languages[task.name])}")
        for option, names in (("--intermediate-fraction", request.fraction), ("--intermediate-size", request.size)):
            for name in names:
                if name not in request.intermediate:
                    raise HarnessError(f"{option} names '{name}', which is not an intermediate task")
        self.model_source = registry.resolve_model(request.model, request.revision)
        self.target_hparams = {t.name: Hyperparams().merged(t.spec.hparams).merged(request.hparams, "--hparam")
                               .merged(request.task_hparams.get(t.name), f"task_hparams.{t.name}")
                               for t in self.targets}
        base = Hyperparams()
        for task in self.intermediate:
            base = base.merged(task.spec.hparams)
        base = base.merged(request.intermediate_hparams or request.hparams, "--hparam")
        for task in self.intermediate:
            base = base.merged(request.task_hparams.get(task.name), f"task_hparams.{task.name}")
        self.intermediate_hparams = base
        # checkpoint retention
        if request.keep_checkpoints not in KEEP_CHECKPOINTS:
            raise HarnessError(f"--keep-checkpoints must be one of {', '.join(KEEP_CHECKPOINTS)}; "
                               f"got '{request.keep_checkpoints}'")
        if request.select_on not in SELECT_ON:
            raise HarnessError(f"--select-on must be one of {', '.join(SELECT_ON)}; got '{request.select_on}'")
        self.trains_on = {t.name: training_task(t, registry.tasks) for t in self.targets}
        if request.data == "samples":  # the samples are this run's local data (CCG computes its labels from it)
            for task in [*self.intermediate, *self.targets, *self.trains_on.values()]:
                task.spec.local = task.spec.samples
        # what of each task, besides its data, can change a number; fixed before anything is read
        # (reading may fill in computed labels)
        self.task_inputs = {t.name: task_inputs(t, self.plugins)
                            for t in [*self.intermediate, *self.targets, *self.trains_on.values()]}
        self._keys: dict[str, Any] = {}
        self.intermediate_counts: dict[str, int] = {}   # unique examples per intermediate task (once trained)
        self.run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.dropout = ModalityDropout.parse(request.modality_dropout)

    # -- keys ------------------------------------------------------------------------------------
    def _data(self, task, split: str, language: str) -> dict[str, Any]:
        return data_fingerprint(task, split, language, self.request.data)

    def intermediate_key(self) -> str | None:
        """Key of the intermediate checkpoint: model, tasks (code, options, training data), hyperparameters,
        seed, limit, fraction, sampling."""
        if not self.intermediate:
            return None
        if "intermediate" not in self._keys:
            r = self.request
            self._keys["intermediate"] = content_key({
                "model": r.model, "revision": r.revision, "tasks": sorted(t.name for t in self.intermediate),
                "hparams": self.intermediate_hparams.as_dict(), "seed": r.seed, "limit": r.limit,
                "data": r.data, "sampling": r.sampling if len(self.intermediate) > 1 else {},
                "fraction": {t.name: r.fraction.get(t.name, 1.0) for t in self.intermediate},
                "inputs": {t.name: {**self.task_inputs[t.name], "train": self._data(t, "train", t.spec.train_language)}
                           for t in self.intermediate},
                **self._subset_key(), **self._multimodal_key()})
        return self._keys["intermediate"]

    def _subset_key(self) -> dict[str, Any]:
        """Content-key entries of the data-volume settings, present only when a subset is drawn or a
        step budget is fixed (full-data keys stay those of earlier versions, and of every data seed)."""
        r, extra = self.request, {}
        subset = {t.name: {"size": r.size.get(t.name), "fraction": r.fraction.get(t.name, 1.0)}
                  for t in self.intermediate if t.name in r.size or r.fraction.get(t.name, 1.0) < 1.0}
        if subset:   # the ranking of run/subset.py (the run seed drew fractions before it)
            extra["subset"] = {"tasks": subset, "data_seed": r.data_seed, "stratify": r.stratify, "method": "rank-v1"}
        if r.budget == "steps" and (subset or r.budget_steps is not None):
            extra["budget"] = {"mode": "steps", "steps": r.budget_steps}
        return extra

    def target_key(self, task) -> str:
        """Key of a target checkpoint: where it starts, the target (code, options), its training data
        and hyperparameters, seed, limit, head carry-over and model selection."""
        if task.name not in self._keys:
            r = self.request
            trained = get_format(task.format).trainable
            source = self.trains_on[task.name]
            inputs: dict[str, Any] = {"task": self.task_inputs[task.name]}
            if trained:
                inputs.update(train_task=self.task_inputs[source.name],
                              train=self._data(source, "train", source.spec.train_language))
                dev = self.selection_read(task)
                if dev is not None:
                    inputs["select"] = {"on": r.select_on, "every": r.select_every, "dev": self._data(*dev)}
            self._keys[task.name] = content_key({
                "start": self.intermediate_key() or {"model": r.model, "revision": r.revision},
                "target": task.name, "hparams": self.target_hparams[task.name].as_dict(),
                "seed": r.seed, "limit": r.limit, "data": r.data, "keep_head": r.keep_head,
                "trained": trained, "inputs": inputs})
        return self._keys[task.name]

    def cell_key(self, task, language: str, split: str) -> str:
        """Key of one result: the target checkpoint, language, split, and the evaluation data of that
        language (every evaluation split: BUCC tunes on dev what it reports on test)."""
        data = {s: self._data(task, s, language) for s in ("dev", "test") if s in task.spec.splits}
        return content_key({"target": self.target_key(task), "language": language, "split": split, "data": data})

    def selection_read(self, task) -> tuple[Any, str, str] | None:
        """--select-on en-dev: the target's English dev split, else that of the task it trains on;
        None without model selection, or when neither has one (TyDiQA: it trains without)."""
        if self.request.select_on == "none":
            return None
        for candidate in (task, self.trains_on[task.name]):
            if "dev" in candidate.spec.splits and "en" in candidate.spec.languages:
                return candidate, "dev", "en"
        return None

    @property
    def config_label(self) -> str:
        """Folder name of this configuration's --log-samples files: the intermediate key (which holds
        the seed) or, for the baseline, a key of the model and the seed, so seeds never overwrite."""
        names = "+".join(t.name for t in self.intermediate) or "baseline"
        key = self.intermediate_key() or content_key({"m": self.request.model, "r": self.request.revision,
                                                      "seed": self.request.seed}, 8)
        return f"{names}-{key}"[:80]

    # -- model states ---------------------------------------------------------------------------
    def _load(self, source: str) -> LoadedModel:
        model = self.plugins.load_model(model=source, device=self.device, revision=self.request.revision)
        if model is None:
            raise HarnessError(f"no plugin could load model '{self.request.model}'")
        return model

    def _from_checkpoint(self, directory: Path, heads: dict[str, Any], meta: dict[str, Any] | None = None
                         ) -> LoadedModel:
        """A saved encoder with the given tasks' heads; provenance is the base model's. A checkpoint
        saved as heads only takes its encoder from where ``encoder-ref.json`` points."""
        ref = encoder_ref(directory)
        if ref is None:
            model = self._load(str(directory / "encoder"))
        elif "checkpoint" in ref:
            model = self._from_checkpoint(directory.parent / ref["checkpoint"], {})
        else:
            model = self.plugins.load_model(model=ref["model"], device=self.device, revision=ref.get("revision"))
            if model is None:
                raise HarnessError(f"no plugin could load model '{ref['model']}'")
        meta = meta if meta is not None else json.loads((directory / "meta.json").read_text())
        model.provenance = meta.get("provenance", model.provenance)
        for name, task in heads.items():
            head = get_format(task.format).build_head(model.hidden_size, task)
            state = load_head_state(directory, name)
            if state is not None:
                head.load_state_dict(state)
            model.heads[name] = head.to(self.device)
        return model

    def _start_model(self, start_dir: str | None) -> LoadedModel:
        """What a target starts from: the intermediate encoder, or the pretrained model (baseline)."""
        return self._from_checkpoint(Path(start_dir), {}) if start_dir else self._load(self.model_source)

    def _reuse(self, directory: Path, heads: dict[str, Any], phase: str, summary: RunSummary,
               train_stats: dict[str, Any], note: str = "") -> LoadedModel | None:
        """Load a saved checkpoint instead of training it again; its training statistics carry over.
        None when there is none, or when it is damaged: then it is set aside and the phase retrains."""
        if not LoadedModel.is_checkpoint(directory):
            return None
        problem = checkpoint_problem(directory) or self._reference_problem(directory)
        if problem is None:
            meta = json.loads((directory / "meta.json").read_text())
            try:
                model = self._from_checkpoint(directory, heads, meta)
            except Exception as exc:  # noqa: BLE001 - a save from before checksums may be truncated
                if meta.get("files"):
                    raise  # its files are verified intact: the failure is not theirs
                problem = f"cannot be loaded ({type(exc).__name__}: {one_line(exc)[:200]})"
        if problem is not None:
            aside = directory.with_name(f"{directory.name}{DAMAGED}{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
            directory.rename(aside)
            self.log(f"[warning] {phase} checkpoint {directory} is damaged ({problem}); moved to {aside} "
                     f"and training it again")
            return None
        self.log(f"reusing {phase} checkpoint {directory}{note}")
        summary.reused_checkpoints.append(str(directory))
        train_stats[phase] = meta.get("train")
        _note_reads(train_stats, phase, meta.get("data"))
        return model

    def _save(self, model: LoadedModel, directory: Path, heads: tuple[str, ...], meta: dict[str, Any],
              encoder: dict[str, Any] | None = None) -> None:
        """Write the phase's checkpoint (the main process; the others wait for it, then read it):
        heads plus the ``encoder`` reference, when given, instead of the encoder; its mid-phase
        training state is no longer needed."""
        if self.main:
            model.save(directory, heads=heads, meta={**meta, "provenance": model.provenance}, encoder_ref=encoder)
            shutil.rmtree(self._train_state(directory)["state_dir"], ignore_errors=True)
        distributed.barrier()

    # -- checkpoint retention: --keep-checkpoints, head-only target checkpoints ----------------------
    def _head_only_reference(self, task, model: LoadedModel, start_dir: str | None) -> dict[str, Any] | None:
        """Where a target's unchanged encoder is, when its checkpoint is saved as its head only: the
        encoder was frozen (``freeze_encoder``), the model has no vision tower, and
        ``--whole-target-checkpoints`` was not given. None: save it whole."""
        if not self.target_hparams[task.name].freeze_encoder or self.request.whole_targets or model.fusion is not None:
            return None
        if start_dir:
            return {"checkpoint": Path(start_dir).name, "key": self.intermediate_key(),
                    "files": _encoder_files(Path(start_dir))}
        return {"model": self.model_source, "revision": self.request.revision}

    @staticmethod
    def _reference_problem(directory: Path) -> str | None:
        """Why a head-only checkpoint's encoder cannot be found (its intermediate checkpoint is gone)."""
        try:
            ref = encoder_ref(directory)
        except (OSError, ValueError) as exc:
            return f"encoder-ref.json unreadable ({type(exc).__name__})"
        if ref is None or "checkpoint" not in ref:
            return None
        source = directory.parent / ref["checkpoint"]
        if not LoadedModel.is_checkpoint(source):
            return f"its encoder, checkpoint {ref['checkpoint']}, is gone"
        if _encoder_files(source) != ref.get("files"):
            return f"its encoder, checkpoint {ref['checkpoint']}, was saved again with other weights"
        return None

    def _discard(self, path: str | None, phase: str) -> None:
        """Remove a checkpoint that --keep-checkpoints does not keep (results are keyed by content, so
        a rerun still skips the finished cells; it retrains only for new ones)."""
        if not path or not self.main:   # the main process removes it (the others never write checkpoints)
            return
        directory = inside(self.out, Path(path))
        if LoadedModel.is_checkpoint(directory):
            shutil.rmtree(directory)
            self.log(f"removed {phase} checkpoint {directory} (--keep-checkpoints {self.request.keep_checkpoints})")

    def intermediate_model(self, summary: RunSummary, train_stats: dict[str, Any]) -> tuple[LoadedModel | None, dict]:
        """The encoder after intermediate training (trained once, then reused from disk); None for
        the baseline (each target loads the pretrained model itself)."""
        key = self.intermediate_key()
        if key is None:
            return None, {"key": None, "path": None, "reused": False}
        directory = self._checkpoint_dir(None)
        model = self._reuse(directory, {}, "intermediate", summary, train_stats,
                            f" ({'+'.join(t.name for t in self.intermediate)})")
        if model is not None:
            meta, trained = json.loads((directory / "meta.json").read_text()), train_stats.get("intermediate") or {}
            self.intermediate_counts = dict(meta.get("examples") or trained.get("unique_examples")
                                            or trained.get("task_sizes") or {})
            return model, {"key": key, "path": str(directory), "reused": True}
        model = self._load(self.model_source)
        examples, multimodal = self.intermediate_examples
        reads = {name: e.reads for name, e in examples.items()}
        self.intermediate_counts = {name: len(e) for name, e in examples.items()}
        steps = self.step_budget(examples)
        self.log(f"intermediate training on {', '.join(f'{n} ({len(e)} examples)' for n, e in examples.items())}"
                 + (f" for {steps} steps (--budget steps)" if steps is not None else ""))
        stats = self.plugins.intermediate_train(model=model, tasks=self.intermediate, examples=examples,
                                                hparams=self.intermediate_hparams, sampling=self.request.sampling,
                                                seed=self.request.seed, log=self.reporter,
                                                state=self._train_state(directory), steps=steps)
        if steps is not None and stats.get("steps") != steps:
            self.log(f"[warning] --budget steps asked for {steps} training steps; harness_intermediate_train "
                     f"of plugin '{self.plugins.last_result('harness_intermediate_train')}' reports {stats.get('steps')}")
        train_stats["intermediate"] = stats = {**stats, **multimodal}
        _note_reads(train_stats, "intermediate", reads)
        self._save(model, directory, tuple(t.name for t in self.intermediate),
                   {"kind": "intermediate", "key": key, "train": stats, "data": reads,
                    "tasks": [t.name for t in self.intermediate], "examples": self.intermediate_counts})
        self.log(f"saved intermediate checkpoint {directory}")
        return model, {"key": key, "path": str(directory), "reused": False}

    def step_budget(self, examples: dict[str, Examples]) -> int | None:
        """--budget steps: the steps of --budget-steps, or those of the full-data run with the same
        hyperparameters (each task's examples before the subset, under --limit); None: epochs decide."""
        r = self.request
        if r.budget != "steps":
            return None
        if r.budget_steps is not None:
            return r.budget_steps
        if not any(t.name in r.size or r.fraction.get(t.name, 1.0) < 1.0 for t in self.intermediate):
            return None   # the full data: the same steps as the epoch budget (and the same checkpoint)
        full = {t.name: min(examples[t.name].available, r.limit) if r.limit and t.limit_rows
                else examples[t.name].available for t in self.intermediate}
        hparams = self.intermediate_hparams
        return budget_steps(full, hparams.batch_size, hparams.epochs, r.sampling.get("cap"))

    # -- multimodal: modality dropout and the contamination check (run/modality.py) ----------------
    @functools.cached_property
    def intermediate_examples(self) -> tuple[dict[str, Examples], dict[str, Any]]:
        """The intermediate training examples, without target test images (``--contamination drop``)
        and after modality dropout; plus what was dropped (empty for text-only intermediate tasks)."""
        r, report = self.request, {}
        examples: dict[str, Examples] = {}
        for task in self.intermediate:
            examples[task.name] = load_examples(self.plugins, task, "train", task.spec.train_language, source=r.data,
                                                limit=r.limit, fraction=r.fraction.get(task.name, 1.0),
                                                size=r.size.get(task.name), data_seed=r.data_seed,
                                                stratify=r.stratify)
            if task.spec.modality == "image_text":
                kept, dropped = drop_contaminated(examples[task.name], self.target_test_images)
                kept, counts = drop_modalities(kept, self.dropout, r.seed, task.name)
                examples[task.name] = Examples(kept, reads=examples[task.name].reads,
                                               available=examples[task.name].available)
                report[task.name] = {"contaminated_dropped": dropped, **counts}
        if not report:
            return examples, {}
        return examples, {"modality_dropout": self.dropout.as_dict(), "contamination": {
            "policy": r.contamination, "target_test_images": len(self.target_test_images),
            "dropped": sum(v["contaminated_dropped"] for v in report.values())}, "multimodal_tasks": report}

    @functools.cached_property
    def target_test_images(self) -> set[str]:
        """Pixel hashes of the evaluated images of image-text targets, when image-text intermediate
        training must not see them; a split that cannot be read is left to its evaluation error."""
        keys: set[str] = set()
        if self.request.contamination != "drop" or not any(t.spec.modality == "image_text" for t in self.intermediate):
            return keys
        for task in (t for t in self.targets if t.spec.modality == "image_text"):
            for language in self.languages[task.name]:
                for split in self.request.splits:
                    try:
                        keys |= image_keys(load_examples(self.plugins, task, split, language,
                                                         source=self.request.data, limit=self.request.limit))
                    except HarnessError:
                        continue
        return keys

    def _multimodal_key(self) -> dict[str, Any]:
        """Content-key entries of the multimodal settings, present only when they apply (older keys stay valid)."""
        extra: dict[str, Any] = {}
        if self.dropout.active and any(t.spec.modality == "image_text" for t in self.intermediate):
            extra["modality_dropout"] = self.dropout.as_dict()   # it only touches image-text examples
        if self.target_test_images:
            extra["excluded_images"] = content_key(sorted(self.target_test_images))
        return extra

    def target_model(self, task, start_dir: str | None, summary: RunSummary,
                     train_stats: dict[str, Any]) -> tuple[LoadedModel, dict]:
        fmt = get_format(task.format)
        key = self.target_key(task)
        if not fmt.trainable:
            return self._start_model(start_dir), {"key": key, "path": start_dir, "reused": start_dir is not None, "trained": False}
        directory = self._checkpoint_dir(task)
        model = self._reuse(directory, {task.name: task}, "target", summary, train_stats)
        if model is not None:
            return model, {"key": key, "path": str(directory), "reused": True, "trained": True}
        model = self._start_model(start_dir)
        if self.request.keep_head and start_dir:
            self._carry_head(model, task, Path(start_dir))
        source_task = self.trains_on[task.name]
        examples = load_examples(self.plugins, source_task, "train", source_task.spec.train_language,
                                 source=self.request.data, limit=self.request.limit)
        self.log(f"target training {task.name} on {len(examples)} English examples"
                 + (f" of {source_task.name}" if source_task is not task else ""))
        select = self._selection(task)
        stats = self.plugins.target_train(model=model, task=task, examples=examples,
                                          hparams=self.target_hparams[task.name], seed=self.request.seed,
                                          log=self.reporter, state=self._train_state(directory), select=select)
        reads = {source_task.name: examples.reads, **({"select": select["data"]} if select else {})}
        train_stats["target"] = stats
        _note_reads(train_stats, "target", reads)
        self._save(model, directory, (task.name,), {"kind": "target", "key": key, "task": task.name, "train": stats,
                                                    "data": reads},
                   encoder=self._head_only_reference(task, model, start_dir))
        return model, {"key": key, "path": str(directory), "reused": False, "trained": True}

    def _checkpoint_dir(self, task) -> Path:
        """Where the intermediate checkpoint (``task`` None) or a target's checkpoint lives."""
        if task is None:
            return self.out / "checkpoints" / f"intermediate-{self.intermediate_key()}"
        return self.out / "checkpoints" / f"target-{task.name}-{self.target_key(task)}"

    def _selection(self, task) -> dict[str, Any] | None:
        """--select-on en-dev: score the target's primary metric on English dev during training."""
        r = self.request
        dev = self.selection_read(task)
        if dev is None:
            if r.select_on != "none":
                self.log(f"{task.name}: no English dev split to select on; training without model selection")
            return None
        dev_task, split, language = dev
        examples = load_examples(self.plugins, dev_task, split, language, source=r.data, limit=r.limit)
        metric, hparams = get_metric(task.spec.metric), self.target_hparams[task.name]

        def score(model: LoadedModel) -> float:   # higher is better for the selection
            output = self.plugins.evaluate(model=model, task=task, language=language, split=split,
                                           examples=examples, hparams=hparams, context={"split": split})
            value = float(output.metrics[metric.primary])
            return value if metric.higher_is_better else -value

        return {"score": score, "every": r.select_every, "on": f"{dev_task.name} {split}-{language} {metric.primary}",
                "data": examples.reads}

    def needed_reads(self, todo: dict[str, list]) -> list[tuple[Any, str, str]]:
        """Every (task, split, language) that computing ``todo`` reads (saved checkpoints are not retrained)."""
        reads: list[tuple[Any, str, str]] = []
        if not any(todo.values()):
            return reads
        if self.intermediate and not LoadedModel.is_checkpoint(self._checkpoint_dir(None)):
            reads += [(t, "train", t.spec.train_language) for t in self.intermediate]
        for task in self.targets:
            cells = todo[task.name]
            if cells and get_format(task.format).trainable and not LoadedModel.is_checkpoint(self._checkpoint_dir(task)):
                source = self.trains_on[task.name]
                reads.append((source, "train", source.spec.train_language))
                selection = self.selection_read(task)
                if selection is not None:
                    reads.append(selection)
            reads += [(task, split, language) for language, split, _ in cells if split in task.spec.splits]
        return reads

    def _train_state(self, checkpoint: Path) -> dict[str, Any]:
        """Where the training phase that produces ``checkpoint`` keeps its mid-phase state."""
        return {"state_dir": checkpoint.with_name(checkpoint.name + ".partial"),
                "save_every_s": self.request.save_every_s}

    def _carry_head(self, model: LoadedModel, task, start_dir: Path) -> None:
        """--keep-head: start the target head from a compatible intermediate head (e.g. SQuAD -> XQuAD)."""
        fmt = get_format(task.format)
        for inter in self.intermediate:
            if inter.format != task.format:
                continue
            state = load_head_state(start_dir, inter.name)
            head = fmt.build_head(model.hidden_size, task)
            if state is not None and all(state[k].shape == v.shape for k, v in head.state_dict().items() if k in state) \
                    and set(state) == set(head.state_dict()):
                head.load_state_dict(state)
                model.heads[task.name] = head.to(self.device)
                self.log(f"target head of {task.name} starts from the {inter.name} head")
                return
        self.log(f"--keep-head: no compatible intermediate head for {task.name}; using a fresh head")

    # -- run -------------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        results_file = self.out / SHARDS_DIR / f"{self.shard}.jsonl" if self.shard else self.out / RESULTS_FILE
        self.summary = RunSummary(run_id=self.run_id, results_file=results_file)
        # several processes on this run (accelerate launch, torchrun): the main one locks and writes
        distributed.start(cpu=self.device.type == "cpu")
        self.main = distributed.is_main()
        lock = (contextlib.nullcontext() if not self.main else
                cell_lock(self.out, self.shard, wait=self.log) if self.shard else output_lock(self.out))
        try:
            with lock, stop_on_signals():
                return self._run(self.summary)
        except KeyboardInterrupt as exc:
            raise self._interrupted(exc) from None
        except OSError as exc:
            error = storage_error(exc)
            if error is None:
                raise
            raise error from None

    def _interrupted(self, exc: KeyboardInterrupt) -> Interrupted:
        """What a stopped run kept, and the command that resumes it."""
        signum = exc.signum if isinstance(exc, Stop) else signal.SIGINT
        kept = [f"{self.summary.computed} new result(s) in {self.summary.results_file}"]
        if isinstance(exc, Stop) and exc.saved:
            kept.append(exc.saved)
        command = " ".join(shlex.quote(a) for a in ["harness", *sys.argv[1:]])
        return Interrupted(f"{signal.Signals(signum).name}: kept {', '.join(kept)} and every saved checkpoint; "
                           f"resume with: {command}", 128 + signum)

    def _run(self, summary: RunSummary) -> RunSummary:
        start = time.perf_counter()
        assert summary.results_file is not None   # set by run()
        # other runners may share the directory (grid cells): then their temp files may be in use
        shared = self.shard is not None or (self.out / LOCKS_DIR).is_dir()
        for leftover in find_leftovers(self.out):  # what killed runs and finished phases left behind
            if self.main and leftover.safe and (not shared or leftover.path.name.endswith(PARTIAL)):
                remove(leftover)
        # the results file and every shard of the directory: a cell any runner finished is not redone
        previous = [r for r in read_records(self.out, warn=lambda m: self.log(f"[warning] {m}"))
                    if r.get("type") == "result"]
        if self.request.overwrite == "never" and previous:
            raise HarnessError(f"{summary.results_file} already holds results and --overwrite is 'never'")
        done = {r["key"]: r for r in previous} if self.request.overwrite == "only-missing" else {}
        self.samples_only = set(done)  # reused results; evaluated again only to write missing --log-samples
        plan = {t.name: [(lang, split, self.cell_key(t, lang, split)) for lang in self.languages[t.name]
                         for split in self.request.splits if t.spec.has_split(split, lang)]
                for t in self.targets}
        todo = {name: [c for c in cells if c[2] not in done or (self.request.log_samples and not
                                                              self._samples_path(name, c[0], c[1]).exists())]
                for name, cells in plan.items()}
        for cells in plan.values():
            for cell in cells:
                if cell[2] in done:
                    summary.results.append(done[cell[2]])
                    summary.skipped += 1
        if summary.skipped:
            self.log(f"{summary.skipped} result(s) already in {summary.results_file}: not recomputed")
        check_sources(self.plugins, self.needed_reads(todo), self.request.data, self.registry.data_dir)
        distributed.barrier()   # every process has read what is done before the main one writes
        writer: Any = ResultsWriter(summary.results_file) if self.main else _NoWriter()
        try:
            computing = any(cell[2] not in done for cells in todo.values() for cell in cells)
            if computing:
                self._write(writer, self._run_record(), summary)
            if any(todo.values()):
                self._compute(todo, writer, summary)
            if computing:
                self._write(writer, {"type": "run_end", "schema_version": SCHEMA_VERSION, "run_id": self.run_id,
                                     "wall_seconds": round(time.perf_counter() - start, 3),
                                     "n_results": summary.computed, "n_skipped": summary.skipped,
                                     "n_errors": len(summary.errors)}, summary)
        finally:
            writer.close()
        summary.wall_seconds = time.perf_counter() - start
        return summary

    def _compute(self, todo: dict[str, list], writer: ResultsWriter, summary: RunSummary) -> None:
        train_stats: dict[str, Any] = {}
        inter: dict[str, Any] = {"key": None, "path": None, "reused": False}
        if self.intermediate:  # baseline: each target loads the pretrained model (errors recorded there)
            try:
                _, inter = self.intermediate_model(summary, train_stats)
            except Exception as exc:  # noqa: BLE001 - every target depends on it: record and stop
                for task in self.intermediate:
                    self._error(writer, summary, task.name, None, None, "intermediate-train", exc)
                return
        start_dir = inter["path"]
        errors = len(summary.errors)
        for task in self.targets:
            cells = todo[task.name]
            if not cells:
                continue
            stats = dict(train_stats)
            try:
                model, target = self.target_model(task, start_dir, summary, stats)
            except Exception as exc:  # noqa: BLE001 - isolate the task, go on with the others
                self._error(writer, summary, task.name, None, None, "target-train", exc)
                continue
            task_errors = len(summary.errors)
            for language, split, key in cells:
                try:
                    record = self._evaluate(model, task, language, split, key, inter, target, stats)
                except Exception as exc:  # noqa: BLE001
                    self._error(writer, summary, task.name, language, split, "evaluate", exc)
                    continue
                if key in self.samples_only:
                    continue  # its result is already in the file: only the samples were missing
                self._write(writer, record, summary)
                summary.results.append(record)
                summary.computed += 1
            del model
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            # a target whose evaluation failed keeps its checkpoint until a rerun completes it
            if self.request.keep_checkpoints != "all" and target["trained"]:
                distributed.barrier()   # every process is done with it before the main one removes it
                if len(summary.errors) == task_errors:
                    self._discard(target["path"], "target")
        if self.request.keep_checkpoints == "none" and inter["path"]:
            distributed.barrier()
            if len(summary.errors) == errors:
                self._discard(inter["path"], "intermediate")

    def _evaluate(self, model, task, language, split, key, inter, target, stats) -> dict[str, Any]:
        r = self.request
        examples = load_examples(self.plugins, task, split, language, source=r.data, limit=r.limit)
        hparams = self.target_hparams[task.name]
        context = {"split": split, "load": lambda other_split: load_examples(
            self.plugins, task, other_split, language, source=r.data, limit=r.limit),
                   # for formats that cache work shared by the languages of a model (candidate embeddings)
                   "source": r.data, "model_key": target["key"], "log": self.log,
                   "cache_dir": self.out / "cache" / f"{task.name}-{target['key']}"}
        output = self.plugins.evaluate(model=model, task=task, language=language, split=split,
                                       examples=examples, hparams=hparams, context=context)
        check_eval_output(output, self.plugins.last_result("harness_evaluate"))
        self.log(f"{task.name} {language} {split}: " + ", ".join(f"{k}={v:.4g}" for k, v in output.metrics.items()
                                                               if isinstance(v, (int, float))))
        if r.log_samples and self.main:
            self._log_samples(task, language, split, examples, output)
        s = output.stats
        record = {"type": "result", "schema_version": SCHEMA_VERSION, "run_id": self.run_id, "key": key,
                  "task": task.name, "language": language, "split": split, "metrics": output.metrics,
                  "main_score": get_metric(task.spec.metric).main_score(output.metrics),
                  "options": task.spec.options,
                  "n_examples": len(examples), "model": r.model, "intermediate": [t.name for t in self.intermediate],
                  "checkpoints": {"intermediate": inter, "target": target}, "hparams": hparams.as_dict(),
                  "seed": r.seed, "data": {"source": r.data,
                                           "data_dir": str(self.registry.data_dir) if self.registry.data_dir else None,
                                           "limit": r.limit, "fraction": r.fraction, "sampling": r.sampling,
                                           "select_on": r.select_on, "read": examples.reads, **self.volume(stats)},
                  "examples_per_s": round(float(s.get("examples_per_s", 0.0)), 3),
                  "latency_p50_ms": round(float(s.get("latency_p50_ms", 0.0)), 3),
                  "latency_p95_ms": round(float(s.get("latency_p95_ms", 0.0)), 3),
                  "peak_host_mb": float(s.get("peak_host_mb", 0.0)),
                  "eval_seconds": round(float(s.get("seconds", 0.0)), 3), "train": stats, "time": utc_now()}
        record["data"].update(output.data)    # what the format reports about the examples
        if self.intermediate:
            record["intermediate_hparams"] = self.intermediate_hparams.as_dict()
        if model.provenance:
            record["model_info"] = model.provenance
        if "peak_gpu_mb" in s:
            record["peak_gpu_mb"] = float(s["peak_gpu_mb"])
        return record

    def volume(self, stats: dict[str, Any]) -> dict[str, Any]:
        """Where a result lies on the data-volume axis: the data seed, the requested size per
        intermediate task (null: a fraction or all of it), the unique examples it trained on ({} for
        the baseline: N = 0), stratification and the budget (mode and the steps taken)."""
        r = self.request
        steps = (stats.get("intermediate") or {}).get("steps")
        return {"data_seed": r.data_seed, "size": {t.name: r.size.get(t.name) for t in self.intermediate},
                "intermediate_examples": dict(self.intermediate_counts), "stratify": r.stratify,
                "budget": {"mode": r.budget, "steps": steps if self.intermediate else None}}

    def _log_samples(self, task, language, split, examples, output) -> None:
        by_id = {e["id"]: e for e in examples}
        rows = []
        for index, (ident, prediction) in enumerate(zip(output.ids, output.predictions)):
            example = by_id.get(ident, {"id": ident})
            inputs = {k: v for k, v in example.items() if k not in ("label", "tags", "answers", "relevant")}
            digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
                                    .encode("utf-8")).hexdigest()
            rows.append({"id": ident, "input_hash": digest, "prediction": prediction,
                         "gold": output.golds[index] if index < len(output.golds) else None})
        write_jsonl_atomic(self._samples_path(task.name, language, split), rows)

    def _samples_path(self, task_name: str, language: str, split: str) -> Path:
        """Where --log-samples writes a cell; the names are checked, so it cannot leave the output dir."""
        return inside(self.out, self.out / "samples" / self.config_label / task_name / f"{split}-{language}.jsonl")

    # -- records ----------------------------------------------------------------------------------
    def _write(self, writer: ResultsWriter, record: dict[str, Any], summary: RunSummary) -> None:
        if not self.main:
            return   # records are written once, by the main process
        writer.write(record)
        for problem in self.plugins.result_written(record):
            self.log(f"[warning] harness_result_written of plugin {problem}")

    def _error(self, writer, summary, task, language, split, phase, exc) -> None:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) or (isinstance(exc, OSError) and storage_error(exc)):
            raise exc
        record = {"type": "error", "schema_version": SCHEMA_VERSION, "run_id": self.run_id, "task": task,
                  "language": language, "split": split, "phase": phase, "error_type": type(exc).__name__,
                  "message": one_line(exc), "model": self.request.model,
                  "intermediate": [t.name for t in self.intermediate], "seed": self.request.seed,
                  "time": utc_now()}
        if not isinstance(exc, HarnessError):
            record["traceback"] = traceback.format_exc(limit=-8)
        plugin = getattr(exc, "harness_plugin", None)
        if plugin:
            record["plugin"] = plugin
        self.log(f"[error] {task} {language or ''} {split or ''} {phase}: {record['message']}"
                 + (f" (plugin '{plugin}')" if plugin else ""))
        self._write(writer, record, summary)
        summary.errors.append(record)

    def _run_record(self) -> dict[str, Any]:
        r = self.request
        datasets = {}
        for task in [*self.intermediate, *self.targets]:
            spec = task.spec
            datasets[task.name] = {"hub": asdict(spec.hub) if spec.hub else None,
                                   "hub_overrides": {lang: asdict(h) for lang, h in spec.hub_overrides.items()},
                                   "local": str(spec.local) if spec.local else None,
                                   "samples": str(spec.samples) if spec.samples else None,
                                   "train_task": spec.train_task, "spec_file": spec.source_file}
        model_info = {"spec": r.model, "source": self.model_source, "revision": r.revision}
        return {"type": "run", "schema_version": SCHEMA_VERSION, "run_id": self.run_id, "started": utc_now(),
                "command": " ".join(shlex.quote(a) for a in sys.argv), "harness": harness_info(),
                "versions": library_versions(),
                "plugins": [{"name": i.name, "source": i.source, "origin": i.origin, "distribution": i.distribution,
                             "version": i.version} for i in self.plugins.registered()],
                "model": model_info, "device": device_info(self.device), "seed": r.seed,
                "config": {"preset": r.preset, "intermediate": r.intermediate, "targets": r.targets,
                           "languages": self.languages, "splits": r.splits, "data": r.data, "limit": r.limit,
                           "data_dir": str(self.registry.data_dir) if self.registry.data_dir else None,
                           "select_on": r.select_on, "select_every": r.select_every, "fraction": r.fraction, "sampling": r.sampling, "overwrite": r.overwrite,
                           "size": r.size, "data_seed": r.data_seed, "stratify": r.stratify,
                           "budget": {"mode": r.budget, "steps": r.budget_steps},
                           "keep_head": r.keep_head, "keep_checkpoints": r.keep_checkpoints,
                           "whole_target_checkpoints": r.whole_targets, "intermediate_key": self.intermediate_key(),
                           "multimodal": self.intermediate_examples[1] or None,
                           "target_hparams": {k: v.as_dict() for k, v in self.target_hparams.items()},
                           "intermediate_hparams": self.intermediate_hparams.as_dict() if self.intermediate else None},
                "datasets": datasets}
