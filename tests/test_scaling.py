"""The data-volume axis: nested subsets ranked by (data seed, example id), sizes and fractions,
stratification, equal-steps budgets, and the grid's size and modality-dropout axes."""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.engine.training import budget_steps, build_schedule
from harness.errors import HarnessError
from harness.results.records import read_records
from harness.run.data import load_examples
from harness.run.grid import plan_grid
from harness.run.pipeline import Pipeline
from harness.run.request import build_request
from harness.run.subset import parse_count, subset_indices
from harness.spec.registry import build_registry

SAMPLES = Path(__file__).resolve().parent.parent / "plugins" / "samples"


def synthetic(n: int, labels: tuple[str, ...] = ("a", "b", "c"), weights: tuple[int, ...] = (5, 3, 1)):
    """n examples with stable ids and unbalanced labels."""
    pattern = [label for label, weight in zip(labels, weights) for _ in range(weight)]
    return [{"id": f"ex-{i}", "label": pattern[(i * 7) % len(pattern)]} for i in range(n)]


def ids(examples, indices) -> set[str]:
    return {examples[i]["id"] for i in indices}


# ------------------------------------------------------------------------------- the subsets
@pytest.mark.parametrize("stratify", [False, True])
def test_subsets_are_nested_and_depend_on_the_data_seed_only(stratify):
    examples = synthetic(300)
    previous: set[str] = set()
    for count in (1, 2, 5, 16, 32, 64, 100, 299, 300):
        chosen = ids(examples, subset_indices(examples, count, data_seed=0, stratify=stratify))
        assert len(chosen) == count
        assert previous <= chosen, count          # k1 < k2: the smaller subset lies inside
        previous = chosen
    zero = ids(examples, subset_indices(examples, 32, data_seed=0, stratify=stratify))
    assert ids(examples, subset_indices(examples, 32, data_seed=0, stratify=stratify)) == zero   # reproducible
    assert ids(examples, subset_indices(examples, 32, data_seed=1, stratify=stratify)) != zero   # another data seed


def test_reordering_the_source_keeps_the_subset():
    examples = synthetic(200)
    reordered = list(reversed(examples))
    for stratify in (False, True):
        assert ids(examples, subset_indices(examples, 40, 3, stratify)) == \
            ids(reordered, subset_indices(reordered, 40, 3, stratify))


@pytest.mark.parametrize("weights", [(5, 3, 1), (1, 1), (97, 2, 1), (4, 4, 3, 2, 1, 1)])
def test_stratified_subsets_hold_each_class_within_one_example_of_its_share(weights):
    labels = tuple("abcdef"[:len(weights)])
    examples = synthetic(500, labels, weights)
    totals = Counter(e["label"] for e in examples)
    for count in range(1, 501, 7):
        chosen = Counter(examples[i]["label"] for i in subset_indices(examples, count, 11, stratify=True))
        for label, total in totals.items():
            share = count * total / len(examples)
            assert abs(chosen[label] - share) < 1, (count, label, chosen[label], share)
    # without stratification small subsets drift from the proportions
    drift = max(abs(Counter(examples[i]["label"] for i in subset_indices(examples, count, seed))[label]
                    - count * totals[label] / len(examples))
                for count in (16, 32, 64) for seed in range(20) for label in totals)
    assert drift >= 1


def test_stratify_needs_a_label():
    with pytest.raises(HarnessError, match="--stratify: task 'x' has no 'label' field"):
        subset_indices([{"id": "1", "answers": {}}], 1, 0, stratify=True, what="task 'x'")


def test_counts_take_a_k_suffix():
    assert parse_count("16", "--sizes") == 16 and parse_count("1k", "--sizes") == 1000
    assert parse_count("2.5K", "--sizes") == 2500
    for bad in ("0", "-3", "1.5", "many", "nan"):
        with pytest.raises(HarnessError, match="--sizes"):
            parse_count(bad, "--sizes")


# ------------------------------------------------------------------------------- on real files
def mnli_dir(root: Path) -> Path:
    shutil.copytree(SAMPLES / "mnli", root / "mnli")
    return root


