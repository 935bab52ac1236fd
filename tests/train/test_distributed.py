"""`accelerate launch --multi_gpu --num_processes 2` runs data-parallel with no code change, and 2 processes × b
rows train like 1 process accumulating 2 micro-batches of b rows. On a machine without a GPU, `--multi_gpu`
makes accelerate start the processes with torchrun and they talk over gloo. A launch whose processes would
each train alone (`--cpu`, which starts one process whatever `--num_processes` says) is refused."""

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from adaptlab.errors import ConfigError
from adaptlab.schemas.run_record import RUN_RECORD_FILE
from adaptlab.train.environment import check_world_size
from tests.train.cli_runs import quiet_env, run, train_argv
from tests.train.helpers import write_copy_task

LAUNCH = (sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no")
ACCELERATE = (*LAUNCH, "--multi_gpu", "-m", "adaptlab")
# packed rows of 2–40-letter words, seed 3: the old step plan (counted in seed-0 order) gave one process no
# micro-batch at some step, and the two processes then hung in different collectives
PACKED_SEED_3 = ("--packing", "--seed", "3", "--epochs", "2", "--micro-batch-size", "1", "--max-seq-len", "128")


@pytest.mark.slow
@pytest.mark.xdist_group("accelerate-main-process-port")  # both launches listen on accelerate's default port
@pytest.mark.parametrize(
    ("rows", "word_lengths", "options"),
    [
        pytest.param(48, (3, 6), ("--no-packing", "--max-steps", "6", "--micro-batch-size", "2"), id="padded"),
        pytest.param(16, (2, 40), PACKED_SEED_3, id="packed-seed-3"),
    ],
)
def test_two_process_data_parallel_matches_single_process_accumulation(tmp_path, rows, word_lengths, options):
    data = write_copy_task(tmp_path / "train.jsonl", rows=rows, word_lengths=word_lengths)
    common = ("--dropout", "0.0", *options)
    result = run(train_argv(data, tmp_path / "ddp", *common, launcher=ACCELERATE), timeout=600)
    run(train_argv(data, tmp_path / "single", *common, "--grad-accum", "2"))
    ddp = load_file(str(tmp_path / "ddp" / "adapter_model.safetensors"))
    single = load_file(str(tmp_path / "single" / "adapter_model.safetensors"))
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], atol=1e-5, rtol=1e-4)
    assert "lora" in result.stdout.lower()
    ddp_metrics, single_metrics = (json.loads((tmp_path / name / RUN_RECORD_FILE).read_text())["metrics"] for name in ("ddp", "single"))
    assert (ddp_metrics["steps"], ddp_metrics["tokens_seen"]) == (single_metrics["steps"], single_metrics["tokens_seen"])


@pytest.mark.slow
@pytest.mark.xdist_group("accelerate-main-process-port")
def test_cpu_launch_of_two_processes_is_refused_before_it_writes(tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl", rows=8)
    argv = train_argv(data, tmp_path / "run", launcher=(*LAUNCH, "--cpu", "-m", "adaptlab"))
    result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=300, env=quiet_env())
    assert result.returncode != 0
    assert "started this one alone" in result.stderr and "--multi_gpu" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("processes", "environ"),
    [
        pytest.param(1, {}, id="plain"),
        pytest.param(1, {"ACCELERATE_USE_CPU": "False"}, id="accelerate-one-process"),
        pytest.param(2, {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "ACCELERATE_USE_CPU": "False"}, id="torchrun"),
        pytest.param(2, {"PMI_SIZE": "2", "ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1"}, id="mpirun"),
    ],
)
def test_a_launch_that_forms_one_group_is_accepted(processes, environ):
    check_world_size(processes, environ)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        pytest.param({"WORLD_SIZE": "2"}, "WORLD_SIZE", id="launched-two-each-alone"),
        pytest.param({"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}, "MASTER_ADDR", id="cpu-launcher"),
    ],
)
def test_a_process_that_would_train_alone_is_refused(environ, variable):
    with pytest.raises(ConfigError, match=variable) as refused:
        check_world_size(1, environ)
    assert "--multi_gpu" in str(refused.value)
