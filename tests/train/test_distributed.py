"""`accelerate launch --num_processes 2` runs data-parallel with no code change, and 2 processes × b
rows train like 1 process accumulating 2 micro-batches of b rows. On a machine without a GPU,
`--multi_gpu` makes accelerate start the processes with torchrun and they talk over gloo."""

import sys

import torch
from safetensors.torch import load_file

from tests.train.cli_runs import run, train_argv
from tests.train.helpers import write_copy_task

ACCELERATE = (sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "adaptlab")


def test_two_process_data_parallel_matches_single_process_accumulation(tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl")
    common = ("--max-steps", "6", "--dropout", "0.0", "--micro-batch-size", "2")
    result = run(train_argv(data, tmp_path / "ddp", *common, launcher=ACCELERATE), timeout=600)
    run(train_argv(data, tmp_path / "single", *common, "--grad-accum", "2"))
    ddp = load_file(str(tmp_path / "ddp" / "adapter_model.safetensors"))
    single = load_file(str(tmp_path / "single" / "adapter_model.safetensors"))
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], atol=1e-5, rtol=1e-4)
    assert "lora" in result.stdout.lower()