def train_ids(root: Path, **subset) -> list[str]:
    registry = build_registry(data_dir=root)
    examples = load_examples(registry.plugins, registry.task("mnli"), "train", "en", source="local", **subset)
    return [e["id"] for e in examples]


def test_appending_rows_keeps_the_old_subset(tmp_path):
    root = mnli_dir(tmp_path)
    train = root / "mnli" / "train-en.jsonl"
    old_rows = train.read_text(encoding="utf-8").splitlines()
    old = set(train_ids(root, size=32))
    appended = 40
    new_rows = []
    for i, line in enumerate(old_rows[:appended]):
        row = json.loads(line)
        row["idx"] = 10_000 + i
        new_rows.append(json.dumps(row))
    train.write_text("\n".join(old_rows + new_rows) + "\n", encoding="utf-8")
    new_ids = {str(10_000 + i) for i in range(appended)}
    after = set(train_ids(root, size=32))
    assert after - new_ids <= old                        # an old row never enters a subset it was not in
    assert old <= set(train_ids(root, size=32 + appended))  # only appended rows can push old ones out
    # reordering the file changes nothing
    train.write_text("\n".join(reversed(old_rows + new_rows)) + "\n", encoding="utf-8")
    assert set(train_ids(root, size=32)) == after


def test_size_wins_over_limit_and_a_size_above_the_data_is_an_error(tmp_path):
    root = mnli_dir(tmp_path)
    assert len(train_ids(root, size=50, limit=8)) == 50
    assert len(train_ids(root, fraction=0.5, limit=8)) == 8
    with pytest.raises(HarnessError, match=r"--intermediate-size 500 for task 'mnli': its train-en data holds "
                                           r"only 120 examples; pass at most 120"):
        train_ids(root, size=500)


# ------------------------------------------------------------------------------- the pipeline
def pipeline(tmp_path: Path, **options) -> Pipeline:
    registry = build_registry()
    defaults = {"model": "minilm", "intermediate": "mnli", "targets": "xnli", "languages": ("xnli=de",),
                "data": "samples", "output_dir": str(tmp_path / "out")}
    return Pipeline(registry, build_request(registry, {**defaults, **options}))


def subset_of(tmp_path, **options) -> list[str]:
    examples, _ = pipeline(tmp_path, **options).intermediate_examples
    return [e["id"] for e in examples["mnli"]]


def test_the_run_seed_no_longer_changes_the_subset(tmp_path):
    for subset in ({"fractions": ("0.5",)}, {"sizes": ("16",)}):
        one = subset_of(tmp_path, seed=1, **subset)
        assert subset_of(tmp_path, seed=2, **subset) == one
        assert subset_of(tmp_path, seed=1, data_seed=5, **subset) != one
    # a fraction and the size it amounts to are the same subset
    assert set(subset_of(tmp_path, fractions=("0.25",))) == set(subset_of(tmp_path, sizes=("30",)))


def test_the_data_volume_settings_are_in_the_key_only_when_they_can_change_a_number(tmp_path):
    key = lambda **options: pipeline(tmp_path, **options).intermediate_key()  # noqa: E731
    full = key()
    assert key(data_seed=3) == full and key(stratify=True) == full and key(budget="steps") == full
    sixteen = key(sizes=("16",))
    assert len({full, sixteen, key(sizes=("32",)), key(sizes=("16",), data_seed=1),
                key(sizes=("16",), stratify=True), key(sizes=("16",), budget="steps"),
                key(budget_steps=100), key(fractions=("0.5",))}) == 8
    assert key(sizes=("mnli=16",)) == sixteen


def test_size_and_fraction_options_are_checked(tmp_path):
    with pytest.raises(HarnessError, match="--intermediate-size 'mnli=8' and --intermediate-fraction both name task 'mnli'"):
        pipeline(tmp_path, sizes=("mnli=8",), fractions=("0.5",))
    with pytest.raises(HarnessError, match="--intermediate-size names 'sst2', which is not an intermediate task"):
        pipeline(tmp_path, sizes=("sst2=8",))
    with pytest.raises(HarnessError, match="--budget-steps sets an equal-steps budget"):
        pipeline(tmp_path, budget="epochs", budget_steps=10)
    assert pipeline(tmp_path, budget_steps=10).request.budget == "steps"


