"""Training options that change how, not what, the model learns: gradient checkpointing and bf16 autocast;
and `adaptlab eval`, which must score a run exactly as its training did."""

import json
import sys

import pytest
import torch
from rich.console import Console

from adaptlab.methods import get_method
from adaptlab.train.loop import train
from tests.train.cli_runs import run
from tests.train.helpers import tiny_config, write_copy_task

QUIET = Console(quiet=True)


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_gradient_checkpointing_gives_the_same_loss_curve(tmp_path, method):
    plain = train(tiny_config(tmp_path, method, out=tmp_path / "plain", max_steps=4, dropout=0.0), console=QUIET)
    checkpointed = train(
        tiny_config(tmp_path, method, out=tmp_path / "ckpt", max_steps=4, dropout=0.0, gradient_checkpointing=True), console=QUIET
    )
    assert [p.loss for p in checkpointed.record.loss_curve] == pytest.approx([p.loss for p in plain.record.loss_curve], abs=1e-4)


def test_bf16_autocast_trains_and_follows_fp32(tmp_path):
    fp32 = train(tiny_config(tmp_path, "lora", out=tmp_path / "fp32", max_steps=20), console=QUIET)
    bf16 = train(tiny_config(tmp_path, "lora", out=tmp_path / "bf16", max_steps=20, precision="bf16"), console=QUIET)
    losses = [p.loss for p in bf16.record.loss_curve]
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]
    assert bf16.record.metrics.eval_loss == pytest.approx(fp32.record.metrics.eval_loss, rel=0.1)


def test_eval_command_scores_like_training(tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl", rows=32)
    heldout = write_copy_task(tmp_path / "heldout.jsonl", rows=8, seed=1)
    config = tiny_config(tmp_path, "lora", data=[data], eval_data=[heldout], eval_fraction=0.0, max_steps=5)
    record = train(config, console=QUIET).record
    result = run([sys.executable, "-m", "adaptlab", "eval", str(config.out), "--data", str(heldout), "--json"])
    scored = json.loads(result.stdout)
    assert scored["examples"] == 8
    assert scored["loss"] == pytest.approx(record.metrics.eval_loss, rel=1e-5)


def test_every_optimizer_kernel_follows_the_same_loss_curve(tmp_path):
    """fused, foreach and for_loop AdamW compute the same update (to rounding): the curves agree."""
    curves = {
        kernel: [p.loss for p in train(tiny_config(tmp_path, "full", out=tmp_path / kernel, max_steps=6, optimizer_kernel=kernel), console=QUIET).record.loss_curve]
        for kernel in ("for_loop", "foreach", "fused")
    }
    assert curves["fused"] == pytest.approx(curves["for_loop"], rel=1e-4)
    assert curves["foreach"] == pytest.approx(curves["for_loop"], rel=1e-4)


def test_the_optimizer_kernel_is_the_one_asked_for(tmp_path):
    model = torch.nn.Linear(2, 2)
    for kernel, expected in (("fused", {"fused": True}), ("foreach", {"foreach": True}), ("for_loop", {"foreach": False})):
        defaults = get_method("full").optimizer(model, tiny_config(tmp_path, "full", optimizer_kernel=kernel)).defaults
        assert {key: defaults[key] for key in expected} == expected


def test_compile_layers_compiles_each_decoder_layer_and_names_a_model_without_them(tiny_model):
    """Compilation itself is lazy (the first forward pass) and measured in bench/README.md, not here."""
    from adaptlab.errors import ConfigError
    from adaptlab.models import load_causal_lm
    from adaptlab.train.compiling import compile_decoder_layers

    model = load_causal_lm(tiny_model.path)
    assert compile_decoder_layers(model) == len(model.model.layers)
    assert all(layer._compiled_call_impl is not None for layer in model.model.layers)
    with pytest.raises(ConfigError, match="--compile-layers: Linear"):
        compile_decoder_layers(torch.nn.Linear(2, 2))
