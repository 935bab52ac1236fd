"""`adaptlab train --launcher accelerate --accelerate-config FILE`: the run starts its own `accelerate launch`, so
that one command (and `compare`, which trains each run as `adaptlab train`) trains under DDP, FSDP2 or ZeRO
(configs/accelerate/) without the user wrapping it. The launched processes are the ordinary loop; a marker in
their environment keeps them from launching again."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from adaptlab.schemas.train_config import TrainConfig

LAUNCHED_VARIABLE = "ADAPTLAB_ACCELERATE_LAUNCHED"


def needs_launch(config: TrainConfig, environ=os.environ) -> bool:
    return config.launcher == "accelerate" and LAUNCHED_VARIABLE not in environ


def launch_command(config_file: Path, train_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file), "-m", "adaptlab", "train", *train_args]


def train_under_accelerate(config: TrainConfig, resume: bool = False) -> int:
    """Run the config under `accelerate launch`; its exit status. A resumed run reads its config from run.json as usual."""
    environ = os.environ | {LAUNCHED_VARIABLE: "1"}
    if resume:
        resume_args = ["--resume", "--out", str(config.out), *(["--allow-pickle"] if config.allow_pickle else [])]
        command = launch_command(config.accelerate_config, resume_args)
        return subprocess.run(command, env=environ).returncode
    with tempfile.TemporaryDirectory(prefix="adaptlab-launch-") as folder:
        config_file = Path(folder) / "train.yaml"
        config_file.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        return subprocess.run(launch_command(config.accelerate_config, ["--config", str(config_file)]), env=environ).returncode
