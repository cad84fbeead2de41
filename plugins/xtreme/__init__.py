"""The XTREME / XTREME-R suite: what the leaderboards add on top of their tasks.

* metrics ``mlqa_em_f1`` (MLQA's language-aware normalisation), ``bucc_f1`` (mined pairs) and
  ``tatoeba_accuracy`` (top-1 retrieval), registered through ``harness_register_metrics``;
* the suites ``xtreme-r`` and ``xtreme`` (the leaderboards' column groups) for ``harness report --suite``;
* the commands ``harness score`` (the official ``evaluate.py``, digit for digit) and
  ``harness export-xtreme`` (a run's logged predictions in the submission layout);
* the old import paths of all this (``harness.xtreme``, ``harness.metrics.mlqa_em_f1``,
  ``harness.bucc_f1``, ...), which keep working with a DeprecationWarning.

Modules: :mod:`.tables` (the official tables), :mod:`.mlqa`, :mod:`.scoring`, :mod:`.export`,
:mod:`.commands`; :mod:`.api` gathers the public names. Importing this package imports neither torch nor click.
"""
from __future__ import annotations

from harness import Metric, hookimpl


def _metrics() -> list[Metric]:
    from harness.metrics.scorers import accuracy, pair_scores
    from harness_plugins.xtreme.mlqa import mlqa_em_f1

    return [
        Metric("mlqa_em_f1", mlqa_em_f1, "f1", 100, description="MLQA EM and F1 with language-aware normalisation"),
        Metric("bucc_f1", pair_scores, "f1", 1, description="bitext mining F1 over pairs (BUCC 2018)"),
        Metric("tatoeba_accuracy", accuracy, "accuracy", 1, description="top-1 retrieval accuracy (Tatoeba)"),
    ]


@hookimpl
def harness_register_metrics(register):
    for metric in _metrics():
        register(metric)


@hookimpl
def harness_register_suites(register):
    from harness.spec.suites import Suite
    from harness_plugins.xtreme.tables import LEADERBOARD_GROUPS

    descriptions = {"xtreme-r": "XTREME-R (Ruder et al. 2021): 10 tasks in 4 groups",
                    "xtreme": "XTREME (Hu et al. 2020): 9 tasks in 4 groups"}
    for name, groups in LEADERBOARD_GROUPS.items():
        register(Suite(name, groups, description=descriptions.get(name, "")))


@hookimpl
def harness_register_commands(cli):
    from harness_plugins.xtreme.commands import export_command, score_command

    for command in (score_command, export_command):
        if command.name not in cli.commands:
            cli.add_command(command)


#: old public name -> new home
MOVED: dict[str, str] = {
    "harness.xtreme": "harness_plugins.xtreme.api",
    "harness.bucc_f1": "harness.engine.retrieval:pair_f1",
    "harness.tatoeba_accuracy": "harness.engine.retrieval:top1_accuracy",
    "harness.engine.retrieval.bucc_f1": "harness.engine.retrieval:pair_f1",
    "harness.engine.retrieval.tatoeba_accuracy": "harness.engine.retrieval:top1_accuracy",
    **{f"{module}.{name}": f"harness_plugins.xtreme.mlqa:{name}"
       for module in ("harness.metrics", "harness.metrics.scorers")
       for name in ("mlqa_em_f1", "mlqa_exact_match", "mlqa_f1", "mlqa_mixed_segmentation",
                    "mlqa_normalize_answer", "mlqa_punct", "MLQA_WHITESPACE_LANGS", "MLQA_MIXED_SEGMENTATION_LANGS")},
    **{f"{module}.{old}": new for module in ("harness.metrics", "harness.metrics.scorers")
       for old, new in (("bucc_scores", "harness.metrics.scorers:pair_scores"),
                        ("mewslix_mrr", "harness_plugins.xtreme.scoring:mewslix_mrr"))},
}


@hookimpl
def harness_register_aliases(register):
    for old, new in MOVED.items():
        register(old, new)

