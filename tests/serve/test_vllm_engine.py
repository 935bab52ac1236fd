"""The vLLM engine's own duties: base-model requests never reach vLLM as base requests (they go through a
zero LoRA adapter, so vLLM never batches base rows with LoRA rows), adapters are loaded through
`/v1/load_lora_adapter` only for approved versions, a static deployment's `--lora-modules` come from the
registry, and a misconfigured gateway refuses to start with a message naming the flag."""

import json
import threading
from contextlib import ExitStack

import pytest
from typer.testing import CliRunner

from adaptlab.cli import app as adaptlab_app
from adaptlab.errors import ConfigError, ModelLoadError
from adaptlab.models import load_causal_lm, load_tokenizer
from adaptlab.serve.engines.zero_adapter import ZERO_ADAPTER_NAME, base_module_shapes, write_zero_adapter
from adaptlab.serve.server import running_server
from adaptlab.serve.vllm_export import LORA_MODULES_FILE

from .conftest import BROKEN_MODEL, UNAPPROVED_MODEL, serve_config
from .fake_vllm import running_fake_vllm

SERVABLE = {"acme/bot@v1", "acme/bot@v2", "acme/helper@v1", "acme/writer@v1", "globex/rival@v1"}


def test_the_zero_adapter_loads_in_peft_and_changes_no_logit(tiny_model, tmp_path):
    import torch
    from peft import PeftModel

    folder = write_zero_adapter(tmp_path / "zero", tiny_model, base_module_shapes(tiny_model.path))
    base = load_causal_lm(tiny_model.path).eval()
    adapted = PeftModel.from_pretrained(load_causal_lm(tiny_model.path), folder).eval()
    assert any("lora_B" in name for name, _ in adapted.named_parameters())
    ids = torch.tensor([load_tokenizer(tiny_model.path)("the zero adapter")["input_ids"]])
    with torch.inference_mode():
        assert torch.equal(base(ids).logits, adapted(ids).logits)


def test_base_requests_go_through_the_zero_adapter_even_batched_with_adapters(world, tiny_model, reference):
    """The guard against vLLM's mixed base/LoRA batches: base and adapter requests sent together, and no
    completion request names the base model itself; the base's answers are the base's tokens."""
    tokenizer = load_tokenizer(tiny_model.path)
    base_name = str(tiny_model.path)
    with running_fake_vllm(tiny_model.path, base_name) as (url, fake), running_server(serve_config(world, engine="vllm", vllm_url=url)) as gateway:
        import httpx

        headers = {"Authorization": f"Bearer {world.acme_token}"}
        requests = [("builtin:tiny", "base one"), ("acme/bot@v1", "adapter one"), ("builtin:tiny", "base two"), ("acme/writer@v1", "adapter")]
        answers: dict[int, httpx.Response] = {}

        def send(index: int, model: str, prompt: str) -> None:
            answers[index] = httpx.post(
                f"{gateway.url}/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 5}, headers=headers, timeout=60
            )

        threads = [threading.Thread(target=send, args=(i, *request)) for i, request in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert fake.lora_paths.keys() >= {ZERO_ADAPTER_NAME, "acme/bot@v1", "acme/writer@v1"}
    assert base_name not in fake.requested_models
    assert fake.requested_models.count(ZERO_ADAPTER_NAME) == 2
    for index, (model, prompt) in enumerate(requests):
        assert answers[index].status_code == 200, answers[index].text
        if model == "builtin:tiny":
            expected = tokenizer.decode(reference(None, tokenizer(prompt)["input_ids"], 5), skip_special_tokens=True)
            assert answers[index].json()["choices"][0]["text"] == expected


def test_only_approved_versions_are_loaded_into_vllm(world, tiny_model):
    with running_fake_vllm(tiny_model.path, str(tiny_model.path)) as (url, fake), running_server(serve_config(world, engine="vllm", vllm_url=url)) as gateway:
        import httpx

        headers = {"Authorization": f"Bearer {world.acme_token}"}
        for model in (f"{UNAPPROVED_MODEL}@v1", f"{BROKEN_MODEL}@v1"):
            response = httpx.post(f"{gateway.url}/v1/completions", json={"model": model, "prompt": "hi"}, headers=headers, timeout=60)
            assert response.status_code in (403, 409), response.text
    assert set(fake.lora_paths) == {ZERO_ADAPTER_NAME}


def test_a_gateway_without_a_reachable_vllm_does_not_start(world):
    with pytest.raises(ConfigError, match="--vllm-url"):
        with running_server(serve_config(world, engine="vllm")):
            pass
    with pytest.raises(ModelLoadError, match="no vLLM server answers"):
        with running_server(serve_config(world, engine="vllm", vllm_url="http://127.0.0.1:9")):
            pass


def test_export_vllm_writes_the_servable_versions_lora_modules(world, tiny_model, tmp_path):
    from peft import PeftModel

    out = tmp_path / "vllm"
    result = CliRunner().invoke(
        adaptlab_app,
        ["registry", "export-vllm", "--model", "builtin:tiny", "--out", str(out), "--registry", str(world.registry_root)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    modules = [json.loads(line) for line in (out / LORA_MODULES_FILE).read_text().splitlines()]
    world_tenants = {name.split("/")[0] for name in SERVABLE}  # other serve tests add tenants of their own to the shared registry
    exported = {module["name"] for module in modules if module["name"].split("/")[0] in world_tenants or module["name"] == ZERO_ADAPTER_NAME}
    assert exported == SERVABLE | {ZERO_ADAPTER_NAME}
    assert f"skipped {UNAPPROVED_MODEL}@v1" in result.output and f"skipped {BROKEN_MODEL}@v1" in result.output
    bot = next(module for module in modules if module["name"] == "acme/bot@v1")
    assert bot["base_model_name"] == str(tiny_model.path)
    PeftModel.from_pretrained(load_causal_lm(tiny_model.path), bot["path"])


def test_a_vllm_that_goes_away_is_a_503_for_the_client_not_a_crash(world, tiny_model):
    import httpx

    with ExitStack() as fake_running:
        url, _ = fake_running.enter_context(running_fake_vllm(tiny_model.path, str(tiny_model.path)))
        with running_server(serve_config(world, engine="vllm", vllm_url=url)) as gateway:
            headers = {"Authorization": f"Bearer {world.acme_token}"}
            ask = {"model": "acme/bot@v1", "prompt": "hi", "max_tokens": 2}
            assert httpx.post(f"{gateway.url}/v1/completions", json=ask, headers=headers, timeout=60).status_code == 200
            fake_running.close()
            response = httpx.post(f"{gateway.url}/v1/completions", json=ask, headers=headers, timeout=60)
            assert response.status_code == 503 and response.json()["error"]["code"] == "engine_unavailable"
