"""Timings of runs that competed for the CPU are flagged as not comparable, and say why.

The starved run is real: a child process doing a fixed amount of CPU work, measured by the real
load sampler, once alone and once pinned to one core with busy processes on that core."""

import os
import subprocess
import sys
import time

import psutil
import pytest

from adaptlab.compare.costs import cost_usd, cpu_time_cost_usd
from adaptlab.compare.timings import RunTiming, timing_differences, with_comparable_costs
from adaptlab.train.load_sampler import LoadSampler
from tests.compare.conftest import PRICE_PER_HOUR_USD, method_result

# a fixed amount of CPU work; then the child says so and waits, so it can still be measured
WORK = "import sys, time\nwhile time.process_time() < 0.3: pass\nprint('done', flush=True)\nsys.stdin.read()\n"
BURN = "while True: pass\n"
BURNERS = 8


def timed_work(label: str, burners: int) -> RunTiming:
    """Run WORK in a child on core 0, with `burners` busy processes on the same core; time and sample it."""
    core = {sorted(os.sched_getaffinity(0))[0]}
    pin = lambda: os.sched_setaffinity(0, core)  # noqa: E731
    busy = [subprocess.Popen([sys.executable, "-c", BURN], preexec_fn=pin) for _ in range(burners)]
    try:
        child = subprocess.Popen([sys.executable, "-c", WORK], preexec_fn=pin, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        process = psutil.Process(child.pid)
        started = time.perf_counter()
        with LoadSampler(interval_s=0.1, process=process) as sampler:
            assert child.stdout.readline().strip() == "done"
        wall = time.perf_counter() - started
        cpu = process.cpu_times()
        child.communicate("")
    finally:
        for burner in busy:
            burner.kill()
            burner.wait()
    return RunTiming(label, wall, cpu.user + cpu.system, sampler.load().mean_background_cores)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_run_starved_by_a_busy_process_is_flagged():
    quiet = timed_work("LoRA", burners=0)
    starved = timed_work("Full FT", burners=BURNERS)
    reasons = timing_differences([quiet, starved], cpu_cores=len(os.sched_getaffinity(0)))
    assert reasons, (quiet, starved)
    assert any("Full FT" in reason and "waited for the CPU" in reason for reason in reasons), reasons
    # the burners share one core with the child, so they alone keep most of a core busy; the quiet run's figure
    # is whatever else the machine did then, so the two are not compared
    assert starved.background_busy_cores >= 0.5


def timing(label, wall, cpu, background) -> RunTiming:
    return RunTiming(label, wall, cpu, background)


def test_comparable_runs_are_not_flagged():
    assert timing_differences([timing("Full FT", 100, 190, 0.1), timing("LoRA", 40, 75, 0.3)], cpu_cores=2) == []


def test_different_background_load_alone_is_flagged():
    reasons = timing_differences([timing("Full FT", 100, 190, 1.2), timing("LoRA", 40, 75, 0.1)], cpu_cores=2)
    assert reasons == ["other work kept 1.2 of 2 cores busy on average while Full FT trained, 0.1 while LoRA did"]


def test_runs_without_load_records_cannot_be_judged():
    assert timing_differences([timing("Full FT", 100, None, None), timing("LoRA", 40, None, None)], cpu_cores=2) == []


def test_cpu_time_cost_is_the_wall_cost_of_a_run_that_had_every_core():
    assert cpu_time_cost_usd(cpu_time_s=7200, cpu_cores=2, price_per_hour_usd=0.1) == pytest.approx(cost_usd(3600, 0.1))


def with_timing(result, cpu_time_s, background):
    return result.model_copy(update={"process_cpu_time_s": cpu_time_s, "background_busy_cores": background})


def test_not_comparable_costs_move_to_cpu_time_on_cpu():
    full = with_timing(method_result("full", True), cpu_time_s=95.2 * 0.9, background=1.1)  # starved: 0.9 cores of 2
    lora = with_timing(method_result("lora", True), cpu_time_s=78.4 * 1.9, background=0.1)
    results, reasons = with_comparable_costs([full, lora], cpu_cores=2, on_gpu=False, price_per_hour_usd=PRICE_PER_HOUR_USD)
    assert len(reasons) == 2
    assert [r.cost_basis for r in results] == ["cpu_time", "cpu_time"]
    assert results[0].cost_usd == pytest.approx(cost_usd(95.2 * 0.9 / 2, PRICE_PER_HOUR_USD))
    assert results[0].cost_usd < full.cost_usd


def test_comparable_or_gpu_costs_stay_on_wall_time():
    full = with_timing(method_result("full", True), cpu_time_s=95.2 * 1.9, background=0.1)
    lora = with_timing(method_result("lora", True), cpu_time_s=78.4 * 1.9, background=0.2)
    results, reasons = with_comparable_costs([full, lora], cpu_cores=2, on_gpu=False, price_per_hour_usd=PRICE_PER_HOUR_USD)
    assert reasons == [] and results == [full, lora]
    starved = with_timing(full, cpu_time_s=95.2 * 0.5, background=1.5)
    results, reasons = with_comparable_costs([starved, lora], cpu_cores=2, on_gpu=True, price_per_hour_usd=PRICE_PER_HOUR_USD)
    assert reasons and [r.cost_basis for r in results] == ["wall_time", "wall_time"]
