"""Completions, chat, streaming and /v1/models against the real server on loopback."""

import json

import pytest

from adaptlab.models import load_tokenizer

PROMPT = "The quick brown fox"


def _sse_payloads(response) -> list:
    lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), lines
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[len("data: ") :]) for line in lines[:-1]]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(tiny_model.path)


def test_health_and_readiness(server, acme):
    assert acme.get("/healthz").json() == {"status": "ok"}
    ready = acme.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_completion_from_an_alias_names_the_version_and_matches_peft(acme, reference, tokenizer):
    response = acme.post("/v1/completions", json={"model": "acme/bot@production", "prompt": PROMPT, "max_tokens": 10})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "acme/bot@v1"
    assert response.headers["x-adaptlab-model-version"] == "acme/bot@v1"
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    expected = reference("acme/bot@v1", prompt_ids, 10)
    assert body["choices"][0]["text"] == tokenizer.decode(expected, skip_special_tokens=True)
    assert body["usage"] == {
        "prompt_tokens": len(prompt_ids),
        "completion_tokens": len(expected),
        "total_tokens": len(prompt_ids) + len(expected),
    }
    assert body["choices"][0]["finish_reason"] == ("length" if len(expected) == 10 else "stop")


def test_base_model_and_adapter_answer_differently(acme):
    base = acme.post("/v1/completions", json={"model": "builtin:tiny", "prompt": PROMPT, "max_tokens": 12}).json()
    adapted = acme.post("/v1/completions", json={"model": "acme/bot@v2", "prompt": PROMPT, "max_tokens": 12}).json()
    assert base["model"] == "builtin:tiny" and adapted["model"] == "acme/bot@v2"
    assert base["choices"][0]["text"] != adapted["choices"][0]["text"]


def test_chat_uses_the_chat_template(acme, reference, tokenizer):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    response = acme.post("/v1/chat/completions", json={"model": "acme/helper@v1", "messages": messages, "max_tokens": 8})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "acme/helper@v1"
    prompt_ids = tokenizer(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), add_special_tokens=False)[
        "input_ids"
    ]
    expected = reference("acme/helper@v1", prompt_ids, 8)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": tokenizer.decode(expected, skip_special_tokens=True)}
    assert body["usage"]["prompt_tokens"] == len(prompt_ids)


def test_streamed_chat_equals_the_unstreamed_answer(acme):
    request = {"model": "acme/bot@production", "messages": [{"role": "user", "content": "stream me"}], "max_tokens": 12}
    whole = acme.post("/v1/chat/completions", json=request).json()
    with acme.stream(
        "POST", "/v1/chat/completions", json={**request, "stream": True, "stream_options": {"include_usage": True}}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = _sse_payloads(response)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks if chunk["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0].get("finish_reason")] == [
        whole["choices"][0]["finish_reason"]
    ]
    assert chunks[-1]["usage"] == whole["usage"]
    assert {chunk["model"] for chunk in chunks} == {"acme/bot@v1"}


def test_streamed_completion(acme):
    request = {"model": "acme/writer@v1", "prompt": PROMPT, "max_tokens": 9}
    whole = acme.post("/v1/completions", json=request).json()
    with acme.stream("POST", "/v1/completions", json={**request, "stream": True}) as response:
        chunks = _sse_payloads(response)
    assert "".join(chunk["choices"][0]["text"] for chunk in chunks) == whole["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


def test_models_lists_only_the_tokens_tenant_with_parent(acme, globex):
    acme_models = {card["id"]: card for card in acme.get("/v1/models").json()["data"]}
    assert acme_models["builtin:tiny"]["parent"] is None
    assert acme_models["acme/bot@production"]["parent"] == "builtin:tiny"
    assert acme_models["acme/bot@v2"]["root"] == "acme/bot@v2"
    assert not any(name.startswith("globex/") for name in acme_models)
    globex_models = {card["id"] for card in globex.get("/v1/models").json()["data"]}
    assert "globex/rival@production" in globex_models and not any(name.startswith("acme/") for name in globex_models)


def test_seeded_sampling_is_reproducible(acme):
    request = {"model": "acme/bot@v2", "prompt": PROMPT, "max_tokens": 12, "temperature": 1.0, "top_p": 0.9}
    first, again = (acme.post("/v1/completions", json={**request, "seed": 7}).json() for _ in range(2))
    other = acme.post("/v1/completions", json={**request, "seed": 8}).json()
    assert first["choices"][0]["text"] == again["choices"][0]["text"]
    assert first["choices"][0]["text"] != other["choices"][0]["text"]
