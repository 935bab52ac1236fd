"""DPO through the one training loop: the loss is TRL's sigmoid DPO formula, the reference of an adapter is the base
with the adapter off (no second copy), full fine-tuning holds a frozen copy, and a planted preference is learnt."""

import json
import math
import random

import pytest
import torch

from adaptlab.data.options import DataOptions
from adaptlab.data.preference import prepare_preference_data
from adaptlab.errors import DataError
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.objectives import get_objective
from adaptlab.objectives.dpo import dpo_margins
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.loop import train


def write_pairs(path, rows: int = 48, seed: int = 0):
    """The chosen reply repeats the prompt's word; the rejected one says something else."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for index in range(rows):
            word = "".join(rng.choice("abcdefgh") for _ in range(4))
            row = {"prompt": f"echo {word}", "chosen": word, "rejected": "no"}
            if index % 2:
                row = {"messages": [{"role": "user", "content": row.pop("prompt")}], **row}
            handle.write(json.dumps(row) + "\n")
    return path


def test_loss_is_trl_sigmoid_dpo_on_hand_computed_log_probs():
    # TRL DPOTrainer, loss_type="sigmoid", label_smoothing=0: −log σ(β((π_c − π_r) − (ref_c − ref_r)))
    policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta = -3.0, -5.5, -4.0, -4.5, 0.1
    expected = -math.log(1 / (1 + math.exp(-beta * ((policy_chosen - policy_rejected) - (reference_chosen - reference_rejected)))))
    margins = dpo_margins(*(torch.tensor([value]) for value in (policy_chosen, policy_rejected, reference_chosen, reference_rejected)), beta)
    assert float(-torch.nn.functional.logsigmoid(margins)) == pytest.approx(expected, abs=1e-6)


def test_preference_rows_are_validated_with_their_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a", "chosen": "b"}, {"messages": [], "chosen": "b", "rejected": "c"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tokenizer = load_tokenizer(resolve_model("builtin:tiny").path)
    with pytest.raises(DataError) as raised:
        prepare_preference_data([path], [], tokenizer, DataOptions())
    assert f"{path}:2: missing field 'rejected'" in str(raised.value)
    assert f"{path}:3: field 'messages' is an empty list" in str(raised.value)


def parameter_bytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def test_adapter_reference_is_the_base_and_full_keeps_a_frozen_copy(tmp_path):
    base = resolve_model("builtin:tiny")
    config = TrainConfig(model="builtin:tiny", objective="dpo", out=tmp_path / "run", data=[tmp_path / "x.jsonl"])
    objective = get_objective("causal_lm", "dpo")
    held = {}
    for method in ("lora", "full"):
        model = get_method(method).prepare(base, config.model_copy(update={"method": method}))
        loss = objective.loss_module(model, get_method(method), config)
        held[method] = parameter_bytes(loss) / parameter_bytes(model)
    assert held["lora"] == 1.0  # no second copy of the base
    assert held["full"] == 2.0  # the policy and its frozen reference


@pytest.mark.parametrize("method", ["lora"])
def test_a_planted_preference_is_learnt(tmp_path, method):
    config = TrainConfig(
        model="builtin:tiny", method=method, objective="dpo", beta=0.5, out=tmp_path / "run", data=[write_pairs(tmp_path / "pairs.jsonl")],
        eval_fraction=0.25, max_seq_len=64, micro_batch_size=4, max_steps=10, precision="fp32", learning_rate=1e-2, rank=8, alpha=16, dropout=0.0,
    )
    run = train(config)
    before, after = run.record.eval_curve[0].metrics, run.record.eval_curve[-1].metrics
    assert before["mean_margin"] == 0.0  # untrained, the policy is its reference
    assert after["preference_accuracy"] > 0.9 and after["mean_margin"] > 0
    assert isinstance(get_method(method).load_trained(resolve_model("builtin:tiny"), config.out), torch.nn.Module)
