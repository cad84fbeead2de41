"""The three-phase pipeline: load model -> intermediate training -> target training -> evaluation.

A :class:`Pipeline` runs one resolved :class:`~harness.run.plan.RunPlan`. Checkpoints are keyed by
the content of their configuration (:mod:`harness.run.checkpoints`), so a rerun (or another target,
or another grid cell) reuses what exists; results are keyed the same way, so a rerun after a kill
computes only the missing (task, language, split) cells. ``--overwrite`` is about results only:
``always`` re-evaluates every cell (appending new records) but still reuses saved checkpoints. The
records it writes are built in :mod:`harness.run.records`.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import shlex
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from harness.run.data import Examples, check_sources, load_examples
from harness.run.request import RunRequest
from harness.run.modality import drop_contaminated, drop_modalities, image_keys
from harness.errors import HarnessError, Interrupted, PluginError
from harness.files import inside, safe_name, storage_error
from harness.formats import get_format
from harness.metrics.registry import get_metric
from harness.engine.modeling import LoadedModel, encoder_source, load_head_state, reference_problem
from harness.spec.hub import hub_offline
from harness.spec.registry import Registry
from harness.results.records import (LOCKS_DIR, RESULTS_FILE, SCHEMA_VERSION, SHARDS_DIR, ResultsWriter, cell_lock,
                                     output_lock, read_records, write_jsonl_atomic)
from harness.engine import distributed
from harness.engine.training import Reporter, Stop, budget_steps, stop_on_signals
from harness.run.checkpoints import Checkpoints, read_meta
from harness.run.leftovers import PARTIAL, find_leftovers, remove
from harness.run.provenance import content_key
from harness.run.plan import OVERWRITE_MODES, RunPlan, resolve_plan, task_inputs
from harness.run.records import error_record, one_line, result_record, run_end_record, run_record, utc_now, volume

__all__ = ["OVERWRITE_MODES", "SCHEMA_VERSION", "Pipeline", "RunSummary", "check_eval_output", "one_line",
           "pick_device", "task_inputs", "utc_now"]


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


def _note_reads(train_stats: dict[str, Any], phase: str, reads: Any) -> None:
    """``train.data.<phase>``: what a training phase read (a copy: targets share the intermediate's)."""
    train_stats["data"] = {**train_stats.get("data", {}), phase: reads}


class _NoWriter:
    """What a process other than the main one writes records to: nothing."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class Pipeline:
    """Runs one :class:`RunPlan`, resolved from ``request`` when none is given.

    ``shard``: write the results to ``<output dir>/shards/<shard>.jsonl`` under that cell's lock
    (``locks/<shard>.lock``, waited for when another runner holds it) instead of ``results.jsonl``
    under the directory's lock, so runners of other cells (other jobs, other nodes) go on."""

    def __init__(self, registry: Registry, request: RunRequest, reporter: Reporter | None = None,
                 log: Callable[[str], None] | None = None, shard: str | None = None, plan: RunPlan | None = None):
        self.plan = plan if plan is not None else resolve_plan(registry, request)  # every name, before any work
        self.registry, self.request = registry, self.plan.request
        self.plugins = registry.plugins
        self.plugins.timeout_s = self.request.hook_timeout_s
        self.reporter = reporter or Reporter()
        self.log = log or (lambda message: None)
        self.reporter.log = self.log
        self.device = pick_device(self.request.device)
        self.out = self.plan.output_dir
        self.shard = safe_name(shard, "results shard") if shard is not None else None
        self.checkpoints = Checkpoints(self.plan, lambda: self.target_test_images, log=self.log)
        self.intermediate_counts: dict[str, int] = {}   # unique examples per intermediate task (once trained)
        self.run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"

    # -- the plan's parts, under their former names --------------------------------------------------
    @property
    def main(self) -> bool:
        """Whether this is the process that locks and writes (run() asks the launcher)."""
        return self.checkpoints.main

    @main.setter
    def main(self, value: bool) -> None:
        self.checkpoints.main = value

    @property
    def targets(self) -> list[Any]:
        return list(self.plan.targets)

    @property
    def intermediate(self) -> list[Any]:
        return list(self.plan.intermediate)

    @property
    def languages(self) -> dict[str, list[str]]:
        return self.plan.languages

    @property
    def target_hparams(self):
        return self.plan.target_hparams

    @property
    def intermediate_hparams(self):
        return self.plan.intermediate_hparams

    @property
    def trains_on(self) -> dict[str, Any]:
        return self.plan.trains_on

    @property
    def model_source(self) -> str:
        return self.plan.model_source

    @property
    def dropout(self):
        return self.plan.dropout

    def intermediate_key(self) -> str | None:
        return self.checkpoints.intermediate_key()

    def target_key(self, task) -> str:
        return self.checkpoints.target_key(task)

    def cell_key(self, task, language: str, split: str) -> str:
        return self.checkpoints.cell_key(task, language, split)

    _reference_problem = staticmethod(reference_problem)

    @property
    def config_label(self) -> str:
        """Folder name of this configuration's --log-samples files: the intermediate key (which holds
        the seed) or, for the baseline, a key of the model and the seed, so seeds never overwrite."""
        names = "+".join(t.name for t in self.plan.intermediate) or "baseline"
        key = self.intermediate_key() or content_key({"m": self.request.model, "r": self.request.revision,
                                                      "seed": self.request.seed}, 8)
        return f"{names}-{key}"[:80]

    # -- model states ---------------------------------------------------------------------------
    def _load(self, source: str, revision: str | None = None) -> LoadedModel:
        model = self.plugins.load_model(model=source, device=self.device, revision=revision or self.request.revision)
        if model is None:
            raise HarnessError(f"no plugin could load model '{self.request.model}'")
        return model

    def _from_checkpoint(self, directory: Path, heads: dict[str, Any], meta: dict[str, Any] | None = None
                         ) -> LoadedModel:
        """A saved encoder with the given tasks' heads; provenance is the base model's. A checkpoint
        saved as heads only takes its encoder from where ``encoder-ref.json`` points."""
        model = self._load(*(encoder_source(directory) or (str(directory / "encoder"), None)))
        meta = meta if meta is not None else read_meta(directory)
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
        return self._from_checkpoint(Path(start_dir), {}) if start_dir else self._load(self.plan.model_source)

    def _reused(self, directory: Path, phase: str, meta: dict[str, Any], summary: RunSummary,
                train_stats: dict[str, Any], note: str = "") -> None:
        """A saved checkpoint is reused: its training statistics carry over."""
        self.log(f"reusing {phase} checkpoint {directory}{note}")
        summary.reused_checkpoints.append(str(directory))
        train_stats[phase] = meta.get("train")
        _note_reads(train_stats, phase, meta.get("data"))

    # -- phase 1: intermediate training ------------------------------------------------------------
    def intermediate_phase(self, summary: RunSummary, train_stats: dict[str, Any]) -> dict[str, Any]:
        """The intermediate checkpoint (trained once, then reused from disk: reusing it reads its
        meta file and loads no model): its key, path and whether it was reused."""
        key = self.intermediate_key()
        if key is None:
            return {"key": None, "path": None, "reused": False}
        directory = self.checkpoints.directory(None)
        meta = self.checkpoints.reusable(directory, "intermediate")
        if meta is not None and not meta.get("files"):
            # a save from before checksums may be truncated: only loading it tells
            try:
                self._from_checkpoint(directory, {}, meta)
            except Exception as exc:  # noqa: BLE001
                self.checkpoints.set_aside(directory, "intermediate",
                                           f"cannot be loaded ({type(exc).__name__}: {one_line(exc)[:200]})")
                meta = None
        if meta is not None:
            self._reused(directory, "intermediate", meta, summary, train_stats,
                         f" ({'+'.join(t.name for t in self.plan.intermediate)})")
            trained = train_stats.get("intermediate") or {}
            self.intermediate_counts = dict(meta.get("examples") or trained.get("unique_examples")
                                            or trained.get("task_sizes") or {})
            return {"key": key, "path": str(directory), "reused": True}
        model = self._load(self.plan.model_source)
        examples, multimodal = self.intermediate_examples
        reads = {name: e.reads for name, e in examples.items()}
        self.intermediate_counts = {name: len(e) for name, e in examples.items()}
        steps = self.step_budget(examples)
        self.log(f"intermediate training on {', '.join(f'{n} ({len(e)} examples)' for n, e in examples.items())}"
                 + (f" for {steps} steps (--budget steps)" if steps is not None else ""))
        stats = self.plugins.intermediate_train(model=model, tasks=self.intermediate, examples=examples,
                                                hparams=self.plan.intermediate_hparams, sampling=self.request.sampling,
                                                seed=self.request.seed, log=self.reporter,
                                                state=self.checkpoints.train_state(directory), steps=steps)
        if steps is not None and stats.get("steps") != steps:
            self.log(f"[warning] --budget steps asked for {steps} training steps; harness_intermediate_train "
                     f"of plugin '{self.plugins.last_result('harness_intermediate_train')}' reports {stats.get('steps')}")
        train_stats["intermediate"] = stats = {**stats, **multimodal}
        _note_reads(train_stats, "intermediate", reads)
        self.checkpoints.save(model, directory, tuple(t.name for t in self.plan.intermediate),
                              {"kind": "intermediate", "key": key, "train": stats, "data": reads,
                               "tasks": [t.name for t in self.plan.intermediate], "examples": self.intermediate_counts})
        self.log(f"saved intermediate checkpoint {directory}")
        return {"key": key, "path": str(directory), "reused": False}

    def step_budget(self, examples: dict[str, Examples]) -> int | None:
        """--budget steps: the steps of --budget-steps, or those of the full-data run with the same
        hyperparameters (each task's examples before the subset, under --limit); None: epochs decide."""
        r = self.request
        if r.budget != "steps":
            return None
        if r.budget_steps is not None:
            return r.budget_steps
        if not any(t.name in r.size or r.fraction.get(t.name, 1.0) < 1.0 for t in self.plan.intermediate):
            return None   # the full data: the same steps as the epoch budget (and the same checkpoint)
        full = {t.name: min(examples[t.name].available, r.limit) if r.limit and t.limit_rows
                else examples[t.name].available for t in self.plan.intermediate}
        hparams = self.plan.intermediate_hparams
        return budget_steps(full, hparams.batch_size, hparams.epochs, r.sampling.get("cap"))

    # -- multimodal: modality dropout and the contamination check (run/modality.py) ----------------
    @functools.cached_property
    def intermediate_examples(self) -> tuple[dict[str, Examples], dict[str, Any]]:
        """The intermediate training examples, without target test images (``--contamination drop``)
        and after modality dropout; plus what was dropped (empty for text-only intermediate tasks)."""
        r, report, dropout = self.request, {}, self.plan.dropout
        examples: dict[str, Examples] = {}
        for task in self.plan.intermediate:
            examples[task.name] = load_examples(self.plugins, task, "train", task.spec.train_language, source=r.data,
                                                limit=r.limit, fraction=r.fraction.get(task.name, 1.0),
                                                size=r.size.get(task.name), data_seed=r.data_seed,
                                                stratify=r.stratify)
            if task.spec.modality == "image_text":
                kept, dropped = drop_contaminated(examples[task.name], self.target_test_images)
                kept, counts = drop_modalities(kept, dropout, r.seed, task.name)
                examples[task.name] = Examples(kept, reads=examples[task.name].reads,
                                               available=examples[task.name].available)
                report[task.name] = {"contaminated_dropped": dropped, **counts}
        if not report:
            return examples, {}
        return examples, {"modality_dropout": dropout.as_dict(), "contamination": {
            "policy": r.contamination, "target_test_images": len(self.target_test_images),
            "dropped": sum(v["contaminated_dropped"] for v in report.values())}, "multimodal_tasks": report}

    @functools.cached_property
    def target_test_images(self) -> set[str]:
        """Pixel hashes of the evaluated images of image-text targets, when image-text intermediate
        training must not see them; a split that cannot be read is left to its evaluation error."""
        keys: set[str] = set()
        plan = self.plan
        if self.request.contamination != "drop" or not any(t.spec.modality == "image_text" for t in plan.intermediate):
            return keys
        for task in (t for t in plan.targets if t.spec.modality == "image_text"):
            for language in plan.languages[task.name]:
                for split in self.request.splits:
                    try:
                        keys |= image_keys(load_examples(self.plugins, task, split, language,
                                                         source=self.request.data, limit=self.request.limit))
                    except HarnessError:
                        continue
        return keys

    # -- phase 2: target training ------------------------------------------------------------------
    def target_model(self, task, start_dir: str | None, summary: RunSummary,
                     train_stats: dict[str, Any]) -> tuple[LoadedModel, dict]:
        """The model a target is evaluated with: its checkpoint (trained once, then reused from
        disk), or the start model for a format that does not train."""
        fmt = get_format(task.format)
        key = self.target_key(task)
        if not fmt.trainable:
            return self._start_model(start_dir), {"key": key, "path": start_dir, "reused": start_dir is not None, "trained": False}
        directory = self.checkpoints.directory(task)
        meta = self.checkpoints.reusable(directory, "target")
        if meta is not None:
            try:
                model = self._from_checkpoint(directory, {task.name: task}, meta)
            except Exception as exc:  # noqa: BLE001 - a save from before checksums may be truncated
                if meta.get("files"):
                    raise  # its files are verified intact: the failure is not theirs
                self.checkpoints.set_aside(directory, "target",
                                           f"cannot be loaded ({type(exc).__name__}: {one_line(exc)[:200]})")
            else:
                self._reused(directory, "target", meta, summary, train_stats)
                return model, {"key": key, "path": str(directory), "reused": True, "trained": True}
        model = self._start_model(start_dir)
        if self.request.keep_head and start_dir:
            self._carry_head(model, task, Path(start_dir))
        source_task = self.plan.trains_on[task.name]
        examples = load_examples(self.plugins, source_task, "train", source_task.spec.train_language,
                                 source=self.request.data, limit=self.request.limit)
        self.log(f"target training {task.name} on {len(examples)} English examples"
                 + (f" of {source_task.name}" if source_task is not task else ""))
        select = self._selection(task)
        stats = self.plugins.target_train(model=model, task=task, examples=examples,
                                          hparams=self.plan.target_hparams[task.name], seed=self.request.seed,
                                          log=self.reporter, state=self.checkpoints.train_state(directory),
                                          select=select)
        reads = {source_task.name: examples.reads, **({"select": select["data"]} if select else {})}
        train_stats["target"] = stats
        _note_reads(train_stats, "target", reads)
        self.checkpoints.save(model, directory, (task.name,), {"kind": "target", "key": key, "task": task.name,
                                                               "train": stats, "data": reads},
                              encoder=self.checkpoints.head_only_reference(task, model, start_dir))
        return model, {"key": key, "path": str(directory), "reused": False, "trained": True}

    def _selection(self, task) -> dict[str, Any] | None:
        """--select-on en-dev: score the target's primary metric on English dev during training."""
        r = self.request
        dev = self.checkpoints.selection_read(task)
        if dev is None:
            if r.select_on != "none":
                self.log(f"{task.name}: no English dev split to select on; training without model selection")
            return None
        dev_task, split, language = dev
        examples = load_examples(self.plugins, dev_task, split, language, source=r.data, limit=r.limit)
        metric, hparams = get_metric(task.spec.metric), self.plan.target_hparams[task.name]

        def score(model: LoadedModel) -> float:   # higher is better for the selection
            output = self.plugins.evaluate(model=model, task=task, language=language, split=split,
                                           examples=examples, hparams=hparams, context={"split": split})
            value = float(output.metrics[metric.primary])
            return value if metric.higher_is_better else -value

        return {"score": score, "every": r.select_every, "on": f"{dev_task.name} {split}-{language} {metric.primary}",
                "data": examples.reads}

    def _carry_head(self, model: LoadedModel, task, start_dir: Path) -> None:
        """--keep-head: start the target head from a compatible intermediate head (e.g. SQuAD -> XQuAD)."""
        fmt = get_format(task.format)
        for inter in self.plan.intermediate:
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

    def needed_reads(self, todo: dict[str, list]) -> list[tuple[Any, str, str]]:
        """Every (task, split, language) that computing ``todo`` reads (saved checkpoints are not retrained)."""
        reads: list[tuple[Any, str, str]] = []
        if not any(todo.values()):
            return reads
        plan, checkpoints = self.plan, self.checkpoints
        if plan.intermediate and not LoadedModel.is_checkpoint(checkpoints.directory(None)):
            reads += [(t, "train", t.spec.train_language) for t in plan.intermediate]
        for task in plan.targets:
            cells = todo[task.name]
            if cells and get_format(task.format).trainable and not LoadedModel.is_checkpoint(checkpoints.directory(task)):
                source = plan.trains_on[task.name]
                reads.append((source, "train", source.spec.train_language))
                selection = checkpoints.selection_read(task)
                if selection is not None:
                    reads.append(selection)
            reads += [(task, split, language) for language, split, _ in cells if split in task.spec.splits]
        return reads

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
        distributed.barrier()   # the main process has made the directory and cleared what was left
        cells, done, todo = self._pending(summary.results_file)
        self.samples_only = set(done)  # reused results; evaluated again only to write missing --log-samples
        for task_cells in cells.values():
            for cell in task_cells:
                if cell[2] in done:
                    summary.results.append(done[cell[2]])
                    summary.skipped += 1
        if summary.skipped:
            self.log(f"{summary.skipped} result(s) already in {summary.results_file}: not recomputed")
        check_sources(self.plugins, self.needed_reads(todo), self.request.data, self.registry.data_dir)
        distributed.barrier()   # every process has read what is done before the main one writes
        writer: Any = ResultsWriter(summary.results_file) if self.main else _NoWriter()
        try:
            computing = any(cell[2] not in done for task_cells in todo.values() for cell in task_cells)
            if computing:
                self._write(writer, self._run_record(), summary)
            if any(todo.values()):
                self._compute(todo, writer, summary)
            if computing:
                self._write(writer, run_end_record(self.run_id, time.perf_counter() - start, summary.computed,
                                                   summary.skipped, len(summary.errors)), summary)
        finally:
            writer.close()
        summary.wall_seconds = time.perf_counter() - start
        return summary

    def _pending(self, results_file: Path | None = None) -> tuple[dict[str, list], dict[str, Any], dict[str, list]]:
        """(every cell of each target as (language, split, key); the finished results by key; the cells
        still to compute). The results file and every shard of the directory count: a cell any
        runner finished is not redone."""
        previous = [r for r in read_records(self.out, warn=lambda m: self.log(f"[warning] {m}"))
                    if r.get("type") == "result"]
        if self.request.overwrite == "never" and previous:
            raise HarnessError(f"{results_file or self.out} already holds results and --overwrite is 'never'")
        done = {r["key"]: r for r in previous} if self.request.overwrite == "only-missing" else {}
        cells = {t.name: [(lang, split, self.cell_key(t, lang, split)) for lang in self.plan.languages[t.name]
                          for split in self.request.splits if t.spec.has_split(split, lang)]
                 for t in self.plan.targets}
        todo = {name: [c for c in task_cells if c[2] not in done or (self.request.log_samples and not
                                                                   self._samples_path(name, c[0], c[1]).exists())]
                for name, task_cells in cells.items()}
        return cells, done, todo

    def preview(self) -> dict[str, Any]:
        """What :meth:`run` would do, doing none of it (``--dry-run``): which checkpoints are present
        or would be trained, and per target how many cells are done, how many would be computed and
        how many are done but would be evaluated again for their missing ``--log-samples`` file. Reads
        the results already there and checks the local data sources it would read (hub sources only
        offline); loads no model and writes nothing. Computing the keys may read data a key depends
        on (with ``--contamination drop``, the image-text targets' test images)."""
        cells, done, todo = self._pending()
        check_sources(self.plugins, self.needed_reads(todo), self.request.data, self.registry.data_dir)
        checkpoints, targets = self.checkpoints, []
        for task in self.plan.targets:
            trainable = get_format(task.format).trainable
            directory = checkpoints.directory(task)
            # a head-only checkpoint whose encoder is gone is set aside and trained again (read from the
            # meta files; the files' checksums are checked when the run reuses it)
            saved = trainable and LoadedModel.is_checkpoint(directory) and reference_problem(directory) is None
            again = [c for c in todo[task.name] if c[2] in done]    # only their samples are missing
            targets.append({"target": task.name, "key": checkpoints.target_key(task),
                            "checkpoint": ("no training" if not trainable else "present" if saved else
                                           "to train" if todo[task.name] else "not needed"),
                            "cells": len(cells[task.name]), "done": sum(c[2] in done for c in cells[task.name]),
                            "to_compute": len(todo[task.name]) - len(again), "samples_only": len(again)})
        intermediate = None
        if self.plan.intermediate:   # the run makes it whenever anything is left to do (as _compute does)
            saved = LoadedModel.is_checkpoint(checkpoints.directory(None))
            intermediate = {"tasks": self.plan.intermediate_names, "key": checkpoints.intermediate_key(),
                            "checkpoint": "present" if saved else "to train" if any(todo.values()) else "not needed"}
        return {"output_dir": str(self.out), "model": self.request.model, "intermediate": intermediate,
                "targets": targets, "to_compute": sum(t["to_compute"] for t in targets),
                "samples_only": sum(t["samples_only"] for t in targets), "done": sum(t["done"] for t in targets),
                "hub_checked": hub_offline()}

    def _compute(self, todo: dict[str, list], writer: ResultsWriter, summary: RunSummary) -> None:
        """The three phases: the intermediate checkpoint, then per target its checkpoint and the
        evaluation of its missing cells; then what --keep-checkpoints does not keep goes."""
        train_stats: dict[str, Any] = {}
        inter: dict[str, Any] = {"key": None, "path": None, "reused": False}
        if self.plan.intermediate:  # baseline: each target loads the pretrained model (errors recorded there)
            try:
                inter = self.intermediate_phase(summary, train_stats)
            except Exception as exc:  # noqa: BLE001 - every target depends on it: record and stop
                for task in self.plan.intermediate:
                    self._error(writer, summary, task.name, None, None, "intermediate-train", exc)
                return
        errors = len(summary.errors)
        for task in self.plan.targets:
            if todo[task.name]:
                self._target(task, todo[task.name], inter, dict(train_stats), writer, summary)
        if self.request.keep_checkpoints == "none" and inter["path"]:
            distributed.barrier()
            if len(summary.errors) == errors:
                self.checkpoints.discard(inter["path"], "intermediate")

    def _target(self, task, cells: list, inter: dict[str, Any], stats: dict[str, Any], writer: ResultsWriter,
                summary: RunSummary) -> None:
        """Phases 2 and 3 for one target: its checkpoint, then each of its missing cells."""
        try:
            model, target = self.target_model(task, inter["path"], summary, stats)
        except Exception as exc:  # noqa: BLE001 - isolate the task, go on with the others
            self._error(writer, summary, task.name, None, None, "target-train", exc)
            return
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
                self.checkpoints.discard(target["path"], "target")

    # -- phase 3: evaluation -----------------------------------------------------------------------
    def _evaluate(self, model, task, language, split, key, inter, target, stats) -> dict[str, Any]:
        r = self.request
        examples = load_examples(self.plugins, task, split, language, source=r.data, limit=r.limit)
        hparams = self.plan.target_hparams[task.name]
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
        return result_record(self.plan, self.run_id, model=model, task=task, language=language, split=split,
                             key=key, examples=examples, output=output, inter=inter, target=target, stats=stats,
                             intermediate_counts=self.intermediate_counts)

    def volume(self, stats: dict[str, Any]) -> dict[str, Any]:
        """Where a result lies on the data-volume axis (see :func:`harness.run.records.volume`)."""
        return volume(self.plan, stats, self.intermediate_counts)

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
        record = error_record(self.plan, self.run_id, task, language, split, phase, exc)
        plugin = record.get("plugin")
        self.log(f"[error] {task} {language or ''} {split or ''} {phase}: {record['message']}"
                 + (f" (plugin '{plugin}')" if plugin else ""))
        self._write(writer, record, summary)
        summary.errors.append(record)

    def _run_record(self) -> dict[str, Any]:
        return run_record(self.plan, self.run_id, plugins=self.plugins, device=self.device,
                          intermediate_key=self.intermediate_key(), multimodal=self.intermediate_examples[1])
