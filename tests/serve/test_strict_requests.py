"""Request fields are strictly typed, text must be valid Unicode, unsupported chat fields are refused, and
error bodies are safe to send anyone: echoed values truncated, no server file paths."""

import json

import pytest

from adaptlab.registry import Registry, local_admin
from adaptlab.registry.blobs import BlobStore
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

COMPLETION = {"model": "acme/bot@v1", "prompt": "hello", "max_tokens": 3}
CHAT = {"model": "acme/bot@v1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/completions", {**COMPLETION, "max_tokens": "5"}, "max_tokens"),
        ("/v1/completions", {**COMPLETION, "max_tokens": True}, "max_tokens"),
        ("/v1/completions", {**COMPLETION, "seed": "5"}, "seed"),
        ("/v1/completions", {**COMPLETION, "temperature": "0.5"}, "temperature"),
        ("/v1/completions", {**COMPLETION, "temperature": True}, "temperature"),
        ("/v1/completions", {**COMPLETION, "n": True}, "n"),
        ("/v1/completions", {**COMPLETION, "n": 1.0}, "n"),
        ("/v1/chat/completions", {**CHAT, "max_completion_tokens": "5"}, "max_completion_tokens"),
        ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "hi", "name": "ann"}]}, "messages.0.name"),
    ],
    ids=["max_tokens text", "max_tokens bool", "seed text", "temperature text", "temperature bool", "n bool", "n float",
         "max_completion_tokens text", "chat name"],
)
def test_loosely_typed_or_unsupported_fields_are_refused(acme, path, body, param):
    response = acme.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def _raw(client, path: str, text: str):
    return client.post(path, content=text.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("path", "text", "param"),
    [
        ("/v1/completions", '{"model": "acme/bot@v1", "prompt": "a\\ud800b", "max_tokens": 2}', "prompt"),
        ("/v1/completions", '{"model": "acme/bot@v1\\udfff", "prompt": "a", "max_tokens": 2}', "model"),
        ("/v1/chat/completions", '{"model": "acme/bot@v1", "messages": [{"role": "user", "content": "\\ud800"}]}', "messages.0.content"),
    ],
    ids=["prompt", "model", "chat content"],
)
def test_lone_surrogates_are_a_400_naming_the_field(acme, path, text, param):
    response = _raw(acme, path, text)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and ("surrogate" in error["message"] or "unicode" in error["message"])


def test_an_unknown_field_named_by_a_lone_surrogate_is_a_400(acme):
    response = _raw(acme, "/v1/completions", '{"model": "acme/bot@v1", "prompt": "a", "\\ud800": 1}')
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_echoed_values_are_truncated(acme):
    long_alias = "x" * 5000
    response = acme.post("/v1/completions", json={**COMPLETION, "model": f"acme/bot@{long_alias}"})
    assert 400 <= response.status_code < 500
    assert len(response.json()["error"]["message"]) <= 600
    response = acme.post("/v1/completions", json={**COMPLETION, "y" * 5000: 1})
    error = response.json()["error"]
    assert response.status_code == 400 and len(error["param"]) <= 80 and len(error["message"]) <= 600


def test_error_bodies_carry_no_server_paths(acme, world, tiny_model, tmp_path):
    """A version whose blob went missing: the 409 says so without the blob store's location."""
    admin = local_admin("ops-admin")
    with Registry.open(world.registry_root) as registry:
        adapter = save_lora_adapter(tiny_model, tmp_path / "adapter", seed=21)
        record = registry.register(admin, make_run(adapter, tiny_model, write_dataset(tmp_path / "data"), tmp_path / "run"), "acme/lost")
        registry.approve(local_admin("reviewer"), record.ref, "fixture")
        blobs = BlobStore(str(world.registry_root / "blobs"))
        weights = next(f for f in record.files if f.path.endswith(".safetensors"))
        blobs.delete(weights.sha256)
    response = acme.post("/v1/completions", json={**COMPLETION, "model": record.ref})
    assert response.status_code == 409, response.text
    message = response.json()["error"]["message"]
    assert "missing" in message and weights.sha256 in message
    assert str(world.registry_root) not in message and "file://" not in message and "/tmp" not in json.dumps(response.json())
