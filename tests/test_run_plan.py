"""The resolved run plan (run/plan.py), checkpoint storage (run/checkpoints.py) and record
building (run/records.py): a plan is frozen, resolving one never mutates the registry's tasks, and
reusing an intermediate checkpoint reads its meta file without loading the model."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run.checkpoints import Checkpoints
from harness.run.pipeline import Pipeline
from harness.run.plan import RunPlan, resolve_plan
from harness.run.request import RunRequest, build_request
from harness.spec.registry import build_registry


def request(tmp_path: Path, **options) -> tuple:
    registry = build_registry()
    defaults = {"model": "minilm", "intermediate": "mnli", "targets": "xnli,pawsx", "languages": ("xnli=de",),
                "data": "samples", "output_dir": str(tmp_path / "out")}
    return registry, build_request(registry, {**defaults, **options})


def test_plan_is_frozen_and_resolves_the_request(tmp_path):
    registry, req = request(tmp_path, hparams=("epochs=2",))
    plan = resolve_plan(registry, req)
    assert isinstance(plan, RunPlan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.targets = ()  # type: ignore[misc]
    assert [t.name for t in plan.targets] == ["xnli", "pawsx"] and plan.intermediate_names == ["mnli"]
    assert plan.languages["xnli"] == ["de"] and plan.target_hparams["xnli"].epochs == 2
    assert plan.data_source == "samples" and plan.output_dir == tmp_path / "out"
    assert set(plan.task_inputs) == {"mnli", "xnli", "pawsx"}


def test_samples_are_read_through_views_the_registry_tasks_stay_as_loaded(tmp_path):
    registry, req = request(tmp_path)
    before = {name: registry.task(name).spec.local for name in ("mnli", "xnli", "pawsx")}
    plan = resolve_plan(registry, req)
    for task in plan.tasks():
        assert task.spec.local == task.spec.samples is not None
        assert task is not registry.task(task.name)
    assert {name: registry.task(name).spec.local for name in before} == before
    # a target that trains on its own data stays one task (the view it is evaluated with)
    assert all(plan.trains_on[t.name] is t for t in plan.targets if t.spec.train_task is None)


def test_keys_come_from_the_plan_and_match_the_pipeline(tmp_path):
    registry, req = request(tmp_path)
    pipeline = Pipeline(registry, req)
    store = Checkpoints(resolve_plan(registry, req), excluded_images=set)
    xnli = pipeline.plan.targets[0]
    assert store.intermediate_key() == pipeline.intermediate_key() is not None
    assert store.target_key(xnli) == pipeline.target_key(xnli)
    assert store.cell_key(xnli, "de", "test") == pipeline.cell_key(xnli, "de", "test")
    assert store.directory(xnli).name == f"target-xnli-{pipeline.target_key(xnli)}"
    assert store.train_state(store.directory(None))["state_dir"].name.endswith(".partial")


def test_a_bad_request_fails_before_any_work(tmp_path):
    registry = build_registry()
    with pytest.raises(HarnessError, match="--overwrite must be one of"):
        resolve_plan(registry, RunRequest(model="minilm", targets=["xnli"], overwrite="sometimes"))
    with pytest.raises(HarnessError, match="is an intermediate task; use it with --intermediate"):
        resolve_plan(registry, RunRequest(model="minilm", targets=["mnli"]))


def test_reusing_the_intermediate_checkpoint_does_not_load_it(tiny_model_path, tmp_path, monkeypatch):
    """A rerun for a target that does not train loads the intermediate encoder once: to evaluate
    with it, not to decide that the checkpoint is reusable."""
    registry = build_registry()
    base = dict(model=str(tiny_model_path), intermediate=["mnli"], limit=8, data="samples",
                hparams={"epochs": 1, "batch_size": 8}, output_dir=tmp_path / "out")
    first = Pipeline(registry, RunRequest(targets=["xnli"], languages={"xnli": ["de"]}, **base)).run()
    assert first.computed == 1 and not first.errors
    loads: list[str] = []
    original = registry.plugins.load_model

    def counting(**kwargs):
        loads.append(str(kwargs["model"]))
        return original(**kwargs)

    monkeypatch.setattr(registry.plugins, "load_model", counting)
    again = Pipeline(registry, RunRequest(targets=["tatoeba"], languages={"tatoeba": ["de"]}, **base)).run()
    assert not again.errors and any("intermediate-" in p for p in again.reused_checkpoints)
    assert len(loads) == 1 and "intermediate-" in loads[0], loads


def test_the_run_layer_does_not_import_the_cli():
    code = ("import sys, harness.run.grid, harness.run.pipeline, harness.run.cells; "
            "bad = [m for m in sys.modules if m == 'harness.cli' or m.startswith('harness.commands')]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]


# ------------------------------------------------------------------------------ the model in the keys
def test_new_weights_under_the_same_model_path_are_not_reused(tmp_path):
    """The keys held the model as written (``--model PATH``), not what is at the path: weights saved
    again under the same path reused every result of the old ones. The model's files are now in every
    key, so a rerun recomputes; an untouched model is still reused."""
    from harness.testing import build_tiny_model, run_cli

    model = build_tiny_model(tmp_path / "model", seed=0)
    args = ("eval", "--model", model, "-t", "xnli", "-l", "xnli=en,de", "--limit", "8", "--hparam", "epochs=1",
            "--data", "samples", "--device", "cpu", "--json", "-o", tmp_path / "run")
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    counts = lambda result: (json.loads(result.stdout)["computed"], json.loads(result.stdout)["reused"])  # noqa: E731
    assert counts(first) == (2, 0) and counts(run_cli(*args)) == (0, 2)
    build_tiny_model(model, seed=1)                                   # other weights, same path
    assert counts(run_cli(*args)) == (2, 0)


def test_a_hub_model_is_keyed_by_id_and_revision_without_asking_the_hub(tmp_path, monkeypatch):
    """Every process of a run and every grid cell must compute the same key: a hub model's part is
    its id and the revision asked for, never an answer that depends on the network or the cache."""
    from harness.spec import hub

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", lambda *a, **k: pytest.fail("asked the hub"))
    assert hub.model_identity("org/model", "v1") == {"parts": [{"hub": "org/model", "revision": "v1"}]}
    assert hub.model_identity(f"{tmp_path}+org/vision") == {
        "parts": [{"files": []}, {"hub": "org/vision", "revision": None}]}


def test_format_code_is_in_the_model_keys_and_metric_code_in_the_result_keys(tmp_path, monkeypatch):
    """A task's format (a plugin like any other) and its code decide the trained model; the metric's
    scorer code decides the score. Neither was in a key: an edited head or scorer reused old numbers.
    A changed format retrains; a changed scorer rescores without retraining."""
    import harness.run.plan as plan_module

    def keys(format_code: str, metric_code: str) -> tuple[str, str, str]:
        def fake(obj):
            module = getattr(getattr(obj, "func", obj), "__module__", "")
            return format_code if module.startswith("harness.formats") else \
                metric_code if module.startswith("harness.metrics") else "task"
        monkeypatch.setattr(plan_module, "code_hash", fake)
        registry, req = request(tmp_path)
        store = Checkpoints(resolve_plan(registry, req), excluded_images=set)
        xnli = store.plan.targets[0]
        return store.intermediate_key(), store.target_key(xnli), store.cell_key(xnli, "de", "test")

    base = keys("f1", "m1")
    assert keys("f1", "m1") == base
    new_format = keys("f2", "m1")
    assert all(a != b for a, b in zip(new_format, base))
    new_metric = keys("f1", "m2")
    assert new_metric[:2] == base[:2] and new_metric[2] != base[2]


def test_code_hash_follows_the_source_that_computes_the_number(tmp_path, monkeypatch):
    """A scorer's helpers and a class's bases are in its hash (MRR's ranking helpers live in another
    module than the scorer registered; a format's head in its base class); a library is not."""
    import functools
    import importlib

    from harness.run.plan import code_hash

    package = tmp_path / "pkgx"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("import math\ndef rank(x):\n    return x\nclass Base:\n    pass\n")
    (package / "scorer.py").write_text("import math\nfrom pkgx.helpers import Base, rank\n"
                                       "def score(g, p):\n    return {'x': rank(math.sqrt(1.0))}\n"
                                       "class Head(Base):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scorer = importlib.import_module("pkgx.scorer")
    before = (code_hash(scorer.score), code_hash(scorer.Head))
    assert None not in before and code_hash(functools.partial(scorer.score, 1)) == before[0]
    (package / "helpers.py").write_text("import math\ndef rank(x):\n    return -x\nclass Base:\n    pass\n")
    after = (code_hash(scorer.score), code_hash(scorer.Head))
    assert after[0] != before[0] and after[1] != before[1]


def test_an_intermediate_checkpoint_is_a_model_for_another_run(tmp_path):
    """``--model`` takes a harness checkpoint directory (its encoder): a target trained from it in a
    new output directory scores what the run that made it scored; a damaged one is a one-line error."""
    from harness.testing import build_tiny_model, run_cli

    model = build_tiny_model(tmp_path / "model")
    common = ("-t", "xnli", "-l", "xnli=en,de", "--limit", "8", "--hparam", "epochs=1", "--data", "samples",
              "--device", "cpu", "--json")
    first = run_cli("eval", "--model", model, "-i", "mnli", "--intermediate-hparam", "epochs=1", *common,
                    "-o", tmp_path / "a")
    assert first.exit_code == 0, first.output
    [checkpoint] = (tmp_path / "a" / "checkpoints").glob("intermediate-*")
    again = run_cli("eval", "--model", checkpoint, *common, "-o", tmp_path / "b")
    assert again.exit_code == 0, again.output
    scores = {(r["language"], json.dumps(r["metrics"], sort_keys=True)) for r in json.loads(first.stdout)["results"]}
    results = json.loads(again.stdout)["results"]
    assert {(r["language"], json.dumps(r["metrics"], sort_keys=True)) for r in results} == scores
    assert results[0]["model_info"]["source"] == str((checkpoint / "encoder").resolve())
    weights = next((checkpoint / "encoder").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8])
    damaged = run_cli("eval", "--model", checkpoint, *common, "-o", tmp_path / "c")
    assert damaged.exit_code == 2 and "is truncated or changed" in damaged.stderr


def test_dry_run_says_what_a_run_would_do_and_writes_nothing(tmp_path):
    from harness.testing import build_tiny_model, run_cli

    model = build_tiny_model(tmp_path / "model")
    out = tmp_path / "run[x]"                                          # printed as written, not as markup
    args = ("eval", "--model", model, "-i", "mnli", "-t", "xnli,tatoeba", "-l", "xnli=en,de", "-l", "tatoeba=de",
            "--limit", "8", "--hparam", "epochs=1", "--intermediate-hparam", "epochs=1", "--data", "samples",
            "--device", "cpu", "-o", out)
    preview = json.loads(run_cli(*args, "--dry-run", "--json").stdout)
    assert not out.exists()                                            # nothing written
    assert preview["intermediate"]["checkpoint"] == "to train" and preview["to_compute"] == 3
    assert preview["hub_checked"] is True                              # offline: hub sources checked too
    assert {t["target"]: t["checkpoint"] for t in preview["targets"]} == {"xnli": "to train", "tatoeba": "no training"}
    assert run_cli(*args, "-l", "xnli=en").exit_code == 0              # xnli en and tatoeba de
    preview = json.loads(run_cli(*args, "--dry-run", "--json").stdout)
    rows = {t["target"]: t for t in preview["targets"]}
    assert preview["intermediate"]["checkpoint"] == "present" and rows["xnli"]["checkpoint"] == "present"
    assert (rows["xnli"]["done"], rows["xnli"]["to_compute"], rows["tatoeba"]["to_compute"]) == (1, 1, 0)
    assert str(out) in run_cli(*args, "--dry-run").stdout.replace("\n", "")
    ran = json.loads(run_cli(*args, "--json").stdout)
    assert (ran["computed"], ran["reused"]) == (preview["to_compute"], preview["done"])
    logged = json.loads(run_cli(*args, "--dry-run", "--json", "--log-samples").stdout)
    assert (logged["to_compute"], logged["samples_only"], logged["done"]) == (0, 3, 3)   # done, samples missing
    missing = run_cli(*args[:8], "xnli=en,bg", *args[9:], "--dry-run")   # no bundled sample for bg
    assert missing.exit_code == 2 and "test-bg.jsonl" in missing.stderr


def test_dry_run_counts_a_head_only_target_whose_encoder_is_gone_as_to_train(tmp_path):
    import shutil

    from harness.testing import build_tiny_model, run_cli

    model = build_tiny_model(tmp_path / "model")
    args = ("eval", "--model", model, "-i", "mnli", "-t", "xnli", "-l", "xnli=en", "--limit", "8",
            "--hparam", "epochs=1", "--hparam", "freeze_encoder=true", "--data", "samples", "--device", "cpu",
            "-o", tmp_path / "run")
    assert run_cli(*args).exit_code == 0
    [intermediate] = (tmp_path / "run" / "checkpoints").glob("intermediate-*")
    shutil.rmtree(intermediate)
    preview = json.loads(run_cli(*args, "--dry-run", "--json", "--overwrite", "always").stdout)
    assert preview["intermediate"]["checkpoint"] == "to train"
    assert preview["targets"][0]["checkpoint"] == "to train"      # its encoder-ref.json leads nowhere
