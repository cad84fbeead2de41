"""--select-on en-dev: evaluate on English dev during target training and keep the best weights."""
from __future__ import annotations

import torch
from click.testing import CliRunner

from harness.commands import cli
from harness.engine.training import train_model
from harness.results.records import read_records
from harness.run.data import load_examples
from harness.spec.hparams import Hyperparams
from harness.spec.registry import build_registry


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.task_model("sst2").state_dict().items()}


def test_the_weights_of_the_best_evaluation_are_kept(tiny_model):
    registry = build_registry()
    task = registry.task("sst2")
    examples = load_examples(registry.plugins, task, "train", "en", source="samples", limit=24)
    scores = iter([0.2, 0.9, 0.5, 0.9, 0.1, 0.3])   # the best comes second; a tie later does not replace it
    seen: list[dict[str, torch.Tensor]] = []

    def score(model):
        seen.append(weights(model))
        return next(scores)

    stats = train_model(tiny_model, [task], {"sst2": examples},
                        Hyperparams(batch_size=4, epochs=1, learning_rate=1e-3, warmup_ratio=0.0), seed=0,
                        select={"score": score, "every": 1, "on": "sst2 dev-en accuracy"})
    assert stats["steps"] == 6 and len(seen) == 6
    selection = stats["selection"]
    assert selection["best_step"] == 2 and selection["best_score"] == 0.9
    assert [step for step, _ in selection["evaluations"]] == [1, 2, 3, 4, 5, 6]
    final = weights(tiny_model)
    assert all(torch.equal(final[k], seen[1][k]) for k in final)
    assert not all(torch.equal(final[k], seen[-1][k]) for k in final)


def test_once_per_epoch_by_default(tiny_model):
    registry = build_registry()
    task = registry.task("sst2")
    examples = load_examples(registry.plugins, task, "train", "en", source="samples", limit=16)
    stats = train_model(tiny_model, [task], {"sst2": examples}, Hyperparams(batch_size=4, epochs=2), seed=0,
                        select={"score": lambda model: 0.5, "every": 0})
    assert [step for step, _ in stats["selection"]["evaluations"]] == [4, 8]


def test_select_on_en_dev_is_recorded_and_scores_the_target_dev(tiny_model_path, tmp_path):
    out = tmp_path / "out"
    args = ["eval", "--model", str(tiny_model_path), "--targets", "xnli", "-l", "xnli=de", "--data", "samples",
            "--limit", "8", "--hparam", "epochs=2", "--hparam", "batch_size=4", "--device", "cpu", "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "--select-on", "en-dev"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [record] = [r for r in read_records(out / "results.jsonl") if r["type"] == "result"]
    selection = record["train"]["target"]["selection"]
    assert selection["on"] == "xnli dev-en accuracy" and selection["every"] == 2
    assert [step for step, _ in selection["evaluations"]] == [2, 4]
    assert selection["best_score"] == max(score for _, score in selection["evaluations"])
    assert record["data"]["select_on"] == "en-dev"
    [dev] = record["train"]["data"]["target"]["select"]
    assert dev["file"].endswith("xnli/dev-en.jsonl") and dev["rows"] == 8
    plain = CliRunner().invoke(cli, args, catch_exceptions=False)   # without selection: another checkpoint
    assert "1 computed, 0 reused" in plain.output
