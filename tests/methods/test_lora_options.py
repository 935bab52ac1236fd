"""LoRA-family options on builtin:tiny: `--init` (gaussian, PiSSA, OLoRA, EVA, LoftQ) and LoRA+ (`--loraplus-lr-ratio`)."""

import json

import pytest
from rich.console import Console

from adaptlab.adapters.files import open_adapter_folder
from adaptlab.errors import ConfigError
from adaptlab.methods import get_method
from adaptlab.methods.lora import init_refusal
from adaptlab.train.loop import train
from tests.methods.test_peft_methods import logits
from tests.train.helpers import tiny_config

QUIET = Console(quiet=True)


@pytest.mark.parametrize(("init", "method", "has_cuda", "refused"), [
    ("loftq", "lora", True, "use it with --method qlora"),
    ("loftq", "dora", True, "use it with --method qlora"),
    ("loftq", "qlora", False, "computes on a CUDA GPU"),
    ("pissa", "qlora", False, "frozen 4-bit base"),
    ("olora", "qlora", False, "frozen 4-bit base"),
    ("eva", "qlora", False, None),
    ("gaussian", "qlora", False, None),
    ("loftq", "qlora", True, None),
    ("pissa", "lora", False, None),
])
def test_which_inits_each_member_refuses(init, method, has_cuda, refused):
    refusal = init_refusal(init, get_method(method).quantized_base, has_cuda)
    assert refusal is None if refused is None else refused in refusal


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_a_refused_init_is_a_config_error_before_training(tmp_path, method):
    import torch

    if method == "qlora" and torch.cuda.is_available():
        pytest.skip("LoftQ runs on a CUDA GPU")
    with pytest.raises(ConfigError, match="--init loftq"):
        train(tiny_config(tmp_path, method, init="loftq", max_steps=1), console=QUIET)
    assert not (tmp_path / f"run-{method}" / "run.json").exists()


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_base_rewriting_inits_save_a_plain_lora_adapter_for_the_untouched_base(tmp_path, tiny_model, init):
    """The converted adapter (rank 2r) on the original base gives the trained model's logits, and is served per row."""
    import torch
    from peft import PeftModel

    from adaptlab.models import load_causal_lm
    from adaptlab.serve.engines.batching.mixed_lora import read_lora_adapter

    run = train(tiny_config(tmp_path, "lora", init=init, max_steps=4, rank=4), console=QUIET)
    out = tmp_path / "run-lora"
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["init_lora_weights"] is True
    base = load_causal_lm(tiny_model.path)
    reloaded = PeftModel.from_pretrained(base, out)
    torch.testing.assert_close(logits(reloaded), logits(run.model), atol=1e-4, rtol=0)
    adapter = read_lora_adapter(open_adapter_folder(out), dict(load_causal_lm(tiny_model.path).named_modules()))
    assert adapter.modules


def test_eva_initialises_from_the_runs_own_batches_and_counts_the_time(tmp_path, tiny_model):
    import torch
    from peft import PeftModel

    from adaptlab.models import load_causal_lm

    run = train(tiny_config(tmp_path, "lora", init="eva", max_steps=2, rank=4), console=QUIET)
    out = tmp_path / "run-lora"
    assert json.loads((out / "adapter_config.json").read_text())["init_lora_weights"] == "eva"
    assert run.record.metrics.wall_time_s > 0
    reloaded = PeftModel.from_pretrained(load_causal_lm(tiny_model.path), out)
    torch.testing.assert_close(logits(reloaded), logits(run.model), atol=1e-5, rtol=0)


def test_loraplus_gives_the_b_matrices_ratio_times_the_learning_rate(tmp_path, tiny_model):
    config = tiny_config(tmp_path, "lora", loraplus_lr_ratio=16.0, learning_rate=1e-3)
    method = get_method("lora")
    model = method.prepare(tiny_model, config)
    optimizer = method.optimizer(model, config)
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    rates = {("lora_B" in names[id(p)]): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    assert rates == {False: 1e-3, True: 16e-3}
