"""The loop's clock counts wall and CPU time, continues a resumed run's, and leaves paused spans out."""

import time

import pytest

from adaptlab.train.stopwatch import Stopwatch


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_time_counts_work_and_not_sleep():
    clock = Stopwatch()
    burn(0.2)
    time.sleep(0.2)
    assert clock.cpu_s == pytest.approx(0.2, abs=0.08)
    assert clock.wall_s >= 0.4


def test_paused_spans_and_resumed_totals():
    clock = Stopwatch(wall_s=10.0, cpu_s=5.0)
    with clock.paused():
        burn(0.2)
        time.sleep(0.1)
    assert 10.0 <= clock.wall_s < 10.1
    assert 5.0 <= clock.cpu_s < 5.08
