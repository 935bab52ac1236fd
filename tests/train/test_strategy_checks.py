"""What each strategy refuses before loading anything (a sharded checkpoint resumed without --allow-pickle too), and
the topology a run records (fast; the launches themselves are tests/train/test_sharded_training.py)."""

import pytest

from adaptlab.errors import ConfigError
from adaptlab.methods import METHODS, get_method
from adaptlab.train.checkpoint import check_resumable
from adaptlab.train.distributed import (
    PARAMETER_SHARDING,
    STATE_SHARDING,
    check_strategy,
    create_accelerator,
)
from adaptlab.train.loop import train
from tests.train.helpers import tiny_config


@pytest.mark.parametrize("strategy", PARAMETER_SHARDING)
def test_a_4bit_base_is_refused_where_parameters_are_sharded(tmp_path, strategy):
    with pytest.raises(ConfigError, match=f"--method qlora cannot train under {strategy}: its frozen 4-bit base"):
        check_strategy(strategy, get_method("qlora"))


@pytest.mark.parametrize("strategy", ["single", "ddp", "zero2", "ray"])
def test_a_4bit_base_trains_where_each_process_holds_the_whole_model(tmp_path, strategy):
    check_strategy(strategy, get_method("qlora"))


def test_only_the_4bit_base_and_virtual_tokens_refuse_sharding():
    assert sorted(name for name, method in METHODS.items() if method.sharding_refusal) == ["prefix", "prompt", "qlora"]


@pytest.mark.parametrize("strategy", STATE_SHARDING)
def test_a_sharded_checkpoint_resumes_only_with_allow_pickle(tmp_path, strategy):
    checkpoint = tmp_path / "checkpoints" / "step-00000002"
    (checkpoint / strategy).mkdir(parents=True)
    with pytest.raises(ConfigError, match=f"{checkpoint}: resuming a {strategy} checkpoint reads pickle .*--allow-pickle"):
        check_resumable(checkpoint, strategy, allow_pickle=False)
    check_resumable(checkpoint, strategy, allow_pickle=True)


def test_a_checkpoint_of_another_strategy_is_refused(tmp_path):
    checkpoint = tmp_path / "step-00000002"
    (checkpoint / "zero3").mkdir(parents=True)
    with pytest.raises(ConfigError, match=f"{checkpoint}: not a fsdp2 checkpoint"):
        check_resumable(checkpoint, "fsdp2", allow_pickle=True)


def test_fsdp_version_1_is_refused_with_the_setting_to_change():
    with pytest.raises(ConfigError, match="fsdp_version: 2"):
        create_accelerator({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"})


def test_a_single_process_run_records_its_topology(tmp_path):
    record = train(tiny_config(tmp_path, "lora", max_steps=1)).record
    assert (record.topology.strategy, record.topology.processes, record.topology.nodes) == ("single", 1, 1)
