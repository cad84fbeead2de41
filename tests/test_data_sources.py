"""Where data comes from, what the records say was read, and what the content key sees.

Samples are read only when asked for; ``auto`` is the user's directory, then the hub; every input
that can change a number is part of the key; script-only hub repos are read from their parquet
conversion or named files."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.commands import cli
from harness.errors import DataError, HarnessError
from harness.results.records import read_records
from harness.run.data import check_sources, load_examples
from harness.run.pipeline import Pipeline
from harness.run.request import build_request
from harness.spec.registry import build_registry
from harness.spec.tasks import PARQUET_REVISION, HubSource, read_hub

SAMPLES = Path(__file__).resolve().parent.parent / "plugins" / "samples"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def data_dir(root: Path, *tasks: str) -> Path:
    for task in tasks:
        shutil.copytree(SAMPLES / task, root / task)
    return root


def touch_row(path: Path) -> None:
    """Change one row's text (same length, so only content and mtime change)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[0])
    key = "sentence1" if "sentence1" in row else "premise"
    row[key] = row[key][::-1]
    lines[0] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))


# ------------------------------------------------------------------------------ the content key
def cell_keys(model: Path, root: Path | None, tasks_files=(), **options) -> dict[str, str]:
    registry = build_registry(data_dir=root, tasks_files=tasks_files)
    defaults = {"model": str(model), "intermediate": "mnli", "targets": "xnli", "languages": ("xnli=de",),
                "data": "local" if root else "samples", "data_dir": str(root) if root else None,
                "output_dir": "unused"}
    pipeline = Pipeline(registry, build_request(registry, {**defaults, **options}))
    xnli = registry.task("xnli")
    return {"intermediate": pipeline.intermediate_key(), "target": pipeline.target_key(xnli),
            "cell": pipeline.cell_key(xnli, "de", "test")}


def test_every_input_that_can_change_a_number_changes_the_key(tiny_model_path, tmp_path, monkeypatch):
    a = data_dir(tmp_path / "a", "mnli", "xnli")
    b = data_dir(tmp_path / "b", "mnli", "xnli")
    base = cell_keys(tiny_model_path, a)
    assert cell_keys(tiny_model_path, a) == base                      # stable
    assert cell_keys(tiny_model_path, b)["cell"] != base["cell"]      # another --data-dir
    assert cell_keys(tiny_model_path, None)["cell"] != base["cell"]   # the bundled samples
    changed = {
        "limit": {"limit": 5},
        "fraction": {"fractions": ("0.5",)},
        "model revision": {"revision": "abc123"},
        "hyperparameter": {"hparams": ("learning_rate=3e-5",)},
        "model selection": {"select_on": "en-dev"},
        "seed": {"seed": 7},
    }
    for what, options in changed.items():
        assert cell_keys(tiny_model_path, a, **options)["cell"] != base["cell"], what
    # the label set and, when the hub is read, its revision (as declared in a tasks file); task options
    # are covered with a format that declares some (tests/test_qa.py, `windows`)
    options = tmp_path / "options.yaml"
    options.write_text("tasks:\n  xnli:\n    labels: [contradiction, neutral, entailment]\n", encoding="utf-8")
    assert cell_keys(tiny_model_path, a, tasks_files=(str(options),))["cell"] != base["cell"]
    revision = tmp_path / "revision.yaml"
    revision.write_text("tasks:\n  xnli:\n    hub: {path: google/xtreme, name: XNLI, revision: 0123abcd}\n",
                        encoding="utf-8")
    hub = cell_keys(tiny_model_path, None, data="hub")
    assert hub["cell"] != base["cell"]
    assert cell_keys(tiny_model_path, None, tasks_files=(str(revision),), data="hub")["cell"] != hub["cell"]
    assert cell_keys(tiny_model_path, a, tasks_files=(str(revision),)) == base   # local data: the hub is not read
    # the version of the task's plugin (its distribution's), and its code
    import harness.plugins
    original = harness.plugins._distribution_of
    monkeypatch.setattr(harness.plugins, "_distribution_of", lambda module: (
        (original(module)[0], "999") if module.__name__.endswith(".xnli") else original(module)))
    assert cell_keys(tiny_model_path, a)["cell"] != base["cell"]
    monkeypatch.undo()
    import harness_plugins.xnli
    copy = tmp_path / "xnli.py"
    copy.write_text(Path(harness_plugins.xnli.__file__).read_text(encoding="utf-8") + "\n# changed\n")
    monkeypatch.setattr(harness_plugins.xnli, "__file__", str(copy))
    assert cell_keys(tiny_model_path, a)["cell"] != base["cell"]
    monkeypatch.undo()
    # the files read: evaluation data changes the cell only; training data changes the checkpoints
    touch_row(a / "xnli" / "test-de.jsonl")
    after = cell_keys(tiny_model_path, a)
    assert after["cell"] != base["cell"] and after["target"] == base["target"]
    touch_row(a / "mnli" / "train-en.jsonl")
    again = cell_keys(tiny_model_path, a)
    assert again["intermediate"] != after["intermediate"] and again["target"] != after["target"]


