"""Whether the runs of one comparison were timed under comparable conditions.

Wall time measures the method and the machine together: a run that shared its cores with other work
looks slower than it is. Two signs give that away, both recorded in run.json: the background load the
sampler saw (cores other work kept busy), and CPU time / wall time (the cores the run itself had on
average). When either differs materially between runs, their timings and costs are not comparable.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from adaptlab.schemas.run_record import RunRecord

# Background load differing by a quarter of the machine (at least half a core) is material.
BACKGROUND_SHARE_OF_MACHINE = 0.25
BACKGROUND_MIN_CORES = 0.5
# A run that had less than 2/3 of the cores another had on average was starved, not slower.
CORES_USED_RATIO = 2 / 3


@dataclass(frozen=True)
class RunTiming:
    label: str
    wall_time_s: float
    process_cpu_time_s: float | None
    background_busy_cores: float | None
    cpu_cores: int | None

    @property
    def cores_used(self) -> float | None:
        """Cores the run kept busy on average: CPU time / wall time."""
        return None if self.process_cpu_time_s is None else self.process_cpu_time_s / max(self.wall_time_s, 1e-9)


def run_timing(label: str, record: RunRecord) -> RunTiming:
    load = record.load
    return RunTiming(
        label=label,
        wall_time_s=record.metrics.wall_time_s,
        process_cpu_time_s=record.metrics.process_cpu_time_s,
        background_busy_cores=load.mean_background_cores if load else None,
        cpu_cores=load.cpu_cores if load else None,
    )


def timing_differences(timings: Sequence[RunTiming]) -> list[str]:
    """Why these runs' timings are not comparable, one sentence per sign; empty when they are (or cannot be told)."""
    reasons = []
    loaded = [t for t in timings if t.background_busy_cores is not None]
    if len(loaded) > 1:
        quiet = min(loaded, key=lambda t: t.background_busy_cores)
        busy = max(loaded, key=lambda t: t.background_busy_cores)
        cores = max(t.cpu_cores or 1 for t in loaded)
        if busy.background_busy_cores - quiet.background_busy_cores >= max(BACKGROUND_MIN_CORES, BACKGROUND_SHARE_OF_MACHINE * cores):
            reasons.append(
                f"other work kept {busy.background_busy_cores:.1f} of {cores} cores busy on average while {busy.label} trained, "
                f"{quiet.background_busy_cores:.1f} while {quiet.label} did"
            )
    measured = [t for t in timings if t.cores_used is not None]
    if len(measured) > 1:
        starved = min(measured, key=lambda t: t.cores_used)
        fed = max(measured, key=lambda t: t.cores_used)
        if starved.cores_used < CORES_USED_RATIO * fed.cores_used:
            reasons.append(
                f"{starved.label} kept {starved.cores_used:.2f} cores busy on average (CPU time / wall time), "
                f"{fed.label} {fed.cores_used:.2f}: {starved.label} waited for the CPU"
            )
    return reasons