def test_equal_steps_budget_gives_small_subsets_the_steps_of_the_full_data(tmp_path):
    full = pipeline(tmp_path, hparams=("batch_size=8", "epochs=2"))
    examples, _ = full.intermediate_examples
    full_steps = len(build_schedule({"mnli": [1] * len(examples["mnli"])}, 8, 2.0, seed=1))
    assert full_steps == budget_steps({"mnli": 120}, 8, 2.0) == 30
    assert full.step_budget(examples) is None            # the full data: epochs give the same steps
    for size in ("16", "50"):
        small = pipeline(tmp_path, sizes=(size,), budget="steps", hparams=("batch_size=8", "epochs=2"))
        subset, _ = small.intermediate_examples
        steps = small.step_budget(subset)
        assert steps == full_steps
        schedule = build_schedule({"mnli": [1] * len(subset["mnli"])}, 8, 2.0, seed=1, steps=steps)
        assert len(schedule) == full_steps
        assert len(list(schedule)) == full_steps           # small data repeats to fill the steps
        epochs = pipeline(tmp_path, sizes=(size,), hparams=("batch_size=8", "epochs=2"))
        assert epochs.step_budget(subset) is None          # equal epochs: fewer steps
    assert pipeline(tmp_path, sizes=("16",), budget_steps=7).step_budget(subset) == 7
    # --limit caps the full-data run the budget copies
    limited = pipeline(tmp_path, sizes=("16",), budget="steps", limit=40, hparams=("batch_size=8", "epochs=2"))
    assert limited.step_budget(limited.intermediate_examples[0]) == budget_steps({"mnli": 40}, 8, 2.0) == 10


# ------------------------------------------------------------------------------- the grid plan
def plan(tmp_path, **options):
    return plan_grid(build_registry(), {"output_dir": str(tmp_path / "grid"), **options})


def test_plan_grid_with_sizes_has_the_baseline_once_per_seed(tmp_path):
    steps = plan(tmp_path, preset="demo", intermediate="mnli,sst2", size_axis="16,32,1k,full,16", seeds="1,2")
    assert [(s.seed, s.label) for s in steps] == [
        (seed, label) for seed in (1, 2) for label in
        ("baseline", "mnli N=16", "mnli N=32", "mnli N=1000", "mnli", "sst2 N=16", "sst2 N=32", "sst2 N=1000", "sst2")]
    for step in steps:
        expected = {name: step.size for name in step.intermediate} if step.size else {}
        assert step.request.size == expected
        assert step.request.seed == step.seed
    keys = [s.pipeline.intermediate_key() for s in steps if s.intermediate]
    assert len(set(keys)) == len(keys)                    # each (config, size, seed) trained once
    assert [s.pipeline.intermediate_key() for s in steps if s.intermediate == ["mnli"] and s.size is None][0] == \
        pipeline(tmp_path, preset="demo", seed=1).intermediate_key()   # full = what `eval` trains
    fractions = plan(tmp_path, preset="demo", fraction_axis="0.125,0.25,1", seeds="3")
    assert [(s.label, s.request.fraction) for s in fractions] == [
        ("baseline", {}), ("mnli fraction 0.125", {"mnli": 0.125}), ("mnli fraction 0.25", {"mnli": 0.25}),
        ("mnli", {})]


def test_plan_grid_sweeps_the_modality_dropout_of_image_text_configurations_only(tmp_path):
    steps = plan(tmp_path, preset="multimodal-demo", intermediate="m3it-vqa-v2,mnli", dropout_axis="0,0.3,1",
                 modality_dropout="image=0.5,text=0.1,mode=zeros", seeds="1")
    assert [s.label for s in steps] == ["baseline", "m3it-vqa-v2 p=0", "m3it-vqa-v2 p=0.3", "m3it-vqa-v2 p=1", "mnli"]
    image = [s for s in steps if s.dropout_p is not None]
    assert [s.pipeline.dropout.image for s in image] == [0.0, 0.3, 1.0]
    assert {(s.pipeline.dropout.text, s.pipeline.dropout.mode) for s in image} == {(0.1, "zeros")}
    assert len({s.pipeline.intermediate_key() for s in image}) == 3