def test_a_rerun_with_another_data_dir_recomputes(tiny_model_path, tmp_path):
    a = data_dir(tmp_path / "a", "tatoeba")
    b = data_dir(tmp_path / "b", "tatoeba")
    lines = (b / "tatoeba" / "test-de.jsonl").read_text(encoding="utf-8").splitlines()
    (b / "tatoeba" / "test-de.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["eval", "--model", tiny_model_path, "--targets", "tatoeba", "-l", "tatoeba=de", "--data", "local",
            "--device", "cpu", "-o", out]
    first = invoke(*args, "--data-dir", a)
    assert first.exit_code == 0, first.output and "1 computed, 0 reused" in first.output
    second = invoke(*args, "--data-dir", b)
    assert second.exit_code == 0, second.output
    assert "1 computed, 0 reused" in second.output
    third = invoke(*args, "--data-dir", a)
    assert "0 computed, 1 reused" in third.output
    results = [r for r in read_records(out / "results.jsonl") if r["type"] == "result"]
    assert [r["n_examples"] for r in results] == [len(lines), len(lines) - 1]
    assert [r["data"]["data_dir"] for r in results] == [str(a.resolve()), str(b.resolve())]


# ------------------------------------------------------------------------------ samples only when asked
def test_offline_run_without_data_fails_up_front_and_never_reads_samples(minilm_path, tmp_path):
    out = tmp_path / "out"
    result = invoke("eval", "--model", "minilm", "--intermediate", "mnli", "--targets", "xnli", "-o", out)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert "offline" in errors[0] and "mnli train-en from the hub (nyu-mll/glue, mnli)" in errors[0]
    assert "google/xtreme" in errors[0] and "--data samples" in errors[0]
    assert not (out / "results.jsonl").exists() and not (out / "checkpoints").exists()


