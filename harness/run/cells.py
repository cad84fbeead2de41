"""The unit of work of a distributed grid: a serialisable cell spec, and the function a worker runs.

A :class:`CellSpec` is one step of the grid (an intermediate configuration and a seed, with all its
targets, so each intermediate model is trained once), written as JSON: the :class:`RunRequest`
field by field (every field, so a field added to the request travels without a change here), what
the worker needs to build the same registry (plugins, tasks files, data directory), and the name of
its results shard and lock. :func:`run_cell` is what a SLURM job, a Ray task or a pool process
runs: it rebuilds the registry and the pipeline and runs it into the cell's shard. Checkpoints live
under the output directory (shared storage) and are found by content key, as in a serial grid.

``python -m harness.run.cells SPEC.json RESULT.json`` runs one cell (the pool executor's workers).
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

#: fields of the request that do not change what a cell computes (they stay out of its name)
_NOT_IDENTITY = ("overwrite", "save_every_s", "hook_timeout_s", "device", "log_samples")


def encode(value: Any) -> Any:
    """A request field as JSON; a Path is tagged so it comes back a Path."""
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [encode(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise HarnessError(f"a grid cell cannot carry a {type(value).__name__} value ({str(value)[:60]!r}): "
                       f"request fields must be JSON values or paths")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__path__"}:
            return Path(value["__path__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


@dataclass
class CellSpec:
    """One grid cell: what to compute (the request) and where its results go (the shard)."""

    intermediate: list[str]
    seed: int
    request: dict[str, Any]                 # RunRequest fields, encoded (see encode)
    registry: dict[str, Any] = field(default_factory=dict)   # plugins, tasks_files, disabled, strict, data_dir
    shard: str = ""
    resources: dict[str, Any] = field(default_factory=dict)  # executor resources of this cell
    title: str = ""                         # the configuration with its axis points (GridStep.label)

    @classmethod
    def from_request(cls, intermediate: list[str], seed: int, request: Any, registry: dict[str, Any],
                     resources: dict[str, Any] | None = None, title: str = "") -> "CellSpec":
        from harness.run.provenance import content_key

        encoded = {f.name: encode(getattr(request, f.name)) for f in dataclasses.fields(request)}
        out = Path(request.output_dir).resolve()
        encoded["output_dir"] = encode(out)
        identity = {k: v for k, v in encoded.items() if k not in _NOT_IDENTITY and k != "output_dir"}
        label = "+".join(intermediate) or "baseline"
        shard = f"{label[:60]}-s{seed}-{content_key(identity, 10)}"
        return cls(list(intermediate), int(seed), encoded, dict(registry), shard, dict(resources or {}), title)

    @property
    def label(self) -> str:
        return f"seed {self.seed} · {self.title or '+'.join(self.intermediate) or 'baseline'}"

    @property
    def output_dir(self) -> Path:
        return Path(decode(self.request["output_dir"]))

    def run_request(self):
        """The RunRequest back (fields a newer harness added and this one lacks are an error)."""
        from harness.run.request import RunRequest

        known = {f.name for f in dataclasses.fields(RunRequest)}
        unknown = sorted(set(self.request) - known)
        if unknown:
            raise HarnessError(f"grid cell {self.shard}: request field(s) {', '.join(unknown)} unknown to this "
                               f"harness (workers must run the same version as the manager)")
        return RunRequest(**{k: decode(v) for k, v in self.request.items()})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CellSpec":
        try:
            data = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"not a grid cell spec: {str(exc).splitlines()[0]}") from None


def registry_args(env: Any, data_dir: str | None) -> dict[str, Any]:
    """What a worker needs to build the manager's registry: absolute paths (workers may start elsewhere)."""
    def absolute(value: str) -> str:
        return ",".join(str(Path(p).resolve()) if p.endswith(".py") else p for p in value.split(","))

    return {"plugins": [absolute(p) for p in getattr(env, "plugins", ()) or ()],
            "tasks_files": [str(Path(p).resolve()) for p in getattr(env, "tasks_files", ()) or ()],
            "disabled": list(getattr(env, "disabled", ()) or ()), "strict": bool(getattr(env, "strict", False)),
            "data_dir": str(Path(data_dir).resolve()) if data_dir else None}


def build_cell_registry(spec: CellSpec):
    from harness.spec.registry import build_registry

    args = spec.registry
    return build_registry(plugins=args.get("plugins") or (), tasks_files=args.get("tasks_files") or (),
                          disabled=args.get("disabled") or (), strict=bool(args.get("strict")),
                          data_dir=args.get("data_dir"))


def run_cell(spec: CellSpec, registry: Any = None, reporter: Any = None, log: Any = None,
             sharded: bool = True) -> dict[str, Any]:
    """Run one cell into its shard (``sharded``; else into ``results.jsonl`` under the directory's
    lock, as a serial grid does); what it did, as JSON values (results and error records, counts).
    A crash of the whole cell raises (the manager retries it, then records the error)."""
    from harness.run.pipeline import Pipeline

    registry = registry if registry is not None else build_cell_registry(spec)
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    pipeline = Pipeline(registry, spec.run_request(), reporter=reporter, log=log,
                        shard=spec.shard if sharded else None)
    summary = pipeline.run()
    return {"run_id": summary.run_id, "results": summary.results, "errors": summary.errors,
            "computed": summary.computed, "skipped": summary.skipped,
            "results_file": str(summary.results_file), "wall_seconds": summary.wall_seconds}


def run_cell_json(text: str) -> dict[str, Any]:
    """:func:`run_cell` of a JSON spec: what SLURM jobs and Ray tasks call (a picklable module function)."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return run_cell(CellSpec.from_json(text))


def main(argv: list[str]) -> int:
    """Pool worker: run the spec in ``argv[0]``, write what it did to ``argv[1]`` (atomically)."""
    from harness.errors import Interrupted
    from harness.results.records import write_jsonl_atomic

    spec = CellSpec.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        outcome = run_cell_json(spec.to_json())
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    write_jsonl_atomic(Path(argv[1]), [outcome])
    return 0


if __name__ == "__main__":  # pragma: no cover - the pool executor's worker process
    sys.exit(main(sys.argv[1:]))
