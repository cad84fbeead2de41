"""The grid beyond one machine: cell specs, sharded results and their locks, the manager's state
machine (with a fake executor), and the executors (submitit's local executor, Ray, the pool) on a
tiny model, checked against a serial grid."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError, HarnessError, LockedError
from harness.results.records import (ResultsWriter, cell_lock, merge_shards, merge_sort_key, read_records,
                                     shard_files)
from harness.run.cells import CellSpec
from harness.run.executors import Executor, Job
from harness.run.manager import GridManager, GridState
from harness.run.request import RunRequest


def result(key: str, run_id: str = "r1", **extra: Any) -> dict[str, Any]:
    return {"type": "result", "run_id": run_id, "key": key, "task": "xnli", "language": "de", "split": "test",
            "metrics": {"accuracy": 0.5}, **extra}


def write(path: Path, records: list[dict[str, Any]]) -> None:
    writer = ResultsWriter(path)
    try:
        for record in records:
            writer.write(record)
    finally:
        writer.close()


# ------------------------------------------------------------------------------- cell specs
def test_cell_spec_round_trips_every_request_field(tmp_path):
    request = RunRequest(model="minilm", targets=["xnli", "tatoeba"], intermediate=["mnli"],
                         languages={"xnli": ["de", "ru"]}, seed=3, limit=16, data="samples",
                         output_dir=tmp_path / "out", hparams={"epochs": 2, "learning_rate": 5e-5},
                         fraction={"mnli": 0.5}, task_options={"xnli": {"x": [1, 2]}})
    spec = CellSpec.from_request(["mnli"], 3, request, {"data_dir": None}, {"time_min": 30})
    # every field travels, by name: a field another change adds to RunRequest needs no change here
    assert set(spec.request) == {f.name for f in dataclasses.fields(RunRequest)}
    back = CellSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert back == spec
    rebuilt = back.run_request()
    assert rebuilt == dataclasses.replace(request, output_dir=(tmp_path / "out").resolve())
    assert isinstance(rebuilt.output_dir, Path)
    assert back.resources == {"time_min": 30} and back.shard.startswith("mnli-s3-")


def test_cell_spec_names_differ_with_what_changes_a_number(tmp_path):
    def shard(**changes):
        request = RunRequest(model="m", targets=["xnli"], output_dir=tmp_path, **changes)
        return CellSpec.from_request([], 1, request, {}).shard

    assert shard() == shard(overwrite="always", device="cpu")      # not what a cell computes
    assert shard() != shard(limit=8) != shard(hparams={"epochs": 1})


def test_cell_spec_rejects_fields_it_does_not_know(tmp_path):
    spec = CellSpec.from_request([], 1, RunRequest(model="m", targets=["xnli"], output_dir=tmp_path), {})
    spec.request["from_a_newer_harness"] = 1
    with pytest.raises(HarnessError, match="from_a_newer_harness"):
        spec.run_request()
    with pytest.raises(HarnessError, match="not a grid cell spec"):
        CellSpec.from_json('{"seed": 1}')


# ------------------------------------------------------------------------------- shards
def test_a_directory_of_shards_reads_as_one_results_file_and_merges_sorted(tmp_path):
    write(tmp_path / "results.jsonl", [result("c"), result("a")])
    write(tmp_path / "shards" / "x-s1-1.jsonl", [{"type": "run", "run_id": "r2"}, result("b", "r2")])
    write(tmp_path / "shards" / "y-s1-2.jsonl", [result("d", "r3"), result("a")])   # a duplicate line
    (tmp_path / "shards" / "y-s1-2.jsonl").open("ab").write(b'{"type": "result", "key": "torn')
    keys = [r.get("key") for r in read_records(tmp_path) if r["type"] == "result"]
    assert keys == ["c", "a", "b", "d"]
    # old callers pass the directory's results.jsonl: they see the shards too
    assert read_records(tmp_path / "results.jsonl") == read_records(tmp_path)
    before = sorted(read_records(tmp_path), key=merge_sort_key)

    target, n_records, n_shards = merge_shards(tmp_path)
    assert (target, n_records, n_shards) == (tmp_path / "results.jsonl", 5, 2)
    assert shard_files(tmp_path) == []
    assert read_records(target) == before
    assert [r.get("key") for r in read_records(target)] == [None, "a", "b", "c", "d"]


def test_an_output_directory_made_while_another_process_reads_is_read_as_empty(tmp_path, monkeypatch):
    """Under torchrun, a process read the output directory as a file (it did not exist yet) and
    opened it after the main process had made it: IsADirectoryError and a failed run."""
    import harness.results.records as records

    out = tmp_path / "fresh"
    listed = records.results_files(out)                 # not there yet: a plain path
    out.mkdir()                                         # ... made by the main process meanwhile
    monkeypatch.setattr(records, "results_files", lambda path: listed)
    assert records.read_records(out) == []


def test_report_reads_an_output_directory_of_shards_only(tmp_path):
    from click.testing import CliRunner

    from harness.commands import cli

    write(tmp_path / "shards" / "baseline-s1-1.jsonl", [result("a", model="m", intermediate=[], seed=1)])
    report = CliRunner().invoke(cli, ["report", str(tmp_path), "--format", "json"])
    assert report.exit_code == 0, report.output
    assert "xnli" in report.stdout


def test_merge_refuses_while_a_runner_holds_a_cell(tmp_path):
    write(tmp_path / "shards" / "x-s1-1.jsonl", [result("a")])
    with cell_lock(tmp_path, "x-s1-1"):
        with pytest.raises(LockedError, match="grid cell 'x-s1-1'"):
            merge_shards(tmp_path)
    assert shard_files(tmp_path)


def test_a_locked_cell_is_refused_or_waited_for(tmp_path):
    waited: list[str] = []
    order: list[str] = []
    with cell_lock(tmp_path, "c"):
        with pytest.raises(LockedError, match=r"in use by pid \d+"):
            with cell_lock(tmp_path, "c"):
                pass

        def second() -> None:
            with cell_lock(tmp_path, "c", wait=waited.append, poll_s=0.01):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(10)
    assert order == ["first done", "second"]
    assert len(waited) == 1 and "waiting" in waited[0]
    with cell_lock(tmp_path, "other"):   # other cells are not blocked
        pass


# ------------------------------------------------------------------------------- manager
class FakeJob(Job):
    def __init__(self, executor: "FakeExecutor", cell: CellSpec, attempt: int):
        self.executor, self.cell, self.attempt = executor, cell, attempt
        self.id, self.log_path = f"fake-{cell.shard}-{attempt}", f"/logs/{cell.shard}-{attempt}.out"
        self.polls, self.cancelled = 0, False

    def done(self) -> bool:
        self.polls += 1
        if self.executor.interrupt_after is not None and self.executor.polls_total() >= self.executor.interrupt_after:
            raise KeyboardInterrupt
        return self.polls >= 2

    def result(self) -> dict[str, Any]:
        if self.cell.shard in self.executor.failing or (self.cell.shard in self.executor.flaky and self.attempt == 1):
            raise RuntimeError(f"node lost running {self.cell.shard}")
        return {"run_id": self.id, "results": [result(f"k-{self.cell.shard}")], "errors": [], "computed": 1,
                "skipped": 0}

    def cancel(self) -> None:
        self.cancelled = True


class FakeExecutor(Executor):
    name = "fake"

    def __init__(self, slots: int = 0, failing=(), flaky=(), interrupt_after: int | None = None):
        self.slots, self.failing, self.flaky, self.interrupt_after = slots, set(failing), set(flaky), interrupt_after
        self.jobs: list[FakeJob] = []
        self.running_now = 0
        self.closed = False

    def submit(self, cell: CellSpec, attempt: int) -> Job:
        job = FakeJob(self, cell, attempt)
        self.jobs.append(job)
        return job

    def polls_total(self) -> int:
        return sum(job.polls for job in self.jobs)

    def close(self) -> None:
        self.closed = True


def fake_cells(n: int) -> list[CellSpec]:
    return [CellSpec(intermediate=[f"t{i}"], seed=1, request={}, shard=f"t{i}-s1-x") for i in range(n)]


def test_manager_respects_max_concurrency_and_records_jobs(tmp_path):
    executor = FakeExecutor(slots=3)
    manager = GridManager(executor, GridState.load(tmp_path / "grid_state.json", "fake"), max_concurrent=2,
                          poll_s=0, sleep=lambda s: None)
    outcomes = manager.run(fake_cells(5))
    assert [o.state for o in outcomes] == ["done"] * 5
    assert manager.max_concurrent == 2 and manager.peak_running == 2
    state = json.loads((tmp_path / "grid_state.json").read_text())
    assert state["counts"]["done"] == 5
    entry = state["cells"]["t0-s1-x"]
    assert entry["jobs"] == ["fake-t0-s1-x-1"] and entry["logs"] == ["/logs/t0-s1-x-1.out"]
    assert entry["outcome"]["result_keys"] == ["k-t0-s1-x"] and executor.closed


def test_manager_retries_a_bounded_number_of_times_then_records_and_goes_on(tmp_path):
    given_up: list[str] = []
    executor = FakeExecutor(failing={"t1-s1-x"}, flaky={"t2-s1-x"})
    manager = GridManager(executor, GridState.load(tmp_path / "s.json", "fake"), retries=2, poll_s=0,
                          sleep=lambda s: None,
                          on_give_up=lambda cell, exc: given_up.append(cell.shard) or {"errors": [str(exc)]})
    outcomes = {o.cell.shard: o for o in manager.run(fake_cells(4))}
    attempts = {}
    for job in executor.jobs:
        attempts[job.cell.shard] = attempts.get(job.cell.shard, 0) + 1
    assert attempts == {"t0-s1-x": 1, "t1-s1-x": 3, "t2-s1-x": 2, "t3-s1-x": 1}
    assert given_up == ["t1-s1-x"]
    assert outcomes["t1-s1-x"].state == "failed" and "node lost" in str(outcomes["t1-s1-x"].error)
    assert [outcomes[f"t{i}-s1-x"].state for i in (0, 2, 3)] == ["done"] * 3
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["cells"]["t1-s1-x"]["state"] == "failed" and len(state["cells"]["t1-s1-x"]["jobs"]) == 3
    assert "node lost" in state["cells"]["t1-s1-x"]["error"]


def test_manager_cancels_every_running_job_on_interrupt(tmp_path):
    executor = FakeExecutor(slots=3, interrupt_after=2)
    manager = GridManager(executor, GridState.load(tmp_path / "s.json", "fake"), poll_s=0, sleep=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        manager.run(fake_cells(5))
    assert len(executor.jobs) == 3 and all(job.cancelled for job in executor.jobs)
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["counts"] == {"queued": 2, "running": 0, "done": 0, "failed": 0, "cancelled": 3}


def test_manager_skips_cells_done_in_an_earlier_run(tmp_path):
    path = tmp_path / "s.json"
    GridManager(FakeExecutor(), GridState.load(path, "fake"), poll_s=0, sleep=lambda s: None).run(fake_cells(2))
    again = FakeExecutor()
    outcomes = GridManager(again, GridState.load(path, "fake"), poll_s=0, sleep=lambda s: None,
                           still_done=lambda entry: entry["outcome"]["result_keys"] != ["k-t1-s1-x"]).run(fake_cells(2))
    assert [o.skipped for o in outcomes] == [True, False]      # t1's results are gone: it runs again
    assert [job.cell.shard for job in again.jobs] == ["t1-s1-x"]


def test_run_grid_records_a_cell_that_keeps_failing_in_its_shard_and_reports_an_interrupt(tmp_path):
    from harness.errors import Interrupted
    from harness.run.grid import run_grid
    from harness.spec.registry import build_registry

    class MnliFails(FakeExecutor):
        def submit(self, cell: CellSpec, attempt: int) -> Job:
            if cell.intermediate:
                self.failing.add(cell.shard)
            return super().submit(cell, attempt)

    registry = build_registry()
    options = {"model": "minilm", "intermediate": "mnli", "targets": "xnli", "data": "samples",
               "output_dir": str(tmp_path), "retries": 1, "poll_s": 0}
    executor = MnliFails()
    summary = run_grid(registry, options, executor=executor)
    assert [len(j.cell.intermediate) for j in executor.jobs].count(1) == 2     # tried twice
    assert [(e["task"], e["phase"], e["error_type"]) for e in summary.errors] == [("mnli", "run", "RuntimeError")]
    [shard] = [p for p in shard_files(tmp_path) if p.name.startswith("mnli-")]
    assert [r["type"] for r in read_records(shard)] == ["error"] and "node lost" in read_records(shard)[0]["message"]
    assert [r["key"] for r in summary.results] == [f"k-{j.cell.shard}" for j in executor.jobs if not j.cell.intermediate]

    with pytest.raises(Interrupted, match="SIGINT: cancelled the running jobs") as caught:
        run_grid(registry, {**options, "output_dir": str(tmp_path / "again")}, executor=FakeExecutor(interrupt_after=1))
    assert caught.value.exit_code == 130
    state = json.loads((tmp_path / "again" / "grid_state.json").read_text())
    assert state["counts"]["cancelled"] == 2


# ------------------------------------------------------------------------------- resources
def test_preset_resources_are_checked_and_overridden_per_task_then_by_options(tmp_path):
    from harness.run.grid import cell_resources
    from harness.spec.config import load_task_config

    good = tmp_path / "good.yaml"
    good.write_text("presets:\n  big:\n    resources: {partition: gpu, mem_gb: 64, time_min: 600,\n"
                    "      tasks: {mnli: {time_min: 900}, baseline: {gpus_per_job: 0}}}\n")
    preset = load_task_config((good,)).presets["big"]
    assert cell_resources(preset, {}, ["mnli"]) == {"partition": "gpu", "mem_gb": 64, "time_min": 900}
    assert cell_resources(preset, {}, [])["gpus_per_job"] == 0
    assert cell_resources(preset, {"time_min": 60, "partition": None}, ["mnli"])["time_min"] == 60
    bad = tmp_path / "bad.yaml"
    bad.write_text("presets:\n  big:\n    resources: {partitoin: gpu}\n")
    with pytest.raises(ConfigError, match=r"presets\.big\.resources\.partitoin: unknown resource; did you mean "
                                          r"'partition'"):
        load_task_config((bad,))
    bad.write_text("presets:\n  big:\n    resources: {tasks: {mnli: {mem_gb: lots}}}\n")
    with pytest.raises(ConfigError, match=r"resources\.tasks\.mnli\.mem_gb: expected"):
        load_task_config((bad,))


def test_pool_needs_devices():
    from harness.run.executors import PoolExecutor

    with pytest.raises(HarnessError, match="needs --devices"):
        PoolExecutor([], Path("."))
    with pytest.raises(HarnessError, match="--devices 'gpu0'"):
        PoolExecutor(["gpu0"], Path("."))


# ------------------------------------------------------------------------------- executors, end to end
GRID = {"intermediate": "mnli", "targets": "xnli", "languages": ("xnli=en,de",), "limit": 8,
        "hparams": ("epochs=1",), "intermediate_hparams": ("epochs=1",), "data": "samples", "device": "cpu",
        "save_every": 10.0, "poll_s": 0.2}


def grid(tiny_model_path, out: Path, **options) -> Any:
    from harness.run.grid import run_grid
    from harness.spec.registry import build_registry

    return run_grid(build_registry(), {**GRID, "model": str(tiny_model_path), "output_dir": str(out), **options})


def metrics_by_key(directory: Path) -> dict[str, Any]:
    records = [r for r in read_records(directory) if r["type"] == "result"]
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)), "a result key twice"
    return {r["key"]: r["metrics"] for r in records}


@pytest.fixture(scope="module")
def serial_grid(tiny_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    summary = grid(tiny_model_path, out)
    assert not summary.errors and summary.computed == 4
    return metrics_by_key(out)


@pytest.mark.slow
@pytest.mark.parametrize("cluster", ["local", "debug"])
def test_submitit_runs_two_cells_and_merged_results_equal_the_serial_grid(serial_grid, tiny_model_path, tmp_path,
                                                                          cluster):
    pytest.importorskip("submitit")
    out = tmp_path / "slurm"
    summary = grid(tiny_model_path, out, executor="slurm", slurm_cluster=cluster)
    assert not summary.errors and summary.computed == 4
    assert len(shard_files(out)) == 2 and not (out / "results.jsonl").exists()
    state = json.loads((out / "grid_state.json").read_text())
    assert state["counts"]["done"] == 2 and all(c["jobs"] for c in state["cells"].values())
    merge_shards(out)
    assert metrics_by_key(out / "results.jsonl") == serial_grid
    again = grid(tiny_model_path, out, executor="slurm", slurm_cluster=cluster)   # all done: nothing submitted
    assert again.computed == 0 and again.skipped == 4


@pytest.mark.slow
def test_ray_runs_the_same_grid(serial_grid, tiny_model_path, tmp_path):
    ray = pytest.importorskip("ray")
    out = tmp_path / "ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}})
    try:
        summary = grid(tiny_model_path, out, executor="ray")
    finally:
        ray.shutdown()
    assert not summary.errors and summary.computed == 4
    assert metrics_by_key(out) == serial_grid


@pytest.mark.slow
def test_a_killed_job_resumes_and_two_runners_on_one_cell_write_each_result_once(serial_grid, tiny_model_path,
                                                                                  tmp_path):
    """A pool worker killed mid-cell: the rerun finishes the cell (no result twice); then two
    runners start on one cell: one computes, the other waits for its lock and reuses everything."""
    from harness.run.grid import grid_cells, plan_grid
    from harness.spec.registry import build_registry

    out = tmp_path / "pool"
    registry = build_registry()
    options = {**GRID, "model": str(tiny_model_path), "output_dir": str(out)}
    cells = grid_cells(plan_grid(registry, options), options)
    mnli = next(c for c in cells if c.intermediate == ["mnli"])
    spec_path = tmp_path / "cell.json"
    spec_path.write_text(mnli.to_json())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "harness.run.cells", str(spec_path)]
    process = subprocess.Popen([*command, str(tmp_path / "r0.json")], env=env, stderr=subprocess.DEVNULL)
    shard = out / "shards" / f"{mnli.shard}.jsonl"
    try:
        deadline = time.monotonic() + 300
        while not (shard.exists() and '"type": "result"' in shard.read_text(encoding="utf-8")):
            assert process.poll() is None, "the cell ended before writing a result"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert process.poll() is None, "the cell finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    # killed after its first result; on a quiet machine it may have written the cell's second one too
    kept = len(metrics_by_key(out))
    assert 1 <= kept < len(serial_grid)

    summary = grid(tiny_model_path, out, executor="pool", devices="cpu,cpu")   # resumes the killed cell
    assert not summary.errors and summary.computed == len(serial_grid) - kept and summary.skipped == kept
    assert "result(s) already in" in (next((out / "grid_logs").glob(f"{mnli.shard}-*.log"))).read_text()
    assert metrics_by_key(out) == serial_grid

    # two runners on one cell (overwrite=always would recompute: use a fresh directory instead)
    out2 = tmp_path / "twice"
    cells = grid_cells(plan_grid(registry, {**options, "output_dir": str(out2)}), options)
    spec_path.write_text(next(c for c in cells if c.intermediate == ["mnli"]).to_json())
    runners = [subprocess.Popen([*command, str(tmp_path / f"r{i}.json")], env=env, stderr=subprocess.PIPE, text=True)
               for i in (1, 2)]
    logs = [runner.communicate(timeout=300)[1] for runner in runners]
    assert [runner.returncode for runner in runners] == [0, 0], logs
    outcomes = sorted((json.loads((tmp_path / f"r{i}.json").read_text()) for i in (1, 2)), key=lambda o: o["computed"])
    assert [(o["computed"], o["skipped"]) for o in outcomes] == [(0, 2), (2, 0)]
    assert any("waiting for it" in log for log in logs)
    assert {k: v for k, v in serial_grid.items() if k in metrics_by_key(out2)} == metrics_by_key(out2)
    assert len(metrics_by_key(out2)) == 2


# ------------------------------------------------------------------------------- several processes in one cell
def launch(nproc: int, args: list[str]) -> subprocess.CompletedProcess:
    """``harness eval`` under a multi-process launcher. accelerate 1.x's ``launch --cpu
    --num_processes 2`` starts one process unless MPI is set up, so the CPU test uses torchrun (what
    ``accelerate launch --multi_gpu`` runs on GPUs); the Accelerator in training joins its gloo group."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    prefix = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
              if nproc > 1 else [sys.executable])
    return subprocess.run([*prefix, "-m", "harness", "eval", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def samples(out: Path) -> dict[str, Any]:
    return {str(p.relative_to(out)): [(r["id"], r["prediction"]) for r in read_records(p)]
            for p in sorted((out / "samples").rglob("*.jsonl"))}


@pytest.mark.slow
def test_two_processes_shard_evaluation_and_write_results_once(tiny_model_path, tmp_path):
    out = tmp_path / "run"
    args = ["--model", str(tiny_model_path), "-i", "mnli", "-t", "xnli,tatoeba", "-l", "xnli=en,de",
            "-l", "tatoeba=de,ru", "--limit", "24", "--hparam", "epochs=1", "--hparam", "batch_size=4",
            "--hparam", "eval_batch_size=4", "--intermediate-hparam", "epochs=1", "--data", "samples",
            "--device", "cpu", "--log-samples", "-o", str(out)]
    one = launch(1, args)
    assert one.returncode == 0, one.stderr
    single, single_samples = metrics_by_key(out), samples(out)
    # the same checkpoints evaluated again by two processes: each a share of the batches, gathered
    two = launch(2, [*args, "--overwrite", "always"])
    assert two.returncode == 0, two.stderr
    records = read_records(out)
    assert [r["type"] for r in records].count("run") == 2            # one per run, not per process
    assert [r["type"] for r in records].count("result") == 2 * len(single)
    assert {r["key"]: r["metrics"] for r in records[len(records) // 2:] if r["type"] == "result"} == single
    assert samples(out) == single_samples and sum(len(v) for v in single_samples.values()) > 8
    assert two.stdout.count("zero-shot scores") == 1                 # the main process reports
    # data-parallel training from scratch: both processes train, one writes
    fresh = tmp_path / "fresh"
    trained = launch(2, [*args[:-1], str(fresh)])
    assert trained.returncode == 0, trained.stderr
    assert set(metrics_by_key(fresh)) == set(single)                  # every cell once
    assert len(list((fresh / "checkpoints").glob("intermediate-*"))) == 1


def launch_patched(tmp_path: Path, nproc: int, prelude: str, args: list[str]) -> subprocess.CompletedProcess:
    """``harness eval ARGS`` under torchrun, each process running ``prelude`` first (to patch in a fault)."""
    script = tmp_path / "patched_harness.py"
    script.write_text(f"import os, sys, time, torch\n{prelude}\nfrom harness.commands import main\n"
                      "sys.argv = ['harness', 'eval', *sys.argv[1:]]\nmain()\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), str(script), *args], env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_a_loss_that_turns_nan_on_one_process_only_stops_every_process(tiny_model_path, tmp_path):
    """Rank 1's loss is NaN from its first batch; rank 0's is finite. Each process used to check only
    its own loss, so rank 1 raised while rank 0 waited in the next gradient all-reduce until the
    process group's timeout (30 minutes). Both must stop at the same check, with the error recorded."""
    out = tmp_path / "run"
    nan_on_rank1 = ("if os.environ.get('RANK') == '1':\n"
                    "    finite = torch.nn.functional.cross_entropy\n"
                    "    torch.nn.functional.cross_entropy = lambda *a, **k: finite(*a, **k) * float('nan')")
    done = launch_patched(tmp_path, 2, nan_on_rank1,
                          ["--model", str(tiny_model_path), "-i", "mnli", "-t", "xnli", "-l", "xnli=en", "--limit",
                           "24", "--hparam", "epochs=1", "--hparam", "batch_size=4", "--intermediate-hparam",
                           "epochs=1", "--data", "samples", "--device", "cpu", "-o", str(out)])
    records = read_records(out)
    errors = [r for r in records if r["type"] == "error"]
    assert errors and "loss became nan" in errors[0]["message"], done.stderr[-3000:]
    assert not [r for r in records if r["type"] == "result"]


@pytest.mark.slow
def test_a_damaged_checkpoint_is_set_aside_once_when_several_processes_find_it(tiny_model_path, tmp_path):
    """Every process checks a checkpoint before reusing it. Each used to move a damaged one aside on
    its own: the second rename found nothing to move and that process failed, leaving the other
    waiting. Now the processes agree, the main one moves it aside once, and they retrain together."""
    out = tmp_path / "run"
    args = ["--model", str(tiny_model_path), "-i", "mnli", "-t", "xnli", "-l", "xnli=en,de", "--limit", "16",
            "--hparam", "epochs=1", "--hparam", "batch_size=4", "--intermediate-hparam", "epochs=1",
            "--data", "samples", "--device", "cpu", "-o", str(out)]
    assert launch(1, args).returncode == 0
    single = metrics_by_key(out)
    [intermediate] = (out / "checkpoints").glob("intermediate-*")
    weights = next((intermediate / "encoder").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-64])                   # truncated after the save
    # every process finds the damage before any moves it aside (a large checkpoint takes seconds to hash)
    slow_check = ("import harness.run.checkpoints as c\nfound = c.checkpoint_problem\n"
                  "c.checkpoint_problem = lambda d: (found(d), time.sleep(3))[0]")
    two = launch_patched(tmp_path, 2, slow_check, [*args, "--overwrite", "always"])
    assert two.returncode == 0, two.stderr[-3000:]
    assert len(list((out / "checkpoints").glob("intermediate-*damaged*"))) == 1
    assert two.stderr.count("is damaged") == 1                         # one process moved it, once
    retrained = [r for r in read_records(out) if r["type"] == "result"][len(single):]
    assert {r["key"] for r in retrained} == set(single)