def test_data_dir_without_the_task_folder_names_it(tiny_model_path, tmp_path):
    root = data_dir(tmp_path / "d", "mnli")
    for source in ("local", "auto"):
        result = invoke("eval", "--model", tiny_model_path, "-i", "mnli", "--targets", "xnli", "--data", source,
                        "--data-dir", root, "-o", tmp_path / "out")
        assert result.exit_code == 2, result.output
        assert f"has no folder 'xnli' for task 'xnli' (expected {root.resolve() / 'xnli'}/)" in result.output
    result = invoke("eval", "--preset", "demo", "--data-dir", root, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "exclude each other" in result.output


def test_local_without_a_directory_is_an_error_not_the_samples(tiny_model_path, tmp_path):
    registry = build_registry()
    with pytest.raises(HarnessError, match="task 'xnli' has no local directory: pass --data-dir"):
        check_sources(registry.plugins, [(registry.task("xnli"), "test", "de")], "local")
    check_sources(registry.plugins, [(registry.task("xnli"), "test", "de")], "samples")


def test_records_say_exactly_which_files_were_read(tiny_model_path, tmp_path):
    out = tmp_path / "out"
    result = invoke("eval", "--model", tiny_model_path, "--targets", "xnli", "-l", "xnli=de", "--data", "samples",
                    "--limit", "8", "--hparam", "epochs=1", "--hparam", "batch_size=8", "--device", "cpu",
                    "--json", "-o", out)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["computed"] == 1 and printed["reused"] == 0
    record = printed["results"][0]
    assert record["data"]["source"] == "samples"
    [read] = record["data"]["read"]
    test_file = SAMPLES / "xnli" / "test-de.jsonl"
    assert Path(read["file"]).resolve() == test_file.resolve() and read["rows"] == 8
    assert read["size"] == test_file.stat().st_size and len(read["sha256"]) == 64
    [train] = record["train"]["data"]["target"]["mnli"]
    assert Path(train["file"]).name == "train-en.jsonl" and train["rows"] == 8
    assert read_records(out / "results.jsonl")[-2] == record


def test_demo_preset_reads_the_samples():
    registry = build_registry()
    request = build_request(registry, {"preset": "demo"})
    assert request.data == "samples" and registry.preset("samples").data == "samples"


# ------------------------------------------------------------------------------ the paper preset
def test_paper_preset_runs_bucc_from_the_data_dir_and_fails_up_front_without(tiny_model_path, tmp_path):
    args = ["eval", "--preset", "paper", "--model", tiny_model_path, "--intermediate", "", "--targets", "bucc",
            "-l", "bucc=de", "--device", "cpu"]
    missing = invoke(*args, "-o", tmp_path / "none")
    assert missing.exit_code == 2
    assert "comparable.limsi.fr/bucc2018" in missing.output and "Traceback" not in missing.output
    empty = data_dir(tmp_path / "empty")
    empty.mkdir()
    no_folder = invoke(*args, "--data-dir", empty, "-o", tmp_path / "none")
    assert no_folder.exit_code == 2 and "has no folder 'bucc'" in no_folder.output
    assert "comparable.limsi.fr/bucc2018" in no_folder.output
    root = data_dir(tmp_path / "d", "bucc")
    result = invoke(*args, "--data-dir", root, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    [record] = [r for r in read_records(tmp_path / "out" / "results.jsonl") if r["type"] == "result"]
    assert record["data"]["source"] == "hub"
    assert record["options"]["protocol"] == "jiant"   # the paper's: scored on the sample split
    assert {Path(r["file"]).name for r in record["data"]["read"]} == {"de-en.sample.de", "de-en.sample.en",
                                                                       "de-en.sample.gold"}


def test_paper_preset_uses_jiant_max_length_and_model_selection(tiny_model_path):
    registry = build_registry()
    request = build_request(registry, {"preset": "paper", "model": str(tiny_model_path)})
    pipeline = Pipeline(registry, request)
    assert request.select_on == "en-dev"
    lengths = {name: hp.max_length for name, hp in pipeline.target_hparams.items()}
    assert lengths == {"xnli": 256, "pawsx": 256, "udpos": 256, "panx": 256, "xquad": 384, "mlqa": 384,
                       "tydiqa": 384, "bucc": 512, "tatoeba": 512}
    assert pipeline.intermediate_hparams.max_length == 256
    assert pipeline.target_hparams["xnli"].learning_rate == 1e-5
    # the command line still wins over the preset's per-task values
    request = build_request(registry, {"preset": "paper", "model": str(tiny_model_path), "hparams": ("max_length=64",)})
    assert Pipeline(registry, request).target_hparams["xnli"].max_length == 64


# ------------------------------------------------------------------------------ hub readers
def write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def fake_snapshot(monkeypatch, folder: Path, calls: list) -> None:
    import huggingface_hub

    def snapshot_download(repo_id, repo_type=None, revision=None, allow_patterns=None, local_files_only=False):
        calls.append({"repo": repo_id, "repo_type": repo_type, "revision": revision, "patterns": allow_patterns})
        return str(folder)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)


def test_parquet_conversion_of_a_script_only_repo(monkeypatch, tmp_path):
    sha = "a" * 40
    snapshot = tmp_path / "snapshots" / sha
    rows = [{"id": str(i), "context": "A man", "question": "Why?", "answer0": "a", "answer1": "b", "answer2": "c",
             "answer3": "d", "label": i % 4} for i in range(5)]
    write_parquet(snapshot / "default" / "validation" / "0000.parquet", rows[:3])
    write_parquet(snapshot / "default" / "validation" / "0001.parquet", rows[3:])
    write_parquet(snapshot / "default" / "train" / "0000.parquet", rows[:1])
    calls: list = []
    fake_snapshot(monkeypatch, snapshot, calls)
    registry = build_registry()
    task = registry.task("cosmosqa")   # allenai/cosmos_qa still ships a loading script (DATA_SOURCES.md)
    assert task.spec.hub.parquet and task.spec.hub.path == "allenai/cosmos_qa"
    task.spec = dataclasses.replace(task.spec, hub=dataclasses.replace(task.spec.hub, revision=None))  # unpinned
    examples = load_examples(registry.plugins, task, "dev", "en", source="hub")
    assert [e["id"] for e in examples] == ["0", "1", "2", "3", "4"] and examples[2]["label"] == 2
    assert calls == [{"repo": "allenai/cosmos_qa", "repo_type": "dataset", "revision": PARQUET_REVISION,
                      "patterns": ["default/validation/*.parquet"]}]
    assert examples.reads == [{"hub": "allenai/cosmos_qa", "config": None, "split": "validation",
                               "revision": PARQUET_REVISION, "resolved_revision": sha, "reader": "parquet",
                               "rows": 5}]


def test_named_raw_files_at_a_pinned_revision(monkeypatch, tmp_path):
    snapshot = tmp_path / "snapshots" / ("b" * 40)
    (snapshot / "data").mkdir(parents=True)
    (snapshot / "data" / "dev.jsonl").write_text('{"x": 1}\n{"x": 2}\n', encoding="utf-8")
    calls: list = []
    fake_snapshot(monkeypatch, snapshot, calls)
    hub = HubSource(path="org/repo", revision="c" * 40, files={"validation": ["data/dev.jsonl"]})
    rows = list(read_hub(hub, None, "validation"))
    assert [row for _, _, row in rows] == [{"x": 1}, {"x": 2}] and calls[0]["revision"] == "c" * 40
    assert rows[0][0].resolved == "b" * 40 and str(rows[0][0]) == "hub:org/repo/[validation]"
    with pytest.raises(DataError, match="lists no files for split 'train'"):
        list(read_hub(hub, None, "train"))
    missing = dataclasses.replace(hub, files={"validation": ["data/none.jsonl"]})
    with pytest.raises(DataError, match="no file matching data/none.jsonl"):
        list(read_hub(missing, None, "validation"))


def test_hub_files_schema_is_validated(tmp_path):
    from harness.errors import ConfigError
    from harness.spec.config import load_task_config

    path = tmp_path / "tasks.yaml"
    path.write_text("tasks:\n  hellaswag:\n    hub: {path: Rowan/hellaswag, files: {train: data/train.jsonl}}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tasks.hellaswag.hub.files.train: expected a list of file names"):
        load_task_config((str(path),))


# ------------------------------------------------------------------------------ tables for pipes
def test_tables_in_a_pipe_keep_every_name_whole():
    result = invoke("tasks")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(line.split()[0] == "commonsenseqa" for line in lines if line.strip())
    assert "…" not in result.stdout and "│" not in result.stdout and "━" not in result.stdout
    udpos = next(line for line in lines if line.startswith("udpos "))
    assert "af,ar,bg" in udpos and ",zh" in udpos
    plugins = invoke("plugins")
    assert "…" not in plugins.stdout and any(line.startswith("commonsenseqa ") for line in plugins.stdout.splitlines())
    assert [row["name"] for row in json.loads(invoke("tasks", "--json").stdout)].count("commonsenseqa") == 1


def test_tables_on_a_narrow_terminal_fold_instead_of_truncating():
    from rich.console import Console
    from rich.table import Table

    from harness.results.tables import print_table

    console = Console(width=30, force_terminal=True, record=True)
    table = Table()
    table.add_column("task")
    table.add_row("commonsenseqa-intermediate-and-more-than-thirty-characters")
    print_table(table, console)
    text = console.export_text()
    assert "…" not in text and len(text.splitlines()) > 5
    assert "".join(ch for ch in text if ch.isalpha() or ch == "-") == \
        "task" + "commonsenseqa-intermediate-and-more-than-thirty-characters"
