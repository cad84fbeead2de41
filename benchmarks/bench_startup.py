"""Start-up cost of the CLI against the interpreter's own: ``python -c pass`` vs ``python -m harness
--help``, a mistyped command, ``harness tasks`` and a mistyped model alias (answered before any work).

Each command runs ``--runs`` times in turns (A B C ... then rotated), so a burst of load elsewhere hits
all of them alike; the table shows the median and best wall time and the median's ratio to
``python -c pass``. ``--json`` writes the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "harness --help": ["-m", "harness", "--help"],
    "harness evl (mistyped)": ["-m", "harness", "evl"],
    "harness tasks": ["-m", "harness", "tasks"],
    "harness eval --model minilmm": ["-m", "harness", "eval", "--model", "minilmm", "--targets", "xnli"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    names = list(COMMANDS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for run in range(args.runs):
        for name in names[run % len(names):] + names[:run % len(names)]:
            start = time.perf_counter()
            subprocess.run([sys.executable, *COMMANDS[name]], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    rows = [{"command": name, "median_s": statistics.median(t), "best_s": min(t),
             "ratio_to_python": statistics.median(t) / base,
             "beyond_python_s": statistics.median(t) - base} for name, t in times.items()]
    print(f"{'command':32} {'median s':>9} {'best s':>8} {'x python':>9} {'+ s':>7}")
    for row in rows:
        print(f"{row['command']:32} {row['median_s']:9.3f} {row['best_s']:8.3f} {row['ratio_to_python']:9.2f} "
              f"{row['beyond_python_s']:7.3f}")
    print(f"load average: {os.getloadavg()[0]:.1f}; {args.runs} runs each, in rotated turns")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"runs": args.runs, "load": os.getloadavg()[0], "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