def test_grid_axis_errors(tmp_path):
    for options, message in [
        ({"size_axis": "16", "fraction_axis": "0.5"}, "--sizes and --fractions both give the data-volume axis"),
        ({"size_axis": "16", "sizes": ("8",)}, "--sizes sweeps the intermediate size; drop --intermediate-size"),
        ({"size_axis": "16,lots"}, "--sizes 'lots': expected a number of examples"),
        ({"fraction_axis": "0.5,2"}, "--fractions '2': expected fractions in (0, 1], comma-separated"),
        ({"dropout_axis": "0,1.5"}, "--dropout-p '1.5': a probability must be in [0, 1]"),
        ({"sizes": ("sst2=4",)}, "--intermediate-size names 'sst2', which is not among the intermediate tasks"),
    ]:
        with pytest.raises(HarnessError, match=re.escape(message)):
            plan(tmp_path, preset="demo", **options)


def test_report_rows_tell_the_sizes_apart():
    from harness.results.report import config_label

    record = {"intermediate": ["mnli"], "data": {"size": {"mnli": 16}, "data_seed": 0, "budget": {"mode": "epochs"}}}
    assert config_label(record) == "mnli (N=16)"
    record["data"].update(data_seed=2, budget={"mode": "steps", "steps": 30})
    assert config_label(record) == "mnli (N=16, data seed 2, equal steps)"
    assert config_label({"intermediate": ["mnli"], "data": {"size": {"mnli": None}, "data_seed": 2}}) == "mnli"


def test_a_size_above_the_data_is_a_one_line_error_before_any_training(tmp_path):
    result = CliRunner().invoke(cli, ["eval", "--preset", "demo", "--intermediate-size", "500", "--device", "cpu",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: --intermediate-size 500 for task 'mnli': its train-en data holds only 120 examples; "
                     "pass at most 120 (or 'full')"]


# ------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_grid_sizes_end_to_end_records_the_examples_used(tmp_path):
    out = tmp_path / "scale"
    result = CliRunner().invoke(cli, ["grid", "--preset", "demo", "--intermediate", "mnli", "--sizes", "16,32",
                                      "--seeds", "1", "--limit", "8", "--targets", "xnli", "-l", "xnli=en,de",
                                      "--hparam", "epochs=1", "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "[2/3] seed 1 · mnli N=16" in result.stderr
    assert "mnli (N=16)" in result.stdout and "mnli (N=32)" in result.stdout   # two rows, not one
    records = [r for r in read_records(out / "results.jsonl") if r.get("type") == "result"]
    assert len(records) == 3 * 2
    by_size = {json.dumps(r["data"]["size"]): r["data"] for r in records}
    assert by_size['{"mnli": 16}']["intermediate_examples"] == {"mnli": 16}
    assert by_size['{"mnli": 32}']["intermediate_examples"] == {"mnli": 32}
    assert by_size["{}"]["intermediate_examples"] == {}          # the baseline: N = 0
    assert {r["data"]["data_seed"] for r in records} == {0}
    trained = [r["train"]["intermediate"] for r in records if r["intermediate"]]
    assert {t["unique_examples"]["mnli"] for t in trained} == {16, 32}
    assert all(t["examples_seen"] == 16 and t["steps"] == 1 for t in trained if t["unique_examples"]["mnli"] == 16)


def test_each_seed_of_the_baseline_logs_its_samples_to_its_own_folder(tmp_path):
    # the baseline has no intermediate key; its folder must still tell seeds apart, or seed 2's
    # --log-samples overwrite seed 1's and item-level statistics read the wrong predictions
    path = lambda **options: pipeline(tmp_path, intermediate="", **options)._samples_path("xnli", "de", "test")  # noqa: E731
    assert path(seed=1) != path(seed=2)
    assert path(seed=1) == path(seed=1)
    assert path(seed=1).parent.parent.name.startswith("baseline-")


def test_modality_dropout_is_in_the_key_of_image_text_intermediate_tasks_only(tmp_path):
    # dropout never touches a text-only task's examples, so it must not retrain its checkpoint
    key = lambda **options: pipeline(tmp_path, **options).intermediate_key()  # noqa: E731
    assert key(modality_dropout="image=0.5") == key()
