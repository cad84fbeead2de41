"""The built-in behaviour of every phase, registered like any plugin (``core.defaults``) with
``trylast=True``, so that a plugin can take over a phase by returning a value.

The engine is imported inside each hook, so loading plugins (``harness tasks``, ``--help``) does not
import torch.
"""
from __future__ import annotations

from harness.hookspecs import hookimpl


@hookimpl
def harness_register_formats(register):
    """classification, multiple_choice, tagging, qa, retrieval (imported on first use)."""
    from harness.formats.builtin import builtin_formats
    for name, (factory, options, description) in builtin_formats().items():
        register(name, factory, options=options, description=description)


@hookimpl
def harness_register_metrics(register):
    """The official-equivalent scorers of harness.metrics, with their primary value and scale."""
    from harness.metrics.builtin import builtin_metrics
    for metric in builtin_metrics():
        register(metric)


@hookimpl(trylast=True)
def harness_load_rows(task, split, language, source):
    """The bundled samples, the local directory or the hub, as ``Task.source_for`` decides."""
    where = task.source_for(split, language, source)
    if where == "samples":
        return task.with_local(task.spec.samples).local_rows(split, language)
    if where == "local":
        return task.local_rows(split, language)
    return task.hub_rows(split, language)


@hookimpl(trylast=True)
def harness_load_model(model, device, revision):
    from harness.engine.modeling import load_pretrained
    return load_pretrained(model, device, revision)


@hookimpl(trylast=True)
def harness_intermediate_train(model, tasks, examples, hparams, sampling, seed, log, state, steps):
    from harness.engine.training import train_model
    return train_model(model, tasks, examples, hparams, seed, sampling, log, **(state or {}), steps=steps)


@hookimpl(trylast=True)
def harness_target_train(model, task, examples, hparams, seed, log, state, select):
    from harness.engine.training import train_model
    return train_model(model, [task], {task.name: examples}, hparams, seed, None, log, **(state or {}),
                       select=select)


@hookimpl(trylast=True)
def harness_evaluate(model, task, language, split, examples, hparams, context):
    from harness.formats import get_format
    return get_format(task.format).evaluate(model, task, examples, language, hparams, **(context or {}))
