"""What a run directory holds that no later run needs: the temp files and dirs of writes a kill
interrupted, the mid-phase training state of phases that finished (or of configurations never run
again), and checkpoints set aside as damaged. The pipeline removes the safe part at start-up;
``harness clean`` lists (and with ``--delete`` removes) all of it."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

PARTIAL = ".partial"      # <checkpoint>.partial/: mid-phase training state
DAMAGED = ".damaged-"     # <checkpoint>.damaged-<time>/: set aside because it failed validation
TEMP = ".tmp"             # .<name>.<random>.tmp: temp file of an atomic write


@dataclass
class Leftover:
    path: Path
    reason: str
    safe: bool            # removed at start-up: nothing could ever use it

    @property
    def size(self) -> int:
        if self.path.is_file():
            return self.path.stat().st_size
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def find_leftovers(run_dir: Path) -> list[Leftover]:
    """Everything in ``run_dir`` that can go, the safe part first."""
    run_dir = Path(run_dir)
    checkpoints = run_dir / "checkpoints"
    found: list[Leftover] = []
    if checkpoints.is_dir():
        for path in sorted(checkpoints.iterdir()):
            if path.name.startswith("."):
                found.append(Leftover(path, "temp dir of a checkpoint save that was interrupted", True))
            elif path.name.endswith(PARTIAL):
                finished = (checkpoints / path.name[:-len(PARTIAL)] / "meta.json").exists()
                found.append(Leftover(path, "training state of a finished phase" if finished else
                                      "training state of an unfinished phase (a rerun of its command resumes "
                                      "from it)", finished))
                if not finished:
                    found.extend(Leftover(stray, "temp file of an interrupted state save", True)
                                 for stray in sorted(path.glob(f".*{TEMP}")))
            elif DAMAGED in path.name:
                found.append(Leftover(path, "damaged checkpoint set aside (retrained since)", False))
    samples = run_dir / "samples"
    if samples.is_dir():
        found.extend(Leftover(path, "temp file of an interrupted --log-samples write", True)
                     for path in sorted(samples.rglob(f".*{TEMP}")))
    return sorted(found, key=lambda item: not item.safe)


def remove(leftover: Leftover) -> None:
    if leftover.path.is_dir() and not leftover.path.is_symlink():
        shutil.rmtree(leftover.path, ignore_errors=True)
    else:
        leftover.path.unlink(missing_ok=True)
