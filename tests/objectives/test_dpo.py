"""Preference tuning through the one training loop: the reference of an adapter is the base with the adapter off
(no second copy), full fine-tuning holds a frozen copy or reads precomputed log-probabilities (the same loss, less
memory, and a resume reuses them), and a planted preference is learnt by DPO and by the reference-free SimPO.
(tests/objectives/test_trl_parity.py checks both losses against TRL's.)"""

import json
import random

import numpy as np
import pytest
import torch

from adaptlab.data.options import DataOptions
from adaptlab.data.preference import prepare_preference_data
from adaptlab.errors import DataError
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.objectives import get_objective
from adaptlab.objectives.reference_log_probs import REFERENCE_FILE
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train import loop
from adaptlab.train.checkpoint import write_checkpoint
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


def prepared(tmp_path, **options):
    """(config, data, plan) of DPO on the planted pairs, for building loss modules outside the loop."""
    config = TrainConfig(
        model="builtin:tiny", objective="dpo", beta=0.1, out=tmp_path / "run", data=[write_pairs(tmp_path / "pairs.jsonl")],
        eval_fraction=0.25, max_seq_len=64, micro_batch_size=4, precision="fp32", **options,
    )
    tokenizer = load_tokenizer(resolve_model("builtin:tiny").path)
    objective = get_objective("causal_lm", "dpo")
    return config, objective.prepare_data(config, tokenizer), objective.batch_plan(config, 1, tokenizer.pad_token_id)


def test_adapter_reference_is_the_base_and_full_keeps_a_frozen_copy_unless_precomputed(tmp_path):
    base = resolve_model("builtin:tiny")
    config, data, plan = prepared(tmp_path)
    objective = get_objective("causal_lm", "dpo")
    held = {}
    for method, precompute in (("lora", False), ("full", False), ("full", True)):
        run_config = config.model_copy(update={"method": method, "precompute_reference": precompute})
        model = get_method(method).prepare(base, run_config)
        loss = objective.loss_module(model, get_method(method), run_config, data, plan)
        held[method, precompute] = parameter_bytes(loss) / parameter_bytes(model)
    assert held["lora", False] == 1.0  # no second copy of the base
    assert held["full", False] == 2.0  # the policy and its frozen reference
    assert held["full", True] == 1.0  # the reference is a file


def test_precomputed_reference_gives_the_frozen_copys_loss(tmp_path):
    config, data, plan = prepared(tmp_path, method="full")
    objective, method = get_objective("causal_lm", "dpo"), get_method("full")
    model = method.prepare(resolve_model("builtin:tiny"), config)
    frozen = objective.loss_module(model, method, config, data, plan)
    precomputed = objective.loss_module(model, method, config.model_copy(update={"precompute_reference": True}), data, plan)
    assert isinstance(precomputed.precomputed, np.memmap)  # read from the run folder, not held
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # training moves the policy away from the reference
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
        batch = plan.collate(data.train[-6:] + data.eval[:6]).tensors  # training and held-out pairs, in another order
        losses = float(precomputed(**batch)), float(frozen(**batch))
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    assert losses[1] != pytest.approx(12 * 0.6931, abs=1e-2)  # the margins are not zero


class Crash(Exception):
    pass


def test_a_resumed_run_reuses_the_precomputed_reference(tmp_path, monkeypatch):
    config, _, _ = prepared(tmp_path, method="full", precompute_reference=True, max_steps=6, save_every=2, learning_rate=1e-3)
    whole = train(config.model_copy(update={"out": tmp_path / "whole"})).record

    saves = []

    def save_then_crash(*args):
        saves.append(write_checkpoint(*args))
        if len(saves) == 2:
            raise Crash("killed after the second checkpoint")

    monkeypatch.setattr(loop, "write_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(config)
    monkeypatch.undo()
    reference_file = config.out / REFERENCE_FILE
    written = reference_file.stat().st_mtime_ns
    resumed = train(config, resume=True).record
    assert reference_file.stat().st_mtime_ns == written  # reused, not recomputed
    assert [point.loss for point in resumed.loss_curve] == [point.loss for point in whole.loss_curve]
    assert resumed.eval_curve[-1].metrics == whole.eval_curve[-1].metrics


@pytest.mark.parametrize(
    ("method", "objective", "options"),
    [("lora", "dpo", {}), ("full", "dpo", {"precompute_reference": True, "learning_rate": 1e-3}), ("lora", "simpo", {})],
)
def test_a_planted_preference_is_learnt(tmp_path, method, objective, options):
    config = TrainConfig(
        model="builtin:tiny", method=method, objective=objective, out=tmp_path / "run", data=[write_pairs(tmp_path / "pairs.jsonl")],
        eval_fraction=0.25, max_seq_len=64, micro_batch_size=4, max_steps=10, precision="fp32", rank=8, alpha=16, dropout=0.0,
        **{"learning_rate": 1e-2} | ({"beta": 0.5} if objective == "dpo" else {}) | options,
    )
    run = train(config)
    before, after = run.record.eval_curve[0], run.record.eval_curve[-1]
    if objective == "dpo":
        assert before.metrics["mean_margin"] == 0.0  # untrained, the policy is its reference
    assert after.loss < before.loss
    assert after.metrics["preference_accuracy"] > max(0.9, before.metrics["preference_accuracy"]) and after.metrics["mean_margin"] > 0
    assert isinstance(get_method(method).load_trained(resolve_model("builtin:tiny"), config.out), torch.nn.Module)
