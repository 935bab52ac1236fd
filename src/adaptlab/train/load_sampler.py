"""Sample the machine's CPU load while a run trains, so a comparison can tell when its runs competed with
other work for the same cores (their timings then say more about the machine than about the method).

A daemon thread reads psutil every `interval_s`: cores busy machine-wide and cores this process kept busy;
the difference is what other work took. Leaving takes one last sample, so a short run has one too, unless the
previous sample is less than half an interval old: psutil counts a process's CPU time in 10 ms ticks, so over a
few milliseconds one tick would read as whole cores. Memory stays bounded: at `max_samples` every other sample is
dropped and the interval doubles, so a long run keeps an even spread over its whole length.
"""

import threading
import time

import psutil

from adaptlab.schemas.run_record import LoadSample, MachineLoad

DEFAULT_INTERVAL_S = 5.0
DEFAULT_MAX_SAMPLES = 240


class LoadSampler:
    """Context manager: `with LoadSampler() as sampler: train()`, then `sampler.load()` for run.json."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, max_samples: int = DEFAULT_MAX_SAMPLES, process: psutil.Process | None = None):
        self.interval_s = interval_s
        self.max_samples = max(2, max_samples)
        self.cpu_cores = psutil.cpu_count() or 1
        self._process = process or psutil.Process()
        self._samples: list[LoadSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="adaptlab-load-sampler", daemon=True)
        self._started = 0.0
        self._sampled_at = 0.0

    def __enter__(self) -> "LoadSampler":
        psutil.cpu_percent(interval=None)  # the first call only sets the baseline of both counters
        self._process.cpu_percent(interval=None)
        self._started = self._sampled_at = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        if not self._samples or time.perf_counter() - self._sampled_at >= self.interval_s / 2:
            self._samples.append(self.sample())

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._samples.append(self.sample())
            if len(self._samples) >= self.max_samples:
                self._samples = self._samples[1::2]
                self.interval_s *= 2

    def sample(self) -> LoadSample:
        """Busy cores since the previous sample (or since entering)."""
        machine = psutil.cpu_percent(interval=None) / 100.0 * self.cpu_cores
        run = self._process.cpu_percent(interval=None) / 100.0
        self._sampled_at = time.perf_counter()
        return LoadSample(
            elapsed_s=round(self._sampled_at - self._started, 3),
            machine_busy_cores=round(machine, 3),
            run_busy_cores=round(run, 3),
            background_busy_cores=round(max(0.0, machine - run), 3),
        )

    def load(self) -> MachineLoad:
        return MachineLoad(cpu_cores=self.cpu_cores, interval_s=self.interval_s, samples=list(self._samples))
