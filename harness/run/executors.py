"""Where grid cells run: the executor seam of ``harness grid --executor local|pool|slurm|ray``.

An executor submits a :class:`~harness.run.cells.CellSpec` and returns a :class:`Job` the manager
polls (``done``), collects (``result``: what the cell did, or the exception that crashed it) and
cancels. ``local`` runs cells one after the other in this process (today's serial grid);
``pool`` runs one worker process per device (``--devices 0,1,2,3``); ``slurm`` submits jobs through
``submitit`` (its local executor where there is no SLURM); ``ray`` runs Ray tasks on an existing
cluster (``--ray-address``) or a local one. ``submitit`` and ``ray`` are optional extras.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.run.cells import CellSpec

EXECUTORS = ("local", "pool", "slurm", "ray")



class CellFailed(Exception):
    """A job ended without a result (killed, crashed, cancelled); the message says how."""


class Job:
    """One submitted cell."""

    id: str = ""
    log_path: str | None = None

    def done(self) -> bool:
        raise NotImplementedError

    def result(self) -> dict[str, Any]:
        """What the cell did (see run_cell); raises when the job failed."""
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError


class Executor:
    name = "executor"
    #: cells that may run at once (0: no limit of the executor's own)
    slots = 0

    def submit(self, cell: CellSpec, attempt: int) -> Job:
        raise NotImplementedError

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------- local
class _DoneJob(Job):
    def __init__(self, ident: str, outcome: dict[str, Any] | None, error: BaseException | None):
        self.id, self.outcome, self.error = ident, outcome, error

    def done(self) -> bool:
        return True

    def result(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome

    def cancel(self) -> None:
        pass


class LocalExecutor(Executor):
    """One cell at a time, in this process, with this process's registry and progress display, into
    the directory's ``results.jsonl`` (today's serial grid)."""

    name, slots = "local", 1

    def __init__(self, registry: Any, reporter: Any = None, log: Callable[[str], None] | None = None):
        self.registry, self.reporter, self.log = registry, reporter, log

    def submit(self, cell: CellSpec, attempt: int) -> Job:
        from harness.errors import Interrupted, LockedError, StorageError
        from harness.run.cells import run_cell

        try:
            outcome = run_cell(cell, self.registry, self.reporter, self.log, sharded=False)
        except (LockedError, Interrupted, StorageError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the manager retries or records it
            return _DoneJob(f"local-{cell.shard}-{attempt}", None, exc)
        return _DoneJob(f"local-{cell.shard}-{attempt}", outcome, None)


# --------------------------------------------------------------------------------- pool
class _ProcessJob(Job):
    def __init__(self, process: subprocess.Popen, ident: str, log_path: Path, result_path: Path, device: str,
                 release: Callable[[str], None]):
        self.process, self.id, self.log_path, self.log_file = process, ident, str(log_path), log_path
        self.result_path, self.device, self._release = result_path, device, release
        self._released = False

    def _free(self) -> None:
        if not self._released:
            self._released = True
            self._release(self.device)

    def done(self) -> bool:
        finished = self.process.poll() is not None
        if finished:
            self._free()
        return finished

    def result(self) -> dict[str, Any]:
        from harness.results.records import read_records

        code = self.process.wait()
        self._free()
        if code != 0:
            tail = _log_tail(self.log_file)
            raise CellFailed(f"worker process exited with {_exit_text(code)}" + (f": {tail}" if tail else ""))
        records = read_records(self.result_path)
        if not records:
            raise CellFailed(f"worker process wrote no result to {self.result_path}")
        return records[0]

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()   # SIGTERM: training saves its state, then the worker stops
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._free()


class PoolExecutor(Executor):
    """One worker process per device: ``0,1`` are CUDA devices (``CUDA_VISIBLE_DEVICES``), ``cpu``
    a CPU slot (``cpu,cpu``: two CPU workers)."""

    name = "pool"

    def __init__(self, devices: list[str], work_dir: Path):
        if not devices:
            raise HarnessError("--executor pool needs --devices (e.g. 0,1,2,3 or cpu,cpu)")
        for device in devices:
            if device != "cpu" and not device.isdigit():
                raise HarnessError(f"--devices '{device}': expected CUDA device numbers or 'cpu'")
        self.devices = list(devices)
        self.free = list(devices)
        self.slots = len(devices)
        self.work_dir = Path(work_dir)

    def _release(self, device: str) -> None:
        self.free.append(device)

    def submit(self, cell: CellSpec, attempt: int) -> Job:
        if not self.free:
            raise HarnessError("pool executor: no free device (the manager submitted past --devices)")
        device = self.free.pop(0)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{cell.shard}-{attempt}"
        spec_path, result_path = self.work_dir / f"{stem}.spec.json", self.work_dir / f"{stem}.result.json"
        log_path = self.work_dir / f"{stem}.log"
        result_path.unlink(missing_ok=True)
        if device == "cpu":
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
            request = {**cell.request, "device": "cpu"}
        else:
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
            request = {**cell.request, "device": "cuda:0"}
        spec = CellSpec(**{**cell.__dict__, "request": request})
        spec_path.write_text(spec.to_json(), encoding="utf-8")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        with open(log_path, "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "harness.run.cells", str(spec_path), str(result_path)],
                                       env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return _ProcessJob(process, f"pid {process.pid} (device {device})", log_path, result_path, device,
                           self._release)

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------- slurm
@dataclass
class SlurmSettings:
    partition: str | None = None
    gpus_per_job: int = 1
    cpus_per_job: int = 8
    mem_gb: float = 32
    time_min: int = 24 * 60
    max_concurrent: int = 0
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    cluster: str | None = None        # None: SLURM when sbatch is there, else submitit's local executor
    extra: dict[str, Any] = field(default_factory=dict)


class _SubmititJob(Job):
    def __init__(self, job: Any):
        self.job = job
        self.id = str(job.job_id)
        try:
            self.log_path = str(job.paths.stdout)
        except Exception:  # noqa: BLE001 - the debug executor has no files
            self.log_path = None

    def done(self) -> bool:
        return bool(self.job.done())

    def result(self) -> dict[str, Any]:
        try:
            return self.job.result()
        except Exception as exc:  # noqa: BLE001 - submitit's FailedJobError etc.: one line for the state file
            text = str(exc).strip().splitlines()
            raise CellFailed(f"job {self.id}: {type(exc).__name__}: "
                             f"{_last_meaningful(text) or 'failed'}") from exc

    def cancel(self) -> None:
        try:
            self.job.cancel(check=False)
        except Exception:  # noqa: BLE001 - a finished job cannot be cancelled
            pass


class SlurmExecutor(Executor):
    """Jobs through ``submitit.AutoExecutor``: SLURM where ``sbatch`` exists, else its local executor."""

    name = "slurm"

    def __init__(self, settings: SlurmSettings, folder: Path, say: Callable[[str], None]):
        try:
            import submitit
        except ImportError:
            raise HarnessError("--executor slurm needs submitit: pip install 'xstilts-harness[slurm]'") from None
        self.settings = settings
        cluster = settings.cluster
        if cluster is None and shutil.which("sbatch") is None:
            cluster = "local"
            say("no SLURM on this machine (sbatch not found): --executor slurm runs each cell through "
                "submitit's local executor")
        self.cluster = cluster or "slurm"
        self.executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        self.slots = settings.max_concurrent
        self._configured: dict[str, Any] | None = None

    def _parameters(self, resources: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        values = {"partition": s.partition, "gpus_per_job": s.gpus_per_job, "cpus_per_job": s.cpus_per_job,
                  "mem_gb": s.mem_gb, "time_min": s.time_min, "account": s.account, "qos": s.qos,
                  "constraint": s.constraint, **{k: v for k, v in resources.items() if k != "max_concurrent"}}
        params: dict[str, Any] = {"timeout_min": int(values["time_min"]), "name": "harness-grid"}
        if self.cluster == "slurm":
            params.update(slurm_mem=f"{int(float(values['mem_gb']) * 1024)}M",
                          slurm_gpus_per_node=int(values["gpus_per_job"]),
                          slurm_cpus_per_task=int(values["cpus_per_job"]), slurm_ntasks_per_node=1)
            for key in ("partition", "account", "qos", "constraint"):
                if values.get(key):
                    params[f"slurm_{key}"] = values[key]
            params.update(s.extra)
        elif self.cluster == "local":
            params.update(local_gpus_per_node=int(values["gpus_per_job"]) if _has_gpus() else 0)
        return params

    def submit(self, cell: CellSpec, attempt: int) -> Job:
        from harness.run.cells import run_cell_json

        params = self._parameters(cell.resources)
        if params != self._configured:
            self.executor.update_parameters(**params)
            self._configured = params
        return _SubmititJob(self.executor.submit(run_cell_json, cell.to_json()))


def _has_gpus() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------------- ray
class _RayJob(Job):
    def __init__(self, ray: Any, ref: Any):
        self.ray, self.ref = ray, ref
        self.id = f"ray:{ref.task_id().hex()[:16]}" if hasattr(ref, "task_id") else f"ray:{ref}"
        self.log_path = "ray logs (ray logs --help)"

    def done(self) -> bool:
        ready, _ = self.ray.wait([self.ref], timeout=0)
        return bool(ready)

    def result(self) -> dict[str, Any]:
        try:
            return self.ray.get(self.ref)
        except Exception as exc:  # noqa: BLE001 - RayTaskError wraps the cell's exception
            text = str(exc).strip().splitlines()
            raise CellFailed(f"{self.id}: {type(exc).__name__}: {_last_meaningful(text) or 'failed'}") from exc

    def cancel(self) -> None:
        try:
            self.ray.cancel(self.ref, force=True)
        except Exception:  # noqa: BLE001 - a finished task cannot be cancelled
            pass


class RayExecutor(Executor):
    """Ray tasks: on the cluster at ``address`` (``auto``: the one this node belongs to), else a local
    one (``num_cpus`` CPUs). Each task asks for ``gpus_per_job`` GPUs and ``cpus_per_job`` CPUs."""

    name = "ray"

    def __init__(self, address: str | None, gpus_per_job: float = 0, cpus_per_job: float = 1,
                 max_concurrent: int = 0, num_cpus: int | None = None, say: Callable[[str], None] | None = None):
        try:
            import ray
        except ImportError:
            raise HarnessError("--executor ray needs ray: pip install 'xstilts-harness[ray]'") from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            passed = ("HF_HUB_OFFLINE", "HF_HOME", "HARNESS_PLUGINS", "HARNESS_DISABLE_PLUGINS")
            runtime_env = {"env_vars": {"TOKENIZERS_PARALLELISM": "false",
                                        **{name: os.environ[name] for name in passed if name in os.environ}}}
            if address:
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, runtime_env=runtime_env, log_to_driver=False,
                         include_dashboard=False)
            self.started = True
        if say is not None:
            say(f"ray: {'cluster at ' + address if address else 'a local cluster'} "
                f"({ray.cluster_resources().get('CPU', 0):g} CPUs, {ray.cluster_resources().get('GPU', 0):g} GPUs)")
        from harness.run.cells import run_cell_json

        self.remote = ray.remote(max_retries=0)(run_cell_json)
        self.gpus, self.cpus = float(gpus_per_job), float(cpus_per_job)
        self.slots = max_concurrent

    def submit(self, cell: CellSpec, attempt: int) -> Job:
        gpus = float(cell.resources.get("gpus_per_job", self.gpus))
        cpus = float(cell.resources.get("cpus_per_job", self.cpus))
        return _RayJob(self.ray, self.remote.options(num_gpus=gpus, num_cpus=cpus).remote(cell.to_json()))

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


# --------------------------------------------------------------------------------- helpers
def _exit_text(code: int) -> str:
    if code < 0:
        import signal
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _last_meaningful(lines: list[str]) -> str:
    for line in reversed(lines):
        line = line.strip()
        if line and not set(line) <= set("-=^~ "):
            return line[:300]
    return ""


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return _last_meaningful(lines[-20:])

