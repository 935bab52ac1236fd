"""Whether the runs of one comparison were timed under comparable conditions.

Wall time measures the method and the machine together: a run that shared its cores with other work
looks slower than it is. Two signs give that away, both recorded in run.json: the background load the
sampler saw (cores other work kept busy), and CPU time / wall time (the cores the run itself had on
average). When either differs materially between runs, their timings and costs are not comparable.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from adaptlab.compare.costs import cpu_time_cost_usd
from adaptlab.compare.schema import MethodResult

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

    @property
    def cores_used(self) -> float | None:
        """Cores the run kept busy on average: CPU time / wall time."""
        return None if self.process_cpu_time_s is None else self.process_cpu_time_s / max(self.wall_time_s, 1e-9)


def result_timing(result: MethodResult) -> RunTiming:
    return RunTiming(result.label, result.train_time_s, result.process_cpu_time_s, result.background_busy_cores)


def with_comparable_costs(
    results: Sequence[MethodResult], cpu_cores: int, on_gpu: bool, price_per_hour_usd: float
) -> tuple[list[MethodResult], list[str]]:
    """The results, and why their timings are not comparable (empty when they are). When they are not and
    the runs trained on CPU, each cost is recomputed from its CPU time, the figure the competition hardly moved;
    on a GPU the CPU time says little about the work, so costs stay on wall time, marked."""
    reasons = timing_differences([result_timing(r) for r in results], cpu_cores)
    if not reasons or on_gpu or any(r.process_cpu_time_s is None for r in results):
        return list(results), reasons
    return [
        r.model_copy(update={"cost_usd": cpu_time_cost_usd(r.process_cpu_time_s, cpu_cores, price_per_hour_usd), "cost_basis": "cpu_time"})
        for r in results
    ], reasons


def timing_differences(timings: Sequence[RunTiming], cpu_cores: int) -> list[str]:
    """Why these runs' timings are not comparable, one sentence per sign; empty when they are (or cannot be told)."""
    reasons = []
    loaded = [t for t in timings if t.background_busy_cores is not None]
    if len(loaded) > 1:
        quiet = min(loaded, key=lambda t: t.background_busy_cores)
        busy = max(loaded, key=lambda t: t.background_busy_cores)
        if busy.background_busy_cores - quiet.background_busy_cores >= max(BACKGROUND_MIN_CORES, BACKGROUND_SHARE_OF_MACHINE * cpu_cores):
            reasons.append(
                f"other work kept {busy.background_busy_cores:.1f} of {cpu_cores} cores busy on average while {busy.label} trained, "
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
