"""--keep-checkpoints all|intermediate|none decides what stays on disk, never a number; a target
trained with a frozen encoder is saved as its head plus a reference to the encoder it started from
(whole with --whole-target-checkpoints)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from harness.commands import cli
from harness.errors import ConfigError
from harness.results.records import read_records
from harness.spec.hparams import Hyperparams


def run_eval(model: Path, out: Path, *extra: str, languages: str = "de"):
    args = ["eval", "--model", str(model), "--intermediate", "mnli", "--targets", "xnli,pawsx",
            "-l", f"xnli={languages}", "-l", "pawsx=de", "--limit", "8", "--hparam", "epochs=1",
            "--hparam", "batch_size=8", "--data", "samples", "--device", "cpu", "-o", str(out), *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def checkpoints(out: Path) -> list[str]:
    root = out / "checkpoints"
    return sorted(p.name.split("-")[0] + ("-" + p.name.split("-")[1] if p.name.startswith("target") else "")
                  for p in root.iterdir()) if root.exists() else []


def metrics(out: Path) -> dict[tuple[str, str], dict]:
    return {(r["task"], r["language"]): r["metrics"] for r in read_records(out / "results.jsonl")
            if r["type"] == "result"}


def test_freeze_encoder_is_a_checked_hyperparameter_left_out_of_keys_while_false():
    assert "freeze_encoder" not in Hyperparams().as_dict()          # content keys of earlier runs stay
    assert Hyperparams().merged({"freeze_encoder": True}).as_dict()["freeze_encoder"] is True
    with pytest.raises(ConfigError, match="freeze_encoder: expected bool"):
        Hyperparams().merged({"freeze_encoder": "no"})


def test_retention_changes_disk_use_not_results(tiny_model_path, tmp_path):
    runs = {keep: tmp_path / keep for keep in ("all", "intermediate", "none")}
    for keep, out in runs.items():
        run_eval(tiny_model_path, out, "--keep-checkpoints", keep)
    assert checkpoints(runs["all"]) == ["intermediate", "target-pawsx", "target-xnli"]
    assert checkpoints(runs["intermediate"]) == ["intermediate"]
    assert checkpoints(runs["none"]) == []
    assert metrics(runs["all"]) == metrics(runs["intermediate"]) == metrics(runs["none"])
    run = read_records(runs["none"] / "results.jsonl")[0]
    assert run["config"]["keep_checkpoints"] == "none"
    # a rerun, with the same or a reduced retention, skips the finished cells by their result keys
    again = run_eval(tiny_model_path, runs["none"], "--keep-checkpoints", "none")
    assert "0 computed, 2 reused" in again.output and "training" not in again.output
    again = run_eval(tiny_model_path, runs["all"], "--keep-checkpoints", "intermediate")
    assert "0 computed, 2 reused" in again.output
    # a new cell retrains what was removed, to the same numbers as a run that kept everything
    more = run_eval(tiny_model_path, runs["intermediate"], "--keep-checkpoints", "intermediate", languages="de,en")
    assert "reusing intermediate checkpoint" in more.output and "target training xnli" in more.output
    reference = run_eval(tiny_model_path, runs["all"], languages="de,en")
    assert "reusing target checkpoint" in reference.output
    assert metrics(runs["intermediate"]) == metrics(runs["all"])


def test_frozen_encoder_target_is_saved_as_head_plus_reference(tiny_model_path, tmp_path):
    out, whole = tmp_path / "ref", tmp_path / "whole"
    run_eval(tiny_model_path, out, "--hparam", "freeze_encoder=true")
    run_eval(tiny_model_path, whole, "--hparam", "freeze_encoder=true", "--whole-target-checkpoints")
    [inter] = (out / "checkpoints").glob("intermediate-*")
    [target] = (out / "checkpoints").glob("target-xnli-*")
    assert not (target / "encoder").exists() and (target / "head-xnli.pt").exists()
    assert (target / "encoder-ref.json").read_text().count(inter.name) == 1
    [whole_target] = (whole / "checkpoints").glob("target-xnli-*")
    assert (whole_target / "encoder").is_dir() and target.name == whole_target.name   # same key
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    assert size * 10 < sum(p.stat().st_size for p in whole_target.rglob("*") if p.is_file())
    # the encoder was frozen: the whole copy holds the intermediate encoder's weights
    from safetensors.torch import load_file
    saved, start = load_file(whole_target / "encoder" / "model.safetensors"), load_file(inter / "encoder" / "model.safetensors")
    assert saved.keys() == start.keys() and all(torch.equal(saved[k], start[k]) for k in saved)
    records = [r for r in read_records(out / "results.jsonl") if r["type"] == "result"]
    assert all(r["train"]["target"]["frozen_encoder"] and r["hparams"]["freeze_encoder"] for r in records)
    # reloaded through the reference, it scores a new language as the whole checkpoint does
    assert "reusing target checkpoint" in run_eval(tiny_model_path, out, "--hparam", "freeze_encoder=true",
                                                   languages="de,en").output
    run_eval(tiny_model_path, whole, "--hparam", "freeze_encoder=true", languages="de,en")
    assert metrics(out) == metrics(whole)


def test_head_only_target_follows_its_encoder(tiny_model_path, tmp_path):
    import json
    import shutil

    from harness.run.pipeline import Pipeline

    out = tmp_path / "run"
    run_eval(tiny_model_path, out, "--hparam", "freeze_encoder=true")
    before = metrics(out)
    [inter] = (out / "checkpoints").glob("intermediate-*")
    [target] = (out / "checkpoints").glob("target-xnli-*")
    assert Pipeline._reference_problem(target) is None
    meta = json.loads((inter / "meta.json").read_text())
    moved = inter.rename(inter.with_name("elsewhere"))
    assert Pipeline._reference_problem(target) == f"its encoder, checkpoint {inter.name}, is gone"
    moved.rename(inter)
    meta["files"]["encoder/model.safetensors"]["sha256"] = "0" * 64    # as if trained again, differently
    (inter / "meta.json").write_text(json.dumps(meta))
    assert "was saved again with other weights" in Pipeline._reference_problem(target)
    # removed: the intermediate is trained again (the same weights here, on CPU), the head is reused
    shutil.rmtree(inter)
    result = run_eval(tiny_model_path, out, "--hparam", "freeze_encoder=true", languages="de,en")
    assert "intermediate training" in result.output and "reusing target checkpoint" in result.output
    assert {k: v for k, v in metrics(out).items() if k in before} == before


def test_encoder_source_follows_the_reference_and_refuses_a_loop(tmp_path):
    import json

    from harness.engine.modeling import encoder_source
    from harness.errors import HarnessError

    def checkpoint(name: str, ref: dict | None) -> Path:
        directory = tmp_path / name
        (directory / "encoder").mkdir(parents=True)
        (directory / "meta.json").write_text('{"files": {}}')
        if ref is None:
            (directory / "encoder" / "config.json").write_text("{}")
        else:
            (directory / "encoder").rmdir()
            (directory / "encoder-ref.json").write_text(json.dumps(ref))
        return directory

    whole = checkpoint("whole", None)
    assert encoder_source(whole) == (str(whole / "encoder"), None)
    assert encoder_source(checkpoint("head", {"checkpoint": "whole", "files": {}})) == (str(whole / "encoder"), None)
    assert encoder_source(checkpoint("base", {"model": "org/enc", "revision": "abc"})) == ("org/enc", "abc")
    assert encoder_source(tmp_path) is None                                  # not a checkpoint
    checkpoint("a", {"checkpoint": "b", "files": {}})
    b = checkpoint("b", {"checkpoint": "a", "files": {}})
    with pytest.raises(HarnessError, match=f"cannot load checkpoint {b}: encoder-ref.json leads back to checkpoint a"):
        encoder_source(tmp_path / "a")
