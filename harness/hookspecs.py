"""Every hook of the harness, grouped by lifecycle. Read this file to understand the whole run.

    registration:  harness_register_formats, harness_register_metrics, harness_register_tasks,
                   harness_register_models, harness_register_commands, harness_register_suites,
                   harness_register_aliases
    phase 0 data:   harness_load_rows
    phase 1 model:  harness_load_model
    phase 2:        harness_intermediate_train   (0..n English tasks, optionally multi-task)
    phase 3:        harness_target_train         (English data of one target)
    phase 4:        harness_evaluate             (one target, one language, one split, zero-shot)
    results:        harness_result_written

Rules (pluggy's): hooks take keyword arguments only, so a spec can grow without breaking plugins;
an implementation may accept any subset of the arguments. ``firstresult`` hooks stop at the first
implementation that returns something other than None; the built-in implementation is registered
with ``trylast=True`` so that any plugin can take over a phase by returning a value.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click
    import torch

    from harness.engine.modeling import LoadedModel
    from harness.engine.training import Reporter
    from harness.formats.base import EvalOutput
    from harness.metrics.metric import Metric
    from harness.spec.hparams import Hyperparams
    from harness.spec.suites import Suite
    from harness.spec.tasks import Task

    Row = tuple[str, int, dict[str, Any]]

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------
# Registration: called once, right after all plugins are registered.
# --------------------------------------------------------------------------------------------

@hookspec
def harness_register_formats(register: Callable[..., Any]) -> None:
    """Declare task formats. Called once per plugin manager, for every plugin, before tasks.

    ``register(name, factory, options=None, description="")``: ``factory()`` returns the
    :class:`harness.formats.base.Format` and is called on first use only (so listing tasks imports no
    torch); ``options`` maps each option the format reads from a task's tasks.yaml ``options`` to
    ``(type, default, doc)``: any other key is an error naming the file and key path.
    Returns nothing.
    """


@hookspec
def harness_register_metrics(register: Callable[["Metric"], Any]) -> None:
    """Declare metrics (the names tasks.yaml ``metric`` may take). Called once per plugin manager,
    for every plugin, before tasks.

    ``register(metric)`` takes a :class:`harness.metrics.Metric`: its scorer, the name of its
    primary value, its scale (1 for fractions, 100 for percentages) and whether higher is better.
    Every result record names the primary value of its task's metric (``main_score``).
    Returns nothing.
    """


@hookspec
def harness_register_tasks(register: Callable[["Task"], Any]) -> None:
    """Declare tasks. Called once per plugin manager, for every plugin.

    ``register(task)`` takes an instance of a :class:`harness.spec.tasks.Task` subclass (``name`` and
    ``format`` set). Its spec comes from tasks.yaml (or ``--tasks-file``) when an entry of that name
    exists, else from the task's ``default_spec`` (tasks.yaml schema, validated the same way).
    One plugin may call ``register`` any number of times. Returns nothing.
    """


@hookspec
def harness_register_models(register: Callable[..., Any]) -> None:
    """Declare model aliases. Called once per plugin manager, for every plugin.

    ``register(alias, resolve, description="")``: ``resolve()`` returns a hub id or local path.
    Called lazily, only when the alias is used. Returns nothing.
    """


@hookspec
def harness_register_commands(cli: "click.Group") -> None:
    """Add subcommands to the ``harness`` click group. Called once, when the CLI starts.

    ``cli`` is the :class:`click.Group`; call ``cli.command()`` / ``cli.add_command``. Returns nothing.
    """


@hookspec
def harness_register_suites(register: Callable[["Suite"], Any]) -> None:
    """Declare benchmark suites: named groups of tasks that a leaderboard averages (``harness report
    --suite``). Called when a command needs them (``report``), for every plugin.

    ``register(suite)`` takes a :class:`harness.spec.suites.Suite`: its name, its column groups
    (group name -> task names, in display order) and a description. Returns nothing.
    """


@hookspec
def harness_register_aliases(register: Callable[[str, str], Any]) -> None:
    """Declare public names that moved, so that old imports keep working with a DeprecationWarning
    naming the new home (see :mod:`harness.aliases`). Called on the first access of a name that a
    module of the core no longer has.

    ``register(old, new)``: ``old`` a dotted name (``harness.metrics.some_scorer``) or a module that
    moved as a whole (``harness.some_module``); ``new`` is ``"module:attribute"`` or, for a module, the
    new module's path. Returns nothing.
    """


# --------------------------------------------------------------------------------------------
# Phase 0: data.
# --------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def harness_load_rows(task: "Task", split: str, language: str, source: str) -> "Iterable[Row] | None":
    """Return the raw rows of one (task, split, language), or None to let the next plugin try.

    Called once per (task, split, language) the pipeline reads. ``source`` is ``"samples"`` (the
    bundled samples), ``"local"`` (the user's directory), ``"hub"`` or ``"auto"`` (local when the
    directory has the file, else hub; see ``Task.source_for``). Must return an iterable of
    ``(where, row_number, row_dict)``; ``where`` names the file (a path, or a
    :class:`harness.spec.tasks.HubOrigin`) for error messages and the results' record of what was read.
    First non-None result wins; the built-in reads ``<dir>/<split>-<lang>.jsonl`` or the hub.
    """


# --------------------------------------------------------------------------------------------
# Phase 1: the pretrained encoder.
# --------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def harness_load_model(model: str, device: "torch.device", revision: str | None) -> "LoadedModel | None":
    """Return a :class:`harness.engine.modeling.LoadedModel` for the model spec ``model``.

    Called for the pretrained model before training, and again for each saved checkpoint that is
    reloaded (then ``model`` is the checkpoint's ``encoder/`` directory). ``model`` is a hub id or
    a local directory (aliases are already resolved by the core); ``revision`` a hub revision or
    None; ``device`` a :class:`torch.device`. First non-None result wins; the built-in
    loads ``transformers.AutoModel``/``AutoTokenizer``.
    """


# --------------------------------------------------------------------------------------------
# Phase 2: intermediate training (English).
# --------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def harness_intermediate_train(model: "LoadedModel", tasks: "list[Task]", examples: dict[str, list[dict[str, Any]]],
                               hparams: "Hyperparams", sampling: dict[str, Any], seed: int, log: "Reporter",
                               state: dict[str, Any], steps: int | None) -> dict[str, Any] | None:
    """Train ``model.encoder`` on one or several English intermediate tasks, in place.

    Called at most once per distinct intermediate configuration (the result is saved and reused
    for every target). ``model`` is a :class:`harness.engine.modeling.LoadedModel`, ``tasks`` a list of
    Task, ``examples`` maps task name -> list of training examples, ``hparams`` a
    :class:`harness.spec.hparams.Hyperparams`, ``sampling`` a dict (``temperature``, ``cap``) for
    multi-task mixing, ``seed`` the random seed, ``log`` a :class:`harness.engine.training.Reporter`
    (progress sink: ``start(description, total)``, ``advance(steps, **fields)``, ``finish()``),
    ``state`` a dict (``state_dir``, ``save_every_s``) telling where to save and find mid-phase
    training state, so that a killed run resumes inside the phase (ignore it to restart phases).
    ``steps`` is None (train ``hparams.epochs`` epochs) or, under ``--budget steps``, the exact
    number of training steps (batches) whatever the data size (small subsets repeat their data).
    Must return a dict of training statistics (steps, seconds, final loss, examples/s).
    First non-None result wins; the built-in trains one head per task with AdamW via accelerate.
    """


# --------------------------------------------------------------------------------------------
# Phase 3: target training (English data of one target).
# --------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def harness_target_train(model: "LoadedModel", task: "Task", examples: list[dict[str, Any]], hparams: "Hyperparams",
                         seed: int, log: "Reporter", state: dict[str, Any],
                         select: dict[str, Any] | None) -> dict[str, Any] | None:
    """Fine-tune ``model`` (encoder + a fresh or carried-over head for ``task``) on ``examples``.

    Called once per (encoder checkpoint, target, hyperparameters, seed); skipped for formats
    that need no training (retrieval) and when the target checkpoint exists. ``examples`` are the
    English training examples (of ``train_task`` when the target declares one), ``hparams`` a
    :class:`harness.spec.hparams.Hyperparams`, ``seed`` the random seed, ``log`` a Reporter, ``state``
    the mid-phase resume settings (as for intermediate training). ``select`` is None, or model
    selection (``--select-on en-dev``): a dict with ``score(model) -> float`` (higher is better),
    ``every`` (steps between evaluations, 0 = once per epoch) and ``on`` (what is scored); keep the
    weights of the best evaluation.
    Must return a dict of training statistics.
    First non-None result wins; the built-in is the same loop as intermediate training.
    """


# --------------------------------------------------------------------------------------------
# Phase 4: zero-shot evaluation.
# --------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def harness_evaluate(model: "LoadedModel", task: "Task", language: str, split: str, examples: list[dict[str, Any]],
                     hparams: "Hyperparams", context: dict[str, Any]) -> "EvalOutput | None":
    """Evaluate ``model`` on one (task, language, split); return a
    :class:`harness.formats.EvalOutput` (metrics, per-example predictions, timing/memory stats).

    Called once per language and split of every target, after target training. ``examples`` are
    the validated examples of that split, ``hparams`` the target's Hyperparams (``max_length``,
    ``eval_batch_size``, ``eval_token_budget``), ``context`` a dict of extra inputs some formats
    need: ``split``; ``load(split)`` returns another split's examples (bitext mining tunes its threshold
    on dev); ``source`` (the ``--data`` choice), ``model_key`` (content key of the evaluated model),
    ``cache_dir`` (where work shared by the languages of that model may be kept: the dual-encoder
    candidate shards) and ``log``.
    First non-None result wins; the built-in delegates to the task's format.
    """


# --------------------------------------------------------------------------------------------
# Results.
# --------------------------------------------------------------------------------------------

@hookspec
def harness_result_written(record: dict[str, Any]) -> None:
    """Observe each results record (a dict in the documented schema) right after it is written
    durably to the results JSONL. Every implementation is called; return values are ignored.
    """
