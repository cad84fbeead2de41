"""The resolved run plan: what a :class:`~harness.run.request.RunRequest` asks for, checked and
resolved once against the registry, before any work, into a frozen :class:`RunPlan`.

Every name is resolved here (unknown names fail fast, nothing half-done); the plan's tasks are
views (copies) of the registry's, never the registry's own: a run that reads the bundled samples
(``--data samples``) gets tasks whose local directory is the samples, and the registry's tasks stay
as loaded. Nothing mutates a task spec after load.
"""
from __future__ import annotations

import copy
import hashlib
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.files import safe_name
from harness.formats import get_format
from harness.metrics import get_metric
from harness.run.data import training_task
from harness.run.modality import ModalityDropout
from harness.run.request import RunRequest
from harness.spec.config import KEEP_CHECKPOINTS, SELECT_ON
from harness.spec.hparams import Hyperparams
from harness.spec.hub import model_identity
from harness.spec.registry import Registry

OVERWRITE_MODES = ("never", "only-missing", "always")


def code_hash(obj: Any) -> str | None:
    """A hash of the source files that define ``obj`` (a class, function or instance): for a class,
    the module of every class in its MRO (a format's base classes, a task's adapter); for a
    function (a metric's scorer), its module and those of the functions it calls by name. Only
    modules of the harness, the built-in plugins and ``obj``'s own package count (libraries are
    versioned in the records); None when there is no source file."""
    obj = getattr(obj, "func", obj)   # a functools.partial: the function it wraps
    own = (getattr(obj, "__module__", None) or type(obj).__module__ or "").split(".")[0]
    packages = {own, "harness", "harness_plugins"}
    items: list[Any] = list(obj.__mro__) if isinstance(obj, type) else [obj]
    code = getattr(obj, "__code__", None)
    if code is not None:   # what a function calls by name: the helpers that compute the number
        items += [ref for name in code.co_names if callable(ref := getattr(obj, "__globals__", {}).get(name))]
    files: set[Path] = set()
    for item in items:
        module = sys.modules.get(getattr(item, "__module__", None) or "")
        path = Path(getattr(module, "__file__", None) or "")
        if module is not None and module.__name__.split(".")[0] in packages and path.is_file():
            files.add(path)
    if not files:
        return None
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def task_inputs(task, plugins) -> dict[str, Any]:
    """What of a task, besides its data, can change a trained model: its plugin's version and code (a
    hash of the module's source), its format and the format's code, metric, options, labels and splits.
    (The metric's code changes scores only: it is in the result keys, :func:`metric_inputs`.)"""
    info = plugins.infos.get(task.spec.plugin)
    spec = task.spec
    return {"plugin": spec.plugin, "version": info.version if info else None, "code": code_hash(type(task)),
            "format": task.format, "format_code": code_hash(type(get_format(task.format))),
            "metric": spec.metric, "options": spec.options, "labels": spec.labels, "splits": spec.splits,
            "train_language": spec.train_language}


def metric_inputs(task) -> dict[str, Any]:
    """What of a task's metric can change a score: its name and the code of its scorer."""
    metric = get_metric(task.spec.metric)
    return {"metric": metric.name, "code": code_hash(metric.scorer)}


def with_options(task, options: dict[str, Any] | None):
    """The task with a copy of its spec whose format options are updated (the registry's stays)."""
    if not options:
        return task
    task = copy.copy(task)
    task.spec = replace(task.spec, options={**task.spec.options, **options})
    return task


@dataclass(frozen=True)
class RunPlan:
    """One run, resolved: its tasks (views of the registry's), languages, hyperparameters, data
    source and directory, the task inputs its content keys hold, and where it writes."""

    request: RunRequest
    intermediate: tuple[Any, ...]
    targets: tuple[Any, ...]
    languages: dict[str, list[str]]             # target -> languages evaluated
    trains_on: dict[str, Any]                   # target -> the task whose English training data it trains on
    target_hparams: dict[str, Hyperparams]
    intermediate_hparams: Hyperparams
    task_inputs: dict[str, dict[str, Any]]      # fixed before anything is read (reading may fill in labels)
    scoring: dict[str, dict[str, Any]]          # target or its training task -> metric_inputs (result keys)
    model_source: str
    model_identity: dict[str, Any]              # the model's files (a path) or commit (a hub id): in every key
    data_source: str                            # --data: auto | hub | local | samples
    data_dir: Path | None
    output_dir: Path
    dropout: ModalityDropout

    @property
    def intermediate_names(self) -> list[str]:
        return [t.name for t in self.intermediate]

    def tasks(self) -> list[Any]:
        """Every task the run may read: intermediate, targets and the tasks the targets train on."""
        return [*self.intermediate, *self.targets, *self.trains_on.values()]


