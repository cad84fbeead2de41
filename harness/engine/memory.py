"""Peak host (RSS) and GPU memory of a block of work."""
from __future__ import annotations

import resource
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import torch


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # not Linux: fall back to the lifetime peak
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


class _PeakTracker:
    """Samples RSS in a background thread (ru_maxrss is a lifetime peak, useless per block)."""

    def __init__(self, device: torch.device, interval: float = 0.02):
        self.device, self.interval = device, interval
        self.peak_host_mb = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_host_mb = max(self.peak_host_mb, current_rss_mb())

    def stats(self) -> dict[str, float]:
        out = {"peak_host_mb": round(max(self.peak_host_mb, current_rss_mb()), 1)}
        if self.device.type == "cuda":
            out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        return out


@contextmanager
def peak_memory(device: torch.device) -> Iterator[_PeakTracker]:
    tracker = _PeakTracker(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tracker._thread.start()
    try:
        yield tracker
    finally:
        tracker._stop.set()
        tracker._thread.join()
        tracker.peak_host_mb = max(tracker.peak_host_mb, current_rss_mb())
