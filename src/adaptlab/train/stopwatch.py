"""Wall and CPU seconds of the training loop: continued from a resumed run's, with evaluation left out.

CPU time (all threads of the process) beside wall time shows how much of the machine the run had:
a run that waited for the CPU has a long wall time but about the same CPU time."""

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stopwatch:
    def __init__(self, wall_s: float = 0.0, cpu_s: float = 0.0):
        self._wall_start = time.perf_counter() - wall_s
        self._cpu_start = time.process_time() - cpu_s

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self._wall_start

    @property
    def cpu_s(self) -> float:
        return time.process_time() - self._cpu_start

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside does not count (evaluation is not training)."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self._wall_start += time.perf_counter() - wall
            self._cpu_start += time.process_time() - cpu