def resolve_plan(registry: Registry, request: RunRequest) -> RunPlan:
    """Check ``request`` against ``registry`` and resolve it into a :class:`RunPlan` (a one-line
    :class:`HarnessError` for the first problem)."""
    if request.overwrite not in OVERWRITE_MODES:
        raise HarnessError(f"--overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    targets = [with_options(registry.task(name), request.task_options.get(name)) for name in request.targets]
    intermediate = [registry.task(name) for name in request.intermediate]
    for task in intermediate:
        if task.spec.kind != "intermediate":
            raise HarnessError(f"task '{task.name}' is a {task.spec.kind} task, not an intermediate task")
        if not get_format(task.format).trainable:
            raise HarnessError(f"task '{task.name}' has no training data and cannot be an intermediate task")
    for task in targets:
        if task.spec.kind != "target":
            raise HarnessError(f"task '{task.name}' is an intermediate task; use it with --intermediate")
    for name in request.languages:
        if name not in request.targets:
            raise HarnessError(f"languages given for '{name}', which is not among the targets")
    for name in request.task_options:
        if name not in request.targets:
            raise HarnessError(f"options given for '{name}', which is not among the targets")
    languages = {t.name: registry.check_languages(t, request.languages.get(t.name) or t.languages())
                 for t in targets}
    for task in [*targets, *intermediate]:  # these names become file names
        safe_name(task.name, "task name")
        for language in languages.get(task.name, []):
            safe_name(language, f"language of task '{task.name}'")
    for split in request.splits:
        if split not in ("dev", "test"):
            raise HarnessError(f"unknown split '{split}' (expected dev or test)")
    for task in targets:  # a split may exist for some languages only (split_languages)
        if not any(task.spec.has_split(s, lang) for s in request.splits for lang in languages[task.name]):
            raise HarnessError(f"task '{task.name}' has no {'/'.join(request.splits)} split for "
                               f"{', '.join(languages[task.name])}")
    for option, names in (("--intermediate-fraction", request.fraction), ("--intermediate-size", request.size)):
        for name in names:
            if name not in request.intermediate:
                raise HarnessError(f"{option} names '{name}', which is not an intermediate task")
    model_source = registry.resolve_model(request.model, request.revision)
    target_hparams = {t.name: Hyperparams().merged(t.spec.hparams).merged(request.hparams, "--hparam")
                      .merged(request.task_hparams.get(t.name), f"task_hparams.{t.name}")
                      for t in targets}
    base = Hyperparams()
    for task in intermediate:
        base = base.merged(task.spec.hparams)
    base = base.merged(request.intermediate_hparams or request.hparams, "--hparam")
    for task in intermediate:
        base = base.merged(request.task_hparams.get(task.name), f"task_hparams.{task.name}")
    if request.keep_checkpoints not in KEEP_CHECKPOINTS:
        raise HarnessError(f"--keep-checkpoints must be one of {', '.join(KEEP_CHECKPOINTS)}; "
                           f"got '{request.keep_checkpoints}'")
    if request.select_on not in SELECT_ON:
        raise HarnessError(f"--select-on must be one of {', '.join(SELECT_ON)}; got '{request.select_on}'")
    trains_on = {t.name: training_task(t, registry.tasks) for t in targets}
    if request.data == "samples":   # the samples are this run's local data (CCG computes its labels from it)
        views: dict[int, Any] = {}

        def view(task):   # one view per task object: a target that trains on itself stays one task
            if id(task) not in views:
                views[id(task)] = task.with_local(task.spec.samples)
            return views[id(task)]

        trains_on = {name: view(task) for name, task in trains_on.items()}
        targets, intermediate = [view(t) for t in targets], [view(t) for t in intermediate]
    inputs = {t.name: task_inputs(t, registry.plugins) for t in [*intermediate, *targets, *trains_on.values()]}
    scoring = {t.name: metric_inputs(t) for t in [*targets, *trains_on.values()]}
    return RunPlan(request=request, intermediate=tuple(intermediate), targets=tuple(targets), languages=languages,
                   trains_on=trains_on, target_hparams=target_hparams, intermediate_hparams=base,
                   task_inputs=inputs, scoring=scoring, model_source=model_source,
                   model_identity=model_identity(model_source, request.revision), data_source=request.data,
                   data_dir=registry.data_dir, output_dir=Path(request.output_dir),
                   dropout=ModalityDropout.parse(request.modality_dropout))
