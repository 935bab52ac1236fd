"""kill -9 at any moment leaves only whole artifacts; --resume ends with the same weights as an uninterrupted run.

Besides kills at a random moment, a child process kills itself at each dangerous moment exactly: while a
checkpoint is written, while an old one is deleted, and while the final artifact is published.
"""

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from adaptlab.errors import ConfigError
from adaptlab.train.checkpoint import CHECKPOINTS_DIR, list_checkpoints
from adaptlab.train.loop import check_run_dir
from tests.train.cli_runs import quiet_env, run, train_argv
from tests.train.helpers import write_copy_task

RUN_ARGS = ("--max-steps", "120", "--save-every", "10", "--dropout", "0.1", "--eval-fraction", "0.25")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class KillPoint:
    """SIGKILL the process just before the nth call of `owner.name` whose arguments match, after `damage(*args)`."""

    owner: object
    name: str
    matches: Callable[..., bool]
    nth: int = 1
    damage: Callable[..., None] = lambda *args: None

    def install(self) -> None:
        original = getattr(self.owner, self.name)
        matching_calls = itertools.count(1)

        def wrapper(*args, **kwargs):
            if self.matches(*args) and next(matching_calls) == self.nth:
                self.damage(*args)
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)

        setattr(self.owner, self.name, wrapper)


def publishing(src, dst, *rest) -> bool:
    """A rename that moves a file out of the final artifact's staging folder into the run folder."""
    return Path(src).parent.name.startswith(".staging-") and Path(dst).parent != Path(src).parent


KILL_POINTS = {
    # the third checkpoint's optimizer state is half written (two whole checkpoints exist)
    "checkpoint-write": KillPoint(torch, "save", lambda *args: True, nth=3, damage=lambda obj, path, *rest: Path(path).write_bytes(b"half")),
    # the oldest checkpoint has lost its weights file when the process dies
    "checkpoint-delete": KillPoint(
        shutil, "rmtree", lambda path, *rest: CHECKPOINTS_DIR in Path(path).parts,
        damage=lambda path, *rest: (Path(path) / "trainable.safetensors").unlink(),
    ),
    # one file of the final artifact is published, the rest are still staged
    "publish-first-file": KillPoint(os, "replace", publishing, nth=2),
    # every artifact file is published, run.json is not
    "publish-before-run-json": KillPoint(os, "replace", lambda src, dst, *rest: publishing(src, dst) and Path(src).name == "run.json"),
}


def run_until_killed() -> None:
    """Child process: `adaptlab ARGS...` with the kill point named by the first argument installed."""
    KILL_POINTS[sys.argv[1]].install()
    sys.argv = ["adaptlab", *sys.argv[2:]]
    from adaptlab.cli import main

    main()


def kill_launcher(point: str) -> tuple[str, ...]:
    """Use in place of `python -m adaptlab` to run a command that kills itself at `point`."""
    code = f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); from tests.train.test_resume import run_until_killed; run_until_killed()"
    return (sys.executable, "-c", code, point)


def resume_argv(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "adaptlab", "train", "--resume", "--out", str(run_dir)]


def hidden_entries(run_dir: Path) -> list[Path]:
    folders = [run_dir, run_dir / CHECKPOINTS_DIR]
    return [path for folder in folders if folder.is_dir() for path in folder.iterdir() if path.name.startswith(".")]


def assert_only_whole_artifacts(run_dir: Path, artifact_files: set[str]) -> None:
    """Every visible checkpoint is whole, and a loader finds the artifact only once all its files are in place."""
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    for checkpoint in (run_dir / CHECKPOINTS_DIR).glob("step-*"):
        assert {p.name for p in checkpoint.iterdir()} == {"trainable.safetensors", "optimizer.pt", "state.json"}
        load_file(str(checkpoint / "trainable.safetensors"))
        torch.load(checkpoint / "optimizer.pt", weights_only=True)
        json.loads((checkpoint / "state.json").read_text())
    present = {path.name for path in run_dir.iterdir()}
    if "adapter_config.json" in present:
        assert artifact_files - {"run.json"} <= present
    if "adapter_model.safetensors" in present:
        load_file(str(run_dir / "adapter_model.safetensors"))


def assert_same_run(whole: Path, resumed: Path) -> None:
    assert json.loads((resumed / "run.json").read_text())["status"] == "completed"
    assert hidden_entries(resumed) == []
    whole_weights = load_file(str(whole / "adapter_model.safetensors"))
    resumed_weights = load_file(str(resumed / "adapter_model.safetensors"))
    assert whole_weights.keys() == resumed_weights.keys()
    for name in whole_weights:
        assert torch.equal(whole_weights[name], resumed_weights[name]), name
    whole_curve = json.loads((whole / "run.json").read_text())["loss_curve"]
    resumed_curve = json.loads((resumed / "run.json").read_text())["loss_curve"]
    assert [p["loss"] for p in resumed_curve] == [p["loss"] for p in whole_curve]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_copy_task(tmp_path_factory.mktemp("resume") / "train.jsonl")


@pytest.fixture(scope="module")
def uninterrupted(data) -> Path:
    out = data.parent / "whole"
    run(train_argv(data, out, *RUN_ARGS))
    return out


@pytest.mark.parametrize("kill_delay_s", [0.0, 0.15])
def test_resume_after_kill_equals_uninterrupted(tmp_path, data, uninterrupted, kill_delay_s):
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(train_argv(data, interrupted, *RUN_ARGS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet_env())
    deadline = time.monotonic() + 120
    while not list_checkpoints(interrupted) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    time.sleep(kill_delay_s)
    process.kill()
    process.wait()
    assert process.returncode == -9, "the run finished before it could be killed; raise --max-steps"
    assert not (interrupted / "adapter_model.safetensors").exists()
    assert_only_whole_artifacts(interrupted, set())

    run(resume_argv(interrupted))
    assert_same_run(uninterrupted, interrupted)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_at_each_dangerous_moment_then_resume_equals_uninterrupted(tmp_path, data, uninterrupted, point):
    interrupted = tmp_path / "interrupted"
    killed = subprocess.run(train_argv(data, interrupted, *RUN_ARGS, launcher=kill_launcher(point)), capture_output=True, text=True, env=quiet_env())
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert hidden_entries(interrupted), "the kill point left nothing half done; it did not fire where intended"
    assert_only_whole_artifacts(interrupted, set(json.loads((uninterrupted / "run.json").read_text())["artifact"]["files"]))

    run(resume_argv(interrupted))
    assert_same_run(uninterrupted, interrupted)


def test_a_completed_run_is_not_resumed(uninterrupted):
    with pytest.raises(ConfigError, match="has completed"):
        check_run_dir(uninterrupted, resume=True)


def test_a_folder_holding_only_leftovers_of_a_killed_start_counts_as_empty(tmp_path):
    leftover = tmp_path / ".run.json.k1ll3d.tmp"
    leftover.write_text("{")
    check_run_dir(tmp_path, resume=False)
    assert not leftover.exists()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        check_run_dir(tmp_path, resume=False)
