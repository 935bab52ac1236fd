"""The loop's clock counts wall and CPU time, continues a resumed run's, and leaves paused spans out.

Bounds are taken from the test's own readings of the same clocks around the stopwatch, not from the
requested sleep and burn lengths: CPU time counts every thread of the process, so a burn can finish in
less wall time than it burned, and a loaded machine stretches every span."""

import time

from adaptlab.train.stopwatch import Stopwatch


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_time_counts_work_and_not_sleep():
    clock = Stopwatch()
    burn(0.2)
    sleep_start = time.perf_counter()
    time.sleep(0.2)
    slept_s = time.perf_counter() - sleep_start
    wall_s, cpu_s = clock.wall_s, clock.cpu_s
    assert cpu_s >= 0.2  # the burn ran after the clock started
    assert cpu_s < 0.2 + 0.1  # the sleep added (almost) nothing
    assert wall_s >= slept_s  # the sleep counts in wall time


def test_paused_spans_and_resumed_totals():
    wall_before, cpu_before = time.perf_counter(), time.process_time()
    clock = Stopwatch(wall_s=10.0, cpu_s=5.0)
    with clock.paused():
        wall_inside, cpu_inside = time.perf_counter(), time.process_time()
        burn(0.2)
        time.sleep(0.1)
        wall_inside, cpu_inside = time.perf_counter() - wall_inside, time.process_time() - cpu_inside
    wall_s, cpu_s = clock.wall_s, clock.cpu_s
    wall_outside = time.perf_counter() - wall_before - wall_inside
    cpu_outside = time.process_time() - cpu_before - cpu_inside
    assert 10.0 <= wall_s <= 10.0 + wall_outside
    assert 5.0 <= cpu_s <= 5.0 + cpu_outside
