"""`compare --launcher ray` trains the comparison's runs as parallel Ray jobs and `--launcher accelerate` each run
under `accelerate launch`; the comparison itself stays one process and refuses to run under a launcher."""

from pathlib import Path

import pytest
from rich.console import Console

from adaptlab.compare.ray_runs import LOGS_DIR
from adaptlab.compare.runner import compare
from adaptlab.errors import ConfigError
from adaptlab.schemas.run_record import read_run_record
from adaptlab.train.environment import check_not_launched
from tests.compare.test_runner import tiny_comparison

QUIET = Console(quiet=True)
DDP_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "ddp.yaml"


@pytest.mark.slow
def test_ray_launcher_trains_the_runs_as_parallel_ray_jobs(tmp_path, monkeypatch):
    pytest.importorskip("ray.train", reason="Ray Train is the scale extra: pip install 'adaptlab[scale]'")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = tiny_comparison(tmp_path, "out", methods=["full", "lora"], launcher="ray", workers=1)
    comparison = compare(config, QUIET)
    assert {row.method for row in comparison.methods} == {"full", "lora"}
    for method in ("full", "lora"):
        topology = read_run_record(tmp_path / "out" / "runs" / method).topology
        assert (topology.strategy, topology.processes) == ("ray", 1)
        assert (tmp_path / "out" / LOGS_DIR / f"{method}.log").is_file()


@pytest.mark.slow
@pytest.mark.xdist_group("accelerate-main-process-port")
def test_accelerate_launcher_trains_each_run_under_accelerate_launch(tmp_path):
    config = tiny_comparison(tmp_path, "out", methods=["lora"], launcher="accelerate", accelerate_config=DDP_CONFIG)
    compare(config, QUIET)
    topology = read_run_record(tmp_path / "out" / "runs" / "lora").topology
    assert (topology.strategy, topology.processes, topology.nodes) == ("ddp", 2, 1)


@pytest.mark.parametrize("variable", ["WORLD_SIZE", "OMPI_COMM_WORLD_SIZE"])
def test_compare_under_a_multi_process_launcher_is_refused(variable):
    with pytest.raises(ConfigError, match=f"not under a launcher \\({variable}=2\\).*--launcher accelerate"):
        check_not_launched("compare", {variable: "2"})
    check_not_launched("compare", {variable: "1"})
