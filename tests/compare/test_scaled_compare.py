"""`compare --launcher ray` trains the comparison's runs as parallel Ray jobs; every run of a comparison takes its
launcher flags; the comparison itself stays one process and refuses to run under a launcher."""

import os
from pathlib import Path

import pytest
from rich.console import Console

from adaptlab.compare.ray_runs import LOGS_DIR, train_in_parallel
from adaptlab.compare.runner import training_command
from adaptlab.errors import ConfigError
from adaptlab.schemas.run_record import read_run_record
from adaptlab.train.environment import check_not_launched
from tests.compare.test_runner import tiny_comparison

QUIET = Console(quiet=True)
FSDP2_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "fsdp2.yaml"


@pytest.mark.slow
@pytest.mark.xdist_group("ray-local-cluster")  # one local Ray cluster at a time: each takes ports from the same ranges
def test_ray_jobs_train_the_runs_at_the_same_time(tmp_path, monkeypatch):
    pytest.importorskip("ray.train", reason="Ray Train is the scale extra: pip install 'adaptlab[scale]'")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local Ray instance with this machine's CPUs (2 in CI)
    config = tiny_comparison(tmp_path, "out", methods=["lora"], launcher="ray", workers=1)
    runs = [config.train_config("lora", 1e-2, tmp_path / "out" / "runs" / name, max_steps=2) for name in ("a", "b")]
    console = Console(record=True, width=200)
    train_in_parallel([(run, training_command(run)) for run in runs], console)
    records = [read_run_record(run.out) for run in runs]
    assert [(r.status, r.topology.strategy, r.topology.processes) for r in records] == [("completed", "ray", 1)] * 2
    at_once = min(2, os.cpu_count())  # the local instance has this machine's CPUs, one per run here
    assert f"training 2 runs as Ray jobs, {at_once} at a time (each with --workers 1" in console.export_text()
    assert all((tmp_path / "out" / LOGS_DIR / f"{name}.log").stat().st_size > 0 for name in ("a", "b"))


def test_every_run_of_a_comparison_takes_its_launcher(tmp_path):
    config = tiny_comparison(tmp_path, "out", launcher="accelerate", accelerate_config=FSDP2_CONFIG)
    run = config.train_config("lora", 1e-2, tmp_path / "out" / "runs" / "lora")
    assert (run.launcher, run.accelerate_config) == ("accelerate", FSDP2_CONFIG)


@pytest.mark.parametrize("variable", ["WORLD_SIZE", "OMPI_COMM_WORLD_SIZE"])
def test_compare_under_a_multi_process_launcher_is_refused(variable):
    with pytest.raises(ConfigError, match=f"not under a launcher \\({variable}=2\\).*--launcher accelerate"):
        check_not_launched("compare", {variable: "2"})
    check_not_launched("compare", {variable: "1"})
