"""Each method trains, its loss falls, and what it saves reloads with the logits it had in training."""

import pytest
import torch
from peft import PeftModel
from rich.console import Console
from safetensors.torch import load_file

from adaptlab.models import load_causal_lm
from adaptlab.models.hashing import count_parameters
from adaptlab.train.loop import train
from tests.train.helpers import tiny_config

QUIET = Console(quiet=True)
PROBE = torch.tensor([[84, 82, 68, 81, 198, 71, 127, 100, 101, 102]])


@pytest.mark.parametrize("method", ["full", "lora", "dora", "qlora"])
def test_loss_falls_and_run_record_is_complete(tmp_path, method):
    run = train(tiny_config(tmp_path, method, max_steps=30), console=QUIET)
    losses = [point.loss for point in run.record.loss_curve]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]
    metrics = run.record.metrics
    assert metrics.tokens_seen > 0 and metrics.tokens_per_s > 0
    assert 0 < metrics.training_peak_memory_bytes <= metrics.peak_memory_bytes
    assert metrics.eval_loss is not None and metrics.eval_perplexity > 1
    assert run.record.status == "completed" and run.record.artifact.size_bytes > 0
    assert 0 < run.record.params.trainable <= run.record.params.total


@pytest.mark.parametrize("method", ["lora", "dora", "qlora"])
def test_adapter_methods_leave_base_weights_bit_identical(tmp_path, tiny_model, method):
    reference = load_causal_lm(tiny_model.path, load_in_4bit=method == "qlora").state_dict()
    run = train(tiny_config(tmp_path, method), console=QUIET)
    trained = run.model.get_base_model().state_dict()
    checked = 0
    for name, tensor in trained.items():
        if "lora_" in name:
            continue
        original = reference[name.replace(".base_layer", "")]
        assert torch.equal(tensor, original), name
        checked += 1
    assert checked >= len(reference) - 1


def test_full_fine_tuning_changes_every_weight(tmp_path, tiny_model):
    base = load_file(str(tiny_model.path / "model.safetensors"))
    train(tiny_config(tmp_path, "full"), console=QUIET)
    saved = load_file(str(tmp_path / "run-full" / "model.safetensors"))
    assert set(saved) == set(base)
    changed = [name for name in base if not torch.equal(saved[name], base[name])]
    assert set(changed) == set(base)


@pytest.mark.parametrize("method", ["lora", "dora", "qlora"])
def test_saved_adapter_reloads_in_peft_with_equal_logits(tmp_path, tiny_model, method):
    run = train(tiny_config(tmp_path, method, dropout=0.1), console=QUIET)
    run.model.eval()
    with torch.no_grad():
        expected = run.model(input_ids=PROBE).logits
        fresh_base = load_causal_lm(tiny_model.path, load_in_4bit=method == "qlora").eval()
        base_logits = fresh_base(input_ids=PROBE).logits
        reloaded = PeftModel.from_pretrained(fresh_base, tmp_path / f"run-{method}").eval()
        actual = reloaded(input_ids=PROBE).logits
    assert (expected - base_logits).abs().max() > 1e-3, "the adapter must have learned something"
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


def test_full_run_reloads_with_equal_logits(tmp_path):
    run = train(tiny_config(tmp_path, "full"), console=QUIET)
    with torch.no_grad():
        expected = run.model.eval()(input_ids=PROBE).logits
        actual = load_causal_lm(tmp_path / "run-full").eval()(input_ids=PROBE).logits
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)



def test_a_pickle_only_base_counts_its_parameters(tmp_path, tiny_model, pickle_only_base):
    base_params = count_parameters(tiny_model.path)
    runs = {method: train(tiny_config(tmp_path, method, model=str(pickle_only_base), allow_pickle=True, max_steps=2), console=QUIET)
            for method in ("full", "lora")}
    full, lora = runs["full"].record.params, runs["lora"].record.params
    assert full.trainable == full.total == base_params and full.trainable_percent == 100
    assert lora.total == base_params + lora.trainable and 0 < lora.trainable_percent < 100
