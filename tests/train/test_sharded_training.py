"""Sharded and Ray-launched training give the single-process run: under `accelerate launch` with FSDP2 and with
DeepSpeed ZeRO-3 (configs/accelerate/), and as 2 Ray Train workers, 2 processes × 2 rows per step (in one
micro-batch, or two of 1 row) train like one process accumulating 2 micro-batches of 2 rows. Same loss curve
within LOSS_TOLERANCE, and artifacts that reload (`PeftModel.from_pretrained` / `from_pretrained`) with the same logits. run.json states the topology.

Checkpoints under FSDP2 and ZeRO-3 are the engines' own shards (ZeRO-2 saves through the same DeepSpeed engine
checkpoint): a 2-process run killed after one resumes (with --allow-pickle) to the single-process run's loss curve and
weights. The Ray workers write to a file:// URL --out (one Ray launch covers both: each costs tens of seconds).

The launches start processes (tens of seconds each): marked slow. DeepSpeed and Ray are the scale extra; without
them those tests skip."""

import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from typer.testing import CliRunner

from adaptlab.cli import app
from adaptlab.methods import get_method
from adaptlab.models import load_causal_lm, resolve_model
from adaptlab.schemas.run_record import read_run_record
from adaptlab.train.checkpoint import list_checkpoints
from tests.train.cli_runs import quiet_env, run, train_argv
from tests.train.helpers import write_copy_task
from tests.train.test_resume import resume_argv

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


RESUMED_STEPS = ("--no-packing", "--max-steps", "6", "--save-every", "2", "--micro-batch-size", "2", "--dropout", "0.0", "--eval-fraction", "0.1")
# a file each process writes with its own shard, in the engine's checkpoint (torch.distributed.checkpoint, DeepSpeed)
SHARD_OF_PROCESS = {
    "fsdp2": "pytorch_model_fsdp_0/__{rank}_0.distcp",
    "zero3": "pytorch_model/zero_pp_rank_{rank}_mp_rank_00_optim_states.pt",
}
CHECKPOINTED_SHARDING = [
    pytest.param("fsdp2", None, id="fsdp2"),
    pytest.param("zero3", "deepspeed", id="zero3"),
]


@pytest.fixture(scope="module")
def single_run_of_six_steps(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single-six") / "run"
    result = CliRunner().invoke(app, train_argv(data, out, *RESUMED_STEPS, "--grad-accum", "2", launcher=()))
    assert result.exit_code == 0, result.output
    return out


def kill_after_first_checkpoint(argv: list[str], run_dir: Path) -> None:
    """Start a launch and SIGKILL it and every process it started (torchrun's workers have sessions of their own) once
    a checkpoint has appeared."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet_env())
    launcher = psutil.Process(process.pid)
    deadline = time.monotonic() + 600
    while not list_checkpoints(run_dir) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    for child in [launcher, *launcher.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed; raise --max-steps"
    assert read_run_record(run_dir).status == "running"


@pytest.mark.slow
@pytest.mark.xdist_group("accelerate-main-process-port")
@pytest.mark.parametrize(("strategy", "extra_library"), CHECKPOINTED_SHARDING)
def test_a_sharded_run_killed_after_a_checkpoint_resumes_like_one_process(tmp_path, data, single_run_of_six_steps, strategy, extra_library):
    """Each process saves its own shards (the engine's checkpoint); --resume reads them back (with --allow-pickle: the
    engines unpickle part of what they read) and the run ends as if uninterrupted."""
    if extra_library:
        pytest.importorskip(extra_library, reason=f"{extra_library} is the scale extra: pip install 'adaptlab[scale]'")
    run_dir = tmp_path / "run"
    launcher_flags = ("--launcher", "accelerate", "--accelerate-config", str(ACCELERATE_CONFIGS / f"{strategy}.yaml"))
    kill_after_first_checkpoint(train_argv(data, run_dir, *RESUMED_STEPS, *launcher_flags), run_dir)
    checkpoint = list_checkpoints(run_dir)[-1]
    assert {path.name for path in checkpoint.iterdir()} == {strategy, "scheduler.pt", "state.json"}
    assert all((checkpoint / strategy / SHARD_OF_PROCESS[strategy].format(rank=rank)).is_file() for rank in (0, 1))

    refused = subprocess.run(resume_argv(run_dir), capture_output=True, text=True, env=quiet_env(), timeout=600)
    assert refused.returncode != 0 and "--allow-pickle" in refused.stdout + refused.stderr
    resumed = run([*resume_argv(run_dir), "--allow-pickle"], timeout=600)
    # the first checkpoint is step 2's; a poll that the machine starved may have let it reach a later one
    resumed_at = re.search(r"resuming at step (\d+) from step-0*(\d+)", resumed.stdout)
    assert resumed_at and resumed_at[1] == resumed_at[2] and int(resumed_at[1]) in (2, 4, 6), resumed.stdout
    assert_same_training(run_dir, single_run_of_six_steps, strategy)  # so the shards were read back, not the base


@pytest.mark.slow
@pytest.mark.xdist_group("ray-local-cluster")  # one local Ray cluster at a time: each takes ports from the same ranges
def test_two_ray_workers_write_the_run_and_its_checkpoints_to_a_url(tmp_path, data, single_runs, monkeypatch):
    """Worker 0 writes a local staging folder and copies it to the URL; the driver reads run.json back from there."""
    pytest.importorskip("ray.train", reason="Ray Train is the scale extra: pip install 'adaptlab[scale]'")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    url_folder = tmp_path / "remote" / "run"
    run(train_argv(data, f"file://{url_folder}", *STEPS, "--save-every", "2", "--launcher", "ray", "--workers", "2"), timeout=600)
    assert_same_training(url_folder, single_runs["lora"], "ray")
    assert read_run_record(url_folder).config["out"] == f"file://{url_folder}"
    assert read_run_record(url_folder).config["workers"] == 2
    assert {path.name for path in (url_folder / "checkpoints" / "step-00000002").iterdir()} == {"trainable.safetensors", "optimizer.pt", "state.json"}
