"""The load sampler records what the run and the rest of the machine kept busy, within a bounded memory."""

import subprocess
import sys
import time

from adaptlab.train.load_sampler import LoadSampler


def test_samples_see_a_busy_process_as_background_load():
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        with LoadSampler(interval_s=0.2) as sampler:
            time.sleep(1.3)
    finally:
        burner.kill()
        burner.wait()
    load = sampler.load()
    assert len(load.samples) >= 4
    for sample in load.samples:
        assert sample.run_busy_cores < 0.5  # this test only sleeps
        assert 0 <= sample.background_busy_cores <= load.cpu_cores
    assert load.mean_background_cores >= 0.5  # the burner alone keeps about one core busy


def test_memory_is_bounded_by_thinning_and_a_longer_interval():
    sampler = LoadSampler(interval_s=0.01, max_samples=8)
    with sampler:
        time.sleep(0.6)
    load = sampler.load()
    assert len(load.samples) <= 8
    assert load.interval_s > 0.01
    elapsed = [s.elapsed_s for s in load.samples]
    assert elapsed == sorted(elapsed)


def test_a_run_shorter_than_the_interval_still_has_a_sample():
    with LoadSampler(interval_s=60) as sampler:
        time.sleep(0.2)
    assert len(sampler.load().samples) == 1


def test_a_last_span_shorter_than_half_an_interval_is_not_sampled():
    """Leaving 0.05 s after the 0.4 s sample adds nothing: over so short a span one 10 ms CPU tick reads as a fifth
    of a core. (Should the thread's sample come late, leaving takes the only sample: one either way.)"""
    with LoadSampler(interval_s=0.4) as sampler:
        time.sleep(0.45)
    assert len(sampler.load().samples) == 1
