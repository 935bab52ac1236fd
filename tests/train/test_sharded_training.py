"""Sharded and Ray-launched training give the single-process run: under `accelerate launch` with FSDP2 and with
DeepSpeed ZeRO-3 (configs/accelerate/), and as 2 Ray Train workers, 2 processes × 2 rows per step (in one
micro-batch, or two of 1 row) train like one process accumulating 2 micro-batches of 2 rows. Same loss curve
within LOSS_TOLERANCE, and artifacts that reload (`PeftModel.from_pretrained` / `from_pretrained`) with the same logits. run.json states the topology.

The launches start processes (tens of seconds each): marked slow. DeepSpeed and Ray are the scale extra; without
them those tests skip."""

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from adaptlab.cli import app
from adaptlab.methods import get_method
from adaptlab.models import load_causal_lm, resolve_model
from adaptlab.schemas.run_record import read_run_record
from tests.train.cli_runs import run, train_argv
from tests.train.helpers import write_copy_task

ACCELERATE_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
# 2 processes reduce gradients in another order than one process accumulating: fp32 rounding, no more
LOSS_TOLERANCE = dict(rtol=1e-4, atol=1e-5)
LOGITS_TOLERANCE = dict(rtol=1e-3, atol=1e-4)
STEPS = ("--no-packing", "--max-steps", "3", "--micro-batch-size", "2", "--dropout", "0.0", "--eval-fraction", "0.1")
ACCUMULATING = ("--micro-batch-size", "1", "--grad-accum", "2")
METHOD_FLAGS = {"lora": ("--method", "lora"), "full": ("--method", "full", "--learning-rate", "0.003")}


def launch(data: Path, out: Path, strategy: str, method: str) -> None:
    """Full fine-tuning as the user wraps it (`accelerate launch -m adaptlab train`); LoRA through `--launcher
    accelerate`, where adaptlab starts the same `accelerate launch` itself, and with gradient accumulation (the loop
    marks each step's last micro-batch, where DeepSpeed steps)."""
    config = ACCELERATE_CONFIGS / f"{strategy}.yaml"
    if method == "full":
        launcher = (sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "-m", "adaptlab")
        run(train_argv(data, out, *STEPS, *METHOD_FLAGS[method], launcher=launcher), timeout=600)
    else:  # and accumulating: 2 processes × 2 micro-batches of 1 row, the same 4 rows a step
        launcher_flags = ("--launcher", "accelerate", "--accelerate-config", str(config))
        run(train_argv(data, out, *STEPS, *METHOD_FLAGS[method], *ACCUMULATING, *launcher_flags), timeout=600)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_copy_task(tmp_path_factory.mktemp("data") / "train.jsonl", rows=40)


@pytest.fixture(scope="module")
def single_runs(data, tmp_path_factory) -> dict[str, Path]:
    """The reference per method: one process accumulating the 2 micro-batches the 2 processes take."""
    folder = tmp_path_factory.mktemp("single")
    for method, flags in METHOD_FLAGS.items():  # in this process: the same command, without a second start-up
        result = CliRunner().invoke(app, train_argv(data, folder / method, *STEPS, *flags, "--grad-accum", "2", launcher=()))
        assert result.exit_code == 0, result.output
    return {method: folder / method for method in METHOD_FLAGS}


def assert_same_training(run_dir: Path, reference: Path, strategy: str) -> None:
    record, expected = read_run_record(run_dir), read_run_record(reference)
    assert (record.topology.strategy, record.topology.processes, record.topology.nodes) == (strategy, 2, 1)
    assert (expected.topology.strategy, expected.topology.processes) == ("single", 1)
    torch.testing.assert_close(
        torch.tensor([p.loss for p in record.loss_curve]), torch.tensor([p.loss for p in expected.loss_curve]), **LOSS_TOLERANCE
    )
    assert record.metrics.tokens_seen == expected.metrics.tokens_seen
    method = get_method(record.method)
    base = resolve_model("builtin:tiny")
    input_ids = torch.tensor([[1, 5, 9, 14, 22, 7, 3]])
    with torch.no_grad():
        logits = method.load_trained(base, run_dir).eval()(input_ids=input_ids).logits
        expected_logits = method.load_trained(base, reference).eval()(input_ids=input_ids).logits
        base_logits = load_causal_lm(base.path).eval()(input_ids=input_ids).logits
    torch.testing.assert_close(logits, expected_logits, **LOGITS_TOLERANCE)
    assert not torch.allclose(logits, base_logits, **LOGITS_TOLERANCE)  # it trained: the saved weights are not the base's


# (strategy, method, the library it needs beyond the core dependencies)
SHARDED = [
    pytest.param("fsdp2", "full", None, id="fsdp2-full"),
    pytest.param("fsdp2", "lora", None, id="fsdp2-lora"),
    pytest.param("zero3", "full", "deepspeed", id="zero3-full"),
    pytest.param("zero3", "lora", "deepspeed", id="zero3-lora"),
]


@pytest.mark.slow
@pytest.mark.xdist_group("accelerate-main-process-port")  # every launch listens on accelerate's default port
@pytest.mark.parametrize(("strategy", "method", "extra_library"), SHARDED)
def test_sharded_run_trains_like_one_process(tmp_path, data, single_runs, strategy, method, extra_library):
    if extra_library:
        pytest.importorskip(extra_library, reason=f"{extra_library} is the scale extra: pip install 'adaptlab[scale]'")
    launch(data, tmp_path / "run", strategy, method)
    assert_same_training(tmp_path / "run", single_runs[method], strategy)


@pytest.mark.slow
def test_two_ray_workers_train_like_one_process(tmp_path, data, single_runs, monkeypatch):
    pytest.importorskip("ray.train", reason="Ray Train is the scale extra: pip install 'adaptlab[scale]'")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local Ray instance, started and stopped by the command
    run(train_argv(data, tmp_path / "run", *STEPS, "--launcher", "ray", "--workers", "2"), timeout=600)
    assert_same_training(tmp_path / "run", single_runs["lora"], "ray")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["workers"] == 2
