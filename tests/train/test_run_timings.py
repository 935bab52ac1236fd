"""A run records what it chose and what the machine did: the precision `auto` resolved to and why, the loop's
CPU time beside its wall time, the load sampled while training; and a log file shows plain progress lines."""

import io
import os

from rich.console import Console

from adaptlab.schemas.run_record import read_run_record
from adaptlab.train.environment import choose_precision
from adaptlab.train.loop import train
from tests.train.helpers import tiny_config


def test_run_json_records_precision_cpu_time_and_load(tmp_path):
    log = io.StringIO()
    config = tiny_config(tmp_path, "lora", precision="auto", packing=True)
    train(config, console=Console(file=log, width=200))
    record = read_run_record(config.out)

    expected, reason = choose_precision("auto")
    assert (record.precision_chosen, record.precision_reason) == (expected, reason)
    assert record.config["precision"] == expected and record.config["packing"] is True
    metrics = record.metrics
    assert 0 < metrics.process_cpu_time_s <= metrics.wall_time_s * len(os.sched_getaffinity(0)) * 1.2 + 0.5
    assert record.load.cpu_cores >= 1 and record.load.samples
    assert all(s.run_busy_cores >= 0 and s.background_busy_cores >= 0 for s in record.load.samples)

    output = log.getvalue()
    assert f"precision: {expected} ({reason})" in output
    assert "lora: step 12/12  loss " in output  # the last step's plain line; no bar in a log file
