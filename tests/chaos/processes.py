"""The stack's processes: the resident memory of TorchServe's (its Java frontend and each Python
worker, found through its process group), and the CPUs any of them may run on."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import psutil

from tools.torchserve import TorchServe

MB = 1024 * 1024


def processes(torchserve: TorchServe) -> dict[str, psutil.Process]:
    """TorchServe's frontend and workers by name: "frontend", "worker <pid>"."""
    named = {f"worker {worker.pid}": worker for worker in torchserve.workers()}
    if (frontend := torchserve.frontend()) is not None:
        named["frontend"] = frontend
    return named


def resident(torchserve: TorchServe) -> dict[str, int]:
    """The resident set of each of TorchServe's processes now, in bytes."""
    sizes = {}
    for name, process in processes(torchserve).items():
        try:
            sizes[name] = process.memory_info().rss
        except psutil.NoSuchProcess:
            continue  # exited between listing and reading
    return sizes


class PeakResident(threading.Thread):
    """`with PeakResident(torchserve) as peak:` samples every process's resident set every
    `interval` seconds while the block runs; `peak.bytes` holds the largest seen per process.
    A decode's peak lasts as long as the decode (0.1 s and more), so 10 ms samples catch it."""

    def __init__(self, torchserve: TorchServe, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.torchserve, self.interval = torchserve, interval
        self.bytes: dict[str, int] = {}
        self._done = threading.Event()

    def __enter__(self) -> PeakResident:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        # Listing the group scans every process on the machine: once, and again only when one
        # of them has gone (a worker replaced), so sampling costs the measured processes little.
        watched = processes(self.torchserve)
        while not self._done.wait(self.interval):
            for name, process in list(watched.items()):
                try:
                    rss = process.memory_info().rss
                except psutil.NoSuchProcess:
                    watched = processes(self.torchserve)
                    break
                self.bytes[name] = max(rss, self.bytes.get(name, 0))


@contextlib.contextmanager
def pinned(*placements: tuple[list[psutil.Process], set[int]]) -> Iterator[None]:
    """`with pinned((processes, cpus), …):` every thread of those processes runs on those CPUs
    only until the block ends, then on every CPU this process may use. Threads and children
    started meanwhile inherit the setting of the thread that starts them."""
    everywhere = os.sched_getaffinity(0)
    try:
        for processes, cpus in placements:
            _set_cpus(processes, cpus)
        yield
    finally:
        for processes, _ in placements:
            _set_cpus(processes, everywhere)


def _set_cpus(processes: list[psutil.Process], cpus: set[int]) -> None:
    # sched_setaffinity applies to one thread (a JVM has dozens): set each.
    for process in processes:
        try:
            threads = process.threads()
        except psutil.NoSuchProcess:
            continue
        for thread in threads:
            with contextlib.suppress(ProcessLookupError):  # the thread has ended
                os.sched_setaffinity(thread.id, cpus)
