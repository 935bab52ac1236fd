"""Every PEFT method beyond the LoRA family, end to end on builtin:tiny: it trains in the one loop (loss falls),
leaves the base weights bit-identical, saves a folder PEFT reloads with equal logits, goes through the registry
and `adaptlab merge`, and is served merged (`serve --merge`) or refused with the documented reason."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from adaptlab.errors import CompatibilityError
from adaptlab.methods import get_method
from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server
from adaptlab.train.loop import TrainedRun, train
from tests.train.helpers import tiny_config

NEW_METHODS = ["ia3", "loha", "lokr", "oft", "vera", "prompt", "prefix"]
PROBE_IDS = [[5, 17, 42, 99, 3, 250, 7, 64]]
REQUEST = {"prompt": "reverse abc", "max_tokens": 6}
MODEL_NAME = "acme/tuned"


@dataclass(frozen=True)
class Trained:
    method: str
    run: TrainedRun
    out: Path
    registry_root: Path
    ref: str
    token: str


@pytest.fixture(scope="module", params=NEW_METHODS)
def trained(request, tmp_path_factory) -> Trained:
    """A run of the method (packing asked for: prompt/prefix must turn it off), registered and approved."""
    method = request.param
    root = tmp_path_factory.mktemp(method)
    config = tiny_config(root, method, packing=True, max_steps=8, learning_rate=3e-2, vera_rank=16, num_virtual_tokens=4)
    run = train(config, console=Console(quiet=True))
    admin = local_admin("ops")
    with Registry.open(root / "registry") as registry:
        registry.create_tenant(admin, "acme")
        registry.set_gates(admin, MODEL_NAME, GatePolicy(required_approvals=0))
        version = registry.register(admin, config.out, MODEL_NAME)
        registry.approve(local_admin("reviewer"), version.ref, "test")
        token = registry.create_token(admin, "acme", "reader", "app")
    return Trained(method, run, config.out, root / "registry", version.ref, token)


def logits(model, ids=PROBE_IDS):
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), attention_mask=torch.ones(len(ids), len(ids[0]), dtype=torch.long)).logits


def test_trains_in_the_one_loop_and_the_held_out_loss_falls(trained: Trained):
    record = trained.run.record
    assert record.method == trained.method and record.status == "completed"
    assert record.eval_curve[-1].loss < record.eval_curve[0].loss - 0.05
    assert 0 < record.params.trainable < record.params.total


def test_packing_is_turned_off_with_the_reason_recorded_only_for_virtual_tokens(trained: Trained):
    record = trained.run.record
    refusal = get_method(trained.method).packing_refusal
    assert record.packing_note == refusal
    assert record.config["packing"] is (refusal is None)


def test_base_weights_stay_bit_identical(trained: Trained, tiny_model):
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    from adaptlab.models import load_causal_lm

    tuned_base = trained.run.model.get_base_model()
    fresh = load_causal_lm(tiny_model.path)
    compared = 0
    for name, module in fresh.named_modules():
        tuned = tuned_base.get_submodule(name)
        if isinstance(tuned, BaseTunerLayer):
            tuned = tuned.get_base_layer()
        for parameter_name, parameter in module.named_parameters(recurse=False):
            assert torch.equal(parameter, getattr(tuned, parameter_name)), f"{name}.{parameter_name} changed"
            compared += 1
    assert compared == len(list(fresh.named_parameters(remove_duplicate=False)))


def test_peft_reloads_the_artifact_with_equal_logits(trained: Trained, tiny_model):
    import torch
    from peft import PeftModel

    from adaptlab.models import load_causal_lm

    reloaded = logits(PeftModel.from_pretrained(load_causal_lm(tiny_model.path), trained.out))
    torch.testing.assert_close(reloaded, logits(trained.run.model), atol=1e-5, rtol=0)
    base = logits(load_causal_lm(tiny_model.path))
    assert not torch.allclose(reloaded[:, -base.shape[1] :], base, atol=1e-3)  # the adapter does something


def test_registry_round_trip_returns_the_same_files(trained: Trained):
    with Registry.open(trained.registry_root) as registry:
        version = registry.get_version(local_admin("ops"), trained.ref)
        checkout = registry.checkout(local_admin("ops"), trained.ref).local_path
    assert version.method == trained.method and version.is_adapter
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert hashlib.sha256((checkout / name).read_bytes()).digest() == hashlib.sha256((trained.out / name).read_bytes()).digest()


def test_merge_folds_weight_tuners_in_and_refuses_virtual_tokens(trained: Trained, tmp_path):
    from adaptlab.adapters.merge import merge_adapter

    if get_method(trained.method).merge_refusal:
        with pytest.raises(CompatibilityError, match="cannot be merged: it trains virtual tokens"):
            merge_adapter(trained.out, tmp_path / "merged")
        assert not (tmp_path / "merged").exists()
        return
    record = merge_adapter(trained.out, tmp_path / "merged")
    assert record.adapter_method == trained.method and record.verification.max_abs_logit_diff <= 1e-3


def test_serving_is_merged_or_refused_as_documented(trained: Trained, tiny_model):
    config = ServeConfig(model="builtin:tiny", registry=trained.registry_root, port=0, max_wait_ms=10)
    headers = {"Authorization": f"Bearer {trained.token}"}
    with running_server(config) as server, httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        refused = client.post("/v1/completions", json={"model": trained.ref, **REQUEST})
    assert refused.status_code >= 400
    method = get_method(trained.method)
    assert ("--merge" if method.serving == "merged" else "no path for it") in refused.json()["error"]["message"]
    merged_config = config.model_copy(update={"merge": trained.ref})
    if method.merge_refusal:
        with pytest.raises(CompatibilityError, match="cannot be merged"):
            with running_server(merged_config):
                pass
        return
    with running_server(merged_config) as server, httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        answer = client.post("/v1/completions", json={"model": trained.ref, **REQUEST})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["text"] == peft_greedy_text(trained.out, tiny_model, REQUEST)


def peft_greedy_text(adapter: Path, tiny_model, request: dict) -> str:
    """The unmerged adapter's greedy completion, by PEFT and `generate`."""
    import torch
    from peft import PeftModel

    from adaptlab.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_model.path)
    model = PeftModel.from_pretrained(load_causal_lm(tiny_model.path), adapter).eval()
    prompt_ids = tokenizer(request["prompt"])["input_ids"]
    with torch.inference_mode():
        output = model.generate(torch.tensor([prompt_ids]), attention_mask=torch.ones((1, len(prompt_ids)), dtype=torch.long),
                                max_new_tokens=request["max_tokens"], do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new_ids = output[0, len(prompt_ids):].tolist()
    eos = model.generation_config.eos_token_id
    return tokenizer.decode(new_ids[: new_ids.index(eos)] if eos in new_ids else new_ids, skip_special_tokens=True)


def test_virtual_token_generation_follows_the_forward_pass(trained: Trained, tiny_model):
    """Greedy answers (compare's task metric, `adaptlab generate`) are the forward pass's argmax at every step, with
    the virtual tokens applied: PEFT's own `generate` loses them for prompt/prefix tuning on transformers 5."""
    import torch
    from peft import PeftModel

    from adaptlab.eval.generation import greedy_answers
    from adaptlab.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_model.path)
    model = PeftModel.from_pretrained(load_causal_lm(tiny_model.path), trained.out).eval()
    prompt = tokenizer("reverse abc")["input_ids"]
    [answer] = greedy_answers(model, tokenizer, [prompt], max_new_tokens=4)
    ids = torch.tensor([prompt])
    for _ in range(4):
        ids = torch.cat([ids, logits(model, ids.tolist())[:, -1:].argmax(-1)], dim=1)
    expected = ids[0, len(prompt):].tolist()
    if tokenizer.eos_token_id in expected:
        expected = expected[: expected.index(tokenizer.eos_token_id)]
    assert answer == tokenizer.decode(expected, skip_special_tokens=True).strip()
