"""kill -9 at any moment leaves only whole artifacts; --resume ends with the same weights as an uninterrupted run."""

import json
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file

from adaptlab.train.checkpoint import list_checkpoints
from tests.train.cli_runs import quiet_env, run, train_argv
from tests.train.helpers import write_copy_task

RUN_ARGS = ("--max-steps", "120", "--save-every", "10", "--dropout", "0.1", "--eval-fraction", "0.25")


def assert_only_whole_artifacts(run_dir):
    for path in run_dir.iterdir():
        if path.name.startswith("."):
            continue  # staging folders: never read, removed on resume
        if path.name == "run.json":
            json.loads(path.read_text())
        if path.name == "checkpoints":
            for checkpoint in path.iterdir():
                assert checkpoint.name.startswith("step-"), checkpoint
                assert {p.name for p in checkpoint.iterdir()} == {"trainable.safetensors", "optimizer.pt", "state.json"}
                load_file(str(checkpoint / "trainable.safetensors"))
                json.loads((checkpoint / "state.json").read_text())


@pytest.mark.parametrize("kill_delay_s", [0.0, 0.15])
def test_resume_after_kill_equals_uninterrupted(tmp_path, kill_delay_s):
    data = write_copy_task(tmp_path / "train.jsonl")
    run(train_argv(data, tmp_path / "whole", *RUN_ARGS))

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(train_argv(data, interrupted, *RUN_ARGS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet_env())
    deadline = time.monotonic() + 120
    while not list_checkpoints(interrupted) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    time.sleep(kill_delay_s)
    process.kill()
    process.wait()
    assert process.returncode == -9, "the run finished before it could be killed; raise --max-steps"
    assert json.loads((interrupted / "run.json").read_text())["status"] == "running"
    assert not (interrupted / "adapter_model.safetensors").exists()
    assert_only_whole_artifacts(interrupted)

    run([*train_argv(data, interrupted)[:3], "train", "--resume", "--out", str(interrupted)])
    assert json.loads((interrupted / "run.json").read_text())["status"] == "completed"
    whole = load_file(str(tmp_path / "whole" / "adapter_model.safetensors"))
    resumed = load_file(str(interrupted / "adapter_model.safetensors"))
    assert whole.keys() == resumed.keys()
    for name in whole:
        assert torch.equal(whole[name], resumed[name]), name
    whole_curve = json.loads((tmp_path / "whole" / "run.json").read_text())["loss_curve"]
    resumed_curve = json.loads((interrupted / "run.json").read_text())["loss_curve"]
    assert [p["loss"] for p in resumed_curve] == [p["loss"] for p in whole_curve]
